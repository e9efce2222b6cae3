"""Orphaned state: state objects in the organization's state buckets whose environment is no longer
defined in that account, with their resource counts, so a deleted environment file never silently
strands resources. Only reads, through the role a plan run used."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping

from generators import TOOL_NAME
from generators.aws import clients as aws
from generators.config.models import Account, AccountKind, Organization

_SCAN_JOBS = 8


@dataclass(frozen=True)
class Orphan:
    """A state object whose environment is no longer defined in that account."""

    environment: str
    account: str
    account_id: str
    bucket: str
    key: str
    resources: int  # managed resource instances still recorded in it; -1 when the state could not be read
    last_modified: str = ""


@dataclass(frozen=True)
class ScanProblem:
    """An account whose state bucket could not be searched for orphans."""

    account: str
    account_id: str
    message: str


def find_orphans(organization: Organization, role: str) -> tuple[tuple[Orphan, ...], tuple[ScanProblem, ...]]:
    """State objects in every member account's state bucket whose environment is not defined there.

    Every account but management is searched, not only those holding environments: deleting the only
    environment of a production or staging account leaves its state in an account that holds none.
    A bucket that does not exist in an account without environments is not a problem (never
    bootstrapped, nothing to strand); every other failure is reported, never skipped."""
    accounts = [a for a in organization.accounts if a.kind is not AccountKind.MANAGEMENT and a.id]
    if not accounts:
        return (), ()
    with ThreadPoolExecutor(max_workers=min(_SCAN_JOBS, len(accounts)), thread_name_prefix="orphans") as pool:
        scanned = list(pool.map(lambda a: _scan_account(organization, a, role), accounts))
    orphans = tuple(sorted((o for found, _ in scanned for o in found), key=lambda o: (o.account, o.environment)))
    return orphans, tuple(p for _, problems in scanned for p in problems)


def _scan_account(organization: Organization, account: Account,
                  role: str) -> tuple[list[Orphan], list[ScanProblem]]:
    from botocore.exceptions import BotoCoreError, ClientError

    region = organization.settings.region
    bucket = organization.state_bucket(account)
    defined = {e.name for e in organization.environments_in(account)}
    try:
        session = aws.assume_role_session(aws.session(region), organization.role_arn(account, role),
                                          f"{TOOL_NAME}-review", region)
        s3 = aws.client(session, "s3")
        states = aws.environment_states(s3, bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket" and not defined:
            return [], []
        return [], [ScanProblem(account.name, account.id or "", f"cannot list s3://{bucket}: {_error_text(exc)}")]
    except BotoCoreError as exc:
        return [], [ScanProblem(account.name, account.id or "", f"cannot list s3://{bucket}: {exc}")]
    orphans: list[Orphan] = []
    problems: list[ScanProblem] = []
    for entry in states:
        if entry.environment in defined:
            continue
        try:
            state = json.loads(s3.get_object(Bucket=bucket, Key=entry.key)["Body"].read())
            resources = count_state_resources(state)
        except (ClientError, BotoCoreError, ValueError, AttributeError) as exc:
            # Still an orphan: that its resources cannot be counted must not hide it.
            problems.append(ScanProblem(account.name, account.id or "",
                                        f"cannot count the resources in s3://{bucket}/{entry.key}: {exc}"))
            resources = -1
        modified = entry.last_modified
        orphans.append(Orphan(entry.environment, account.name, account.id or "", bucket, entry.key, resources,
                              modified.isoformat() if modified else ""))
    return orphans, problems


def count_state_resources(state: Mapping[str, Any]) -> int:
    """Managed resource instances in a state file (data sources are only cached reads)."""
    return sum(len(r.get("instances") or ()) for r in state.get("resources") or () if r.get("mode") == "managed")


def _error_text(exc) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
