"""The command line: the only place that prints or exits.

Exit codes: 0 success; 1 runtime failure (Terraform or AWS failed, generated output is stale under
--check); 2 invalid configuration or usage, with nothing changed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from generators.cli.common import (SHOWN_DEFAULT_OUT, Context, cli, cycle_collector_paused, default_out,
                                   error_boundary, local_endpoint, make_console, quiet_broken_pipe, run_terraform)
from generators.errors import EXIT_FAILURE, EXIT_INVALID, ToolError, UsageError


@cli.command()
@click.pass_obj
@error_boundary
def validate(ctx: Context) -> None:
    """Check the configuration against the account layout rules. Exit 0 when valid, 2 otherwise."""
    organization = ctx.organization()
    console = make_console()
    for notice in organization.unchecked:
        console.print("[yellow]note:[/] ", end="")
        console.print(str(notice), markup=False)
    console.print(f"[green]valid:[/] organization '{organization.name}': {len(organization.accounts)} accounts, "
                  f"{len(organization.environments)} environments")


@cli.command()
@click.option("--out", "outdir", type=click.Path(path_type=Path), default=default_out,
              show_default=SHOWN_DEFAULT_OUT,
              help="Output folder, in cdktf's layout (manifest.json, stacks/<environment>/cdk.tf.json).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the output is not up to date.")
@click.option("--no-extensions", is_flag=True, help="Skip the typed extensions switched on in the configuration.")
@click.option("--engine", type=click.Choice(["cdktf", "cdktn"]), default=None,
              help="cdktf (CDK for Terraform) or cdktn (CDK Terrain). Default: $AWS_ORG_WORKSPACES_ENGINE, "
                   "the `engine` in cdktf.json's context, else the one installed (cdktf when both are).")
@click.option("--no-cache", is_flag=True,
              help="Parse and render everything afresh: neither read nor write the cache in .cache/synth.")
@click.pass_obj
@error_boundary
def synth(ctx: Context, outdir: Path, check: bool, no_extensions: bool, engine: str | None, no_cache: bool) -> None:
    """Synthesize one Terraform workspace per environment."""
    from generators.synth.output import check_output_folder
    from generators.synth.pipeline import SynthRequest, plan_synthesis, start_engine_check, write_synthesis

    if no_cache:
        ctx = dataclasses.replace(ctx, use_cache=False)
    with cycle_collector_paused():
        engine_check = start_engine_check(engine, ctx.cache)  # on the other core while the files are read
        try:
            organization = ctx.organization()
            check_output_folder(outdir)
            plan = plan_synthesis(SynthRequest(organization, ctx.modules_dir, outdir,
                                               with_extensions=not no_extensions, local_endpoint=local_endpoint(),
                                               engine=engine, cache=ctx.cache, engine_check=engine_check))
        finally:
            engine_check.wait()
    console = make_console()
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}")
    if check:
        if plan.up_to_date:
            console.print(f"up to date: {len(plan.unchanged)} stacks in {outdir}")
            return
        _print_changes(console, plan.created, plan.changed, plan.removed, {})
        raise ToolError(f"generated output in {outdir} is out of date; run `python main.py synth`")
    report = write_synthesis(plan)
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


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--out", "outdir", type=click.Path(path_type=Path), default=default_out,
              show_default=SHOWN_DEFAULT_OUT,
              help="Output folder the stack folders are reported in.")
@click.pass_obj
@error_boundary
def list_environments(ctx: Context, as_json: bool, outdir: Path) -> None:
    """List every environment with its account, state location and deploy role."""
    from generators.config.inventory import describe

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
    make_console().print(table)


# -- running Terraform: plan, deploy, destroy (generators/run/runner.py) -----------------------------


def _terraform_options(command):
    """Options plan, deploy and destroy share."""
    for option in reversed((
        click.option("--jobs", type=click.IntRange(min=1), default=None, show_default="4",
                     help="Workspaces planned and applied in parallel (init always runs one at a time)."),
        click.option("--out", "outdir", type=click.Path(path_type=Path), default=default_out,
                     show_default=SHOWN_DEFAULT_OUT,
                     help="Output folder; synthesized first when it is not up to date."),
        click.option("--no-extensions", is_flag=True, help="Synthesize without the typed extensions (as synth does)."),
        click.option("--lock-timeout", type=click.IntRange(min=0), default=None, show_default="60",
                     help="Seconds to wait for a state lock someone else holds (a lock is never broken)."),
    )):
        command = option(command)
    return command


def _approval_options(command):
    command = click.option("--allow-production", is_flag=True,
                           help="Allow environments in the production account (their plan is shown and "
                                "confirmed unless --auto-approve).")(command)
    return click.option("--auto-approve", is_flag=True, help="Apply the saved plans without asking.")(command)


@cli.command("plan")
@click.argument("environments", nargs=-1)
@click.option("--all", "all_environments", is_flag=True, help="Every environment.")
@click.option("--role", type=click.Choice(["plan", "deploy"]), default="plan", show_default=True,
              help="plan: the read-only plan role, for the state backend too (pull requests); deploy: the deploy "
                   "role.")
@click.option("--json", "json_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write the review for machines to FILE.")
@click.option("--markdown", "markdown_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write the review as a pull-request comment to FILE (kept under GitHub's 65,536 characters by "
                   "shortening the details, never the danger section).")
@click.option("--fail-on-danger", is_flag=True,
              help="Exit 3 when a stateful resource would be destroyed or replaced.")
@click.option("--changed-since", metavar="REF",
              help="Plan only the environments that changes since the git revision REF affect (see `affected`).")
@_terraform_options
@click.pass_obj
@error_boundary
def plan_command(ctx: Context, environments, all_environments, role: str, json_file: Path | None,
                 markdown_file: Path | None, fail_on_danger: bool, changed_since: str | None, **options) -> None:
    """Plan ENVIRONMENTS (or --all) and review the plans for a pull request.

    Each plan is saved (in <out>/.runs/<environment>/, with its rendering) and reviewed: changes
    per environment grouped by account; danger flags for destroyed or replaced stateful resources
    (critical in production and staging, warning elsewhere); a notice for any other production change;
    state left in a state bucket by an environment that is no longer defined (orphans). The review never
    contains a resource's or output's value, so sensitive values stay out of it. The JSON review records
    each saved plan's SHA-256 and change set, for `deploy --expect-review`. With the plan role, plans take
    no state lock (the role cannot write one).

    \b
    Exit codes:
      0  every plan succeeded (with --fail-on-danger: and no danger flag)
      1  a plan failed; the others still ran and are in the review (this wins over 3)
      2  invalid configuration or usage
      3  --fail-on-danger and a danger flag was raised (notices do not count)
      130  interrupted (SIGINT), 143 terminated (SIGTERM): running plans stopped cleanly
    """
    from generators.errors import DangerError

    if changed_since is not None:
        if environments or all_environments:
            raise UsageError("--changed-since chooses the environments: name none and leave out --all")
        from generators.review.affected import affected_environments

        affected = affected_environments(ctx.organization(), ctx.environments_dir, ctx.modules_dir, changed_since)
        environments = tuple(a.environment for a in affected if not a.removed)
        if not environments:
            make_console().print(f"No environment is affected by changes since {changed_since}: nothing to plan.")
            return
        make_console().print(f"Changes since {changed_since} affect: {', '.join(environments)}")
    reviewed = []

    def review_report(organization, report, console) -> None:
        from generators.cli.progress import review_lines
        from generators.review.render import render_json, render_markdown
        from generators.review.review import build_review

        review = build_review(organization, report)
        reviewed.append(review)
        for line in review_lines(review):
            console.print(line, markup=False)
        if json_file is not None:
            _write_review(json_file, render_json(review))
            console.print(f"review (JSON) written to {json_file}", markup=False)
        if markdown_file is not None:
            _write_review(markdown_file, render_markdown(review))
            console.print(f"review (markdown) written to {markdown_file}", markup=False)

    run_terraform(ctx, "plan", environments, all_environments, role=role, on_report=review_report, **options)
    if fail_on_danger and reviewed and reviewed[0].has_danger:
        count = len(reviewed[0].dangers)
        raise DangerError(f"{count} danger flag{'s' if count != 1 else ''}: a stateful resource would be destroyed "
                          "or replaced (--fail-on-danger)")


def _write_review(path: Path, text: str) -> None:
    """Whole or not at all: CI posts this file, so it must never see a half-written one."""
    from generators.synth.output import atomic_write

    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise ToolError(f"cannot write {path}: {exc}") from exc


@cli.command("deploy")
@click.argument("environments", nargs=-1)
@click.option("--all", "all_environments", is_flag=True, help="Every environment (production only with "
                                                                "--allow-production; otherwise it is refused).")
@click.option("--expect-review", "review_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="A review written by `plan --json`: apply an environment only when this deploy's own plan "
                   "has the same change set as the reviewed one; refuse it otherwise, listing the differences.")
@_approval_options
@_terraform_options
@click.pass_obj
@error_boundary
def deploy_command(ctx: Context, environments, all_environments, review_file: Path | None, **options) -> None:
    """Plan and apply ENVIRONMENTS (or --all); environments that `uses` another go after it.

    \b
    Exit codes:
      0    every selected environment was deployed (or had nothing to do)
      1    one was not: failed, refused (production without --allow-production, or differing from
           --expect-review), skipped or not confirmed; the others still ran
      2    invalid configuration or usage (an unreadable --expect-review file too), nothing ran
      130  interrupted (SIGINT), 143 terminated (SIGTERM): running terraforms stopped cleanly
    """
    expected = None
    if review_file is not None:
        from generators.review.plan_changes import load_review

        expected = load_review(review_file)
    run_terraform(ctx, "deploy", environments, all_environments, expect_review=expected,
                  expect_review_source=str(review_file or ""), **options)


@cli.command("destroy")
@click.argument("environments", nargs=-1, required=True)
@_approval_options
@_terraform_options
@click.pass_obj
@error_boundary
def destroy_command(ctx: Context, environments, **options) -> None:
    """Destroy ENVIRONMENTS (by name; there is no --all); users of an environment go before it."""
    run_terraform(ctx, "destroy", environments, False, **options)


@cli.command("bootstrap")
@click.option("--account-timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Seconds to wait for each new account to be created.")
@click.option("--dry-run", is_flag=True, help="Read everything and report what would change; change nothing.")
@click.pass_obj
@error_boundary
def bootstrap_command(ctx: Context, account_timeout: float, dry_run: bool) -> None:
    """Set up the Organization, accounts, guardrails, state buckets and Terraform roles. Safe to re-run."""
    from rich.table import Table

    from generators.aws.bootstrap import BootstrapRequest, Status, bootstrap, invite_command

    organization = ctx.organization(require_account_ids=False)  # bootstrap creates the accounts without one
    report = bootstrap(BootstrapRequest(organization, ctx.environments_dir, account_timeout=account_timeout,
                                        dry_run=dry_run))
    console = make_console()
    styles = {Status.CREATED: "green", Status.UPDATED: "yellow", Status.PRESENT: "dim", Status.NOT_MEMBER: "cyan",
              Status.FAILED: "red"}
    accounts: dict[tuple[str, str | None], list] = {}
    for row in report.rows:
        accounts.setdefault((row.account, row.account_id), []).append(row)
    for (account, account_id), rows in accounts.items():
        table = Table(title=f"{account} ({account_id or 'no id yet'})", title_justify="left", title_style="bold",
                      box=None, header_style="bold")
        for column in ("item", "status", "detail"):
            table.add_column(column, overflow="fold")
        for row in rows:
            # The invite commands are printed below, unwrapped, so they can be copied.
            detail = "not a member of the Organization; invite it (below)" if row.status is Status.NOT_MEMBER \
                else row.detail
            status = f"would be {row.status.value}" if dry_run and row.status in report.changed_statuses \
                else row.status.value
            table.add_row(row.item, f"[{styles[row.status]}]{status}[/]", detail.replace("[", r"\["))
        console.print(table)
    outsiders = report.with_status(Status.NOT_MEMBER)
    if outsiders:
        console.print("Invite the accounts that are not members of the Organization, with management credentials:")
        for row in outsiders:
            assert row.account_id is not None  # only an account with an id can be found not to be a member
            console.print(f"  {invite_command(row.account_id)}", markup=False)
    counts = ", ".join(f"{report.count(s)} {s.value}" for s in Status)
    if dry_run:
        console.print(f"bootstrap --dry-run: {counts}; nothing was changed"
                      + ("" if report.changed else ": everything is in place"))
    elif report.changed or report.failed:
        console.print(f"bootstrap: {counts}")
    else:
        console.print(f"Nothing to change: everything is in place ({counts}).")
    if report.failed:
        reasons = "; ".join(f"{row.account}: {row.item}: {row.detail}" for row in report.failed)
        raise ToolError(f"{len(report.failed)} item{'s' if len(report.failed) != 1 else ''} failed: {reasons}")


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
    except BrokenPipeError:  # --help or a usage message into a closed pipe
        quiet_broken_pipe()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the last lines were still buffered when the reader left
        quiet_broken_pipe()
