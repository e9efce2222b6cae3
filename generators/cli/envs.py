"""CLI commands for short-lived development environments: `env create | destroy | list | reap`.

Part of the CLI layer (it prints and exits through common.error_boundary); imported when one of its
commands is asked for (cli/common.py). The lifecycle itself (destroying step by step, what has expired)
is env_lifecycle's.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import click

from generators import naming
from generators.cli.common import SHOWN_DEFAULT_OUT, Context, cli, default_out, error_boundary, make_console
from generators.envs import dev_envs
from generators.envs import lifecycle as env_lifecycle
from generators.errors import ConfigError, ToolError
from generators.failures import one_line


def _workspace_options(command):
    command = click.option("--out", "outdir", type=click.Path(path_type=Path), default=default_out,
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
    console = make_console()
    console.print(f"created {new.path} (environment '{new.name}' in account '{new.account}', copied from "
                  f"'{new.source}'{', uses ' + repr(new.uses) if new.uses else ''})")
    if deploy:
        env_lifecycle.run(_workspaces(ctx, outdir, no_extensions), organization, "deploy", (new.name,))
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
    workspaces = _workspaces(ctx, outdir, no_extensions)
    say = make_console().print
    name = env_lifecycle.resolve_name(organization, name, branch)
    if branch and not any(e.name == name for e in organization.environments):
        organization = env_lifecycle.recreate_definition(workspaces, organization, name, branch,
                                                         datetime.now(timezone.utc), say)
    env_lifecycle.destroy(workspaces, organization, name, say)


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
    for environment in env_lifecycle.development(organization):
        try:
            state = dev_envs.read_state(organization, environment)
            last_deploy = naming.format_timestamp(state.last_modified) if state.last_modified else None
        except Exception as exc:  # noqa: BLE001 - listing must work offline; the column then says unknown
            state, last_deploy = None, "unknown"
            unreadable.append(f"{environment.name}: {one_line(exc)}")
        created, created_from = env_lifecycle.created(environment, state)
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
        console = make_console(stderr=True)
        console.print(f"could not read the state of {len(unreadable)} environment{'s' if len(unreadable) != 1 else ''} "
                      "(last deploy, and expiry without a created time, unknown):", markup=False)
        for line in unreadable:
            console.print(f"  {line}", markup=False)


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
    make_console().print(table)


@env_group.command("reap")
@click.option("--dry-run", is_flag=True, help="List what would be destroyed and why; change nothing.")
@_workspace_options
@click.pass_obj
@error_boundary
def env_reap(ctx: Context, dry_run: bool, outdir, no_extensions) -> None:
    """Destroy development environments whose TTL has expired (counted from `created` or, without it, from
    the first deploy). An environment that cannot be checked or destroyed is reported and the others still
    go; the exit code is then 1."""
    now = datetime.now(timezone.utc)
    plan = env_lifecycle.plan_reap(ctx.organization(), now)
    console = make_console()
    for name, why in plan.kept:
        console.print(f"  keep     {name}: {why}")
    verb = "would destroy" if dry_run else "destroy"
    for stray in plan.strays:
        assert stray.expires_at is not None  # only those with an expiry are reaped
        console.print(f"  {verb} {stray.name}: not defined here, state in {stray.state_url}, expired "
                      f"{naming.format_timestamp(stray.expires_at)}")
    for environment, why in plan.expired:
        console.print(f"  {verb} {environment.name}: {why}")
    if not plan.expired and not plan.strays and not plan.failures:
        console.print("Nothing to reap: no development environment has expired.")
        return
    failures = list(plan.failures)
    if not dry_run:
        failures += env_lifecycle.reap(_workspaces(ctx, outdir, no_extensions), plan, now, console.print)
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


def _workspaces(ctx: Context, outdir: Path, no_extensions: bool) -> env_lifecycle.Workspaces:
    from generators.aws.clients import endpoint_is_local

    return env_lifecycle.Workspaces(environments_dir=ctx.environments_dir, modules_dir=ctx.modules_dir, outdir=outdir,
                                    with_extensions=not no_extensions, local_endpoint=endpoint_is_local(),
                                    load=ctx.organization, synth_cache=ctx.cache)
