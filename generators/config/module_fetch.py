"""Fetching a pinned git or registry module source once into the shared cache (`modules fetch`): the
same commit, or the newest version matching the constraint, that ``terraform init`` gets, through the
module registry protocol. Apart from module_sources.py so that reading a configuration does not import
the network and archive libraries (about 35 ms of every run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from generators.config.module_sources import REGISTRY_ADDRESS, ModuleSource, cache_root, fetched_folder, git_source
from generators.errors import ToolError
from generators.synth.cache import hcl_loads
from generators.terraform_cli import user_cli_config


def fetch(source: ModuleSource) -> Path:
    """Download a pinned remote source into the cache once; later calls return the cached folder."""
    cached = fetched_folder(source)
    if cached is not None:
        return cached
    root = cache_root() / source.cache_key
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".fetch-") as scratch:
        checkout = Path(scratch) / "checkout"
        if source.kind == "git":
            _git_checkout(source.text, source.url or "", source.ref or "", checkout)
            subdir = source.subdir
        else:
            location, resolved = _registry_location(source)
            subdir = _download(source, location, checkout, Path(scratch))
            subdir = "/".join(part for part in (subdir, source.subdir) if part) or None
            (checkout / ".registry-version").write_text(f"{resolved}\n")
        (checkout / ".fetched").write_text(f"{source.text}\n")
        if subdir:
            (checkout / ".subdir").write_text(f"{subdir}\n")
        if root.exists():  # fetched concurrently by another run
            shutil.rmtree(root)
        checkout.rename(root)
    folder = fetched_folder(source)
    assert folder is not None
    if not folder.is_dir():
        raise ToolError(f"module source {source.describe()}: the fetched code has no folder '{source.subdir}'")
    return folder


def _git_checkout(text: str, url: str, ref: str, checkout: Path) -> None:
    for command in (["git", "clone", "--quiet", "--no-checkout", url, str(checkout)],
                    ["git", "-C", str(checkout), "checkout", "--quiet", "--detach", ref]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        if result.returncode != 0:
            step = command[1] if command[1] != "-C" else command[3]
            raise ToolError(f"cannot fetch module source {text}: git {step} failed: "
                            f"{result.stderr.strip() or result.stdout.strip()}")
    shutil.rmtree(checkout / ".git", ignore_errors=True)


# -- Terraform's module registry protocol ----------------------------------------------------------


def _registry_location(source: ModuleSource) -> tuple[str, str]:
    """Where the registry says the newest version matching the constraint is, and that version."""
    from generators.config.provider_versions import ConstraintError, newest_matching

    match = REGISTRY_ADDRESS.match(source.text)
    assert match is not None and source.version is not None
    host = match.group("host") or "registry.terraform.io"
    address = f"{match.group('namespace')}/{match.group('name')}/{match.group('provider')}"
    discovery = _configured_services(host) or _get_json(source, f"https://{host}/.well-known/terraform.json")
    base = urllib.parse.urljoin(f"https://{host}/", str(discovery.get("modules.v1", "")))
    if not discovery.get("modules.v1"):
        raise ToolError(f"module source {source.describe()}: {host} does not serve the module registry protocol")
    listing = _get_json(source, urllib.parse.urljoin(base, f"{address}/versions"))
    versions = [str(v.get("version")) for m in listing.get("modules", []) for v in m.get("versions", [])]
    try:
        chosen = newest_matching(source.version, versions)
    except ConstraintError as exc:
        raise ToolError(f"module source {source.describe()}: {exc}") from exc
    if chosen is None:
        raise ToolError(f"module source {source.describe()}: no version matches; the registry has "
                        f"{', '.join(versions) or 'none'}")
    download_url = urllib.parse.urljoin(base, f"{address}/{chosen}/download")
    response = _request(source, download_url)
    location = response.headers.get("X-Terraform-Get")
    if not location:
        body = json.loads(response.read() or b"{}")
        location = body.get("location")
    if not location:
        raise ToolError(f"module source {source.describe()}: the registry gave no download location for {chosen}")
    return urllib.parse.urljoin(download_url, location) if "::" not in location else location, chosen


def _configured_services(host: str) -> dict[str, Any]:
    """Services a Terraform CLI configuration's ``host "<name>" { services = {...} }`` block sets for
    ``host``, as terraform init would use them instead of asking the host (private registries)."""
    config = user_cli_config()
    if config is None:
        return {}
    try:
        document = hcl_loads(config.read_text(encoding="utf-8"))
    except Exception:  # a configuration terraform itself will complain about
        return {}
    for entry in document.get("host", []):
        services = entry.get(host, {}).get("services") if isinstance(entry, dict) else None
        if isinstance(services, dict):
            return services
    return {}


def _download(source: ModuleSource, location: str, checkout: Path, scratch: Path) -> str | None:
    """Fetch what the registry points at (a pinned git URL or an archive); return its subfolder, if any."""
    if location.startswith("git::"):
        located = git_source(location)
        _git_checkout(source.text, located.url or "", located.ref or "", checkout)
        return located.subdir
    address, _, query = location.partition("?")
    scheme_end = address.find("://")
    split_at = address.find("//", scheme_end + 3)
    subdir = address[split_at + 2:] if split_at >= 0 else None
    url = (address[:split_at] if split_at >= 0 else address) + (f"?{query}" if query else "")
    archive = scratch / "archive"
    with _request(source, url) as response, open(archive, "wb") as stream:
        shutil.copyfileobj(response, stream)
    checkout.mkdir()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(checkout)
    else:
        with tarfile.open(archive) as bundle:
            bundle.extractall(checkout, filter="data")
    return subdir


def _request(source: ModuleSource, url: str) -> Any:  # urlopen's response (typeshed: Any)
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "aws-org-workspaces"}),
                                      timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        raise ToolError(f"cannot fetch module source {source.describe()}: {url}: "
                        f"{getattr(exc, 'reason', exc)}") from exc


def _get_json(source: ModuleSource, url: str) -> dict[str, Any]:
    with _request(source, url) as response:
        try:
            document: dict[str, Any] = json.loads(response.read())  # the registry protocol answers objects
            return document
        except ValueError as exc:
            raise ToolError(f"module source {source.describe()}: {url} did not answer JSON") from exc
