"""CLI commands for short-lived development environments: `env create | destroy | list | reap`.

Part of the CLI layer (it prints and exits through cli.error_boundary); registered by cli.py.
Every step of `env destroy` is idempotent, so re-running after a failure finishes the job.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import click

from . import dev_envs, naming
from .cli import SHOWN_DEFAULT_OUT, Context, _console, _default_out, cli, error_boundary
from .errors import ConfigError, ToolError, UsageError
from .failures import one_line
from .models import AccountKind, Environment, Organization


def _workspace_options(command):
    command = click.option("--out", "outdir", type=click.Path(path_type=Path), default=_default_out,
                           show_default=SHOWN_DEFAULT_OUT, help="Output folder of the generated workspaces.")(command)
    return click.option("--no-extensions", is_flag=True, help="Skip the typed extensions (as synth does).")(command)


@cli.group("env")
def env_group() -> None:
    """Short-lived development environments: one per branch, in the shared development account."""


@env_group.command("create")
@click.argument("name", required=False)
@click.option("--branch", help="Branch the environment is for; without NAME, the name is derived from it.")
@click.option("--from", "template", help="Environment whose module layout to copy (default: an API "
                                         "environment of the development account).")
@click.option("--uses", help="Infrastructure environment to read outputs from (default: the copied one's).")
@click.option("--ttl", default=dev_envs.DEFAULT_TTL, show_default=True, help="Lifetime before `env reap` destroys it.")
@click.option("--owner", default=lambda: os.environ.get("GITHUB_ACTOR") or os.environ.get("USER"),
              help="Who owns it (tagged on every resource). Default: $GITHUB_ACTOR or $USER.")
@click.option("--deploy", is_flag=True, help="Synthesize and deploy it right away.")
@_workspace_options
@click.pass_obj
@error_boundary
def env_create(ctx: Context, name, branch, template, uses, ttl, owner, deploy, outdir, no_extensions) -> None:
    """Write environments/<NAME>.hcl for a new development environment (refuses existing names)."""
    organization = ctx.organization()
    new = dev_envs.plan_create(organization, ctx.environments_dir, name=name, branch=branch, template_name=template,
                               uses=uses, ttl=ttl, owner=owner, now=datetime.now(timezone.utc))
    dev_envs.write_new_environment(new)
    try:
        organization = ctx.organization()  # the new file must keep the whole configuration valid
    except ConfigError:
        dev_envs.remove_file(new.path)
        raise
    console = _console()
    console.print(f"created {new.path} (environment '{new.name}' in account '{new.account}', copied from "
                  f"'{new.source}'{', uses ' + repr(new.uses) if new.uses else ''})")
    if deploy:
        _run(ctx, organization, "deploy", (new.name,), outdir, not no_extensions)
    click.echo(new.name)


@env_group.command("destroy")
@click.argument("name", required=False)
@click.option("--branch", help="Destroy the environment created for this branch.")
@_workspace_options
@click.pass_obj
@error_boundary
def env_destroy(ctx: Context, name, branch, outdir, no_extensions) -> None:
    """Destroy a development environment's resources, then its state and lock objects, then its file and
    stack. No prompt: meant for CI and `pull request closed` hooks."""
    organization = ctx.organization()
    name = _resolve_name(organization, name, branch)
    if branch and not any(e.name == name for e in organization.environments):
        organization = _recreate_definition(ctx, organization, name, branch)
    _destroy(ctx, organization, name, outdir, not no_extensions)


@env_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
@error_boundary
def env_list(ctx: Context, as_json: bool) -> None:
    """Development environments with branch, owner, created time, TTL, expiry and last deploy. Without a
    `created` time, an environment's ttl counts from its first deploy."""
    organization = ctx.organization()
    now = datetime.now(timezone.utc)
    rows = []
    unreadable: list[str] = []
    for environment in _development(organization):
        try:
            state = dev_envs.read_state(organization, environment)
            last_deploy = naming.format_timestamp(state.last_modified) if state.last_modified else None
        except Exception as exc:  # noqa: BLE001 - listing must work offline; the column then says unknown
            state, last_deploy = None, "unknown"
            unreadable.append(f"{environment.name}: {one_line(exc)}")
        created, created_from = _created(environment, state)
        expires = dev_envs.expires_at(environment, state)
        rows.append({
            "name": environment.name, "account": environment.account.name, "branch": environment.branch,
            "owner": environment.owner, "uses": environment.uses, "created": created, "created_from": created_from,
            "ttl": environment.ttl, "expires_at": naming.format_timestamp(expires) if expires else None,
            "expired": bool(expires and expires <= now), "last_deploy": last_deploy,
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_environments(rows)
    if unreadable:
        console = _console(stderr=True)
        console.print(f"could not read the state of {len(unreadable)} environment{'s' if len(unreadable) != 1 else ''} "
                      "(last deploy, and expiry without a created time, unknown):", markup=False)
        for line in unreadable:
            console.print(f"  {line}", markup=False)


def _created(environment: Environment, state: dev_envs.StateObjects | None) -> tuple[str | None, str | None]:
    """The created time and where it comes from: the file's `created`, or the first deploy."""
    if environment.created is not None:
        return environment.created, "file"
    if state is not None and state.first_written is not None:
        return naming.format_timestamp(state.first_written), "first deploy"
    return None, None


def _print_environments(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    columns = ("name", "branch", "owner", "created", "ttl", "expires_at", "last_deploy")
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [str(row[c] or "-") for c in columns]
        if row["created_from"] == "first deploy":
            cells[3] += " (first deploy)"
        if row["expired"]:
            cells[5] = f"[red]{cells[5]} (expired)[/]"
        table.add_row(*cells)
    _console().print(table)


@env_group.command("reap")
@click.option("--dry-run", is_flag=True, help="List what would be destroyed and why; change nothing.")
@_workspace_options
@click.pass_obj
@error_boundary
def env_reap(ctx: Context, dry_run: bool, outdir, no_extensions) -> None:
    """Destroy development environments whose TTL has expired (counted from `created` or, without it, from
    the first deploy). An environment that cannot be checked or destroyed is reported and the others still
    go; the exit code is then 1."""
    organization = ctx.organization()
    now = datetime.now(timezone.utc)
    console = _console()
    failures: list[tuple[str, str]] = []  # (what, why)
    expired: list[tuple[Environment, str]] = []  # with why
    for environment in _development(organization):
        if environment.ttl is None:
            if environment.uses is not None:
                console.print(f"  keep     {environment.name}: no ttl, so no expiry")
            continue
        state = None
        if environment.created is None:  # the ttl counts from the first deploy, recorded in the state
            try:
                state = dev_envs.read_state(organization, environment)
            except Exception as exc:  # noqa: BLE001 - one unreadable state must not stop the reap
                failures.append((f"{environment.name} (its state, for its first deploy)", one_line(exc)))
                continue
        expires = dev_envs.expires_at(environment, state)
        if expires is None:
            console.print(f"  keep     {environment.name}: ttl {environment.ttl}, never deployed")
        elif expires <= now:
            created, created_from = _created(environment, state)
            source = " (first deploy)" if created_from == "first deploy" else ""
            expired.append((environment, f"created {created}{source}, ttl {environment.ttl}, expired "
                                         f"{naming.format_timestamp(expires)}"))
    # Environments CI created for pull requests are not in this checkout: their state is, with the
    # ExpiresAt tag on every resource.
    search = dev_envs.stray_environments(organization)
    failures += [(f"{where} (searched for environments not defined here)", one_line(exc))
                 for where, exc in search.failures]
    strays = [s for s in search.strays if s.expires_at is not None and s.expires_at <= now]
    verb = "would destroy" if dry_run else "destroy"
    for stray in strays:
        assert stray.expires_at is not None  # only those with an expiry were kept
        console.print(f"  {verb} {stray.name}: not defined here, state in {stray.state_url}, expired "
                      f"{naming.format_timestamp(stray.expires_at)}")
    for environment, why in expired:
        console.print(f"  {verb} {environment.name}: {why}")
    if not expired and not strays and not failures:
        console.print("Nothing to reap: no development environment has expired.")
        return
    if not dry_run:
        for environment, _ in expired:
            try:
                _destroy(ctx, ctx.organization(), environment.name, outdir, not no_extensions)
            except Exception as exc:  # noqa: BLE001 - reported below; the other environments still go
                failures.append((environment.name, one_line(exc)))
        for stray in strays:
            try:
                organization = _recreate_definition(ctx, ctx.organization(), stray.name, None)
                _destroy(ctx, organization, stray.name, outdir, not no_extensions)
            except Exception as exc:  # noqa: BLE001 - as above
                failures.append((stray.name, one_line(exc)))
    if failures:
        raise ToolError(_failure_summary(failures, "checked" if dry_run else "checked or destroyed"))


def _failure_summary(failures: list[tuple[str, str]], what: str) -> str:
    """One line per failure; one reason for all when they share it (no credentials, say)."""
    plural = "s" if len(failures) != 1 else ""
    count = f"{len(failures)} environment{plural} or account{plural}"
    reasons = {why for _, why in failures}
    if len(reasons) == 1:
        return (f"{count} could not be {what} (run `env reap` again): {reasons.pop()}\n  "
                + "\n  ".join(where for where, _ in failures))
    return (f"{count} could not be {what} (run `env reap` again):\n  "
            + "\n  ".join(f"{where}: {why}" for where, why in failures))


def _development(organization: Organization) -> list[Environment]:
    return [e for e in organization.environments if e.kind is AccountKind.DEVELOPMENT]


def _resolve_name(organization: Organization, name: str | None, branch: str | None) -> str:
    if name:
        return name
    if not branch:
        raise UsageError("give NAME or --branch BRANCH")
    for environment in organization.environments:
        if environment.branch == branch:
            return environment.name
    template = dev_envs.default_template(organization)
    return dev_envs.sanitize_name(branch, dev_envs.name_limit(organization, template))


def _recreate_definition(ctx: Context, organization: Organization, name: str, branch: str | None) -> Organization:
    """CI creates a pull request's environment in its own checkout and never commits the file, so on
    close (or when reaped) the definition is written again, with the layout `env create` copies, to
    find and destroy its state and resources."""
    new = dev_envs.plan_create(organization, ctx.environments_dir, name=name, branch=branch, template_name=None,
                               uses=None, ttl=dev_envs.DEFAULT_TTL, owner=None, now=datetime.now(timezone.utc))
    dev_envs.write_new_environment(new)
    _console().print(f"environment '{name}' is not in this checkout: wrote {new.path} again to destroy it")
    return ctx.organization()


def _destroy(ctx: Context, organization: Organization, name: str, outdir: Path, with_extensions: bool) -> None:
    console = _console()
    environment = next((e for e in organization.environments if e.name == name), None)
    if environment is None:
        console.print(f"environment '{name}' is not defined: nothing left to destroy")
        _resynthesize(ctx, organization, outdir, with_extensions)  # a stack left by an interrupted run goes now
        return
    if environment.kind is not AccountKind.DEVELOPMENT:
        raise UsageError(f"'{name}' is in {environment.kind.value} account '{environment.account.name}'; "
                         "env destroy is only for development environments")
    users = organization.users_of(environment)
    if users:
        raise UsageError(f"'{name}' is still used by {', '.join(u.name for u in users)}; destroy those first")
    # 1. the resources, while the state still says what they are
    if dev_envs.read_state(organization, environment).exists:
        _run(ctx, organization, "destroy", (name,), outdir, with_extensions)
        console.print(f"  destroyed the resources of '{name}'")
    else:
        console.print(f"  no state for '{name}': nothing deployed, or resources already destroyed")
    # 2. the state and lock objects, every version
    deleted = dev_envs.delete_state(organization, environment)
    console.print(f"  deleted {deleted} state and lock object version{'s' if deleted != 1 else ''} of '{name}'")
    # 3. the environment file, then the generated stack
    path = dev_envs.environment_file(ctx.environments_dir, name)
    if path is not None:
        dev_envs.remove_file(path)
        console.print(f"  removed {path}")
    _resynthesize(ctx, ctx.organization(), outdir, with_extensions)
    console.print(f"destroyed development environment '{name}'")


def _resynthesize(ctx: Context, organization: Organization, outdir: Path, with_extensions: bool) -> None:
    from .aws import endpoint_is_local
    from .synth import SynthRequest, bring_up_to_date

    bring_up_to_date(SynthRequest(organization, ctx.modules_dir, outdir, with_extensions=with_extensions,
                                  local_endpoint=endpoint_is_local(), cache=ctx.cache))


def _run(ctx: Context, organization: Organization, action: str, names: tuple[str, ...], outdir: Path,
         with_extensions: bool) -> None:
    from . import runner
    from .run_model import RunRequest
    from .aws import endpoint_is_local

    report = runner.run(RunRequest(organization=organization, modules_dir=ctx.modules_dir, outdir=outdir,
                                   action=action, environments=names, auto_approve=True,
                                   with_extensions=with_extensions, local_endpoint=endpoint_is_local(),
                                   synth_cache=ctx.cache))
    failed = report.failed
    if failed:
        raise ToolError(f"{action} failed for {', '.join(r.environment for r in failed)}: "
                        + "; ".join(r.message for r in failed if r.message))
