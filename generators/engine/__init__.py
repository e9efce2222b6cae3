"""The synthesis engine: the only part of the package that imports a CDK for Terraform library.

Two engines keep the same API and output layout (``manifest.json`` and ``stacks/<name>/cdk.tf.json``):
CDK for Terraform (``cdktf``, archived in December 2025) and its maintained fork CDK Terrain
(``cdktn``). ``choose_engine`` decides which one runs; ``cdktf_engine.synthesize`` runs it (either library).
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

ENGINE_VARIABLE = "AWS_ORG_WORKSPACES_ENGINE"
CONTEXT_KEY = "engine"  # in cdktf.json's "context"


@dataclass(frozen=True)
class Engine:
    name: str  # also the Python module
    title: str
    install: str  # how to install the Python library
    cli: str  # the matching CLI's npm package


ENGINES = {
    "cdktf": Engine("cdktf", "CDK for Terraform", "pip install -e .", "cdktf-cli"),
    "cdktn": Engine("cdktn", "CDK Terrain", "pip install -e '.[cdktn]'", "cdktn-cli"),
}
DEFAULT_ENGINE = "cdktf"  # when both are installed and none is chosen: the one this project started with


def installed_engines() -> tuple[str, ...]:
    return tuple(name for name in ENGINES if _importable(name))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


def choose_engine(requested: str | None = None, project_dir: Path | None = None) -> Engine:
    """The engine named by ``requested`` (``synth --engine``), else ${ENGINE_VARIABLE}, else the
    ``engine`` in cdktf.json's context, else the only one installed (cdktf when both are)."""
    name, origin = requested, "--engine"
    if not name and os.environ.get(ENGINE_VARIABLE):
        name, origin = os.environ[ENGINE_VARIABLE], ENGINE_VARIABLE
    if not name:
        name, origin = _context_engine(project_dir or Path.cwd())
    installed = installed_engines()
    if not name:
        if not installed:
            raise UsageError("no synthesis engine is installed; install cdktf (pip install -e .) "
                             "or CDK Terrain (pip install -e '.[cdktn]')")
        return ENGINES[DEFAULT_ENGINE if DEFAULT_ENGINE in installed else installed[0]]
    if name not in ENGINES:
        raise UsageError(f"unknown engine '{name}' (from {origin}); choose one of: {', '.join(ENGINES)}")
    if name not in installed:
        engine = ENGINES[name]
        raise UsageError(f"engine '{name}' ({engine.title}, from {origin}) is not installed; install it with: "
                         f"{engine.install}" + (f" (installed: {', '.join(installed)})" if installed else ""))
    return ENGINES[name]


def _context_engine(project_dir: Path) -> tuple[str | None, str]:
    """`engine` from the context the cdktf/cdktn CLI passes to the app, or from ./cdktf.json."""
    passed = os.environ.get("CDKTF_CONTEXT_JSON")
    if passed:
        try:
            context = json.loads(passed)
        except ValueError:
            context = {}
        if isinstance(context, dict) and context.get(CONTEXT_KEY):
            return str(context[CONTEXT_KEY]), "the context of cdktf.json"
    config = project_dir / "cdktf.json"
    if config.is_file():
        try:
            context = json.loads(config.read_text(encoding="utf-8")).get("context") or {}
        except (OSError, ValueError, AttributeError):
            return None, ""
        if isinstance(context, dict) and context.get(CONTEXT_KEY):
            return str(context[CONTEXT_KEY]), f"the context of {config}"
    return None, ""
