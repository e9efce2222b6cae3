"""Typed, immutable models of a validated Organization description.

Instances are only built by ``config.load_organization``, after every rule passed, so code that
receives an ``Organization`` can rely on its references being resolved and its names being valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any, Mapping

from generators import naming
from generators.config.module_sources import ModuleSource
from generators.config.module_types import TfType
from generators.errors import Problem


class AccountKind(str, Enum):
    MANAGEMENT = "management"
    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"
    DEVELOPER = "developer"

    @property
    def is_protected(self) -> bool:
        """Production and staging mirror each other and get the strictest treatment."""
        return self in (AccountKind.PRODUCTION, AccountKind.STAGING)


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None


@dataclass(frozen=True)
class OrganizationSettings:
    name: str
    region: str
    deploy_role: str = "TerraformDeploy"
    plan_role: str = "TerraformPlan"
    access_role: str = "OrganizationAccountAccessRole"
    aws_provider_version: str = naming.DEFAULT_AWS_PROVIDER_VERSION
    extensions: tuple[str, ...] = ()
    deploy_principals: tuple[str, ...] = ()
    plan_principals: tuple[str, ...] = ()
    github_repository: str | None = None
    location: Location = Location("", None)


@dataclass(frozen=True)
class Account:
    name: str
    kind: AccountKind
    id: str | None
    email: str | None = None
    owner: str | None = None
    extensions: tuple[str, ...] = ()
    location: Location = Location("", None)


@dataclass(frozen=True)
class ProviderAlias:
    alias: str
    region: str
    account: Account


@dataclass(frozen=True)
class ModuleVariable:
    name: str
    required: bool
    sensitive: bool = False
    type: TfType | None = None  # None: no type constraint, or one the generator does not read


@dataclass(frozen=True)
class ModuleOutput:
    name: str
    sensitive: bool = False


@dataclass(frozen=True)
class ProviderRequirement:
    """One provider a module (or a local module it calls) requires: ``required_providers`` entries."""

    name: str  # the local name, like aws or random
    source: str  # like hashicorp/aws
    constraints: tuple[tuple[str, str], ...] = ()  # (version constraint, the file that states it)


@dataclass(frozen=True)
class ModuleInterface:
    """What a folder under modules/ declares: read from its .tf files, never executed."""

    name: str
    path: str
    variables: Mapping[str, ModuleVariable]
    outputs: Mapping[str, ModuleOutput]
    provider_aliases: tuple[str, ...] = ()
    # From a `length(var.name_prefix) <= N` validation: the longest environment name the module accepts.
    name_prefix_max_length: int | None = None
    name_prefix_reason: str | None = None
    # From `required_providers` of the module and, recursively, of the local modules it calls.
    required_providers: Mapping[str, ProviderRequirement] = field(default_factory=lambda: MappingProxyType({}))
    # False for a git or registry module not fetched yet: its inputs and outputs cannot be checked.
    checked: bool = True

    @property
    def takes_name_prefix(self) -> bool:
        """The generator sets name_prefix only where the module requires it: elsewhere (an optional
        name_prefix, like the AWS argument beside `name`) it may mean something else."""
        variable = self.variables.get(naming.NAME_PREFIX_VARIABLE)
        return variable is not None and variable.required


@dataclass(frozen=True)
class ModuleCall:
    name: str
    module: ModuleInterface
    source: ModuleSource | None = None  # None: the folder under modules/ named module.name
    location: Location = Location("", None)  # where the call (or its source) is written
    # Each input as written, and where (the environment's file or its layout's): for `show`.
    written: Mapping[str, tuple[str, Location]] = field(default_factory=lambda: MappingProxyType({}))
    # Terraform-JSON values: literals as written, references already rewritten to Terraform syntax.
    inputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    providers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class EnvironmentVariable:
    """A root variable of an environment's workspace. Its value is never written to a generated file:
    it comes from TF_VAR_<name> at plan time, or from the secret store named here, read inside the
    environment's own account."""

    name: str
    sensitive: bool = False
    description: str | None = None
    ssm_parameter: str | None = None  # an SSM Parameter Store name (SecureString), read with decryption
    secretsmanager_secret: str | None = None  # a Secrets Manager secret name or ARN

    @property
    def from_secret_store(self) -> bool:
        return self.ssm_parameter is not None or self.secretsmanager_secret is not None


@dataclass(frozen=True)
class Environment:
    name: str
    account: Account
    region: str
    modules: tuple[ModuleCall, ...]
    providers: tuple[ProviderAlias, ...] = ()
    uses: str | None = None
    ttl: str | None = None
    branch: str | None = None
    owner: str | None = None
    created: str | None = None  # UTC, naming.TIMESTAMP_FORMAT; with ttl it sets the expiry
    location: Location = Location("", None)
    variables: tuple[EnvironmentVariable, ...] = ()
    layout: str | None = None
    layout_location: Location | None = None  # where the layout is defined: its file is part of the definition

    @property
    def definition_files(self) -> tuple[str, ...]:
        """The files whose change changes this environment's definition."""
        files = [self.location.file]
        if self.layout_location is not None and self.layout_location.file not in files:
            files.append(self.layout_location.file)
        return tuple(files)

    @property
    def kind(self) -> AccountKind:
        """An environment's kind is its account's kind: the layout is decided per account."""
        return self.account.kind

    @property
    def state_key(self) -> str:
        return naming.state_key(self.name)

    @property
    def expires_at(self) -> datetime | None:
        """When a short-lived environment may be reaped: created + ttl (None without both)."""
        if self.ttl is None or self.created is None:
            return None
        return naming.parse_timestamp(self.created) + timedelta(hours=naming.ttl_hours(self.ttl))


@dataclass(frozen=True)
class Organization:
    settings: OrganizationSettings
    accounts: tuple[Account, ...]
    environments: tuple[Environment, ...]
    modules: Mapping[str, ModuleInterface]
    # Remote modules whose inputs were not checked (not fetched): reported by validate, refused by synth.
    unchecked: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.settings.name

    def account(self, name: str) -> Account:
        return next(a for a in self.accounts if a.name == name)

    def environment(self, name: str) -> Environment:
        return next(e for e in self.environments if e.name == name)

    def environments_in(self, account: Account) -> tuple[Environment, ...]:
        return tuple(e for e in self.environments if e.account.name == account.name)

    def users_of(self, environment: Environment) -> tuple[Environment, ...]:
        """Environments that read ``environment``'s outputs through ``uses``."""
        return tuple(e for e in self.environments if e.uses == environment.name)

    def state_bucket(self, account: Account) -> str:
        return naming.state_bucket(self.name, _require_id(account))

    def role_arn(self, account: Account, role: str | None = None) -> str:
        return naming.role_arn(_require_id(account), role or self.settings.deploy_role)

    def extensions_for(self, account: Account) -> tuple[str, ...]:
        """Extensions switched on for the organization as a whole, then for this account, in order."""
        names = list(self.settings.extensions)
        names += [n for n in account.extensions if n not in names]
        return tuple(names)


def _require_id(account: Account) -> str:
    if account.id is None:
        raise ValueError(f"account '{account.name}' has no id yet")
    return account.id
