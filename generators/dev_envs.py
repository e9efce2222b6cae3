"""Short-lived development environments: one per feature or hotfix branch, in the shared development
account, reading the shared infrastructure environment through ``uses``.

This module decides names, writes and removes environment files, and computes expiry; running
Terraform and deleting state is the runner's and the CLI's job.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import aws, naming
from .errors import UsageError
from .hcl_loader import RawBlock, expression_of, load_directory
from .layouts import apply_layouts
from .models import AccountKind, Environment, Organization

GENERATED_HEADER = "# Development environment written by `python main.py env create`."
DEFAULT_TTL = "7d"
_HASH_LENGTH = 6


@dataclass(frozen=True)
class NewEnvironment:
    name: str
    path: Path
    text: str
    account: str
    uses: str | None
    source: str  # the environment whose module layout was copied


def sanitize_name(branch: str, max_length: int) -> str:
    """A valid environment name from a branch name: lowercase ``[a-z0-9-]``, starting with a letter, at
    most ``max_length`` characters; truncated names end in a short stable hash of the whole branch
    name, so two long branch names that share a prefix never collide."""
    name = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"br-{name}".rstrip("-")
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(branch.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: max_length - _HASH_LENGTH - 1].rstrip('-')}-{digest}"


def name_limit(organization: Organization, template: Environment) -> int:
    """The longest name every module of ``template`` accepts (derived AWS names must fit)."""
    limits = [c.module.name_prefix_max_length for c in template.modules if c.module.name_prefix_max_length]
    return min(limits, default=63)


def default_template(organization: Organization, account: str | None = None) -> Environment:
    """The layout new environments copy: an existing API environment (one that `uses` another) of the
    development account."""
    candidates = [e for e in organization.environments
                  if e.kind is AccountKind.DEVELOPMENT and e.uses and (account is None or e.account.name == account)]
    if not candidates:
        raise UsageError("no development environment with `uses` to copy the layout from; pass --from ENV")
    return candidates[0]


def plan_create(organization: Organization, environments_dir: Path, *, name: str | None, branch: str | None,
                template_name: str | None, uses: str | None, ttl: str, owner: str | None,
                now: datetime) -> NewEnvironment:
    """Decide everything about a new environment; write nothing."""
    if template_name is not None:
        template = _environment(organization, template_name)
    else:
        template = default_template(organization)
    if template.kind is not AccountKind.DEVELOPMENT:
        raise UsageError(f"'{template.name}' is in {template.kind.value} account '{template.account.name}'; "
                         "short-lived environments copy a development environment")
    limit = name_limit(organization, template)
    if name is None:
        if branch is None:
            raise UsageError("give a NAME or --branch BRANCH")
        name = sanitize_name(branch, limit)
    if not naming.NAME_PATTERN.match(name) or len(name) > limit:
        raise UsageError(f"'{name}' is not a valid environment name here: [a-z][a-z0-9-]*, at most {limit} characters "
                         f"(the modules of '{template.name}' derive AWS names from it)")
    if any(e.name == name for e in organization.environments):
        raise UsageError(f"environment '{name}' already exists")
    path = environments_dir / f"{name}.hcl"
    if path.exists():
        raise UsageError(f"{path} already exists")
    uses = uses if uses is not None else template.uses
    if uses is not None:
        target = _environment(organization, uses)
        if target.account.name != template.account.name or target.uses is not None:
            raise UsageError(f"--uses must name an infrastructure environment of account '{template.account.name}'")
    if naming.ttl_problem(ttl):
        raise UsageError(f"--{naming.ttl_problem(ttl)}")
    modules = _raw_modules(environments_dir, template.name)
    text = render_environment(name=name, account=template.account.name, uses=uses, ttl=ttl, branch=branch,
                              owner=owner, created=now, modules=modules)
    return NewEnvironment(name=name, path=path, text=text, account=template.account.name, uses=uses,
                          source=template.name)


def write_new_environment(new: NewEnvironment) -> None:
    """Create the file; never overwrite one (a concurrent create of the same name loses cleanly)."""
    with open(new.path, "x", encoding="utf-8") as stream:
        stream.write(new.text)


def render_environment(*, name: str, account: str, uses: str | None, ttl: str, branch: str | None,
                       owner: str | None, created: datetime, modules: list[RawBlock]) -> str:
    stamp = naming.format_timestamp(created)
    lines = [GENERATED_HEADER,
             f"# Destroy it with `python main.py env destroy {name}` (CI runs that when its pull request closes).",
             f'environment "{name}" {{', f'  account = "{account}"']
    if uses:
        lines.append(f'  uses    = "{uses}"')
    lines.append(f'  ttl     = "{ttl}"')
    if branch:
        lines.append(f"  branch  = {_hcl_string(branch)}")
    if owner:
        lines.append(f"  owner   = {_hcl_string(owner)}")
    lines.append(f'  created = "{stamp}"')
    for module in modules:
        lines += ["", f'  module "{module.label}" {{']
        for key in ("source", "version", "providers"):
            if key in module.attributes:
                lines.append(f"    {key} = {_hcl_value(module.attributes[key], 4)}")
        if "inputs" in module.attributes:
            lines.append(f"    inputs = {_inputs_as_written(module)}")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def environment_file(environments_dir: Path, name: str) -> Path | None:
    """The file that defines ``name`` if it defines nothing else (so removing it removes just that)."""
    blocks, _ = load_directory(environments_dir)
    files = {b.file for b in blocks if b.kind == "environment" and b.label == name}
    if not files:
        return None
    (file,) = files
    if any(b.file == file and not (b.kind == "environment" and b.label == name) for b in blocks):
        raise UsageError(f"{file} defines more than environment '{name}'; remove its block by hand")
    return Path(file)


def remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _environment(organization: Organization, name: str) -> Environment:
    for environment in organization.environments:
        if environment.name == name:
            return environment
    raise UsageError(f"unknown environment '{name}'; known: {', '.join(e.name for e in organization.environments)}")


def _raw_modules(environments_dir: Path, environment: str) -> list[RawBlock]:
    blocks, _ = load_directory(environments_dir)
    blocks, _, _ = apply_layouts(blocks)  # a copy gets the template's effective modules
    block = next(b for b in blocks if b.kind == "environment" and b.label == environment)
    return list(block.children("module"))


def _hcl_value(value: Any, indent: int) -> str:
    """Write a python-hcl2 value back as HCL: bare expressions stay bare, literals are quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        expression = expression_of(value)
        return expression if expression is not None else _hcl_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl_value(v, indent) for v in value) + "]"
    if isinstance(value, dict) or hasattr(value, "items"):
        pad = " " * (indent + 2)
        width = max((len(_hcl_key(k)) for k in value), default=0)
        body = [f"{pad}{_hcl_key(k).ljust(width)} = {_hcl_value(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + "\n".join(body) + "\n" + " " * indent + "}"
    raise TypeError(f"cannot write {value!r} as HCL")


