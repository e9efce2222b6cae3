"""Account insights: what the Organization looks like from inside AWS, read live.

    limits  -> usage against quota per account (Lambda code storage, S3 buckets, IAM roles, DynamoDB
               tables, CloudFormation stacks), each figure naming where it came from
    costs   -> Cost Explorer from the management account, mapped back to accounts and environments
    access  -> who the deploy and plan roles trust, as a principals x accounts matrix, with violations
    graph   -> the Organization as a Mermaid or Graphviz picture (offline, from the configuration)

Each module returns frozen dataclasses and raises ToolError; only generators/cli/insights.py prints.
This module holds what they share: which accounts to visit, how to enter them, and how AWS failures
become ToolErrors naming the account and the call.
"""

from __future__ import annotations

import contextlib
import dataclasses
from decimal import Decimal
from enum import Enum
from typing import Any, Iterator, Mapping

from generators import TOOL_NAME
from generators.aws import clients as aws
from generators.config.models import Account, AccountKind, Organization
from generators.errors import ToolError

# Reports list accounts in this order: production first, so development's headroom reads next to it.
KIND_ORDER = (AccountKind.PRODUCTION, AccountKind.STAGING, AccountKind.DEVELOPMENT, AccountKind.DEVELOPER,
              AccountKind.MANAGEMENT)
DEVELOPMENT_KINDS = (AccountKind.DEVELOPMENT, AccountKind.DEVELOPER)


@dataclasses.dataclass(frozen=True)
class AccountRef:
    """An account as reports show it: enough to name it without the whole model."""

    name: str
    id: str
    kind: str


def ref(account: Account) -> AccountRef:
    return AccountRef(account.name, account.id or "", account.kind.value)


def kind_rank(account: Account) -> int:
    return KIND_ORDER.index(account.kind)


def accounts_with_environments(organization: Organization) -> tuple[tuple[Account, ...], tuple[str, ...]]:
    """Accounts holding at least one environment, production first; and the names of those skipped
    because they have no id yet (declared with an email only, not bootstrapped)."""
    holding = [a for a in organization.accounts if organization.environments_in(a)]
    holding.sort(key=kind_rank)  # stable: configuration order within a kind
    return (tuple(a for a in holding if a.id is not None),
            tuple(a.name for a in holding if a.id is None))


def regions_of(organization: Organization, account: Account) -> tuple[str, ...]:
    """Regions where the tool creates resources in ``account``: its environments' regions and the
    regions of aliased providers pointing into it."""
    regions = {e.region for e in organization.environments_in(account)}
    regions |= {p.region for e in organization.environments for p in e.providers if p.account.name == account.name}
    return tuple(sorted(regions))


def member_session(organization: Organization, account: Account, region: str, purpose: str):
    """A session in ``account``, entered through the organization's access role (as bootstrap does).
    Safe to call from several threads: each call builds its own sessions."""
    role_arn = organization.role_arn(account, organization.settings.access_role)
    with aws_failure(account, f"assuming {role_arn}"):
        return aws.assume_role_session(aws.session(region), role_arn, f"{TOOL_NAME}-{purpose}", region)


@contextlib.contextmanager
def aws_failure(account: Account | None, what: str) -> Iterator[None]:
    """Turn botocore's errors into a ToolError that says which account and which call failed."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ToolError(f"{_where(account)}{what} failed: {error.get('Code', '?')}: "
                        f"{error.get('Message', '').strip()}") from exc
    except (BotoCoreError, ResponseParserError) as exc:  # no credentials, no endpoint, unparsable answer
        raise ToolError(f"{_where(account)}{what} failed: {exc}") from exc


def error_code(exc: Exception) -> str:
    """A short reason for a failed optional call, for the report's notes."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or exc.response.get("ResponseMetadata", {})
                   .get("HTTPStatusCode", "error"))
    return type(exc).__name__


def _where(account: Account | None) -> str:
    return f"account {account.name} ({account.id}): " if account is not None else ""


def as_json(value: Any) -> Any:
    """Dataclasses, enums, tuples and Decimals as plain JSON values (Decimals as exact strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value
