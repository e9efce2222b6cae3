"""Change detection: which environments a change since a git revision affects, and why.

Decided from ``git diff REF`` (committed and working-tree changes, plus untracked files the tool would
read), in the repository that holds the environments folder:

* a changed line of an environments file affects the block it falls in, found in the old version of
  the file (``git show REF:path``) for removed lines and in the new version for added lines: an
  ``environment`` block affects that environment, the ``organization`` block every environment, an
  ``account`` block every environment in that account (and those whose providers point into it);
* a changed file under ``modules/<m>/`` (documentation aside) affects every environment calling ``m``;
* a changed recorded account id (``account-ids.generated.json``) affects that account's environments;
* a change to the generator's Python code, when it lives in the same repository, affects every
  environment: it can change every workspace it writes;
* an affected environment affects the environments that ``uses`` it;
* an environment whose definition was deleted is reported as removed: it is not planned, and its
  state (still in its account's bucket) is an orphan for the review to report.

Comments between blocks and every other file (docs, tests, README) affect nothing.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

import hcl2

from generators import naming
from generators.config import account_ids
from generators.config.models import Environment, Organization
from generators.errors import ToolError, UsageError

GENERATOR_PACKAGE = Path(__file__).resolve().parent.parent
# Files in a module folder that Terraform never reads; everything else may be (templates, policies).
DOCUMENTATION_SUFFIXES = (".md",)
_TOP_LEVEL_KINDS = ("organization", "account", "environment", "layout")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_MAX_FILES_IN_REASON = 3


@dataclass(frozen=True)
class Affected:
    """One affected environment, with why, and what CI needs to plan or deploy it."""

    environment: str
    reasons: tuple[str, ...]
    removed: bool = False
    account: str | None = None
    account_id: str | None = None
    kind: str | None = None
    region: str | None = None
    plan_role_arn: str | None = None
    deploy_role_arn: str | None = None
    state_bucket: str | None = None
    state_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "reasons": list(self.reasons),
            "removed": self.removed,
            "account": self.account,
            "account_id": self.account_id,
            "kind": self.kind,
            "region": self.region,
            "plan_role_arn": self.plan_role_arn,
            "deploy_role_arn": self.deploy_role_arn,
            "state_bucket": self.state_bucket,
            "state_key": self.state_key,
        }


def affected_environments(organization: Organization, environments_dir: Path, modules_dir: Path,
                          ref: str, *, generator_package: Path = GENERATOR_PACKAGE) -> list[Affected]:
    """The environments changed since ``ref``, sorted by name; removed ones carry ``removed=True``."""
    repo = _Repository.containing(environments_dir, ref)
    env_prefix = repo.relative(environments_dir)
    modules_prefix = repo.relative(modules_dir)
    generator_prefix = repo.relative(generator_package)
    changed = repo.changed_files()

    reasons: dict[str, list[str]] = defaultdict(list)
    removed: dict[str, tuple[str, str | None]] = {}  # environment -> (reason, account name)

    def add(environments: Iterable[Environment], reason: str) -> None:
        for environment in environments:
            if reason not in reasons[environment.name]:
                reasons[environment.name].append(reason)

    hcl_files = {p: s for p, s in changed.items() if env_prefix is not None and _is_under(p, env_prefix)
                 and p.endswith(".hcl")}
    _blocks_changes(repo, organization, hcl_files, add, removed)

    if env_prefix is not None:
        ids_file = _join(env_prefix, account_ids.FILE_NAME)
        if ids_file in changed:
            for name in _changed_recorded_ids(repo, ids_file):
                _account_changed(organization, name, f"recorded id of account '{name}' changed ({ids_file})", add)

    if modules_prefix is not None:
        by_module: dict[str, list[str]] = defaultdict(list)
        for path in changed:
            parts = PurePosixPath(path).relative_to(modules_prefix).parts if _is_under(path, modules_prefix) else ()
            if len(parts) >= 2 and not path.endswith(DOCUMENTATION_SUFFIXES):
                by_module[parts[0]].append(path)
        for module, files in sorted(by_module.items()):
            callers = [e for e in organization.environments if any(c.module.name == module for c in e.modules)]
            add(callers, f"module '{module}' changed ({_files(files)})")

    if generator_prefix is not None:
        tool_files = [p for p in changed if _is_under(p, generator_prefix) and p.endswith(".py")]
        if tool_files:
            add(organization.environments, f"generator changed ({_files(tool_files)})")

    # Users read the used environment's outputs, so anything that changes it may change them.
    for name in sorted(reasons):
        add(organization.users_of(organization.environment(name)), f"uses {name}")

    result = [_describe(organization, organization.environment(name), tuple(why))
              for name, why in reasons.items() if name not in removed]
    for name, (reason, account_name) in removed.items():
        result.append(_describe_removed(organization, name, reason, account_name))
    return sorted(result, key=lambda a: a.environment)


# -- what each changed .hcl file touches ------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    kind: str
    label: str
    start: int
    end: int
    account: str | None = None  # an environment's account attribute, to locate a removed environment

    def touches(self, ranges: Iterable[tuple[int, int]]) -> bool:
        return any(first <= self.end and last >= self.start for first, last in ranges)


def _blocks_changes(repo: "_Repository", organization: Organization, files: dict[str, str], add,
                    removed: dict[str, tuple[str, str | None]]) -> None:
    if not files:
        return
    hunks = repo.hunks([p for p, status in files.items() if status == "M"])
    old_texts = repo.old_contents([p for p, status in files.items() if status in ("M", "D")])
    old_blocks = {path: _top_level_blocks(text) for path, text in old_texts.items()}
    defined_before = {b.label for blocks in old_blocks.values() if blocks for b in blocks if b.kind == "environment"}
    current = {e.name for e in organization.environments}

    for path, status in sorted(files.items()):
        new_blocks = _top_level_blocks(repo.new_content(path)) if status != "D" else []
        old = old_blocks.get(path) if status != "A" else []
        if status == "M":
            removed_ranges, added_ranges = hunks.get(path, ((), ()))
            if old is None:  # the old version does not parse: count every block of the new one
                touched = list(new_blocks or [])
            else:
                touched = [b for b in old if b.touches(removed_ranges)]
                touched += [b for b in new_blocks or [] if b.touches(added_ranges)]
        else:
            touched = list(old or []) + list(new_blocks or [])
        for block in touched:
            if block.kind == "organization":
                add(organization.environments, f"organization block changed ({path})")
            elif block.kind == "account":
                _account_changed(organization, block.label, f"account '{block.label}' changed ({path})", add)
            elif block.kind == "layout":  # every environment that names it (a removed layout fails validation)
                add([e for e in organization.environments if e.layout == block.label],
                    f"layout '{block.label}' changed ({path})")
            elif block.label in current:
                what = "definition changed" if block.label in defined_before else "new environment, defined"
                add([organization.environment(block.label)], f"{what} ({path})")
            elif block.label not in removed:
                removed[block.label] = (f"definition deleted ({path})", block.account)


def _account_changed(organization: Organization, name: str, reason: str, add) -> None:
    """The account's environments, and those with a provider pointing into it (they use its id and role)."""
    account = next((a for a in organization.accounts if a.name == name), None)
    if account is None:  # a deleted account: its environments were deleted or moved, and are seen there
        return
    add(organization.environments_in(account), reason)
    for environment in organization.environments:
        for provider in environment.providers:
            if provider.account.name == name and environment.account.name != name:
                add([environment], f"{reason}: provider '{provider.alias}' points into it")


