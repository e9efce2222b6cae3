"""What the command modules share: the click group, the context, the console, the error boundary
and the front end of the Terraform runs. cli/main.py and the command modules import it; it imports neither."""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from generators.errors import EXIT_FAILURE, ConfigError, ToolError

DEFAULT_OUT = "cdktf.out"


@dataclass(frozen=True)
class Context:
    environments_dir: Path
    modules_dir: Path
    debug: bool
    use_cache: bool = True  # False under `synth --no-cache`

    @functools.cached_property
    def cache(self):
        """The synthesis cache (synth/cache.py), opened on first use; None when switched off or unusable."""
        from generators.synth.cache import SynthCache

        return SynthCache.open() if self.use_cache else None

    def save_cache(self) -> None:
        if self.__dict__.get("cache") is not None:
            self.cache.save()

    def organization(self, *, require_account_ids: bool = True):
        """The validated configuration. Every command but bootstrap (which creates the accounts declared
        by email) needs each account that holds an environment to have an id."""
        from generators.config import organization as config

        with cycle_collector_paused():
            organization = config.load_organization(self.environments_dir, self.modules_dir, self.cache)
        if require_account_ids:
            config.require_account_ids(organization)
        if local_endpoint():
            organization = _for_the_sandbox(organization)
        return organization


@contextlib.contextmanager
def cycle_collector_paused():
    """Loading and synthesizing make millions of small containers (parsed files, frozen models, stacks)
    that form no reference cycles, so reference counting frees them. Python's cycle collector would still
    walk them again and again as they pile up: 0.14 s of a synth of 1,000 environments after one edit,
    0.2 s cold (measured with gc.callbacks). It is paused for the stage; everything alive after it is then
    frozen out of the collector's sight (`gc.freeze`; still freed by reference counting), or the first
    collection after would walk it all once more."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


_noted_sandbox_extensions: set[str] = set()


def _for_the_sandbox(organization):
    """Against the sandbox (a loopback AWS_ENDPOINT_URL), extensions the emulator cannot serve are left
    out of every command, said once."""
    from generators.aws.sandbox import UNSERVED_EXTENSIONS, without_unserved_extensions

    organization, dropped = without_unserved_extensions(organization)
    for name in sorted(set(dropped) - _noted_sandbox_extensions):
        _noted_sandbox_extensions.add(name)
        make_console(stderr=True).print(f"sandbox: extension {name} is left out: {UNSERVED_EXTENSIONS[name]}",
                                        markup=False)
    return organization


def make_console(stderr: bool = False):
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
            make_console(stderr=True).print("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            quiet_broken_pipe()
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure becomes a message
            if ctx.debug:
                raise
            _report_failure(exc)

    return wrapper


def _report_failure(exc: Exception) -> None:
    from generators.failures import explain

    console = make_console(stderr=True)
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


def quiet_broken_pipe() -> None:
    """The reader of stdout went away (`... | head`): stop without a word. Python would report the
    pipe again when it flushes stdout at exit, so stdout is pointed at /dev/null first."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_FAILURE)


class _CommandsImportedWhenAsked(click.Group):
    """The group of every command; the commands defined outside cli/main.py are imported only when they
    are asked for (or listed by --help), so `synth` does not pay for importing `env`, `demo` or `costs`."""

    # command name -> the module whose import registers it on this group (tests/test_architecture.py checks it)
    DEFINED_IN = {
        "demo": "generators.cli.demo",
        "env": "generators.cli.envs",
        "limits": "generators.cli.insights", "costs": "generators.cli.insights",
        "access": "generators.cli.insights", "graph": "generators.cli.insights",
        "modules": "generators.cli.modules", "show": "generators.cli.modules",
        "affected": "generators.cli.review", "ci": "generators.cli.review",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.DEFINED_IN))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.DEFINED_IN:
            importlib.import_module(self.DEFINED_IN[name])
        return super().get_command(ctx, name)


@click.group(cls=_CommandsImportedWhenAsked,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--environments", "environments_dir", default="environments", show_default=True,
              type=click.Path(path_type=Path), help="Folder of *.hcl files describing the Organization.")
@click.option("--modules", "modules_dir", default="modules", show_default=True,
              type=click.Path(path_type=Path), help="Folder of plain HCL modules that environments call.")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of short error messages.")
@click.pass_context
def cli(ctx: click.Context, environments_dir: Path, modules_dir: Path, debug: bool) -> None:
    """Turn one description of an AWS Organization into per-account Terraform workspaces, and run them."""
    ctx.obj = Context(environments_dir=environments_dir, modules_dir=modules_dir, debug=debug)


def default_out() -> str:
    # `cdktf synth` runs this app with CDKTF_OUTDIR set to the output folder of cdktf.json.
    if "CDKTF_OUTDIR" in os.environ:
        return os.environ["CDKTF_OUTDIR"]
    if local_endpoint():  # the sandbox's workspaces carry path-style settings: never into the user's cdktf.out
        from generators.aws.sandbox import SANDBOX_OUT

        return str(SANDBOX_OUT)
    return DEFAULT_OUT


SHOWN_DEFAULT_OUT = f"{DEFAULT_OUT}; .cache/sandbox/cdktf.out with a loopback AWS_ENDPOINT_URL"


def local_endpoint() -> bool:
    from generators.aws.clients import endpoint_is_local

    return endpoint_is_local()


def run_terraform(ctx: Context, action: str, names, all_environments: bool, *, jobs, outdir: Path,
                  no_extensions: bool, lock_timeout, auto_approve: bool = False,
                  allow_production: bool = False, role: str = "deploy", on_report=None,
                  expect_review=None, expect_review_source: str = "") -> None:
    """Run the action and print its summary; ``on_report(organization, report, console)`` runs before a
    failure is raised, so the plan review is written even when some plans failed. Exit 1 unless every
    selected environment was done; 128 + the signal's number when interrupted."""
    from generators.cli.progress import (ProgressBoard, confirmation_lines, confirmation_question, plain_line,
                                         summary_notes, summary_table)
    from generators.run.interruption import Interrupted, Interruption
    from generators.run.model import DEFAULT_JOBS, DEFAULT_LOCK_TIMEOUT, Result, RunRequest
    from generators.run.runner import run

    organization = ctx.organization()
    request = RunRequest(
        organization=organization, modules_dir=ctx.modules_dir, outdir=outdir, action=action,
        environments=tuple(names), all_environments=all_environments, jobs=jobs or DEFAULT_JOBS,
        auto_approve=auto_approve, allow_production=allow_production,
        lock_timeout=DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout,
        with_extensions=not no_extensions, local_endpoint=local_endpoint(), synth_cache=ctx.cache, role=role,
        expect_review=expect_review, expect_review_source=expect_review_source)
    console = make_console()
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
