"""Validate raw blocks into an immutable ``Organization``, enforcing the account layout.

The layout (see README, "Rules"): one production account, one account per staging environment, a
shared development account for short-lived environments, a playground per developer, and a
management account with no workloads. Every rule adds a located ``Problem``; all problems are
reported together and nothing is built unless there are none.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, cast

from generators import naming
from generators.config import account_ids, external_rules, provider_versions
from generators.config.expressions import (Expression, NotLiteral, literal_value, references, rewritten,
                                           to_terraform_json)
from generators.config.hcl_loader import RawBlock, load_directory
from generators.config.layouts import apply_layouts
from generators.config.models import (Account, AccountKind, Environment, EnvironmentVariable, Location, ModuleCall,
                                      ModuleInterface, Organization, OrganizationSettings, ProviderAlias)
from generators.config.module_catalog import available_modules, read_module_folder, unchecked_module
from generators.config.module_sources import ACCEPTED as ACCEPTED_SOURCES
from generators.config.module_sources import ModuleSource, SourceError, fetched_folder, parse_source
from generators.config.module_types import conversion_problem
from generators.errors import ConfigError, Problem
from generators.synth.cache import HclParser, SynthCache, parser
from generators.synth.extensions import REGISTRY as EXTENSIONS
from generators.synth.workspace import AWS_PROVIDER_SOURCE, ROLE_VARIABLE, USES_DATA_SOURCE, variable_reference

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Names Terraform reserves for variables, and the one every workspace already declares.
_RESERVED_VARIABLES = frozenset({"source", "version", "providers", "count", "for_each", "lifecycle", "depends_on",
                                 "locals", ROLE_VARIABLE})
_KINDS = ", ".join(k.value for k in AccountKind)


def _same_principal(left: str, right: str) -> bool:
    # IAM user and role names are unique regardless of case, so ARNs differing only in case are one principal.
    return left.lower() == right.lower()


def _covers(deploy_principal: str, plan_principal: str) -> bool:
    """Whether trusting ``deploy_principal`` also lets ``plan_principal`` in."""
    root = re.fullmatch(r"arn:aws:iam::(\d{12}):root", deploy_principal)
    if root is not None and plan_principal.startswith(f"arn:aws:iam::{root.group(1)}:"):
        return True
    return _same_principal(deploy_principal, plan_principal)


def load_organization(environments_dir: Path, modules_dir: Path, cache: SynthCache | None = None) -> Organization:
    """Read, check and build the Organization; raise ``ConfigError`` listing every problem. A ``cache``
    spares parsing the files that were parsed before with the same content."""
    blocks, problems = load_directory(environments_dir, cache)
    blocks, layout_problems, layouts = apply_layouts(blocks)
    problems += layout_problems
    builder = _Builder(environments_dir, modules_dir, layouts, parser(cache))
    organization = builder.build(blocks) if not problems else None
    problems += builder.problems
    if blocks:
        problems += external_rules.check(blocks)
    if problems or organization is None:
        raise ConfigError(problems or [Problem(str(environments_dir), None, "no organization defined")])
    return organization


@dataclass
class _Builder:
    environments_dir: Path
    modules_dir: Path
    layouts: Mapping[str, RawBlock]
    parse: HclParser  # of module files

    def __post_init__(self) -> None:
        self.problems: list[Problem] = []
        self._modules: dict[str, ModuleInterface | None] = {}
        self._resolved: dict[Path, str] = {}
        self._settings: OrganizationSettings | None = None
        self.unchecked: list[Problem] = []

    # -- helpers -------------------------------------------------------------------------------

    def _problem(self, block: RawBlock, message: str, attribute: str | None = None) -> None:
        line = block.line_of(attribute) if attribute else block.line
        self.problems.append(Problem(block.file_of(attribute) if attribute else block.file, line, message))

    def _check_name(self, block: RawBlock, what: str) -> None:
        if not naming.NAME_PATTERN.match(block.label):
            self._problem(block, f"{what} name '{block.label}' must be lowercase letters, digits and hyphens, "
                                 "starting with a letter ([a-z][a-z0-9-]*)")

    def _unique(self, blocks: list[RawBlock], what: str) -> dict[str, RawBlock]:
        seen: dict[str, RawBlock] = {}
        for block in blocks:
            if block.label in seen:
                first = seen[block.label]
                self._problem(block, f"{what} '{block.label}' is already defined at {first.file}:{first.line}")
            else:
                seen[block.label] = block
        return seen

    # -- the pipeline ----------------------------------------------------------------------------

    def build(self, blocks: list[RawBlock]) -> Organization | None:
        by_kind: dict[str, list[RawBlock]] = defaultdict(list)
        for block in blocks:
            by_kind[block.kind].append(block)
        settings = self._organization(by_kind["organization"])
        self._settings = settings
        accounts = self._accounts(self._unique(by_kind["account"], "account"))
        env_blocks = self._unique(by_kind["environment"], "environment")
        if settings is None:
            return None
        environments = self._environments(env_blocks, accounts, settings)
        self._layout(accounts, environments, env_blocks)
        self._check_default_deploy_trust(by_kind["organization"][0], accounts)
        if self.problems:
            return None
        return Organization(
            settings=settings,
            accounts=tuple(accounts.values()),
            environments=tuple(sorted(environments.values(), key=lambda e: e.name)),
            modules=MappingProxyType({n: m for n, m in sorted(self._modules.items()) if m is not None}),
            unchecked=tuple(sorted(set(self.unchecked))),
        )

    def _organization(self, blocks: list[RawBlock]) -> OrganizationSettings | None:
        if not blocks:
            self.problems.append(Problem(str(self.environments_dir), None,
                                         'no organization block found; add one, like organization "acme" { region = "us-east-1" }'))
            return None
        for extra in blocks[1:]:
            self._problem(extra, f"only one organization block is allowed; the first is at {blocks[0].file}:{blocks[0].line}")
        block = blocks[0]
        self._check_name(block, "organization")
        attrs = block.attributes
        if "region" not in attrs:
            self._problem(block, f"organization '{block.label}' needs a region, like region = \"us-east-1\"")
        elif not naming.REGION_PATTERN.match(attrs["region"]):
            self._problem(block, f"'{attrs['region']}' is not an AWS region name (like us-east-1)", "region")
        bucket_length = naming.state_bucket_length(block.label)
        if bucket_length > naming.S3_BUCKET_MAX:
            self._problem(block, f"organization name '{block.label}' is too long: its state bucket names "
                                 f"('{naming.state_bucket(block.label, '<account id>')}') would be {bucket_length} "
                                 f"characters, over the S3 bucket name limit of {naming.S3_BUCKET_MAX}")
        for role_attr in ("deploy_role", "plan_role", "access_role"):
            role = attrs.get(role_attr)
            if role is not None and (not naming.ROLE_NAME_PATTERN.match(role) or len(role) > naming.IAM_ROLE_MAX):
                self._problem(block, f"{role_attr} '{role}' is not a valid IAM role name "
                                     f"(at most {naming.IAM_ROLE_MAX} characters of [A-Za-z0-9+=,.@_-])", role_attr)
        for attribute in ("deploy_principals", "plan_principals"):
            for principal in attrs.get(attribute, []):
                message = external_rules.principal_problem(principal)
                if message:
                    self._problem(block, f"{attribute}: {message}", attribute)
        self._check_principal_separation(block)
        if "aws_provider_version" in attrs and not attrs["aws_provider_version"].strip():
            self._problem(block, "aws_provider_version must not be empty", "aws_provider_version")
        self._check_extensions(block)
        defaults = OrganizationSettings(name=block.label, region="")
        return OrganizationSettings(
            name=block.label,
            region=attrs.get("region", ""),
            deploy_role=attrs.get("deploy_role", defaults.deploy_role),
            plan_role=attrs.get("plan_role", defaults.plan_role),
            access_role=attrs.get("access_role", defaults.access_role),
            aws_provider_version=attrs.get("aws_provider_version", defaults.aws_provider_version),
            extensions=tuple(attrs.get("extensions", ())),
            deploy_principals=tuple(attrs.get("deploy_principals", ())),
            plan_principals=tuple(attrs.get("plan_principals", ())),
            github_repository=attrs.get("github_repository"),
            location=Location(block.file, block.line),
        )

    def _check_principal_separation(self, block: RawBlock) -> None:
        """No principal may both plan and deploy.

        Pull-request jobs plan, and a pull request can change the workflow it runs under: whatever
        identity plans can be made to run anything its author writes, so it must not also deploy.
        An account root among the deploy principals delegates to every role of that account, so it
        also covers the plan principals of that account.
        """
        deploy = block.attributes.get("deploy_principals", [])
        for principal in block.attributes.get("plan_principals", []):
            shared = next((d for d in deploy if _covers(d, principal)), None)
            if shared is None:
                continue
            how = ("is also in" if _same_principal(shared, principal)
                   else f"is in the account whose root ('{shared}') is in")
            self._problem(block, f"principal '{principal}' in plan_principals {how} deploy_principals "
                                 f"(line {block.line_of('deploy_principals')}): pull-request jobs plan, and a pull "
                                 "request can change the workflow it runs under, so whatever identity plans can "
                                 "be made to deploy; use separate principals for plan and deploy",
                          "plan_principals")

    def _check_default_deploy_trust(self, block: RawBlock, accounts: Mapping[str, Account]) -> None:
        """Without deploy_principals, deploy roles trust the management account's root: then no plan
        principal may live in the management account, for the same reason as above."""
        if block.attributes.get("deploy_principals"):
            return
        management = next((a for a in accounts.values() if a.kind is AccountKind.MANAGEMENT and a.id), None)
        if management is None:
            return
        for principal in block.attributes.get("plan_principals", []):
            if principal.startswith(f"arn:aws:iam::{management.id}:"):
                self._problem(block, f"principal '{principal}' in plan_principals is in the management account "
                                     f"'{management.name}', whose root the deploy roles trust when deploy_principals "
                                     "is not set: pull-request jobs plan, and a pull request can change the workflow "
                                     "it runs under, so whatever identity plans can be made to deploy; set "
                                     "deploy_principals, or take plan principals from another account",
                              "plan_principals")

    def _check_extensions(self, block: RawBlock) -> None:
        for name in block.attributes.get("extensions", []):
            if name not in EXTENSIONS:
                self._problem(block, f"unknown extension '{name}'; available: {', '.join(sorted(EXTENSIONS))}",
                              "extensions")

    def _accounts(self, blocks: dict[str, RawBlock]) -> dict[str, Account]:
        recorded_ids = self._recorded_account_ids()
        accounts: dict[str, Account] = {}
        ids: dict[str, RawBlock] = {}
        owners: dict[str, RawBlock] = {}
        for name, block in blocks.items():
            self._check_name(block, "account")
            attrs = block.attributes
            kind_text = attrs.get("kind")
            try:
                kind = AccountKind(kind_text)
            except ValueError:
                message = (f"account '{name}' has unknown kind '{kind_text}'" if kind_text
                           else f"account '{name}' needs a kind")
                self._problem(block, f"{message}; valid kinds: {_KINDS}", "kind" if kind_text else None)
                continue
            account_id = attrs.get("id") or recorded_ids.get(name)
            email = attrs.get("email")
            if account_id is None and email is None:
                self._problem(block, f"account '{name}' needs an id (12 digits) or, for an account to be created "
                                     "by bootstrap, an email")
            if account_id is not None:
                if not naming.ACCOUNT_ID_PATTERN.match(account_id):
                    self._problem(block, f"account '{name}' id '{account_id}' must be exactly 12 digits", "id")
                elif account_id in ids:
                    self._problem(block, f"account id {account_id} of '{name}' is already used by account "
                                         f"'{ids[account_id].label}' ({ids[account_id].file}:{ids[account_id].line})", "id")
                else:
                    ids[account_id] = block
            if email is not None and not naming.EMAIL_PATTERN.match(email):
                self._problem(block, f"account '{name}' email '{email}' is not an email address", "email")
            owner = attrs.get("owner")
            if kind is AccountKind.DEVELOPER:
                if not owner:
                    self._problem(block, f"developer account '{name}' must name its owner, like owner = \"alice\"")
                elif owner in owners:
                    other = owners[owner]
                    self._problem(block, f"owner '{owner}' already has developer account '{other.label}' "
                                         f"({other.file}:{other.line}); one developer account per owner", "owner")
                else:
                    owners[owner] = block
            elif owner is not None:
                self._problem(block, f"account '{name}' is a {kind.value} account; only developer accounts have an owner",
                              "owner")
            self._check_extensions(block)
            accounts[name] = Account(name=name, kind=kind, id=account_id, email=email, owner=owner,
                                     extensions=tuple(attrs.get("extensions", ())),
                                     location=Location(block.file, block.line))
        for kind in (AccountKind.PRODUCTION, AccountKind.MANAGEMENT):
            of_kind = [blocks[a.name] for a in accounts.values() if a.kind is kind]
            for extra in of_kind[1:]:
                self._problem(extra, f"at most one {kind.value} account is allowed; '{of_kind[0].label}' "
                                     f"({of_kind[0].file}:{of_kind[0].line}) is already one", "kind")
        return accounts

    def _recorded_account_ids(self) -> Mapping[str, str]:
        ids, problems = account_ids.read(self.environments_dir)
        self.problems.extend(problems)
        return ids

    def _environments(self, blocks: dict[str, RawBlock], accounts: dict[str, Account],
                      settings: OrganizationSettings) -> dict[str, Environment]:
        environments: dict[str, Environment] = {}
        for name, block in blocks.items():
            self._check_name(block, "environment")
            attrs = block.attributes
            account = self._account_ref(block, attrs.get("account"), accounts, "account")
            if account is None:
                continue
            region = attrs.get("region", settings.region)
            if not naming.REGION_PATTERN.match(region):
                self._problem(block, f"'{region}' is not an AWS region name (like us-east-1)", "region")
            providers = tuple(self._provider(block, p, account, region, accounts) for p in block.children("provider"))
            environments[name] = Environment(
                name=name,
                account=account,
                region=region,
                modules=(),  # module calls are resolved below, once every environment is known
                providers=tuple(p for p in providers if p is not None),
                uses=attrs.get("uses"),
                ttl=attrs.get("ttl"),
                branch=attrs.get("branch"),
                owner=attrs.get("owner"),
                created=attrs.get("created"),
                location=Location(block.file, block.line),
                variables=self._variables(block),
                layout=attrs.get("layout"),
                layout_location=(Location(self.layouts[attrs["layout"]].file, self.layouts[attrs["layout"]].line)
                                 if attrs.get("layout") in self.layouts else None),
            )
        # Two passes: `uses.M.O` needs the used environment's module interfaces, whatever the file order.
        resolved = {name: self._call_interfaces(blocks[name]) for name in environments}
        interfaces = {name: {call: i for call, (i, _) in calls.items()} for name, calls in resolved.items()}
        for name, environment in list(environments.items()):
            used = interfaces.get(environment.uses or "", {})
            sources = {call: source for call, (_, source) in resolved[name].items()}
            modules = self._module_calls(blocks[name], environment, interfaces[name], used, sources)
            environments[name] = replace(environment, modules=modules)
        return environments

    def _variables(self, env_block: RawBlock) -> tuple[EnvironmentVariable, ...]:
        variables = []
        for name, block in self._unique(list(env_block.children("variable")),
                                        f"variable in environment '{env_block.label}'").items():
            if not _VARIABLE_NAME.match(name) or name in _RESERVED_VARIABLES:
                reserved = f"; reserved: {', '.join(sorted(_RESERVED_VARIABLES))}" if name in _RESERVED_VARIABLES else ""
                self._problem(block, f"variable name '{name}' must be a Terraform identifier "
                                     f"([A-Za-z_][A-Za-z0-9_-]*){reserved}")
                continue
            attrs = block.attributes
            if "ssm_parameter" in attrs and "secretsmanager_secret" in attrs:
                self._problem(block, f"variable '{name}' names two secret stores; choose ssm_parameter or "
                                     "secretsmanager_secret", "secretsmanager_secret")
                continue
            for store in ("ssm_parameter", "secretsmanager_secret"):
                if store in attrs and not attrs[store].strip():
                    self._problem(block, f"variable '{name}': {store} must not be empty", store)
            variables.append(EnvironmentVariable(
                name=name, sensitive=attrs.get("sensitive", False), description=attrs.get("description"),
                ssm_parameter=attrs.get("ssm_parameter"), secretsmanager_secret=attrs.get("secretsmanager_secret")))
        return tuple(sorted(variables, key=lambda v: v.name))

    def _account_ref(self, block: RawBlock, name: str | None, accounts: dict[str, Account],
                     attribute: str) -> Account | None:
        if name is None:
            self._problem(block, f"{block.kind} '{block.label}' needs an {attribute}; "
                                 f"known accounts: {', '.join(sorted(accounts)) or '(none)'}")
            return None
        if name not in accounts:
            self._problem(block, f"{block.kind} '{block.label}' refers to unknown account '{name}'; "
                                 f"known accounts: {', '.join(sorted(accounts)) or '(none)'}", attribute)
            return None
        return accounts[name]

    def _provider(self, env_block: RawBlock, block: RawBlock, account: Account, env_region: str,
                  accounts: dict[str, Account]) -> ProviderAlias | None:
        self._check_name(block, "provider alias")
        target = account
        if "account" in block.attributes:
            referenced = self._account_ref(block, block.attributes["account"], accounts, "account")
            if referenced is None:
                return None
            target = referenced
        region = block.attributes.get("region", env_region)
        if not naming.REGION_PATTERN.match(region):
            self._problem(block, f"'{region}' is not an AWS region name (like us-east-1)", "region")
        if target.kind is AccountKind.PRODUCTION and account.kind is not AccountKind.PRODUCTION:
            self._problem(block, f"provider '{block.label}' of {account.kind.value} environment '{env_block.label}' "
                                 f"points into production account '{target.name}'; only production environments "
                                 "get production credentials", "account")
        if target.kind is AccountKind.MANAGEMENT:
            self._problem(block, f"provider '{block.label}' of environment '{env_block.label}' points into management "
                                 f"account '{target.name}', which holds no workloads", "account")
        return ProviderAlias(alias=block.label, region=region, account=target)

    # -- modules ---------------------------------------------------------------------------------

    def _module(self, folder: Path, name: str) -> ModuleInterface | None:
        if folder not in self._resolved:  # once per module folder, not once per module call
            self._resolved[folder] = str(folder.resolve())
        key = self._resolved[folder]
        if key not in self._modules:
            interface, problems = read_module_folder(folder, name, self.parse)
            self.problems.extend(problems)
            self._modules[key] = interface
        return self._modules[key]

    @functools.cached_property
    def _available_modules(self) -> list[str]:
        return available_modules(self.modules_dir)

    def _call_interfaces(self, env_block: RawBlock) -> dict[str, tuple[ModuleInterface, ModuleSource]]:
        """The module each call of an environment instantiates (calls with a bad source are left out)."""
        call_blocks = self._unique(list(env_block.children("module")), f"module call in environment '{env_block.label}'")
        known = self._available_modules
        interfaces: dict[str, tuple[ModuleInterface, ModuleSource]] = {}
        for name, block in call_blocks.items():
            self._check_name(block, "module")
            text = block.attributes.get("source")
            if text is None:
                self._problem(block, f"module '{name}' needs a source: {ACCEPTED_SOURCES}; modules under "
                                     f"{self.modules_dir}: {', '.join(known) or '(none)'}")
                continue
            try:
                source = parse_source(text, block.attributes.get("version"), block.file, self.modules_dir)
            except SourceError as exc:
                self._problem(block, f"module '{name}': {exc}", exc.attribute)
                continue
            interface = self._source_interface(block, name, source, known)
            if interface is not None:
                interfaces[name] = (interface, source)
        return interfaces

    def _source_interface(self, block: RawBlock, name: str, source: ModuleSource,
                          known: list[str]) -> ModuleInterface | None:
        if source.kind == "catalog":
            if source.text not in known:
                self._problem(block, f"module '{name}' has unknown source '{source.text}'; modules under "
                                     f"{self.modules_dir}: {', '.join(known) or '(none)'}", "source")
                return None
            return self._module(self.modules_dir / source.text, source.text)
        if source.kind == "local":
            assert source.local_path is not None
            if not source.local_path.is_dir() or not any(source.local_path.glob("*.tf")):
                self._problem(block, f"module '{name}' source '{source.text}': no module (*.tf files) at "
                                     f"{source.local_path}", "source")
                return None
            return self._module(source.local_path, source.text)
        folder = fetched_folder(source)
        if folder is None:
            self.unchecked.append(Problem(block.file_of("source"), block.line_of("source"),
                                          f"module '{name}' source {source.describe()} is not fetched, so its inputs "
                                          "were not checked; run `python main.py modules fetch`"))
            return unchecked_module(source.text)
        if not folder.is_dir():
            self._problem(block, f"module '{name}' source '{source.text}': the fetched code has no folder "
                                 f"'{source.subdir}'", "source")
            return None
        return self._module(folder, source.text)

    def _module_calls(self, env_block: RawBlock, environment: Environment, interfaces: dict[str, ModuleInterface],
                      used_interfaces: dict[str, ModuleInterface],
                      sources: dict[str, ModuleSource]) -> tuple[ModuleCall, ...]:
        calls = []
        aliases = {p.alias for p in environment.providers}
        blocks = {b.label: b for b in env_block.children("module")}
        for name, interface in interfaces.items():
            block = blocks[name]
            inputs = self._inputs(block, environment, interface, interfaces, used_interfaces)
            providers = self._provider_mapping(block, interface, aliases)
            if interface.takes_name_prefix and naming.NAME_PREFIX_VARIABLE not in block.attributes.get("inputs", {}):
                self._check_name_length(block, environment, interface)
            source = sources[name]
            written = {key: (expression.text, Location(block.file_of(f"inputs.{key}"), expression.line))
                       for key in block.attributes.get("inputs", {})
                       if (expression := block.expressions.get(f"inputs.{key}")) is not None}
            calls.append(ModuleCall(name=name, module=interface, inputs=MappingProxyType(inputs),
                                    providers=MappingProxyType(providers),
                                    source=None if source.kind == "catalog" else source,
                                    location=Location(block.file_of("source"), block.line_of("source")),
                                    written=MappingProxyType(written)))
        self._check_root_outputs(blocks, calls)
        self._check_provider_requirements(blocks, calls)
        return tuple(calls)

    def _check_provider_requirements(self, blocks: dict[str, RawBlock], calls: list[ModuleCall]) -> None:
        """What terraform init would refuse: an aws constraint no release meets together with the
        organization's, or two modules whose constraints on another provider exclude each other."""
        organization_aws = self._settings.aws_provider_version if self._settings else None
        stated: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # source -> (constraint, file, call)
        for call in calls:
            for requirement in call.module.required_providers.values():
                for constraint, file in requirement.constraints:
                    try:
                        provider_versions.parse(constraint)
                    except provider_versions.ConstraintError as exc:
                        self._problem(blocks[call.name], f"module '{call.name}' ({call.module.name}): {file} requires "
                                                         f"{requirement.source} \"{constraint}\": {exc}")
                        continue
                    if requirement.source == AWS_PROVIDER_SOURCE and organization_aws:
                        try:
                            meets = provider_versions.compatible(constraint, organization_aws)
                        except provider_versions.ConstraintError:
                            meets = True  # the organization's own constraint is reported where it is written
                        if not meets:
                            self._problem(blocks[call.name], f"module '{call.name}' ({call.module.name}) requires "
                                                             f"{AWS_PROVIDER_SOURCE} \"{constraint}\" ({file}), which "
                                                             "no release meets together with the organization's "
                                                             f"aws_provider_version \"{organization_aws}\"")
                        continue
                    for other, other_file, other_call in stated[requirement.source]:
                        if other_call != call.name and not provider_versions.compatible(constraint, other):
                            self._problem(blocks[call.name], f"module '{call.name}' requires {requirement.source} "
                                                             f"\"{constraint}\" ({file}), which no release meets "
                                                             f"together with \"{other}\" required by module "
                                                             f"'{other_call}' ({other_file})")
                    stated[requirement.source].append((constraint, file, call.name))

    def _check_root_outputs(self, blocks: dict[str, RawBlock], calls: list[ModuleCall]) -> None:
        """Every module output becomes the root output <module>_<output>; two must never share a name."""
        claimed: dict[str, str] = {}
        for call in calls:
            for output in call.module.outputs:
                root_name = naming.output_name(call.name, output)
                reference = f"module.{call.name}.{output}"
                if root_name in claimed:
                    self._problem(blocks[call.name], f"root output '{root_name}' would expose both {claimed[root_name]} "
                                                     f"and {reference}; rename module '{call.name}'")
                else:
                    claimed[root_name] = reference

    def _inputs(self, block: RawBlock, environment: Environment, interface: ModuleInterface,
                siblings: dict[str, ModuleInterface], used: dict[str, ModuleInterface]) -> dict[str, Any]:
        written = dict(block.attributes.get("inputs", {}))
        variables = interface.variables
        inputs: dict[str, Any] = {}
        if not interface.checked:  # a remote module not fetched: only what the expressions refer to is checked
            return {key: self._input_value(block, key, expression, environment, interface, siblings, used)
                    for key in sorted(written) if (expression := block.expressions.get(f"inputs.{key}")) is not None}
        for key in written:
            if key not in variables:
                self._problem(block, f"module '{block.label}' ({interface.name}) has no variable '{key}'; "
                                     f"its variables: {', '.join(sorted(variables)) or '(none)'}", f"inputs.{key}")
                continue
            expression = block.expressions.get(f"inputs.{key}")
            if expression is not None:  # without it, the loader has reported why
                inputs[key] = self._input_value(block, key, expression, environment, interface, siblings, used)
        sets_name_prefix = interface.takes_name_prefix and naming.NAME_PREFIX_VARIABLE not in written
        missing = sorted(v.name for v in variables.values() if v.required and v.name not in written
                         and not (sets_name_prefix and v.name == naming.NAME_PREFIX_VARIABLE))
        if missing:
            self._problem(block, f"module '{block.label}' ({interface.name}) is missing required "
                                 f"input{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        if sets_name_prefix:
            inputs[naming.NAME_PREFIX_VARIABLE] = environment.name
        return dict(sorted(inputs.items()))

    def _input_value(self, block: RawBlock, key: str, expression: Expression, environment: Environment,
                     interface: ModuleInterface, siblings: dict[str, ModuleInterface],
                     used: dict[str, ModuleInterface]) -> Any:
        """Check what the expression refers to and its literal value's type; return its Terraform JSON,
        with uses.M.O rewritten to the remote-state output it reads."""
        attribute = f"inputs.{key}"
        replacements: dict[tuple[int, int], str] = {}
        for reference in references(expression):
            if reference.root == "module" and reference.names:
                module_name = reference.names[0]
                if len(reference.names) == 1:
                    self._check_output(block, attribute, str(reference), module_name, None, siblings,
                                       f"modules of environment '{environment.name}'", own=block.label)
                else:
                    self._check_output(block, attribute, str(reference), module_name, reference.names[1], siblings,
                                       f"modules of environment '{environment.name}'", own=block.label)
            elif reference.root == "uses" and len(reference.names) >= 2:
                module_name, output = reference.names[:2]
                if environment.uses is None:
                    self._problem(block, f"module '{block.label}' reads uses.{module_name}.{output}, but environment "
                                         f"'{environment.name}' has no uses = \"<environment>\"", attribute)
                else:
                    self._check_output(block, attribute, f"uses.{module_name}.{output}", module_name, output, used,
                                       f"modules of used environment '{environment.uses}'")
                end = reference.start + len(f"uses.{module_name}.{output}")
                replacements[(reference.start, end)] = (f"data.terraform_remote_state.{USES_DATA_SOURCE}.outputs."
                                                        f"{naming.output_name(module_name, output)}")
            elif reference.root == "var" and reference.names:
                declared = {v.name: v for v in environment.variables}
                variable = declared.get(reference.names[0])
                if variable is None:
                    self.problems.append(Problem(
                        block.file_of(attribute), expression.line_at(reference.start),
                        f"module '{block.label}' input '{key}': var.{reference.names[0]} is not declared in environment "
                        f"'{environment.name}'; declare it with variable \"{reference.names[0]}\" {{ sensitive = true }}"
                        f" (declared: {', '.join(sorted(declared)) or 'none'})"))
                elif variable.from_secret_store:
                    end = reference.start + len(f"var.{variable.name}")
                    replacements[(reference.start, end)] = variable_reference(variable)
            else:
                self.problems.append(Problem(block.file_of(attribute), expression.line_at(reference.start),
                                             f"module '{block.label}' input '{key}': '{reference}' refers to "
                                             f"{_reference_kind(reference)}; module inputs may refer only to "
                                             "module.<name>.<output>, uses.<module>.<output>, var.<declared variable>, "
                                             "Terraform functions and the variables of a for expression"))
        self._check_literal_type(block, key, expression, interface)
        return to_terraform_json(expression, rewritten(expression, replacements) if replacements else None)

    def _check_literal_type(self, block: RawBlock, key: str, expression: Expression,
                            interface: ModuleInterface) -> None:
        if key not in interface.variables:
            return
        constraint = interface.variables[key].type
        if constraint is None:
            return
        try:
            value = literal_value(expression)
        except NotLiteral:
            return  # computed values are Terraform's to check
        problem = conversion_problem(constraint, value)
        if problem:
            self._problem(block, f"module '{block.label}' input '{key}': {problem}; variable '{key}' of module "
                                 f"'{interface.name}' has type {constraint}", f"inputs.{key}")

    def _check_output(self, block: RawBlock, attribute: str, reference: str, module_name: str, output: str | None,
                      modules: dict[str, ModuleInterface], where: str, own: str | None = None) -> None:
        if module_name == own:
            self._problem(block, f"module '{block.label}' cannot read its own output ({reference})", attribute)
        elif module_name not in modules:
            self._problem(block, f"{reference}: unknown module '{module_name}'; {where}: "
                                 f"{', '.join(sorted(modules)) or '(none)'}", attribute)
        elif output is not None and modules[module_name].checked and output not in modules[module_name].outputs:
            self._problem(block, f"{reference}: module '{module_name}' ({modules[module_name].name}) has no output "
                                 f"'{output}'; its outputs: {', '.join(sorted(modules[module_name].outputs)) or '(none)'}",
                          attribute)

    def _provider_mapping(self, block: RawBlock, interface: ModuleInterface, aliases: set[str]) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for key, value in dict(block.attributes.get("providers", {})).items():
            expected = sorted(["aws"] + list(interface.provider_aliases))
            if key not in expected and interface.checked:
                self._problem(block, f"module '{block.label}' ({interface.name}) has no provider configuration '{key}'; "
                                     f"it declares: {', '.join(expected)}", "providers")
                continue
            if value == "default":
                mapping[key] = "aws"
            elif isinstance(value, str) and value in aliases:
                mapping[key] = f"aws.{value}"
            else:
                self._problem(block, f"module '{block.label}' maps {key} to unknown provider '{value}'; this "
                                     f"environment's providers: {', '.join(['default'] + sorted(aliases))}", "providers")
        return dict(sorted(mapping.items()))

    def _check_name_length(self, block: RawBlock, environment: Environment, interface: ModuleInterface) -> None:
        limit = interface.name_prefix_max_length
        if limit is not None and len(environment.name) > limit:
            reason = f" ({interface.name_prefix_reason})" if interface.name_prefix_reason else ""
            self._problem(block, f"environment name '{environment.name}' is {len(environment.name)} characters; module "
                                 f"'{interface.name}' derives AWS resource names from it and allows at most "
                                 f"{limit}{reason}")

    # -- the account layout ------------------------------------------------------------------------

    def _layout(self, accounts: dict[str, Account], environments: dict[str, Environment],
                blocks: dict[str, RawBlock]) -> None:
        by_account: dict[str, list[Environment]] = defaultdict(list)
        for environment in environments.values():
            by_account[environment.account.name].append(environment)
        for account_name, in_account in by_account.items():
            account = accounts[account_name]
            if account.kind is AccountKind.MANAGEMENT:
                for environment in in_account:
                    self._problem(blocks[environment.name], f"environment '{environment.name}' is in management account "
                                  f"'{account.name}'; the management account holds the Organization and billing, "
                                  "no workloads", "account")
            if account.kind.is_protected and len(in_account) > 1:
                names = sorted(e.name for e in in_account)
                for environment in sorted(in_account, key=lambda e: e.name)[1:]:
                    self._problem(blocks[environment.name],
                                  f"{account.kind.value} account '{account.name}' holds more than one environment "
                                  f"({', '.join(names)}); each {account.kind.value} environment gets its own account "
                                  "so it mirrors production", "account")
        for environment in environments.values():
            block = blocks[environment.name]
            self._uses(block, environment, environments)
            if environment.ttl is not None:
                if environment.kind is not AccountKind.DEVELOPMENT:
                    self._problem(block, f"ttl is only for development accounts; environment '{environment.name}' is "
                                         f"in {environment.kind.value} account '{environment.account.name}'", "ttl")
                elif not naming.TTL_PATTERN.match(environment.ttl):
                    self._problem(block, cast(str, naming.ttl_problem(environment.ttl)), "ttl")  # unmatched: a problem
            for attribute in ("branch", "owner"):
                if getattr(environment, attribute) is not None and environment.kind is not AccountKind.DEVELOPMENT:
                    self._problem(block, f"{attribute} is only for development environments (a developer account's "
                                         "owner is set on the account)", attribute)
            if environment.created is not None:
                try:
                    naming.parse_timestamp(environment.created)
                except ValueError:
                    self._problem(block, f"created '{environment.created}' must be a UTC time like "
                                         "2026-01-31T12:00:00Z", "created")

    def _uses(self, block: RawBlock, environment: Environment, environments: dict[str, Environment]) -> None:
        if environment.uses is None:
            return
        if environment.kind not in (AccountKind.DEVELOPMENT, AccountKind.DEVELOPER):
            self._problem(block, f"uses is only allowed in development and developer accounts; '{environment.name}' is "
                                 f"in {environment.kind.value} account '{environment.account.name}'", "uses")
            return
        target = environments.get(environment.uses)
        if target is None:
            same_account = sorted(e.name for e in environments.values()
                                  if e.account == environment.account and e.name != environment.name)
            self._problem(block, f"uses refers to unknown environment '{environment.uses}'; environments in account "
                                 f"'{environment.account.name}': {', '.join(same_account) or '(none)'}", "uses")
        elif target.name == environment.name:
            self._problem(block, f"environment '{environment.name}' uses itself (a cycle)", "uses")
        elif target.account.name != environment.account.name:
            self._problem(block, f"uses must name an environment in the same account; '{target.name}' is in account "
                                 f"'{target.account.name}', not '{environment.account.name}'", "uses")
        elif target.uses is not None:
            kind = "a cycle" if target.uses == environment.name else "a chain longer than one"
            self._problem(block, f"'{environment.name}' uses '{target.name}', which itself uses '{target.uses}': "
                                 f"{kind}; an infrastructure environment must not use another", "uses")


def require_account_ids(organization: Organization) -> None:
    """Every account holding an environment has an id: workspaces name it (state bucket, role, guard).
    An account declared with only an email gets its id from `bootstrap`, which is the one command that
    runs before that."""
    missing = [e for e in organization.environments if e.account.id is None]
    if missing:
        raise ConfigError([
            Problem(e.location.file, e.location.line,
                    f"environment '{e.name}' is in account '{e.account.name}', which has no id yet; run "
                    "`python main.py bootstrap` to create the account (its id is recorded for later runs) or set id")
            for e in missing])

def _reference_kind(reference: Any) -> str:
    known = {"var": "a variable", "local": "a local value", "data": "a data source", "path": "path.*",
             "terraform": "terraform.*", "each": "each.*", "count": "count.*", "self": "self.*",
             "module": "a whole module", "uses": "a used environment without naming an output"}
    return known.get(reference.root, f"'{reference.root}', which is not something a module input can read")
