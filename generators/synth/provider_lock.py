"""Dependency lock files (``.terraform.lock.hcl``) for the generated workspaces, computed offline.

For each stack the tool writes what ``terraform providers lock -fs-mirror=MIRROR`` would: the newest
version in the provider mirror that meets every constraint of the stack (its ``required_providers``
and those of the modules it calls), the combined constraints as Terraform spells them, and one
``h1:`` checksum per platform unpacked in the mirror (Terraform's directory hash, the same value as
the hash of the release zip). Hashing the ~700 MB AWS provider takes seconds, so a checksum is
computed once per package and remembered in the tool's cache, keyed on the files' sizes and
modification times; every stack of every run reuses it.

With the lock file present, `terraform init` and the cdktf CLI (which runs `terraform providers lock`,
a registry-only command, when a stack has no lock file) start without reaching the registry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable

from generators.errors import ToolError
from generators.synth.cache import (HclParser, default_key_file, hcl_loads, read_signed, signing_key,
                                    user_cache_dir, write_signed)

LOCK_FILE = ".terraform.lock.hcl"
DEFAULT_HOST = "registry.terraform.io"
_OPERATORS = ("!=", ">=", "<=", "~>", "=", ">", "<")
_TERM = re.compile(r"^\s*(!=|>=|<=|~>|=|>|<)?\s*v?(\d+(?:\.\d+){0,2})\s*$")
_VERSION_DIR = re.compile(r"^\d+\.\d+\.\d+$")  # releases only: Terraform skips pre-releases unless pinned
_PLATFORM_DIR = re.compile(r"^[a-z0-9]+_[a-z0-9]+$")


@dataclass(frozen=True, order=True)
class Version:
    parts: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> "Version":
        numbers = [int(n) for n in text.split(".")]
        return cls(tuple(numbers + [0] * (3 - len(numbers))))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return ".".join(map(str, self.parts))


@dataclass(frozen=True)
class Constraint:
    operator: str  # one of _OPERATORS
    version: Version
    precision: int  # how many parts were written: "~> 5.1" allows 5.x, "~> 5.1.0" only 5.1.x

    def allows(self, version: Version) -> bool:
        if self.operator == "~>":
            upper = list(self.version.parts[:max(self.precision - 1, 1)])
            upper[-1] += 1
            return self.version <= version < Version.parse(".".join(map(str, upper)))
        return {"=": version == self.version, "!=": version != self.version, ">": version > self.version,
                ">=": version >= self.version, "<": version < self.version,
                "<=": version <= self.version}[self.operator]

    def __str__(self) -> str:
        # Terraform's spelling in lock files: "~>" keeps the written precision, others show all three parts
        shown = ".".join(map(str, self.version.parts[:self.precision])) if self.operator == "~>" else str(self.version)
        return shown if self.operator == "=" else f"{self.operator} {shown}"


def parse_constraints(text: str) -> tuple[Constraint, ...]:
    """Parse a Terraform version constraint string ("">= 5.100.0, < 6.0.0"); ValueError when malformed."""
    constraints = []
    for term in text.split(","):
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"'{term.strip()}' is not a version constraint (e.g. \">= 5.100.0, < 6.0.0\")")
        operator, version = match.group(1) or "=", match.group(2)
        constraints.append(Constraint(operator, Version.parse(version), version.count(".") + 1))
    return tuple(constraints)


def constraints_string(constraints: Iterable[Constraint]) -> str:
    """Terraform's canonical form: duplicates dropped, sorted by version (then operator)."""
    unique = {(c.version, c.operator, str(c)): c for c in constraints}
    return ", ".join(text for _, _, text in sorted(unique))


@dataclass(frozen=True)
class LockedProvider:
    address: str  # registry.terraform.io/hashicorp/aws
    version: Version
    constraints: str
    hashes: tuple[str, ...]


def render_lock_file(providers: Iterable[LockedProvider]) -> bytes:
    """The file as `terraform providers lock` writes it (byte for byte, so neither rewrites the other's)."""
    lines = ['# This file is maintained automatically by "terraform init".', "# Manual edits may be lost in future updates."]
    for provider in sorted(providers, key=lambda p: p.address):
        lines += ["", f'provider "{provider.address}" {{', f'  version     = "{provider.version}"']
        if provider.constraints:
            lines.append(f'  constraints = "{provider.constraints}"')
        lines.append("  hashes = [")
        lines += [f'    "{h}",' for h in sorted(provider.hashes)]
        lines += ["  ]", "}"]
    return ("\n".join(lines) + "\n").encode()


