"""Build each environment's Terraform document as plain data. Pure: no I/O, no cdktf.

The engine turns a ``WorkspaceDocument`` into a synthesized cdktf stack; tests and the benchmark can
inspect it directly. Everything a workspace needs to be safe is decided here:

* state lives in the environment's own account (one bucket per account, one key per environment),
  with encryption and S3-native locking, reached through that account's deploy role;
* every AWS provider assumes a role in exactly one account and pins ``allowed_account_ids`` to it,
  so running a workspace with another account's credentials fails before any change;
* ``uses`` reads the used environment's outputs from its remote state in the same bucket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from generators import TOOL_NAME, naming
from generators.config.models import Account, AccountKind, Environment, EnvironmentVariable, ModuleCall, Organization

USES_DATA_SOURCE = "uses"
AWS_PROVIDER_SOURCE = "hashicorp/aws"
# Every role this workspace assumes is named by this variable: the deploy role by default, the
# read-only plan role for pull-request plans (`-var role_name=...`, and the backend's role through
# `-backend-config`, since a backend cannot read variables).
ROLE_VARIABLE = "role_name"


def variable_reference(variable: EnvironmentVariable) -> str:
    """What ``var.<name>`` reads in the workspace: the root variable, or the secret store's data source."""
    if variable.ssm_parameter is not None:
        return f"data.aws_ssm_parameter.{variable.name}.value"
    if variable.secretsmanager_secret is not None:
        return f"data.aws_secretsmanager_secret_version.{variable.name}.secret_string"
    return f"var.{variable.name}"


@dataclass(frozen=True)
class WorkspaceDocument:
    """One environment's workspace: the S3 backend and the rest of the Terraform JSON, by top-level key."""

    environment: Environment
    backend: Mapping[str, Any]
    sections: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceOptions:
    modules_dir: str  # absolute path of modules/
    stacks_dir: str  # absolute path of <out>/stacks
    # Set only when AWS_ENDPOINT_URL points at a local API (the sandbox): such endpoints need
    # path-style S3 addressing. Real AWS output is identical whether or not this is set.
    local_endpoint: bool = False


def build_workspace(organization: Organization, environment: Environment,
                    options: WorkspaceOptions) -> WorkspaceDocument:
    account = environment.account
    settings = organization.settings
    state_bucket = organization.state_bucket(account)
    deploy_role = organization.role_arn(account)

    backend = {
        "bucket": state_bucket,
        "key": environment.state_key,
        "region": settings.region,
        "encrypt": True,
        "use_lockfile": True,
        "assume_role": {"role_arn": deploy_role, "session_name": session_name(environment.name)},
        "allowed_account_ids": [account.id],
    }
    if options.local_endpoint:
        backend["use_path_style"] = True

    providers = [_provider(organization, environment, None, environment.region, account, options)]
    for alias in environment.providers:
        providers.append(_provider(organization, environment, alias.alias, alias.region, alias.account, options))

    sections: dict[str, Any] = {
        "variable": {ROLE_VARIABLE: _role_variable(settings.deploy_role, settings.plan_role),
                     **_root_variables(environment)},
        "terraform": {
            "required_version": naming.REQUIRED_TERRAFORM_VERSION,
            "required_providers": {"aws": {"source": AWS_PROVIDER_SOURCE, "version": settings.aws_provider_version},
                                   **_module_providers(environment)},
        },
        "provider": {"aws": providers},
    }
    if environment.uses:
        used_config: dict[str, Any] = {
            "bucket": state_bucket,
            "key": naming.state_key(environment.uses),
            "region": settings.region,
            "assume_role": {"role_arn": _role_arn_expression(organization, account),
                            "session_name": session_name(environment.name)},
        }
        if options.local_endpoint:
            used_config["use_path_style"] = True
        sections["data"] = {"terraform_remote_state": {USES_DATA_SOURCE: {"backend": "s3", "config": used_config}}}
    secret_sources = _secret_data_sources(environment)
    if secret_sources:
        sections.setdefault("data", {}).update(secret_sources)

    stack_dir = os.path.join(options.stacks_dir, environment.name)
    modules: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for call in environment.modules:
        block: dict[str, Any] = {"source": _call_source(call, stack_dir, options.modules_dir)}
        if call.source is not None and call.source.version is not None:
            block["version"] = call.source.version
        block.update(call.inputs)
        if call.providers:
            block["providers"] = dict(call.providers)
        modules[call.name] = block
        for output in call.module.outputs.values():
            value: dict[str, Any] = {"value": f"${{module.{call.name}.{output.name}}}"}
            if output.sensitive:
                value["sensitive"] = True
            outputs[naming.output_name(call.name, output.name)] = value
    if modules:
        sections["module"] = modules
    if outputs:
        sections["output"] = dict(sorted(outputs.items()))
    return WorkspaceDocument(environment=environment, backend=backend, sections=sections)


