"""Where a module call's code comes from, as Terraform knows it, and where the shared cache keeps
fetched sources.

``source`` may be a folder name under ``modules/``, a relative path (``./``, ``../``, from the file
that declares it), a ``git::`` URL pinned with ``?ref=`` and an optional ``//subfolder``, or a
registry address (``namespace/name/provider``) with a ``version``. Git and registry sources are
written to the workspace as they are, for ``terraform init`` to fetch; to check a call's inputs
against the module's variables, ``python main.py modules fetch`` downloads each pinned source once
into the cache (module_fetch.py), and later runs read it there, offline.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from generators import naming

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
CACHE_ENV = "AWS_ORG_WORKSPACES_CACHE"  # the same variable that places the Terraform cache

REGISTRY_ADDRESS = re.compile(r"^(?:(?P<host>[0-9a-z.-]+\.[a-z]+(?::[0-9]+)?)/)?(?P<namespace>[0-9A-Za-z_-]+)/(?P<name>[0-9A-Za-z_-]+)/"
                       r"(?P<provider>[0-9a-z]+)(?://(?P<subdir>.+))?$")
ACCEPTED = ("a folder name under modules/, a relative path starting with ./ or ../, a git:: URL pinned with "
            "?ref= (optionally with //subfolder), or a registry address namespace/name/provider with version")


class SourceError(ValueError):
    def __init__(self, message: str, attribute: str = "source"):
        super().__init__(message)
        self.attribute = attribute  # which attribute of the module block is wrong


@dataclass(frozen=True)
class ModuleSource:
    kind: str  # catalog, local, git, registry
    text: str  # as written
    version: str | None = None  # registry sources only
    local_path: Path | None = None  # catalog and local sources: the folder
    url: str | None = None  # git: the repository URL without ref and subfolder
    ref: str | None = None
    subdir: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.kind in ("git", "registry")

    @property
    def cache_key(self) -> str:
        pinned = f"{self.kind}|{self.url or self.text}|{self.ref or self.version}"
        return hashlib.sha256(pinned.encode()).hexdigest()[:20]

    def describe(self) -> str:
        return f"{self.text} (version {self.version})" if self.version else self.text


def parse_source(text: str, version: str | None, declaring_file: str, modules_dir: Path) -> ModuleSource:
    """The source of a module call; raises ``SourceError`` saying what is accepted."""
    if version is not None and not REGISTRY_ADDRESS.match(text):
        raise SourceError(f"version applies only to registry sources (namespace/name/provider), not '{text}'",
                          "version")
    if text.startswith(("./", "../")):
        return ModuleSource("local", text, local_path=(Path(declaring_file).parent / text).resolve())
    if text.startswith("git::"):
        return git_source(text)
    if naming.NAME_PATTERN.match(text):
        return ModuleSource("catalog", text, local_path=modules_dir / text)
    match = REGISTRY_ADDRESS.match(text)
    if match:
        if version is None:
            raise SourceError(f"registry module '{text}' needs a version, like version = \"~> 5.0\", so every "
                              "run gets the same code")
        return ModuleSource("registry", text, version=version, subdir=match.group("subdir"),
                            url=text.split("//")[0])
    raise SourceError(f"unknown module source '{text}'; a source is {ACCEPTED}")


def git_source(text: str) -> ModuleSource:
    address, _, query = text.removeprefix("git::").partition("?")
    parameters = dict(part.partition("=")[::2] for part in query.split("&") if part)
    ref = parameters.get("ref")
    if not ref:
        raise SourceError(f"git source '{text}' is not pinned; add ?ref=<tag or commit> so every run gets the same code")
    scheme_end = address.find("://")
    split_at = address.find("//", scheme_end + 3 if scheme_end >= 0 else 0)
    url, subdir = (address[:split_at], address[split_at + 2:]) if split_at >= 0 else (address, None)
    return ModuleSource("git", text, url=url, ref=ref, subdir=subdir or None)


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return (Path(configured).expanduser() if configured else PROJECT_ROOT / ".cache") / "modules"


def fetched_folder(source: ModuleSource) -> Path | None:
    """The module's folder in the cache, when its source was fetched."""
    root = cache_root() / source.cache_key
    if not (root / ".fetched").is_file():
        return None
    subdir = root / ".subdir"
    return root / subdir.read_text().strip() if subdir.is_file() else root
