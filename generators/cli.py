"""The command line: the only place that prints or exits.

Exit codes: 0 success; 1 runtime failure (Terraform or AWS failed, generated output is stale under
--check); 2 invalid configuration or usage, with nothing changed.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from .errors import EXIT_FAILURE, EXIT_INVALID, ConfigError, ToolError

DEFAULT_OUT = "cdktf.out"


@dataclass(frozen=True)
class Context:
    environments_dir: Path
    modules_dir: Path
    debug: bool

    def organization(self):
        from .config import load_organization

        return load_organization(self.environments_dir, self.modules_dir)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def error_boundary(command):
    """Turn the project's errors into a message and a documented exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        ctx: Context = click.get_current_context().obj
        try:
            return command(*args, **kwargs)
        except ToolError as exc:
            if ctx.debug:
                raise
            console = _console(stderr=True)
            if isinstance(exc, ConfigError):
                count = len(exc.problems)
                console.print(f"[red]error:[/] {count} problem{'s' if count != 1 else ''} in the configuration:")
                for problem in exc.problems:
                    console.print(f"  {problem}", markup=False)
            else:
                console.print("[red]error:[/] ", end="")
                console.print(str(exc), markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _console(stderr=True).print("interrupted")
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--environments", "environments_dir", default="environments", show_default=True,
              type=click.Path(path_type=Path), help="Folder of *.hcl files describing the Organization.")
@click.option("--modules", "modules_dir", default="modules", show_default=True,
              type=click.Path(path_type=Path), help="Folder of plain HCL modules that environments call.")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of short error messages.")
@click.pass_context
def cli(ctx: click.Context, environments_dir: Path, modules_dir: Path, debug: bool) -> None:
    """Turn one description of an AWS Organization into per-account Terraform workspaces, and run them."""
    ctx.obj = Context(environments_dir=environments_dir, modules_dir=modules_dir, debug=debug)


@cli.command()
@click.pass_obj
@error_boundary
def validate(ctx: Context) -> None:
    """Check the configuration against the account layout rules. Exit 0 when valid, 2 otherwise."""
    organization = ctx.organization()
    _console().print(f"[green]valid:[/] organization '{organization.name}': {len(organization.accounts)} accounts, "
                     f"{len(organization.environments)} environments")


def _default_out() -> str:
    # `cdktf synth` runs this app with CDKTF_OUTDIR set to the output folder of cdktf.json.
    return os.environ.get("CDKTF_OUTDIR", DEFAULT_OUT)


@cli.command()
@click.option("--out", "outdir", type=click.Path(path_type=Path), default=_default_out, show_default=DEFAULT_OUT,
              help="Output folder, in cdktf's layout (manifest.json, stacks/<environment>/cdk.tf.json).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the output is not up to date.")
@click.option("--no-extensions", is_flag=True, help="Skip the typed extensions switched on in the configuration.")
@click.pass_obj
@error_boundary
def synth(ctx: Context, outdir: Path, check: bool, no_extensions: bool) -> None:
    """Synthesize one Terraform workspace per environment."""
    from .output import write_output
    from .synth import SynthRequest, plan_synthesis

    organization = ctx.organization()
    plan = plan_synthesis(SynthRequest(organization, ctx.modules_dir, outdir, with_extensions=not no_extensions,
                                       local_endpoint=_local_endpoint()))
    console = _console()
    if check:
        if plan.up_to_date:
            console.print(f"up to date: {len(plan.unchanged)} stacks in {outdir}")
            return
        _print_changes(console, plan.created, plan.changed, plan.removed, {})
        raise ToolError(f"generated output in {outdir} is out of date; run `python main.py synth`")
    report = write_output(plan)
    if plan.up_to_date:
        console.print(f"Nothing to do, {len(report.unchanged)} stacks in {outdir} are up to date.")
        return
    _print_changes(console, report.created, report.changed, report.removed, report.kept)
    console.print(f"{len(report.created)} created, {len(report.changed)} changed, {len(report.removed)} removed, "
                  f"{len(report.unchanged)} unchanged in {outdir}")


def _print_changes(console, created, changed, removed, kept) -> None:
    for name in created:
        console.print(f"  [green]created[/]  {name}")
    for name in changed:
        console.print(f"  [yellow]changed[/]  {name}")
    for name in removed:
        console.print(f"  [red]removed[/]  {name} (environment no longer defined)")
    for name, files in kept.items():
        console.print(f"  [red]kept[/]     {name}: environment no longer defined, but its folder holds files the tool "
                      f"did not write ({', '.join(files)}); remove it by hand once they are not needed")


def _local_endpoint() -> bool:
    from .aws import endpoint_is_local

    return endpoint_is_local()


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--out", "outdir", type=click.Path(path_type=Path), default=_default_out, show_default=DEFAULT_OUT,
              help="Output folder the stack folders are reported in.")
@click.pass_obj
@error_boundary
def list_environments(ctx: Context, as_json: bool, outdir: Path) -> None:
    """List every environment with its account, state location and deploy role."""
    from .inventory import describe

    rows = describe(ctx.organization(), outdir)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    columns = ("name", "account", "account_id", "kind", "region", "uses", "state_bucket", "state_key")
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c] or "-") for c in columns))
    _console().print(table)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:  # usage errors: bad option, unknown command
        exc.show()
        sys.exit(EXIT_INVALID)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
