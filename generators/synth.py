"""The synth pipeline: validated Organization -> workspace documents -> cdktf -> planned, written files."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import require_account_ids
from .engine import cdktf_engine
from .models import Environment, Organization
from .output import STACKS, OutputPlan, plan_output, read_tree
from .workspace import WorkspaceOptions, build_workspace


@dataclass(frozen=True)
class SynthRequest:
    organization: Organization
    modules_dir: Path
    outdir: Path
    with_extensions: bool = True
    local_endpoint: bool = False


def plan_synthesis(request: SynthRequest) -> OutputPlan:
    """Render every workspace into a scratch folder and compare it with the output folder. Writes nothing
    into the output folder."""
    organization = request.organization
    if organization.unchecked:  # a workspace needs every module's outputs, which only its fetched code tells
        raise ConfigError(list(organization.unchecked))
    require_account_ids(organization)
    outdir = request.outdir.resolve()
    options = WorkspaceOptions(modules_dir=str(request.modules_dir.resolve()), stacks_dir=str(outdir / STACKS),
                               local_endpoint=request.local_endpoint)
    documents = [build_workspace(organization, e, options) for e in organization.environments]
    with tempfile.TemporaryDirectory(prefix="synth-") as scratch:
        cdktf_engine.synthesize(organization, documents, Path(scratch), request.with_extensions)
        rendered = read_tree(Path(scratch))
    return plan_output(rendered, outdir)


def stack_dir(outdir: Path, environment: Environment) -> Path:
    return outdir / STACKS / environment.name
