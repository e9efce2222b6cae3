"""Canonical change sets: what a saved plan would do, in a form two plans can be compared by.

A plan file cannot be compared byte for byte with another (it records when it was made), and a
reviewed plan file should not travel from a pull-request job to a deploy job anyway. What is compared
instead is the change set of ``terraform show -json``: per managed resource that changes, its address,
Terraform's actions, and a SHA-256 digest of its before and after values (with which parts are still
unknown or sensitive), plus each root output's actions and digest. Values themselves never leave the
plan: only digests do. Equal change sets mean the deploy does what the review showed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from generators.errors import UsageError


@dataclass(frozen=True, order=True)
class ChangeEntry:
    address: str  # a resource instance address, or "output.<name>"
    actions: tuple[str, ...]
    before: str  # sha256 of the canonical JSON of the value before
    after: str  # sha256 of the planned value, its unknown parts and its sensitive parts

    def as_dict(self) -> dict[str, Any]:
        return {"address": self.address, "actions": list(self.actions), "before_sha256": self.before,
                "after_sha256": self.after}


ChangeSet = tuple[ChangeEntry, ...]


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _is_change(actions: list[str]) -> bool:
    return actions not in ([], ["no-op"], ["read"])


def change_set(plan: Mapping[str, Any]) -> ChangeSet:
    """The change set of ``terraform show -json PLANFILE``'s document, sorted by address."""
    entries = []
    for resource in plan.get("resource_changes") or ():
        change = resource.get("change") or {}
        actions = list(change.get("actions") or ())
        if resource.get("mode") != "managed" or not _is_change(actions):
            continue
        entries.append(ChangeEntry(str(resource.get("address", "")), tuple(actions),
                                   _digest([change.get("before"), change.get("before_sensitive")]),
                                   _digest([change.get("after"), change.get("after_unknown"),
                                            change.get("after_sensitive")])))
    for name, change in (plan.get("output_changes") or {}).items():
        actions = list((change or {}).get("actions") or ())
        if _is_change(actions):
            entries.append(ChangeEntry(f"output.{name}", tuple(actions), _digest(change.get("before")),
                                       _digest([change.get("after"), change.get("after_unknown")])))
    return tuple(sorted(entries))


def change_set_digest(entries: ChangeSet) -> str:
    return _digest([e.as_dict() for e in entries])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ReviewedPlan:
    """One environment's entry of a review (``plan --json``), as deploy --expect-review reads it."""

    environment: str
    account_id: str
    result: str
    changes: ChangeSet
    digest: str


def differences(reviewed: ChangeSet, planned: ChangeSet, limit: int = 20) -> list[str]:
    """Human lines naming what differs, by address; empty when both are the same."""
    old = {e.address: e for e in reviewed}
    new = {e.address: e for e in planned}
    lines = []
    for address in sorted(old.keys() | new.keys()):
        before, now = old.get(address), new.get(address)
        if before == now:
            continue
        if before is None:
            assert now is not None  # the address is in one of the two
            lines.append(f"{address}: not in the review, now {'/'.join(now.actions)}")
        elif now is None:
            lines.append(f"{address}: reviewed as {'/'.join(before.actions)}, now no change")
        elif before.actions != now.actions:
            lines.append(f"{address}: reviewed as {'/'.join(before.actions)}, now {'/'.join(now.actions)}")
        else:
            lines.append(f"{address}: {'/'.join(now.actions)} with different values than reviewed")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


def load_review(path: Path) -> dict[str, ReviewedPlan]:
    """The reviewed plans of a ``plan --json`` file, by environment; exit 2 for a file that is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the review {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not a plan review (invalid JSON: {exc})") from exc
    reviewed: dict[str, ReviewedPlan] = {}
    try:
        for group in document["accounts"]:
            for entry in group["environments"]:
                changes = tuple(ChangeEntry(str(c["address"]), tuple(str(a) for a in c["actions"]),
                                            str(c["before_sha256"]), str(c["after_sha256"]))
                                for c in entry["change_set"])
                reviewed[str(entry["environment"])] = ReviewedPlan(
                    str(entry["environment"]), str(entry["account_id"]), str(entry["result"]), tuple(sorted(changes)),
                    str(entry["change_set_sha256"]))
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a plan review with change sets (written by `plan --json` of this "
                         f"version; missing {exc})") from exc
    for plan in reviewed.values():
        if plan.result == "ok" and change_set_digest(plan.changes) != plan.digest:
            raise UsageError(f"{path}: the change set of {plan.environment} does not match its change_set_sha256; "
                             "the review was edited")
    return reviewed
