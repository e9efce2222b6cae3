"""`limits`: usage against quota in every account that holds environments.

Every figure names its source. The quota comes from the most specific API that serves it, else from
the quota's documented default, said as such: a raised quota is then under-reported, never invented.

    quota                      usage from                        quota from
    Lambda code storage        Lambda GetAccountSettings         GetAccountSettings AccountLimit
                               (else sum of ListFunctions        (else documented default, 75 GB)
                               CodeSize, all versions)
    S3 general purpose buckets S3 ListBuckets                    Service Quotas L-DC2B2D3D (else default)
    IAM roles                  IAM ListRoles                     Service Quotas L-FE177D64 (else default)
    DynamoDB tables            DynamoDB ListTables               documented default, per Region
    CloudFormation stacks      CloudFormation ListStacks         DescribeAccountLimits StackLimit (else
                               (a row only where stacks exist)   documented default)

Real AWS serves every primary path above. The moto server used by the tests has no route for
GetAccountSettings (404), DescribeAccountLimits (500) or Service Quotas outside `vpc`
(NoSuchResourceException), so there the fallbacks run; the primary paths' parsers are tested on
recorded responses (tests/fixtures/aws/).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from generators.aws import clients as aws
from generators.config.models import Account, AccountKind, Organization
from generators.errors import ToolError
from generators.insights import (AccountRef, accounts_with_environments, aws_failure, error_code, member_session, ref,
                                 regions_of)

DEFAULT_WARN_PERCENT = 80.0
ACCOUNT_WIDE = "account"  # the scope of quotas that are per account, not per Region
# S3 and IAM quotas are global and Service Quotas serves them from US East (N. Virginia) only.
GLOBAL_QUOTA_REGION = "us-east-1"
GIB = 1024 ** 3
MAX_WORKERS = 8  # accounts read in parallel: real AWS latency dominates, moto does not care

LAMBDA = "Lambda code storage"
S3_BUCKETS = "S3 general purpose buckets"
IAM_ROLES = "IAM roles"
DYNAMODB_TABLES = "DynamoDB tables"
CLOUDFORMATION_STACKS = "CloudFormation stacks"
RESOURCES = (LAMBDA, S3_BUCKETS, IAM_ROLES, DYNAMODB_TABLES, CLOUDFORMATION_STACKS)


@dataclass(frozen=True)
class DocumentedDefault:
    value: int
    text: str  # where it is documented, for the source column

    @property
    def source(self) -> str:
        return f"documented default quota ({self.text})"


DEFAULTS = {  # the value, and the documentation page that states it
    LAMBDA: DocumentedDefault(75 * GIB, "Lambda quotas"),
    S3_BUCKETS: DocumentedDefault(10_000, "S3 general purpose bucket quotas"),
    IAM_ROLES: DocumentedDefault(1_000, "IAM and STS quotas"),
    DYNAMODB_TABLES: DocumentedDefault(2_500, "DynamoDB quotas, per Region"),
    CLOUDFORMATION_STACKS: DocumentedDefault(2_000, "CloudFormation quotas, per Region"),
}
SERVICE_QUOTAS = {S3_BUCKETS: ("s3", "L-DC2B2D3D"), IAM_ROLES: ("iam", "L-FE177D64")}


@dataclass(frozen=True)
class Usage:
    account: AccountRef
    resource: str
    scope: str  # a Region, or "account" for account-wide quotas
    used: int
    quota: int
    unit: str  # "bytes" or "count"
    used_source: str
    quota_source: str
    percent: float
    flagged: bool
    note: str | None = None

    @property
    def headroom(self) -> int:
        return max(self.quota - self.used, 0)


@dataclass(frozen=True)
class Headroom:
    """The development account's use of a quota next to production's: development fills up first."""

    resource: str
    scope: str
    development: AccountRef
    development_percent: float
    production: AccountRef | None
    production_percent: float | None


@dataclass(frozen=True)
class LimitsReport:
    warn_percent: float
    rows: tuple[Usage, ...]
    headroom: tuple[Headroom, ...]
    skipped: tuple[str, ...]  # accounts with environments but no id yet
    failed: tuple[tuple[str, str], ...] = ()  # (account, why) for accounts that could not be measured

    @property
    def flagged(self) -> tuple[Usage, ...]:
        return tuple(r for r in self.rows if r.flagged)


def read_limits(organization: Organization, warn_percent: float = DEFAULT_WARN_PERCENT) -> LimitsReport:
    accounts, skipped = accounts_with_environments(organization)
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(accounts)))) as pool:
        measured = list(pool.map(lambda a: _measure_or_fail(organization, a), accounts))
    rows = tuple(_row(account, figure, warn_percent) for account, figures in zip(accounts, measured)
                 if not isinstance(figures, ToolError) for figure in figures)
    failed = tuple((account.name, str(figures)) for account, figures in zip(accounts, measured)
                   if isinstance(figures, ToolError))
    return LimitsReport(warn_percent, rows, _headroom(rows), skipped, failed)


def _measure_or_fail(organization: Organization, account: Account) -> "list[_Figure] | ToolError":
    """One account's figures, or why it could not be measured: one account's failure (a role that is
    not there yet, say) must not hide the others' figures."""
    try:
        return _measure_account(organization, account)
    except ToolError as exc:
        return exc