def _top_level_blocks(text: str | None) -> list[_Block] | None:
    """Top-level labelled blocks with their line extents; None when the text does not parse."""
    if text is None:
        return None
    try:
        document = hcl2.loads(text, with_meta=True)
    except Exception:  # python-hcl2 raises bare exceptions for some malformed input
        return None
    blocks = []
    for kind in _TOP_LEVEL_KINDS:
        for entry in document.get(kind, []) if isinstance(document.get(kind), list) else []:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            label, body = next(iter(entry.items()))
            if isinstance(body, dict) and "__start_line__" in body:
                account = body.get("account") if isinstance(body.get("account"), str) else None
                blocks.append(_Block(kind, label, body["__start_line__"], body["__end_line__"], account))
    return blocks


def _changed_recorded_ids(repo: "_Repository", path: str) -> set[str]:
    def ids(text: str | None) -> dict[str, str]:
        # A file that is missing or bad on one side records nothing to compare against there, so each id
        # on the other side counts as changed: more environments are planned, never fewer. (The checkout's
        # own file is already known good: loading the configuration read it.)
        return account_ids.parse(text, path)[0] if text is not None else {}

    old = ids(repo.old_contents([path]).get(path))
    new = ids(repo.new_content(path))
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


# -- the JSON entries ---------------------------------------------------------------------------------


