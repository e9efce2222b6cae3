"""Which environments a run takes, in which order, and what it refuses before anything runs."""

from __future__ import annotations

from typing import Iterable

from generators.config.models import AccountKind, Environment, Organization
from generators.errors import UsageError
from generators.run.model import ACTIONS, RunRequest, resolve_role


def select_environments(organization: Organization, names: Iterable[str], all_environments: bool,
                        action: str) -> tuple[Environment, ...]:
    names = tuple(dict.fromkeys(names))  # keep order, drop repeats
    known = [e.name for e in organization.environments]
    if action not in ACTIONS:
        raise UsageError(f"unknown action '{action}'; one of {', '.join(ACTIONS)}")
    if all_environments and action == "destroy":
        raise UsageError("destroy takes environment names, not --all: name each environment to destroy")
    if all_environments and names:
        raise UsageError("name environments or pass --all, not both")
    if all_environments:
        return organization.environments
    if not names:
        raise UsageError(f"name at least one environment or pass --all; known environments: {', '.join(known)}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown environment{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}; "
                         f"known environments: {', '.join(known)}")
    return tuple(organization.environment(n) for n in names)


def check_request(organization: Organization, selected: tuple[Environment, ...], request: RunRequest) -> None:
    """Refuse, before anything is synthesized or run, what the command line must not do."""
    resolve_role(organization, request.role)
    if request.expect_review is not None and request.action != "deploy":
        raise UsageError(f"--expect-review is for deploy, not {request.action}")
    if request.action == "plan":
        return
    if request.role == "plan":
        raise UsageError(f"the plan role is read-only: {request.action} runs with the deploy role")
    if not request.all_environments and not request.allow_production:
        production = [e.name for e in selected if e.kind is AccountKind.PRODUCTION]
        if production:
            raise UsageError(f"{', '.join(production)} {'is' if len(production) == 1 else 'are'} in a production "
                             f"account; {request.action} it only with --allow-production (the plan is shown and "
                             "confirmed unless --auto-approve)")
    if request.action == "destroy":
        chosen = {e.name for e in selected}
        for environment in selected:
            remaining = [u.name for u in organization.users_of(environment) if u.name not in chosen]
            if remaining:
                raise UsageError(
                    f"cannot destroy '{environment.name}': still used by {', '.join(remaining)} (uses = "
                    f"\"{environment.name}\"); destroy {'it' if len(remaining) == 1 else 'them'} first or in the "
                    "same command")


def waves(selected: tuple[Environment, ...], action: str) -> list[tuple[Environment, ...]]:
    """Groups that run one after another: users after the environment they use on deploy, before it on
    destroy. Plans only read, so they run as one group. ``uses`` chains are at most one long."""
    names = {e.name for e in selected}
    if action == "plan":
        return [selected] if selected else []
    providers = tuple(e for e in selected if not (e.uses and e.uses in names))
    users = tuple(e for e in selected if e.uses and e.uses in names)
    ordered = [providers, users] if action == "deploy" else [users, providers]
    return [group for group in ordered if group]


def dependencies(environment: Environment, selected: tuple[Environment, ...], action: str) -> tuple[str, ...]:
    """Selected environments that must succeed before ``environment`` runs."""
    names = {e.name for e in selected}
    if action == "deploy":
        return (environment.uses,) if environment.uses in names else ()
    if action == "destroy":
        return tuple(e.name for e in selected if e.uses == environment.name)
    return ()