# -- one account ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Figure:
    resource: str
    scope: str
    used: int
    used_source: str
    quota: int
    quota_source: str
    note: str | None = None


def _measure_account(organization: Organization, account: Account) -> list[_Figure]:
    session = member_session(organization, account, GLOBAL_QUOTA_REGION, "limits")
    figures = [_s3_buckets(session, account), _iam_roles(session, account)]
    for region in regions_of(organization, account):
        figures.append(_lambda_code_storage(session, account, region))
        figures.append(_dynamodb_tables(session, account, region))
        stacks = _cloudformation_stacks(session, account, region)
        if stacks is not None:
            figures.append(stacks)
    order = {name: i for i, name in enumerate(RESOURCES)}
    return sorted(figures, key=lambda f: (order[f.resource], f.scope != ACCOUNT_WIDE, f.scope))


def _row(account: Account, figure: _Figure, warn_percent: float) -> Usage:
    percent = round(100.0 * figure.used / figure.quota, 4) if figure.quota else 100.0
    return Usage(account=ref(account), resource=figure.resource, scope=figure.scope, used=figure.used,
                 quota=figure.quota, unit="bytes" if figure.resource == LAMBDA else "count",
                 used_source=figure.used_source, quota_source=figure.quota_source, percent=percent,
                 flagged=percent >= warn_percent, note=figure.note)


def _client(session, service: str, region: str, probe: bool = False):
    # A quota probe that fails falls back to the documented default, so it is not worth more back-off
    # (moto answers DescribeAccountLimits with a 500); a count has no fallback, so it retries longer.
    return aws.client(session, service, region, retries=2 if probe else 5)


def _count(client, operation: str, key: str, **kwargs) -> int:
    return sum(len(page.get(key, [])) for page in client.get_paginator(operation).paginate(**kwargs))


def _s3_buckets(session, account: Account) -> _Figure:
    s3 = _client(session, "s3", GLOBAL_QUOTA_REGION)
    with aws_failure(account, "S3 ListBuckets"):
        # Paginated: AWS rejects unpaginated ListBuckets for accounts whose quota is above 10,000.
        used = _count(s3, "list_buckets", "Buckets", PaginationConfig={"PageSize": 10_000})
    quota, source = _service_quota(session, S3_BUCKETS)
    return _Figure(S3_BUCKETS, ACCOUNT_WIDE, used, "S3 ListBuckets", quota, source)


def _iam_roles(session, account: Account) -> _Figure:
    iam = _client(session, "iam", GLOBAL_QUOTA_REGION)
    with aws_failure(account, "IAM ListRoles"):
        used = _count(iam, "list_roles", "Roles")
    quota, source = _service_quota(session, IAM_ROLES)
    return _Figure(IAM_ROLES, ACCOUNT_WIDE, used, "IAM ListRoles", quota, source)


def _dynamodb_tables(session, account: Account, region: str) -> _Figure:
    dynamodb = _client(session, "dynamodb", region)
    with aws_failure(account, f"DynamoDB ListTables in {region}"):
        used = _count(dynamodb, "list_tables", "TableNames")
    default = DEFAULTS[DYNAMODB_TABLES]
    return _Figure(DYNAMODB_TABLES, region, used, "DynamoDB ListTables", default.value, default.source)