def default_tags(organization: Organization, environment: Environment) -> dict[str, str]:
    """Tags on every resource, so cost reports and clean-ups can find an environment's resources."""
    tags = {
        "Environment": environment.name,
        "AccountKind": environment.kind.value,
        "Account": environment.account.name,
        "Organization": organization.name,
        "ManagedBy": TOOL_NAME,
    }
    owner = environment.owner or (environment.account.owner if environment.kind is AccountKind.DEVELOPER else None)
    if owner:
        tags["Owner"] = naming.tag_value(owner)
    if environment.branch:
        tags["Branch"] = naming.tag_value(environment.branch)
    if environment.expires_at is not None:  # so a manual clean-up or a cost report can find stragglers
        tags["ExpiresAt"] = naming.format_timestamp(environment.expires_at)
    return tags


def _provider(organization: Organization, environment: Environment, alias: str | None, region: str,
              account: Account, options: WorkspaceOptions) -> dict[str, Any]:
    provider: dict[str, Any] = {}
    if alias:
        provider["alias"] = alias
    provider.update({
        "region": region,
        "allowed_account_ids": [account.id],
        "assume_role": [{
            "role_arn": _role_arn_expression(organization, account),
            "session_name": session_name(environment.name),
        }],
        "default_tags": [{"tags": default_tags(organization, environment)}],
    })
    if options.local_endpoint:
        provider["s3_use_path_style"] = True
    return provider


def _module_providers(environment: Environment) -> dict[str, Any]:
    """Providers other than aws that the environment's modules require, their constraints intersected
    (Terraform's list form: every constraint must hold)."""
    providers: dict[str, dict[str, Any]] = {}
    constraints: dict[str, list[str]] = {}
    for call in environment.modules:
        for requirement in call.module.required_providers.values():
            if requirement.source == AWS_PROVIDER_SOURCE:
                continue
            providers.setdefault(requirement.name, {"source": requirement.source})
            known = constraints.setdefault(requirement.name, [])
            known.extend(c for c, _ in requirement.constraints if c not in known)
    for name, listed in constraints.items():
        if listed:
            providers[name]["version"] = ", ".join(listed)
    return dict(sorted(providers.items()))


def _root_variables(environment: Environment) -> dict[str, Any]:
    """Declared variables without a secret store: values only from TF_VAR_<name> (or -var), never written."""
    variables: dict[str, Any] = {}
    for variable in environment.variables:
        if variable.from_secret_store:
            continue
        declaration: dict[str, Any] = {}
        if variable.description:
            declaration["description"] = variable.description
        if variable.sensitive:
            declaration["sensitive"] = True
        variables[variable.name] = declaration
    return variables


def _secret_data_sources(environment: Environment) -> dict[str, Any]:
    """Secret stores read at plan time by the environment's own provider, so inside its own account."""
    ssm = {v.name: {"name": v.ssm_parameter, "with_decryption": True}
           for v in environment.variables if v.ssm_parameter is not None}
    secrets = {v.name: {"secret_id": v.secretsmanager_secret}
               for v in environment.variables if v.secretsmanager_secret is not None}
    sources: dict[str, Any] = {}
    if ssm:
        sources["aws_ssm_parameter"] = ssm
    if secrets:
        sources["aws_secretsmanager_secret_version"] = secrets
    return sources


def _role_variable(deploy_role: str, plan_role: str) -> dict[str, Any]:
    return {
        "type": "string",
        "default": deploy_role,
        "description": f"Role assumed in every account of this workspace: {deploy_role} to apply, "
                       f"{plan_role} (read-only) for pull-request plans.",
        "validation": [{
            "condition": f"${{contains([\"{deploy_role}\", \"{plan_role}\"], var.{ROLE_VARIABLE})}}",
            "error_message": f"{ROLE_VARIABLE} must be {deploy_role} or {plan_role}.",
        }],
    }


def _role_arn_expression(organization: Organization, account: Account) -> str:
    return organization.role_arn(account, f"${{var.{ROLE_VARIABLE}}}")


def session_name(environment: str) -> str:
    """The role session name of every role the environment's workspace assumes. CloudTrail shows it, so
    who changed what is visible per environment (limit: 64 characters)."""
    return f"{TOOL_NAME}-{environment}"[:64]


def _call_source(call: ModuleCall, stack_dir: str, modules_dir: str) -> str:
    """Remote sources as written (terraform init fetches them); local folders relative to the stack."""
    if call.source is None:
        return _relative_source(stack_dir, modules_dir, call.module.name)
    if call.source.local_path is None:
        return call.source.text
    relative = os.path.relpath(call.source.local_path, stack_dir).replace(os.sep, "/")
    return relative if relative.startswith(".") else f"./{relative}"


def _relative_source(stack_dir: str, modules_dir: str, module: str) -> str:
    """Module sources relative to the stack folder, so the output folder can move with the repository."""
    relative = os.path.relpath(os.path.join(modules_dir, module), stack_dir).replace(os.sep, "/")
    return relative if relative.startswith(".") else f"./{relative}"
