"""The synth pipeline: validated Organization -> workspace documents -> cdktf -> planned, written files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from generators.config.models import Environment, Organization
from generators.config.organization import require_account_ids
from generators.errors import ConfigError, GeneratedFileConflict, Problem
from generators.synth import provider_lock
from generators.synth.cache import HclParser, SynthCache, parser
from generators.synth.engine import cdktf_engine, choose_engine
from generators.synth.output import (STACKS, OutputPlan, OutputReport, folders_a_cli_would_lose,
                                     leave_removed_folders_to_cli, plan_output, write_output)
from generators.synth.workspace import WorkspaceOptions, build_workspace
from generators.terraform_cli import provider_mirrors

# Set by `cdktf synth` (and `cdktn synth`, which keeps cdktf's conventions) for the app it runs.
CLI_CONTEXT_VARIABLES = ("CDKTF_CONTEXT_JSON",)


@dataclass(frozen=True)
class SynthRequest:
    organization: Organization
    modules_dir: Path
    outdir: Path
    with_extensions: bool = True
    local_endpoint: bool = False
    engine: str | None = None  # cdktf or cdktn; None: see engine.choose_engine
    cache: SynthCache | None = None  # None: every stack is rendered afresh (`synth --no-cache`)
    # started ahead by the caller (see cdktf_engine.DirectCheck), for the engine `engine` chooses
    engine_check: cdktf_engine.DirectCheck | None = None


@dataclass(frozen=True)
class SynthPlan(OutputPlan):
    # Under `cdktf synth` the CLI deletes the folders of removed stacks itself, after the app has run.
    for_cdk_cli: bool = False
    notes: tuple[str, ...] = ()  # things the user should know that do not stop synthesis


def running_under_cdk_cli() -> bool:
    return any(name in os.environ for name in CLI_CONTEXT_VARIABLES)


def plan_synthesis(request: SynthRequest) -> SynthPlan:
    """Render every workspace (in the canonical JSON layout) and compare it with the output folder.
    Writes nothing into the output folder."""
    organization = request.organization
    if organization.unchecked:  # a workspace needs every module's outputs, which only its fetched code tells
        raise ConfigError(list(organization.unchecked))
    require_account_ids(organization)
    engine = choose_engine(request.engine)
    outdir = request.outdir.resolve()
    options = WorkspaceOptions(modules_dir=str(request.modules_dir.resolve()), stacks_dir=str(outdir / STACKS),
                               local_endpoint=request.local_endpoint)
    documents = [build_workspace(organization, e, options) for e in organization.environments]
    for_cdk_cli = running_under_cdk_cli()
    if for_cdk_cli:
        _refuse_what_the_cli_would_delete(outdir, {e.name for e in organization.environments})
    check = request.engine_check if request.engine_check and request.engine_check.engine == engine else None
    rendered = cdktf_engine.synthesize(organization, documents, request.with_extensions, engine, request.cache,
                                       check)
    notes = _add_lock_files(rendered, organization, request.modules_dir, parser(request.cache))
    plan = plan_output(rendered, outdir)
    return SynthPlan(**vars(plan), for_cdk_cli=for_cdk_cli, notes=notes)


def write_synthesis(plan: SynthPlan) -> OutputReport:
    report = write_output(plan)
    if plan.for_cdk_cli:
        leave_removed_folders_to_cli(plan)
    return report


def start_engine_check(engine: str | None, cache: SynthCache | None) -> cdktf_engine.DirectCheck:
    """Start checking the chosen engine against ``direct`` (unless the verdict is already known), so
    it runs while the configuration is loaded; give it to the SynthRequest, and ``wait`` on it before
    the process ends."""
    return cdktf_engine.DirectCheck(choose_engine(engine), cache).start()


def bring_up_to_date(request: SynthRequest) -> OutputReport | None:
    """Plan and write the output, writing nothing when it is up to date (None then): what commands that
    need current workspaces (plan, deploy, destroy, env) do before they run Terraform."""
    plan = plan_synthesis(request)
    return None if plan.up_to_date else write_synthesis(plan)


def stack_dir(outdir: Path, environment: Environment) -> Path:
    return outdir / STACKS / environment.name


def _add_lock_files(rendered: dict[str, bytes], organization: Organization, modules_dir: Path,
                    parse: HclParser) -> tuple[str, ...]:
    """Add each stack's `.terraform.lock.hcl`, from the provider mirror terraform is configured with."""
    settings = organization.settings
    try:
        root = provider_lock.parse_constraints(settings.aws_provider_version)
    except ValueError as exc:
        raise ConfigError([Problem(settings.location.file, settings.location.line,
                                   f"aws_provider_version: {exc}")]) from exc
    mirrors = provider_mirrors(parse)  # the user's CLI configuration, remembered by the cache
    if not mirrors:
        return ("no Terraform provider mirror is configured, so no .terraform.lock.hcl is written; "
                "`terraform init` writes them from the registry (see README, Dependency lock files)",)
    locks = provider_lock.ProviderLocks(mirrors, provider_lock.default_hash_cache())
    aws = provider_lock.provider_address("hashicorp/aws")
    by_module: dict[str, dict[str, tuple[provider_lock.Constraint, ...]]] = {}
    lock_files = {}
    for environment in organization.environments:
        requirements = {aws: root}
        for call in environment.modules:
            name = call.module.name
            if name not in by_module:
                by_module[name] = provider_lock.module_requirements(modules_dir / name, parse)
            for address, constraints in by_module[name].items():
                requirements[address] = requirements.get(address, ()) + constraints
        try:
            lock_files[f"{STACKS}/{environment.name}/{provider_lock.LOCK_FILE}"] = locks.lock_file(requirements)
        except provider_lock.ProviderNotInMirror as exc:
            return (f"{exc}; no .terraform.lock.hcl is written (lock files already there are left as they are)",)
    rendered.update(lock_files)
    return ()


def _refuse_what_the_cli_would_delete(outdir: Path, stacks: set[str]) -> None:
    at_stake = folders_a_cli_would_lose(outdir, stacks)
    if at_stake:
        folders = "; ".join(f"{outdir / STACKS / name}: {', '.join(files)}" for name, files in at_stake.items())
        raise GeneratedFileConflict(
            "`cdktf synth` deletes the folder of every stack that is no longer defined, with everything in it, "
            f"and these hold files this tool did not write ({folders}); move those files away, or run "
            "`python main.py synth`, which keeps such folders")