def _inputs_as_written(module: RawBlock) -> str:
    """The template's inputs with each expression's exact text: python-hcl2's values would change
    the meaning of some (quotes inside function calls, null, heredocs)."""
    inputs = module.attributes["inputs"]
    expressions = {key: module.expressions.get(f"inputs.{key}") for key in inputs}
    if any(e is None for e in expressions.values()):
        return _hcl_value(inputs, 4)
    width = max((len(_hcl_key(k)) for k in inputs), default=0)
    body = [f"      {_hcl_key(k).ljust(width)} = {e.text}" for k, e in expressions.items()]
    return "{\n" + "\n".join(body) + "\n    }"


def _hcl_string(text: str) -> str:
    # ${ and %{ start templates in HCL strings; a branch name must stay literal
    return json.dumps(text, ensure_ascii=False).replace("${", "$${").replace("%{", "%%{")


def _hcl_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", key) else json.dumps(key)


# -- state of short-lived environments ---------------------------------------------------------------


@dataclass(frozen=True)
class StateObjects:
    exists: bool
    last_modified: datetime | None  # the last deploy
    first_written: datetime | None = None  # the first deploy: the oldest version of the state object


def _state_client(organization: Organization, environment: Environment):
    return _account_state_client(organization, environment.account, f"env-{environment.name}")


def _account_state_client(organization: Organization, account, session_name: str):
    session = aws.assume_role_session(aws.session(organization.settings.region),
                                      organization.role_arn(account), session_name,
                                      region=organization.settings.region)
    # short timeouts: `env list` must stay usable when AWS is unreachable
    return aws.client(session, "s3", connect_timeout=5, read_timeout=20)