def _lambda_code_storage(session, account: Account, region: str) -> _Figure:
    client = _client(session, "lambda", region)
    try:
        used, limit = parse_lambda_account_settings(_optional(lambda: client.get_account_settings()))
        return _Figure(LAMBDA, region, used, "Lambda GetAccountSettings AccountUsage.TotalCodeSize",
                       limit, "Lambda GetAccountSettings AccountLimit.TotalCodeSize")
    except _Unavailable as unavailable:
        # The sum over every published version approaches TotalCodeSize but leaves out layers.
        with aws_failure(account, f"Lambda ListFunctions in {region}"):
            used = sum(f.get("CodeSize", 0) for page in client.get_paginator("list_functions")
                       .paginate(FunctionVersion="ALL") for f in page.get("Functions", []))
        default = DEFAULTS[LAMBDA]
        return _Figure(LAMBDA, region, used, "sum of ListFunctions CodeSize", default.value, default.source,
                       note=f"GetAccountSettings unavailable ({unavailable}); layers not counted")


def _cloudformation_stacks(session, account: Account, region: str) -> _Figure | None:
    client = _client(session, "cloudformation", region)
    # Deleted stacks stay listed for 90 days but no longer count against the quota.
    live = [s for s in client.meta.service_model.shape_for("StackStatus").enum if s != "DELETE_COMPLETE"]
    with aws_failure(account, f"CloudFormation ListStacks in {region}"):
        used = _count(client, "list_stacks", "StackSummaries", StackStatusFilter=live)
    if not used:
        return None  # CloudFormation is not used here: no row
    probe = _client(session, "cloudformation", region, probe=True)
    try:
        limit = parse_stack_limit(_optional(lambda: probe.describe_account_limits()))
        if limit is not None:
            return _Figure(CLOUDFORMATION_STACKS, region, used, "CloudFormation ListStacks", limit,
                           "CloudFormation DescribeAccountLimits StackLimit")
        note = "DescribeAccountLimits has no StackLimit"
    except _Unavailable as unavailable:
        note = f"DescribeAccountLimits unavailable ({unavailable})"
    default = DEFAULTS[CLOUDFORMATION_STACKS]
    return _Figure(CLOUDFORMATION_STACKS, region, used, "CloudFormation ListStacks", default.value, default.source,
                   note=note)


def _service_quota(session, resource: str) -> tuple[int, str]:
    service_code, quota_code = SERVICE_QUOTAS[resource]
    client = _client(session, "service-quotas", GLOBAL_QUOTA_REGION, probe=True)
    try:
        value = parse_service_quota(_optional(
            lambda: client.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)))
        return value, f"Service Quotas GetServiceQuota {service_code} {quota_code}"
    except _Unavailable:
        return DEFAULTS[resource].value, DEFAULTS[resource].source


class _Unavailable(Exception):
    """An optional quota API did not answer; the caller falls back and says so."""


def _optional(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError  # not a BotoCoreError: what a 500 page raises

    try:
        return call()
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        raise _Unavailable(error_code(exc)) from exc


# -- parsers of the documented response shapes (tested on tests/fixtures/aws/) ----------------------


def parse_lambda_account_settings(response: dict[str, Any]) -> tuple[int, int]:
    """(bytes used, bytes allowed) from a GetAccountSettings response."""
    return int(response["AccountUsage"]["TotalCodeSize"]), int(response["AccountLimit"]["TotalCodeSize"])


def parse_service_quota(response: dict[str, Any]) -> int:
    return int(response["Quota"]["Value"])  # Value is a Double in the API


def parse_stack_limit(response: dict[str, Any]) -> int | None:
    return next((int(limit["Value"]) for limit in response.get("AccountLimits", [])
                 if limit.get("Name") == "StackLimit"), None)


# -- development next to production -----------------------------------------------------------------


def _headroom(rows: tuple[Usage, ...]) -> tuple[Headroom, ...]:
    production = {(r.resource, r.scope): r for r in rows if r.account.kind == AccountKind.PRODUCTION.value}
    result = []
    for row in rows:
        if row.account.kind != AccountKind.DEVELOPMENT.value:
            continue
        match = production.get((row.resource, row.scope))
        result.append(Headroom(row.resource, row.scope, row.account, row.percent,
                               match.account if match else None, match.percent if match else None))
    return tuple(result)
