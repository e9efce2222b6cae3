"""The life of a development environment after `env create`: destroying it step by step, deciding which
ones have expired, and writing a definition again for one that exists only as state.

Every step of ``destroy`` is idempotent (resources, then every state and lock object version, then the
file, then the stack), so re-running after a failure finishes the job. Steps are told through a
``say`` callback: only the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from generators import naming
from generators.config.models import AccountKind, Environment, Organization
from generators.envs import dev_envs
from generators.errors import ToolError, UsageError
from generators.failures import one_line
from generators.synth.cache import SynthCache

Say = Callable[[str], None]


@dataclass(frozen=True)
class Workspaces:
    """Where environments are defined and synthesized, and how the configuration is read again after a
    file changed (``load``)."""

    environments_dir: Path
    modules_dir: Path
    outdir: Path
    with_extensions: bool
    local_endpoint: bool
    load: Callable[[], Organization]
    synth_cache: SynthCache | None = None


def development(organization: Organization) -> list[Environment]:
    return [e for e in organization.environments if e.kind is AccountKind.DEVELOPMENT]


def created(environment: Environment, state: dev_envs.StateObjects | None) -> tuple[str | None, str | None]:
    """The created time and where it comes from: the file's `created`, or the first deploy."""
    if environment.created is not None:
        return environment.created, "file"
    if state is not None and state.first_written is not None:
        return naming.format_timestamp(state.first_written), "first deploy"
    return None, None


def resolve_name(organization: Organization, name: str | None, branch: str | None) -> str:
    """NAME, or the environment created for ``branch`` (or the name `env create` would give it)."""
    if name:
        return name
    if not branch:
        raise UsageError("give NAME or --branch BRANCH")
    for environment in organization.environments:
        if environment.branch == branch:
            return environment.name
    template = dev_envs.default_template(organization)
    return dev_envs.sanitize_name(branch, dev_envs.name_limit(organization, template))


def recreate_definition(workspaces: Workspaces, organization: Organization, name: str, branch: str | None,
                        now: datetime, say: Say) -> Organization:
    """CI creates a pull request's environment in its own checkout and never commits the file, so on
    close (or when reaped) the definition is written again, with the layout `env create` copies, to
    find and destroy its state and resources."""
    new = dev_envs.plan_create(organization, workspaces.environments_dir, name=name, branch=branch,
                               template_name=None, uses=None, ttl=dev_envs.DEFAULT_TTL, owner=None, now=now)
    dev_envs.write_new_environment(new)
    say(f"environment '{name}' is not in this checkout: wrote {new.path} again to destroy it")
    return workspaces.load()


def destroy(workspaces: Workspaces, organization: Organization, name: str, say: Say) -> None:
    environment = next((e for e in organization.environments if e.name == name), None)
    if environment is None:
        say(f"environment '{name}' is not defined: nothing left to destroy")
        resynthesize(workspaces, organization)  # a stack left by an interrupted run goes now
        return
    if environment.kind is not AccountKind.DEVELOPMENT:
        raise UsageError(f"'{name}' is in {environment.kind.value} account '{environment.account.name}'; "
                         "env destroy is only for development environments")
    users = organization.users_of(environment)
    if users:
        raise UsageError(f"'{name}' is still used by {', '.join(u.name for u in users)}; destroy those first")
    # 1. the resources, while the state still says what they are
    if dev_envs.read_state(organization, environment).exists:
        run(workspaces, organization, "destroy", (name,))
        say(f"  destroyed the resources of '{name}'")
    else:
        say(f"  no state for '{name}': nothing deployed, or resources already destroyed")
    # 2. the state and lock objects, every version
    deleted = dev_envs.delete_state(organization, environment)
    say(f"  deleted {deleted} state and lock object version{'s' if deleted != 1 else ''} of '{name}'")
    # 3. the environment file, then the generated stack
    path = dev_envs.environment_file(workspaces.environments_dir, name)
    if path is not None:
        dev_envs.remove_file(path)
        say(f"  removed {path}")
    resynthesize(workspaces, workspaces.load())
    say(f"destroyed development environment '{name}'")