def read_state(organization: Organization, environment: Environment) -> StateObjects:
    """Whether the environment's state object exists, when it was last written (its last deploy) and
    when first (its first deploy).

    The first deploy is read from the state object's versions: the state bucket is versioned and
    nothing but `env destroy` deletes versions, so the oldest version's time is when the environment
    was first deployed. That needs no record of its own, which could get lost or out of step with the
    state, and it covers environments deployed before anyone thought to record it."""
    from botocore.exceptions import ClientError

    client = _state_client(organization, environment)
    bucket = organization.state_bucket(environment.account)
    key = environment.state_key
    versions, deletions = [], []
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            versions += [v for v in page.get("Versions", []) if v["Key"] == key]
            deletions += [m["LastModified"] for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucket", "404", "NotFound"):
            return StateObjects(False, None)  # not bootstrapped yet: nothing was ever deployed there
        raise
    latest = next((v for v in versions if v.get("IsLatest")), None)
    if latest is None:  # never deployed, or its state was deleted (the latest entry is a delete marker)
        return StateObjects(False, None)
    # a state deleted and deployed again is a new environment: count from after the last deletion
    since = max(deletions, default=None)
    current = [v["LastModified"] for v in versions if since is None or v["LastModified"] > since]
    return StateObjects(True, latest["LastModified"], min(current, default=latest["LastModified"]))


def expires_at(environment: Environment, state: StateObjects | None) -> datetime | None:
    """When ``environment`` may be reaped: its ttl after its `created` time or, without one (a
    hand-written environment), after its first deploy. None when it has no ttl or was never deployed."""
    if environment.ttl is None:
        return None
    if environment.expires_at is not None:
        return environment.expires_at
    if state is None or state.first_written is None:
        return None
    return state.first_written + timedelta(hours=naming.ttl_hours(environment.ttl))


def delete_state(organization: Organization, environment: Environment) -> int:
    """Delete every version of the environment's state and lock objects (the bucket is versioned, and a
    delete marker alone would leave the state behind). Returns how many versions were deleted."""
    client = _state_client(organization, environment)
    bucket = organization.state_bucket(environment.account)
    deleted = 0
    for key in (environment.state_key, naming.state_lock_key(environment.name)):
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            versions = [v for v in page.get("Versions", []) + page.get("DeleteMarkers", []) if v["Key"] == key]
            for version in versions:
                client.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
                deleted += 1
    return deleted


@dataclass(frozen=True)
class StrayEnvironment:
    """State of a short-lived environment that this checkout does not define, such as one CI created
    for a pull request without committing its file. Its resources carry the ExpiresAt tag."""

    name: str
    account: str
    state_url: str
    expires_at: datetime | None


@dataclass(frozen=True)
class StraySearch:
    strays: tuple[StrayEnvironment, ...]
    failures: tuple[tuple[str, Exception], ...]  # (where, what went wrong): searched no further there


def stray_environments(organization: Organization) -> StraySearch:
    """Search the development accounts' state buckets for environments not defined here. An account or
    state object that cannot be read is recorded and the search goes on with the others."""
    defined = {e.name for e in organization.environments}
    strays: list[StrayEnvironment] = []
    failures: list[tuple[str, Exception]] = []
    for account in organization.accounts:
        if account.kind is not AccountKind.DEVELOPMENT or account.id is None:
            continue
        bucket = organization.state_bucket(account)
        try:
            client = _account_state_client(organization, account, "env-reap")
            states = aws.environment_states(client, bucket)
        except Exception as exc:  # noqa: BLE001 - reported per account by the caller; the others go on
            failures.append((f"account {account.name} ({account.id}), s3://{bucket}", exc))
            continue
        for found in states:
            name, key = found.environment, found.key
            if name in defined:
                continue
            try:
                state = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            except Exception as exc:  # noqa: BLE001 - as above: one unreadable state stops nothing else
                failures.append((f"s3://{bucket}/{key}", exc))
                continue
            strays.append(StrayEnvironment(name=name, account=account.name, state_url=f"s3://{bucket}/{key}",
                                           expires_at=_expiry_tag(state)))
    return StraySearch(tuple(strays), tuple(failures))


def _expiry_tag(state: Any) -> datetime | None:
    if not isinstance(state, dict):
        return None
    for resource in state.get("resources", []):
        for instance in resource.get("instances", []):
            tags = (instance.get("attributes") or {}).get("tags_all") or {}
            if "ExpiresAt" in tags:
                try:
                    return naming.parse_timestamp(tags["ExpiresAt"])
                except ValueError:
                    continue
    return None