def _describe(organization: Organization, environment: Environment, reasons: tuple[str, ...]) -> Affected:
    account = environment.account
    known = account.id is not None
    return Affected(
        environment=environment.name,
        reasons=reasons,
        account=account.name,
        account_id=account.id,
        kind=environment.kind.value,
        region=environment.region,
        plan_role_arn=organization.role_arn(account, organization.settings.plan_role) if known else None,
        deploy_role_arn=organization.role_arn(account) if known else None,
        state_bucket=organization.state_bucket(account) if known else None,
        state_key=environment.state_key,
    )


def _describe_removed(organization: Organization, name: str, reason: str, account_name: str | None) -> Affected:
    """Where the orphaned state is, when the account it lived in is still defined."""
    account = next((a for a in organization.accounts if a.name == account_name), None)
    known = account if account is not None and account.id is not None else None
    return Affected(
        environment=name,
        reasons=(reason,),
        removed=True,
        account=account_name,
        account_id=account.id if account else None,
        kind=account.kind.value if account else None,
        deploy_role_arn=organization.role_arn(known) if known else None,
        plan_role_arn=organization.role_arn(known, organization.settings.plan_role) if known else None,
        state_bucket=organization.state_bucket(known) if known else None,
        state_key=naming.state_key(name),
    )


# -- git ------------------------------------------------------------------------------------------------