def resynthesize(workspaces: Workspaces, organization: Organization) -> None:
    from generators.synth.pipeline import SynthRequest, bring_up_to_date

    bring_up_to_date(SynthRequest(organization, workspaces.modules_dir, workspaces.outdir,
                                  with_extensions=workspaces.with_extensions,
                                  local_endpoint=workspaces.local_endpoint, cache=workspaces.synth_cache))


def run(workspaces: Workspaces, organization: Organization, action: str, names: tuple[str, ...]) -> None:
    """Run ``action`` on ``names`` without asking (these commands are for CI); fail if any failed."""
    from generators.run import runner
    from generators.run.model import RunRequest

    report = runner.run(RunRequest(organization=organization, modules_dir=workspaces.modules_dir,
                                   outdir=workspaces.outdir, action=action, environments=names, auto_approve=True,
                                   with_extensions=workspaces.with_extensions,
                                   local_endpoint=workspaces.local_endpoint, synth_cache=workspaces.synth_cache))
    failed = report.failed
    if failed:
        raise ToolError(f"{action} failed for {', '.join(r.environment for r in failed)}: "
                        + "; ".join(r.message for r in failed if r.message))


# -- reaping ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReapPlan:
    kept: tuple[tuple[str, str], ...]  # (environment, why it stays) worth saying
    expired: tuple[tuple[Environment, str], ...]  # (environment, why it expired)
    strays: tuple[dev_envs.StrayEnvironment, ...]  # expired, defined nowhere here
    failures: tuple[tuple[str, str], ...]  # (what could not be checked, why)


def plan_reap(organization: Organization, now: datetime) -> ReapPlan:
    """Which development environments have expired (their ttl counted from `created` or, without it,
    from the first deploy), including those that exist only as state. One that cannot be checked is a
    failure and the others are still decided."""
    kept: list[tuple[str, str]] = []
    expired: list[tuple[Environment, str]] = []
    failures: list[tuple[str, str]] = []
    for environment in development(organization):
        if environment.ttl is None:
            if environment.uses is not None:
                kept.append((environment.name, "no ttl, so no expiry"))
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
            kept.append((environment.name, f"ttl {environment.ttl}, never deployed"))
        elif expires <= now:
            created_at, created_from = created(environment, state)
            source = " (first deploy)" if created_from == "first deploy" else ""
            expired.append((environment, f"created {created_at}{source}, ttl {environment.ttl}, expired "
                                         f"{naming.format_timestamp(expires)}"))
    # Environments CI created for pull requests are not in this checkout: their state is, with the
    # ExpiresAt tag on every resource.
    search = dev_envs.stray_environments(organization)
    failures += [(f"{where} (searched for environments not defined here)", one_line(exc))
                 for where, exc in search.failures]
    strays = tuple(s for s in search.strays if s.expires_at is not None and s.expires_at <= now)
    return ReapPlan(tuple(kept), tuple(expired), strays, tuple(failures))


def reap(workspaces: Workspaces, plan: ReapPlan, now: datetime, say: Say) -> list[tuple[str, str]]:
    """Destroy what ``plan`` found expired; return what could not be destroyed (the others still go)."""
    failures: list[tuple[str, str]] = []
    for environment, _ in plan.expired:
        try:
            destroy(workspaces, workspaces.load(), environment.name, say)
        except Exception as exc:  # noqa: BLE001 - reported by the caller; the other environments still go
            failures.append((environment.name, one_line(exc)))
    for stray in plan.strays:
        try:
            organization = recreate_definition(workspaces, workspaces.load(), stray.name, None, now, say)
            destroy(workspaces, organization, stray.name, say)
        except Exception as exc:  # noqa: BLE001 - as above
            failures.append((stray.name, one_line(exc)))
    return failures
