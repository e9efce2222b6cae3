"""The command line: the only place that prints or exits.

Exit codes: 0 success; 1 runtime failure (Terraform or AWS failed, generated output is stale under
--check); 2 invalid configuration or usage, with nothing changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from .errors import EXIT_FAILURE, EXIT_INVALID, ConfigError, ToolError, UsageError

DEFAULT_OUT = "cdktf.out"


@dataclass(frozen=True)
class Context:
    environments_dir: Path
    modules_dir: Path
    debug: bool
    use_cache: bool = True  # False under `synth --no-cache`

    @functools.cached_property
    def cache(self):
        """The synthesis cache (see synth_cache), opened on first use; None when switched off or unusable."""
        from .synth_cache import SynthCache

        return SynthCache.open() if self.use_cache else None

    def save_cache(self) -> None:
        if self.__dict__.get("cache") is not None:
            self.cache.save()

    def organization(self, *, require_account_ids: bool = True):
        """The validated configuration. Every command but bootstrap (which creates the accounts declared
        by email) needs each account that holds an environment to have an id."""
        from . import config

        organization = config.load_organization(self.environments_dir, self.modules_dir, self.cache)
        if require_account_ids:
            config.require_account_ids(organization)
        if _local_endpoint():
            organization = _for_the_sandbox(organization)
        return organization


_noted_sandbox_extensions: set[str] = set()


def _for_the_sandbox(organization):
    """Against the sandbox (a loopback AWS_ENDPOINT_URL), extensions the emulator cannot serve are left
    out of every command, said once."""
    from .sandbox import UNSERVED_EXTENSIONS, without_unserved_extensions

    organization, dropped = without_unserved_extensions(organization)
    for name in sorted(set(dropped) - _noted_sandbox_extensions):
        _noted_sandbox_extensions.add(name)
        _console(stderr=True).print(f"sandbox: extension {name} is left out: {UNSERVED_EXTENSIONS[name]}",
                                    markup=False)
    return organization


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Tables piped to a file or a CI log get room instead of rich's 80-column default (which would fold
    # every table and the log paths copied from CI logs); COLUMNS, when set, still wins.
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=200 if wide else None)


def error_boundary(command):
    """Turn every failure into a message and a documented exit code, never a traceback (unless --debug):
    the project's errors as they are, file-system, AWS and template errors named by what they touched,
    anything else as an internal error (see failures.explain)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        ctx: Context = click.get_current_context().obj
        try:
            try:
                return command(*args, **kwargs)
            finally:
                ctx.save_cache()
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            _console(stderr=True).print("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure becomes a message
            if ctx.debug:
                raise
            _report_failure(exc)

    return wrapper


def _report_failure(exc: Exception) -> None:
    from .failures import explain

    console = _console(stderr=True)
    if isinstance(exc, ConfigError):
        count = len(exc.problems)
        console.print(f"[red]error:[/] {count} problem{'s' if count != 1 else ''} in the configuration:")
        for problem in exc.problems:
            console.print(f"  {problem}", markup=False)
        sys.exit(exc.exit_code)
    failure = explain(exc)
    console.print("[red]error:[/] ", end="")
    console.print(failure.message, markup=False)
    sys.exit(failure.exit_code)


def _quiet_broken_pipe() -> None:
    """The reader of stdout went away (`... | head`): stop without a word. Python would report the
    pipe again when it flushes stdout at exit, so stdout is pointed at /dev/null first."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_FAILURE)


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
    console = _console()
    for notice in organization.unchecked:
        console.print("[yellow]note:[/] ", end="")
        console.print(str(notice), markup=False)
    console.print(f"[green]valid:[/] organization '{organization.name}': {len(organization.accounts)} accounts, "
                  f"{len(organization.environments)} environments")


def _default_out() -> str:
    # `cdktf synth` runs this app with CDKTF_OUTDIR set to the output folder of cdktf.json.
    if "CDKTF_OUTDIR" in os.environ:
        return os.environ["CDKTF_OUTDIR"]
    if _local_endpoint():  # the sandbox's workspaces carry path-style settings: never into the user's cdktf.out
        from .sandbox import SANDBOX_OUT

        return str(SANDBOX_OUT)
    return DEFAULT_OUT


SHOWN_DEFAULT_OUT = f"{DEFAULT_OUT}; .cache/sandbox/cdktf.out with a loopback AWS_ENDPOINT_URL"


@cli.command()
@click.option("--out", "outdir", type=click.Path(path_type=Path), default=_default_out,
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
    from .output import check_output_folder
    from .synth import SynthRequest, plan_synthesis, start_engine_check, write_synthesis

    if no_cache:
        ctx = dataclasses.replace(ctx, use_cache=False)
    engine_check = start_engine_check(engine, ctx.cache)  # on the other core while the files are read
    try:
        organization = ctx.organization()
        check_output_folder(outdir)
        plan = plan_synthesis(SynthRequest(organization, ctx.modules_dir, outdir, with_extensions=not no_extensions,
                                           local_endpoint=_local_endpoint(), engine=engine, cache=ctx.cache,
                                           engine_check=engine_check))
    finally:
        engine_check.wait()
    console = _console()
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


def _local_endpoint() -> bool:
    from .aws import endpoint_is_local

    return endpoint_is_local()


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--out", "outdir", type=click.Path(path_type=Path), default=_default_out,
              show_default=SHOWN_DEFAULT_OUT,
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


# -- running Terraform: plan, deploy, destroy (generators/runner.py) ---------------------------------


def _terraform_options(command):
    """Options plan, deploy and destroy share."""
    for option in reversed((
        click.option("--jobs", type=click.IntRange(min=1), default=None, show_default="4",
                     help="Workspaces planned and applied in parallel (init always runs one at a time)."),
        click.option("--out", "outdir", type=click.Path(path_type=Path), default=_default_out,
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
    from .errors import DangerError

    if changed_since is not None:
        if environments or all_environments:
            raise UsageError("--changed-since chooses the environments: name none and leave out --all")
        from .affected import affected_environments

        affected = affected_environments(ctx.organization(), ctx.environments_dir, ctx.modules_dir, changed_since)
        environments = tuple(a.environment for a in affected if not a.removed)
        if not environments:
            _console().print(f"No environment is affected by changes since {changed_since}: nothing to plan.")
            return
        _console().print(f"Changes since {changed_since} affect: {', '.join(environments)}")
    reviewed = []

    def review_report(organization, report, console) -> None:
        from .progress import review_lines
        from .review import build_review
        from .review_render import render_json, render_markdown

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

    _run_terraform(ctx, "plan", environments, all_environments, role=role, on_report=review_report, **options)
    if fail_on_danger and reviewed and reviewed[0].has_danger:
        count = len(reviewed[0].dangers)
        raise DangerError(f"{count} danger flag{'s' if count != 1 else ''}: a stateful resource would be destroyed "
                          "or replaced (--fail-on-danger)")


def _write_review(path: Path, text: str) -> None:
    """Whole or not at all: CI posts this file, so it must never see a half-written one."""
    from .output import atomic_write

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
        from .plan_changes import load_review

        expected = load_review(review_file)
    _run_terraform(ctx, "deploy", environments, all_environments, expect_review=expected,
                   expect_review_source=str(review_file or ""), **options)


@cli.command("destroy")
@click.argument("environments", nargs=-1, required=True)
@_approval_options
@_terraform_options
@click.pass_obj
@error_boundary
def destroy_command(ctx: Context, environments, **options) -> None:
    """Destroy ENVIRONMENTS (by name; there is no --all); users of an environment go before it."""
    _run_terraform(ctx, "destroy", environments, False, **options)


def _run_terraform(ctx: Context, action: str, names, all_environments: bool, *, jobs, outdir: Path,
                   no_extensions: bool, lock_timeout, auto_approve: bool = False,
                   allow_production: bool = False, role: str = "deploy", on_report=None,
                   expect_review=None, expect_review_source: str = "") -> None:
    """Run the action and print its summary; ``on_report(organization, report, console)`` runs before a
    failure is raised, so the plan review is written even when some plans failed. Exit 1 unless every
    selected environment was done; 128 + the signal's number when interrupted."""
    from .interruption import Interrupted, Interruption
    from .progress import (ProgressBoard, confirmation_lines, confirmation_question, plain_line, summary_notes,
                           summary_table)
    from .run_model import DEFAULT_JOBS, DEFAULT_LOCK_TIMEOUT, Result, RunRequest
    from .runner import run

    organization = ctx.organization()
    request = RunRequest(
        organization=organization, modules_dir=ctx.modules_dir, outdir=outdir, action=action,
        environments=tuple(names), all_environments=all_environments, jobs=jobs or DEFAULT_JOBS,
        auto_approve=auto_approve, allow_production=allow_production,
        lock_timeout=DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout,
        with_extensions=not no_extensions, local_endpoint=_local_endpoint(), synth_cache=ctx.cache, role=role,
        expect_review=expect_review, expect_review_source=expect_review_source)
    console = _console()
    live = None
    if console.is_terminal:
        from rich.live import Live

        board = ProgressBoard(list(names) or [e.name for e in organization.environments])
        live = Live(console=console, get_renderable=board.render, refresh_per_second=4, transient=True)
        on_event = board.update
    else:
        def on_event(event) -> None:
            line = plain_line(event)
            if line:
                console.print(line, markup=False)

    interruption = Interruption()
    prompting = [False]

    def confirm(confirmation) -> bool:
        if live:
            live.stop()  # a prompt under a live display would be redrawn over
        prompting[0] = True
        try:
            for line in confirmation_lines(confirmation):
                console.print(line, markup=False)
            return click.confirm(confirmation_question(confirmation), default=False)
        except click.exceptions.Abort:  # end of input or Ctrl-C at the prompt: apply nothing, still report
            console.print()
            return False
        finally:
            prompting[0] = False
            if live:
                live.start()

    if live:
        live.start()
    try:
        with _passing_signals_to(interruption, lambda: prompting[0] or not interruption.started_any):
            report = run(request, on_event, confirm, interruption)
    except KeyboardInterrupt:  # before any terraform ran (synthesis): nothing to wait for
        signum = interruption.signal or signal.SIGINT
        raise Interrupted(f"interrupted by {signal.Signals(signum).name} before terraform ran; nothing was applied",
                          signum) from None
    finally:
        if live:
            live.stop()
    if live and report.synthesis is not None:
        console.print(f"synthesized {outdir}: {len(report.synthesis.created)} created, "
                      f"{len(report.synthesis.changed)} changed, {len(report.synthesis.removed)} removed")
    console.print(summary_table(report))
    for note in summary_notes(report):
        console.print(note, markup=False)
    if on_report is not None:
        on_report(organization, report, console)
    if report.interrupted_by is not None:
        stopped = [f"{r.environment} ({r.message})" for r in report.results if r.result is Result.FAILED]
        raise Interrupted(f"interrupted by {signal.Signals(report.interrupted_by).name}"
                          + (f"; stopped: {'; '.join(stopped)}" if stopped else "; no terraform was running")
                          + "; nothing else was started", report.interrupted_by)
    if report.not_done:
        by_result: dict[str, list[str]] = {}
        for result in report.not_done:
            by_result.setdefault(result.result.value, []).append(result.environment)
        what = "; ".join(f"{value}: {', '.join(names)}" for value, names in by_result.items())
        hint = "; see their terraform.log" if report.failed else ""
        raise ToolError(f"{len(report.not_done)} of {len(report.results)} environments not done ({what}){hint}")


@contextlib.contextmanager
def _passing_signals_to(interruption, raise_now):
    """SIGINT and SIGTERM go to the runner's terraforms (which stop cleanly) instead of killing the tool;
    while ``raise_now()`` (at a prompt, or before any terraform started) they also interrupt the tool
    itself. Broken pipes to child processes that the terminal's Ctrl-C ended (cdktf's node runtime,
    at exit) are not worth a traceback."""
    def handler(signum, _frame):
        interruption.interrupt(signum)
        if raise_now():
            raise KeyboardInterrupt

    def quiet_unraisable(unraisable):
        if not isinstance(unraisable.exc_value, BrokenPipeError):
            previous_hook(unraisable)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = quiet_unraisable
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@cli.command("bootstrap")
@click.option("--account-timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Seconds to wait for each new account to be created.")
@click.option("--dry-run", is_flag=True, help="Read everything and report what would change; change nothing.")
@click.pass_obj
@error_boundary
def bootstrap_command(ctx: Context, account_timeout: float, dry_run: bool) -> None:
    """Set up the Organization, accounts, guardrails, state buckets and Terraform roles. Safe to re-run."""
    from rich.table import Table

    from .bootstrap import BootstrapRequest, Status, bootstrap, invite_command

    organization = ctx.organization(require_account_ids=False)  # bootstrap creates the accounts without one
    report = bootstrap(BootstrapRequest(organization, ctx.environments_dir, account_timeout=account_timeout,
                                        dry_run=dry_run))
    console = _console()
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
        _quiet_broken_pipe()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the last lines were still buffered when the reader left
        _quiet_broken_pipe()


# Command groups that live in their own CLI modules; imported last so they can use `cli` and
# `error_boundary` from this module.
from . import cli_demo, cli_envs, cli_insights, cli_modules, cli_review  # noqa: E402,F401