class _Repository:
    """The few git questions change detection asks, with paths relative to the repository root."""

    def __init__(self, root: Path, commit: str):
        self.root = root
        self.commit = commit

    @classmethod
    def containing(cls, directory: Path, ref: str) -> "_Repository":
        if not ref or ref.startswith("-"):
            raise UsageError(f"'{ref}' is not a git revision")
        if not Path(directory).is_dir():
            raise UsageError(f"{directory} is not a directory")
        probe = _git(Path(directory), "rev-parse", "--show-toplevel", check=False)
        if probe.returncode != 0:
            raise UsageError(f"{directory} is not inside a git repository; change detection needs one")
        root = Path(probe.stdout.decode().strip()).resolve()
        resolved = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if resolved.returncode != 0:
            raise UsageError(f"unknown git revision '{ref}' in {root}; fetch it first (in GitHub Actions: "
                             "actions/checkout with fetch-depth: 0)")
        return cls(root, resolved.stdout.decode().strip())

    def relative(self, path: Path) -> str | None:
        """``path`` relative to the root, POSIX style ('' for the root itself); None when outside."""
        try:
            relative = Path(path).resolve().relative_to(self.root)
        except ValueError:
            return None
        return relative.as_posix() if relative.parts else ""

    def changed_files(self) -> dict[str, str]:
        """Path -> A (added), D (deleted) or M (modified), against the commit, untracked files included."""
        output = _git(self.root, "diff", "--name-status", "-z", "--no-renames", self.commit, "--").stdout
        fields = output.decode("utf-8", "surrogateescape").split("\0")
        changed: dict[str, str] = {}
        for status, path in zip(fields[0::2], fields[1::2]):
            changed[path] = status[:1] if status[:1] in ("A", "D") else "M"
        untracked = _git(self.root, "ls-files", "--others", "--exclude-standard", "-z").stdout
        for path in untracked.decode("utf-8", "surrogateescape").split("\0"):
            if path:
                changed[path] = "A"
        return changed

    def hunks(self, paths: list[str]) -> dict[str, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]]:
        """Per modified file: the removed line ranges (old numbering) and added ranges (new numbering)."""
        if not paths:
            return {}
        output = _git(self.root, "diff", "-U0", "--no-renames", "--no-color", "--no-ext-diff", "--no-textconv",
                      "--src-prefix=a/", "--dst-prefix=b/", self.commit, "--",
                      *(f":(literal){p}" for p in paths)).stdout.decode("utf-8", "surrogateescape")
        return _parse_hunks(output)

    def old_contents(self, paths: list[str]) -> dict[str, str | None]:
        """The files as they were at the commit (one `git cat-file --batch` for all of them)."""
        if not paths:
            return {}
        request = "".join(f"{self.commit}:{p}\n" for p in paths).encode("utf-8", "surrogateescape")
        output = _git(self.root, "cat-file", "--batch", input=request).stdout
        contents: dict[str, str | None] = {}
        position = 0
        for path in paths:
            header_end = output.index(b"\n", position)
            header = output[position:header_end].split()
            position = header_end + 1
            if len(header) < 3 or header[1] != b"blob":
                contents[path] = None
                continue
            size = int(header[2])
            contents[path] = output[position:position + size].decode("utf-8", "replace")
            position += size + 1
        return contents

    def new_content(self, path: str) -> str | None:
        try:
            return (self.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


def _parse_hunks(patch: str) -> dict[str, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]]:
    result: dict[str, tuple[list, list]] = {}
    current: str | None = None
    remaining_old = remaining_new = 0
    for line in patch.splitlines():
        if remaining_old or remaining_new:  # inside a hunk: content, never a header, whatever it starts with
            if line.startswith("-"):
                remaining_old -= 1
            elif line.startswith("+"):
                remaining_new -= 1
            continue
        if line.startswith("diff --git "):
            current = None
        elif line.startswith("+++ ") or (line.startswith("--- ") and current is None):
            name = _unquote(line[4:])
            if name != "/dev/null":
                current = name[2:]  # strip the a/ or b/ prefix
        elif (match := _HUNK.match(line)) and current is not None:
            old_start, old_count, new_start, new_count = (int(g) if g is not None else 1 for g in match.groups())
            removed, added = result.setdefault(current, ([], []))
            if old_count:
                removed.append((old_start, old_start + old_count - 1))
            if new_count:
                added.append((new_start, new_start + new_count - 1))
            remaining_old, remaining_new = old_count, new_count
    return {path: (tuple(r), tuple(a)) for path, (r, a) in result.items()}


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of unusual path names ("a/caf\\303\\251.hcl")."""
    name = name.rstrip("\t")
    if not (name.startswith('"') and name.endswith('"')):
        return name
    escapes = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
    raw = bytearray()
    body = name[1:-1]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            following = body[i + 1]
            if following in "01234567":
                raw.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            raw.append(escapes.get(following, ord(following)))
            i += 2
            continue
        raw.extend(char.encode("utf-8"))
        i += 1
    return raw.decode("utf-8", "surrogateescape")


def _git(cwd: Path, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    # -c core.quotePath=false: non-ASCII names come out as they are; LC_ALL is left to the user.
    command = ["git", "-c", "core.quotePath=false", "-C", str(cwd), *args]
    try:
        completed = subprocess.run(command, input=input, capture_output=True, check=False)
    except FileNotFoundError:
        raise ToolError("git is not installed (or not on PATH); change detection needs it") from None
    if check and completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ToolError(f"git {args[0]} failed in {cwd}: {message[-1] if message else completed.returncode}")
    return completed


# -- small helpers ----------------------------------------------------------------------------------------


def _is_under(path: str, prefix: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _files(paths: list[str]) -> str:
    paths = sorted(paths)
    shown = ", ".join(paths[:_MAX_FILES_IN_REASON])
    more = len(paths) - _MAX_FILES_IN_REASON
    return f"{shown} and {more} more" if more > 0 else shown


# -- what affects an environment, as path patterns (for CI engines that decide by changed files) ------


def environment_inputs(organization: Organization, environment: Environment, repository_root: Path,
                       environments_dir: Path, modules_dir: Path, *,
                       generator_package: Path = GENERATOR_PACKAGE) -> tuple[str, ...]:
    """Repository-relative path patterns (``**`` globs, ``!`` exclusions last) whose change affects
    ``environment`` by the rules above, at file granularity: a changed account block is seen as a changed
    file of accounts, so an engine matching these patterns plans a superset of ``affected_environments``."""
    root = repository_root.resolve()
    patterns: list[str] = []
    exclusions: list[str] = []
    seen: set[str] = set()
    recorded = account_ids.load(environments_dir)

    def relative(path: Path | str) -> str | None:
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            return None

    def collect(env: Environment) -> None:
        if env.name in seen:
            return
        seen.add(env.name)
        accounts = [env.account] + [p.account for p in env.providers]
        files = [*env.definition_files, organization.settings.location.file] + [a.location.file for a in accounts]
        if any(a.name in recorded for a in accounts):
            files.append(str(account_ids.path_in(environments_dir)))
        patterns.extend(p for p in map(relative, files) if p)
        modules_root = relative(modules_dir)
        for call in env.modules:
            if call.source is not None and call.source.local_path is None:
                continue  # git or registry: pinned in the .hcl, so a new version is a definition change
            if call.source is not None and call.source.local_path is not None:  # remote ones were skipped above
                folder = relative(call.source.local_path)
            else:
                folder = _join(modules_root, call.module.name) if modules_root is not None else None
            if folder is not None:
                patterns.append(f"{folder}/**")
                exclusions.extend(f"!{folder}/**/*{suffix}" for suffix in DOCUMENTATION_SUFFIXES)
        generator = relative(generator_package)
        if generator is not None:
            patterns.append(f"{generator}/**/*.py")
        if env.uses:
            collect(organization.environment(env.uses))

    collect(environment)
    return tuple(dict.fromkeys(patterns + exclusions))