def package_hash(package_dir: Path) -> str:
    """Terraform's "h1:" hash of an unpacked provider package (Go's dirhash.Hash1)."""
    summary = hashlib.sha256()
    for relative in sorted(p.relative_to(package_dir).as_posix() for p in package_dir.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with (package_dir / relative).open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        summary.update(f"{digest.hexdigest()}  {relative}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


class HashCache:
    """``package_hash`` remembered on disk, keyed on the package's path and its files' sizes and mtimes.

    The file is signed like the synthesis cache (a file this key did not sign is never read: a planted
    checksum would otherwise go into every lock file) and lives in the user's cache folder, beside the
    key, because the mirror belongs to the machine, not to one checkout.
    """

    HEADER = b"aws-org-workspaces provider hashes 1\n"

    def __init__(self, path: Path | None, signing_key: bytes | None = None):
        # where the checksums are kept and what signs them; None: nothing is kept without a key
        self._store = (path, signing_key) if path is not None and signing_key else None

    @cached_property
    def _entries(self) -> dict[str, dict[str, str]]:
        payload = read_signed(*self._store, self.HEADER) if self._store is not None else None
        try:
            entries = json.loads(payload) if payload is not None else {}
        except ValueError:
            return {}
        return entries if isinstance(entries, dict) else {}

    def hash(self, package_dir: Path) -> str:
        stamp = json.dumps(sorted((p.relative_to(package_dir).as_posix(), s.st_size, s.st_mtime_ns)
                                  for p in package_dir.rglob("*") if p.is_file() for s in [p.stat()]))
        key = str(package_dir.resolve())
        entry = self._entries.get(key)
        if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("hash"), str):
            return entry["hash"]
        value = package_hash(package_dir)
        self._entries[key] = {"stamp": stamp, "hash": value}
        if self._store is not None:
            path, secret = self._store
            try:
                write_signed(path, json.dumps(self._entries, indent=1, sort_keys=True).encode(), secret,
                             self.HEADER)
            except OSError:
                pass  # a cache that cannot be written only costs time
        return value


class ProviderNotInMirror(ToolError):
    """No version in the mirror meets the constraints."""


class ProviderLocks:
    """Lock files for one synthesis run: each provider version is looked up and hashed once."""

    def __init__(self, mirrors: tuple[Path, ...], cache: HashCache):
        self.mirrors = mirrors
        self.cache = cache
        self._locked: dict[tuple[str, str], LockedProvider] = {}
        self._files: dict[tuple[tuple[str, str], ...], bytes] = {}

    def lock_file(self, requirements: dict[str, tuple[Constraint, ...]]) -> bytes:
        """``requirements``: provider address -> every constraint on it in the stack."""
        key = tuple(sorted((address, constraints_string(c)) for address, c in requirements.items()))
        if key not in self._files:
            self._files[key] = render_lock_file(self._lock(address, text, requirements[address])
                                                for address, text in key)
        return self._files[key]

    def _lock(self, address: str, text: str, constraints: tuple[Constraint, ...]) -> LockedProvider:
        if (address, text) not in self._locked:
            version, packages = self._newest(address, constraints, text)
            hashes = tuple(sorted({self.cache.hash(p) for p in packages}))
            self._locked[(address, text)] = LockedProvider(address, version, text, hashes)
        return self._locked[(address, text)]

    def _newest(self, address: str, constraints: tuple[Constraint, ...], text: str) -> tuple[Version, list[Path]]:
        found: dict[Version, list[Path]] = {}
        for mirror in self.mirrors:
            provider_dir = mirror / address
            if not provider_dir.is_dir():
                continue
            for version_dir in provider_dir.iterdir():
                if not _VERSION_DIR.match(version_dir.name):
                    continue
                platforms = [p for p in sorted(version_dir.iterdir()) if p.is_dir() and _PLATFORM_DIR.match(p.name)]
                if platforms:
                    found.setdefault(Version.parse(version_dir.name), platforms)  # first mirror wins
        matching = [v for v in found if all(c.allows(v) for c in constraints)]
        if not matching:
            available = ", ".join(str(v) for v in sorted(found)) or "none"
            raise ProviderNotInMirror(
                f"no version of {address} matching \"{text}\" in the provider mirror "
                f"({', '.join(map(str, self.mirrors))}; versions there: {available}); add one with "
                f"`terraform providers mirror`, or change aws_provider_version in the organization block")
        newest = max(matching)
        return newest, found[newest]


def provider_address(source: str) -> str:
    """"hashicorp/aws" -> "registry.terraform.io/hashicorp/aws"."""
    return source if source.count("/") == 2 else f"{DEFAULT_HOST}/{source}"


def module_requirements(module_dir: Path, parse: HclParser = hcl_loads
                        ) -> dict[str, tuple[Constraint, ...]]:
    """The provider constraints a plain HCL module declares in its `required_providers` (``parse`` reads
    HCL text: ``hcl_loads`` or the synthesis cache's remembering one)."""
    requirements: dict[str, tuple[Constraint, ...]] = {}
    for path in sorted(module_dir.glob("*.tf")):
        try:
            document = parse(path.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - the module catalogue reports broken module files
            continue
        for terraform in document.get("terraform", []):
            for block in terraform.get("required_providers", []):
                for name, spec in block.items():
                    if not isinstance(spec, dict):
                        continue
                    address = provider_address(spec.get("source", f"hashicorp/{name}"))
                    version = spec.get("version")
                    requirements[address] = requirements.get(address, ()) + (
                        parse_constraints(version) if version else ())
    return requirements


def mirror_dirs_from_cli_config(config_text: str, parse: HclParser = hcl_loads) -> tuple[Path, ...]:
    """The `filesystem_mirror` paths of a Terraform CLI configuration (read with ``parse``)."""
    try:
        document = parse(config_text)
    except Exception:  # noqa: BLE001 - Terraform itself reports a broken CLI configuration
        return ()
    paths = []
    for installation in document.get("provider_installation", []):
        for mirror in installation.get("filesystem_mirror", []):
            if isinstance(mirror.get("path"), str):
                paths.append(Path(mirror["path"]).expanduser())
    return tuple(paths)


def default_hash_cache() -> HashCache:
    return HashCache(user_cache_dir() / "provider-hashes.json", signing_key(default_key_file()))
