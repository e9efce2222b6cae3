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
from typing import Any, Mapping

import hcl2

from generators import naming
from generators.aws import clients as aws
from generators.config.expressions import SourceText, Token, tokenize
from generators.config.hcl_loader import RawBlock, load_directory
from generators.config.layouts import apply_layouts
from generators.config.models import AccountKind, Environment, Organization
from generators.errors import UsageError

GENERATED_HEADER = "# Development environment written by `python main.py env create`."
DEFAULT_TTL = "7d"
_HASH_LENGTH = 6
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


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
    """The environment file, written by python-hcl2's writer. Each module input is then replaced by
    its exact expression text from the template (python-hcl2's values would change the meaning of
    some: quotes inside function calls, null, heredocs). What is written is read back before it is
    returned: a value the file would not give back exactly is refused, never written changed."""
    literals = {"account": account}
    if uses:
        literals["uses"] = uses
    literals["ttl"] = ttl
    if branch:
        literals["branch"] = branch
    if owner:
        literals["owner"] = owner
    literals["created"] = naming.format_timestamp(created)
    document = hcl2.Builder()
    environment = document.block("environment", [name])
    environment.attributes.update({key: _template_literal(value) for key, value in literals.items()})
    expressions: dict[str, str] = {}  # placeholder identifier -> the input's expression as written
    for module in modules:
        attributes = {key: _quoted_keys(module.attributes[key]) for key in ("source", "version", "providers")
                      if key in module.attributes}
        if "inputs" in module.attributes:
            attributes["inputs"] = _inputs_with_placeholders(module, expressions)
        environment.block("module", [module.label], **attributes)
    written = hcl2.writes(hcl2.reverse_transform(document.build()))
    text = "\n".join([GENERATED_HEADER, f"# Destroy it with `python main.py env destroy {name}` (CI runs that when "
                      "its pull request closes).", _replace_placeholders(written, expressions)])
    _check_reads_back(text, name, literals, modules)
    return text


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


def _template_literal(text: str) -> str:
    """``text`` as python-hcl2 holds a literal string: ``${`` and ``%{`` escaped, as Terraform's JSON
    syntax writes them (the writer would otherwise write them as interpolations and directives)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def _quoted_keys(value: Any) -> Any:
    """Object keys that are not identifiers (``"aws.global"``) quoted, as they were written."""
    if isinstance(value, Mapping):
        return {key if _IDENTIFIER.match(key) else json.dumps(key): _quoted_keys(item) for key, item in value.items()}
    return value


def _inputs_with_placeholders(module: RawBlock, expressions: dict[str, str]) -> dict[str, Any]:
    inputs = module.attributes["inputs"]
    written = {key: e.text for key in inputs if (e := module.expressions.get(f"inputs.{key}")) is not None}
    if len(written) != len(inputs):  # not read from a file: its values
        return dict(_quoted_keys(inputs))
    placeholders = {}
    for key, text in written.items():
        placeholder = f"__input_{len(expressions)}__"
        expressions[placeholder] = text
        placeholders[key if _IDENTIFIER.match(key) else json.dumps(key)] = f"${{{placeholder}}}"
    return placeholders


def _replace_placeholders(text: str, expressions: dict[str, str]) -> str:
    """Each placeholder identifier the writer wrote replaced by its expression text, cut in at the
    placeholder's offset (found by the tokenizer, so text inside strings is never taken for one)."""
    found = [t for t in tokenize(text) if t.kind == "ident" and t.text in expressions]
    if sorted(t.text for t in found) != sorted(expressions):
        raise AssertionError(f"the HCL writer did not write each input placeholder once: {found}")
    for token in sorted(found, key=lambda t: t.start, reverse=True):
        text = text[:token.start] + expressions[token.text] + text[token.end:]
    return text


def _check_reads_back(text: str, name: str, literals: dict[str, str], modules: list[RawBlock]) -> None:
    """Refuse a file that would not read back as written, by python-hcl2 (what the loader uses) or by
    HCL's own escapes (what Terraform reads); python-hcl2's writer and reader mishandle a few strings,
    like a quote inside ``${ }``, a backslash before ``n``, or an unclosed ``${``."""
    source = SourceText(text)
    try:
        document = hcl2.loads(text)
        (read,) = (entry[name] for entry in document.get("environment", []) if name in entry)
        by_hcl = {key: source.attribute_in_block("environment", name, key) for key in literals}
    except Exception as exc:  # noqa: BLE001 - python-hcl2 raises bare exceptions for malformed input
        for key, value in literals.items():  # which value made it unreadable
            _check_literal(key, value, _read_alone(key, value))
        raise UsageError(f"cannot write environment '{name}' as HCL that reads back the same: "
                         f"{str(exc).strip().splitlines()[0]}") from exc
    for key, value in literals.items():
        expression = by_hcl[key]
        _check_literal(key, value, (read.get(key), expression.tokens if expression is not None else ()))
    copied = [next(iter(entry.items())) for entry in read.get("module", [])]
    expected = [(m.label, {k: v for k, v in m.attributes.items() if k != "inputs"}, set(m.attributes.get("inputs", {})))
                for m in modules]
    actual = [(label, {k: v for k, v in body.items() if k != "inputs"}, set(body.get("inputs", {})))
              for label, body in copied]
    if actual != expected:
        raise UsageError(f"cannot write the modules of environment '{name}' as HCL that reads back the same")


def _read_alone(key: str, value: str) -> tuple[Any, tuple[Token, ...]]:
    text = hcl2.writes(hcl2.reverse_transform({key: _template_literal(value)}))
    try:
        return hcl2.loads(text).get(key), tuple(tokenize(text))
    except Exception:  # noqa: BLE001 - as above: unreadable is what this looks for
        return None, ()


def _check_literal(key: str, value: str, read: tuple[Any, tuple[Token, ...]]) -> None:
    """``value`` as read back by python-hcl2 and as HCL's tokens: the same string, or refused."""
    by_python_hcl2, tokens = read
    strings = [t.value for t in tokens if t.kind == "string"]
    if by_python_hcl2 != _template_literal(value) or strings != [value]:
        raise UsageError(f"cannot write {key} {value!r} to an environment file: python-hcl2 would not read it "
                         "back the same")


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
