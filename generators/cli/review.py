"""CLI commands for pull-request review: change detection and CI engine configuration.

Part of the CLI layer (it may print and exit through common.error_boundary); imported when one of its
commands is asked for (cli/common.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from generators.cli.common import Context, cli, error_boundary, make_console
from generators.errors import ToolError


@cli.command("affected")
@click.option("--changed-since", "ref", required=True, metavar="REF",
              help="Git revision to compare with (committed and working-tree changes), e.g. origin/main.")
@click.option("--json", "as_json", is_flag=True,
              help='Print [{"environment", "reasons", "removed", "account_id", "plan_role_arn", ...}] sorted by name.')
@click.pass_obj
@error_boundary
def affected_command(ctx: Context, ref: str, as_json: bool) -> None:
    """List the environments that changes since REF affect, and why.

    An environment's definition, the organization block, its account's block, a module it calls (under
    modules/<name>/) or the environment it `uses` changing affects it. Environments whose definition was
    deleted are listed as removed: not planned, their state is left for the review to report.
    """
    from generators.review.affected import affected_environments

    affected = affected_environments(ctx.organization(), ctx.environments_dir, ctx.modules_dir, ref)
    if as_json:
        click.echo(json.dumps([a.as_dict() for a in affected], indent=2))
        return
    console = make_console()
    planned = [a for a in affected if not a.removed]
    removed = [a for a in affected if a.removed]
    if not affected:
        console.print(f"No environment is affected by the changes since {ref}.", markup=False)
        return
    width = max(len(a.environment) for a in affected)
    if planned:
        console.print(f"{len(planned)} environment{'s' if len(planned) != 1 else ''} affected since {ref}:",
                      markup=False)
        for entry in planned:
            _print_reasons(console, entry.environment, entry.reasons, width)
    if removed:
        console.print(f"{len(removed)} removed (not planned; their state is left orphaned):", markup=False)
        for entry in removed:
            state = f"s3://{entry.state_bucket}/{entry.state_key}" if entry.state_bucket else "state location unknown"
            _print_reasons(console, entry.environment, entry.reasons + (state,), width)


def _print_reasons(console, name: str, reasons, width: int) -> None:
    console.print(f"  {name.ljust(width)}  {reasons[0]}", markup=False)
    for reason in reasons[1:]:
        console.print(f"  {' ' * width}  {reason}", markup=False)


@cli.group("ci")
def ci_group() -> None:
    """Generate the CI engines' configuration (committed, checked with --check)."""


_check_option = click.option("--check", is_flag=True,
                             help="Write nothing; exit 1 if the committed file is not what would be generated.")


@ci_group.command("github")
@_check_option
@click.option("--branch", default="main", show_default=True, help="The branch whose pushes deploy.")
@click.pass_obj
@error_boundary
def ci_github(ctx: Context, check: bool, branch: str) -> None:
    """Write .github/workflows/infrastructure.yml: plan affected environments on pull requests, deploy on push."""
    from generators.review.ci_config import CiRequest, github_settings, github_workflow

    organization = ctx.organization()
    _generate(github_workflow(CiRequest(organization, ctx.environments_dir, ctx.modules_dir, branch=branch)), check)
    if not check:
        console = make_console()
        console.print("The workflow's separation relies on these GitHub settings (set them in the repository):",
                      markup=False)
        for line in github_settings(organization, branch):
            console.print(f"  - {line}", markup=False, soft_wrap=True)


@ci_group.command("atlantis")
@_check_option
@click.option("--out", "outdir", type=click.Path(path_type=Path), default="cdktf.out", show_default=True,
              help="Output folder the stacks are synthesized into (project dirs are <out>/stacks/<environment>).")
@click.pass_obj
@error_boundary
def ci_atlantis(ctx: Context, check: bool, outdir: Path) -> None:
    """Write atlantis.yaml: one project per environment, autoplanned when the files that affect it change."""
    from generators.review.ci_config import CiRequest, atlantis_config

    _generate(atlantis_config(CiRequest(ctx.organization(), ctx.environments_dir, ctx.modules_dir,
                                        outdir=outdir)), check)


def _generate(file, check: bool) -> None:
    from generators.review.ci_config import Status, is_generated, status_of, write

    console = make_console()
    if check:
        status = status_of(file)
        if status is Status.UNCHANGED:
            console.print(f"up to date: {file.relative}", markup=False)
            return
        if status is Status.CREATED:
            raise ToolError(f"{file.relative} does not exist; run `{file.command}` and commit it")
        hand_written = "" if is_generated(file.path) else " (and was not generated by this tool)"
        raise ToolError(f"{file.relative} is out of date{hand_written}; run `{file.command}` and commit it")
    status = write(file)
    console.print(f"  {status.value:<9} {file.relative}", markup=False)
