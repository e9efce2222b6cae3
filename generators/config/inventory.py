"""What each environment is and where its pieces live, for `list` and for other tools to consume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generators.config.models import Organization
from generators.synth.output import STACKS


def describe(organization: Organization, outdir: Path) -> list[dict[str, Any]]:
    rows = []
    for environment in organization.environments:
        account = environment.account
        known = account.id is not None
        rows.append({
            "name": environment.name,
            "account": account.name,
            "account_id": account.id,
            "kind": environment.kind.value,
            "region": environment.region,
            "stack_dir": (outdir / STACKS / environment.name).as_posix(),
            "state_bucket": organization.state_bucket(account) if known else None,
            "state_key": environment.state_key,
            "role_arn": organization.role_arn(account) if known else None,
            "uses": environment.uses,
        })
    return rows
