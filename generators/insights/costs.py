"""`costs`: one month of Cost Explorer, mapped back to the configuration's accounts and environments.

Runs with the management account's credentials: only the payer account sees every member account's
costs (a member account sees its own only, which would silently under-report). Every generated
workspace tags its resources with Environment, AccountKind, Account, Organization and ManagedBy, plus
Owner (developer accounts) and Branch (branch environments); those tags must be activated as cost
allocation tags in the management account before Cost Explorer can group by them, and only costs
incurred after activation carry them.

Requests, in this order (each GetCostAndUsage request is billed, $0.01 at the time of writing):

    1. GroupBy LINKED_ACCOUNT, TAG Environment               cost per account and environment
    2. GroupBy LINKED_ACCOUNT, DIMENSION SERVICE             top services per account
    3. GroupBy LINKED_ACCOUNT, TAG Environment, filtered to  unowned development cost
       development/developer accounts with Owner ABSENT
       and Branch ABSENT (skipped when there are none)

Real AWS answers each from billing data, paginated by NextPageToken. The moto server answers from a
queue of results seeded through POST /moto-api/static/ce/cost-and-usage-results: each distinct
request (including each NextPageToken follow-up) takes the next seeded result, so tests seed them in
the order above. The response parser is the same for both and is also tested on recorded responses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from generators.aws import clients as aws
from generators.config.models import AccountKind, Organization
from generators.errors import ToolError, UsageError
from generators.insights import DEVELOPMENT_KINDS, AccountRef, aws_failure, kind_rank, ref

METRIC = "UnblendedCost"  # what the invoice shows, before credits and discounts are shared out
ENVIRONMENT_TAG = "Environment"
OWNERSHIP_TAGS = ("Owner", "Branch")
TOP_SERVICES = 5
CE_REGION = "us-east-1"  # Cost Explorer has one endpoint, in US East (N. Virginia)
NOT_CONFIGURED = "not in configuration"
MONTH_PATTERN = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Period:
    month: str
    start: str  # inclusive
    end: str  # exclusive, as Cost Explorer wants it


@dataclass(frozen=True)
class EnvironmentCost:
    account: AccountRef
    environment: str | None  # the Environment tag's value; None for cost that carries no such tag
    configured: bool  # an environment of that name is defined in that account
    amount: Decimal
    unit: str


@dataclass(frozen=True)
class ServiceCost:
    service: str
    amount: Decimal
    unit: str


@dataclass(frozen=True)
class AccountCost:
    account: AccountRef
    amount: Decimal
    unit: str
    top_services: tuple[ServiceCost, ...]


@dataclass(frozen=True)
class CostReport:
    period: Period
    metric: str
    total: Decimal
    unit: str
    estimated: bool  # the month is not closed yet, or AWS still revises it
    accounts: tuple[AccountCost, ...]
    environments: tuple[EnvironmentCost, ...]
    unowned: tuple[EnvironmentCost, ...]  # development cost with neither an Owner nor a Branch tag
    notes: tuple[str, ...]


def month_period(month: str | None, today: date) -> Period:
    """The calendar month ``YYYY-MM``, or the one before ``today``'s when none is given."""
    if month is None:
        year, number = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    else:
        match = MONTH_PATTERN.match(month)
        if not match:
            raise UsageError(f"--month '{month}' is not a month like 2026-10 (YYYY-MM)")
        year, number = int(match.group(1)), int(match.group(2))
    start = date(year, number, 1)
    if start > today:
        raise UsageError(f"--month {start:%Y-%m} has not started yet (today is {today:%Y-%m-%d})")
    end = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return Period(f"{start:%Y-%m}", start.isoformat(), end.isoformat())


def read_costs(organization: Organization, period: Period) -> CostReport:
    session = aws.session(CE_REGION)
    _require_management_credentials(organization, session)
    ce = aws.client(session, "ce", CE_REGION)
    base = {"TimePeriod": {"Start": period.start, "End": period.end}, "Granularity": "MONTHLY",
            "Metrics": [METRIC]}
    account_dimension = {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}
    environment_tag = {"Type": "TAG", "Key": ENVIRONMENT_TAG}
    by_environment = _get_all(ce, {**base, "GroupBy": [account_dimension, environment_tag]})
    by_service = _get_all(ce, {**base, "GroupBy": [account_dimension, {"Type": "DIMENSION", "Key": "SERVICE"}]})
    development_ids = sorted(a.id for a in organization.accounts if a.kind in DEVELOPMENT_KINDS and a.id)
    unowned = None
    if development_ids:
        unowned = _get_all(ce, {**base, "GroupBy": [account_dimension, environment_tag],
                                "Filter": {"And": [
                                    {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": development_ids}},
                                    *({"Tags": {"Key": tag, "MatchOptions": ["ABSENT"]}} for tag in OWNERSHIP_TAGS),
                                ]}})
    return build_report(organization, period, by_environment, by_service, unowned)


def _require_management_credentials(organization: Organization, session) -> None:
    management = next((a for a in organization.accounts if a.kind is AccountKind.MANAGEMENT and a.id), None)
    if management is None:
        return  # nothing to compare with; the report still maps what it can
    with aws_failure(None, "STS GetCallerIdentity"):
        caller = aws.caller_account(session)
    if caller != management.id:
        raise ToolError(f"costs needs the management account's credentials ({management.name}, {management.id}); "
                        f"these are account {caller}'s, where Cost Explorer sees that account's costs only")


def _get_all(ce, request: dict[str, Any]) -> dict[str, Any]:
    """Every page of one GetCostAndUsage request, merged (boto3 has no paginator for it)."""
    merged: dict[str, Any] = {"ResultsByTime": [], "DimensionValueAttributes": []}
    token = None
    with aws_failure(None, "Cost Explorer GetCostAndUsage"):
        while True:
            page = ce.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
            merged["ResultsByTime"] += page.get("ResultsByTime", [])
            merged["DimensionValueAttributes"] += page.get("DimensionValueAttributes", [])
            token = page.get("NextPageToken")
            if not token:
                return merged


# -- mapping responses back to the configuration (pure; tested on recorded and seeded responses) ----


@dataclass(frozen=True)
class _Group:
    keys: tuple[str, ...]
    amount: Decimal
    unit: str


def parse_groups(response: dict[str, Any], metric: str = METRIC) -> tuple[list[_Group], bool]:
    """The groups of a grouped GetCostAndUsage response, summed over its time periods; and whether any
    period is estimated. Tag keys come back as ``Key$value`` (``Key$`` when untagged): kept as is."""
    totals: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    units: dict[tuple[str, ...], str] = {}
    estimated = False
    for period in response.get("ResultsByTime", []):
        estimated = estimated or bool(period.get("Estimated"))
        for group in period.get("Groups", []):
            value = group.get("Metrics", {}).get(metric)
            if not value:
                continue
            keys = tuple(group.get("Keys", []))
            totals[keys] += Decimal(value["Amount"])
            units.setdefault(keys, value.get("Unit", "USD"))
    return [_Group(k, totals[k], units[k]) for k in totals], estimated


def tag_value(key: str) -> str | None:
    """``Environment$dev`` -> ``dev``; ``Environment$`` (cost without the tag) -> None."""
    _, _, value = key.partition("$")
    return value or None


def build_report(organization: Organization, period: Period, by_environment: dict[str, Any],
                 by_service: dict[str, Any], unowned: dict[str, Any] | None) -> CostReport:
    accounts = _account_refs(organization, by_environment, by_service, unowned)
    environment_groups, estimated = parse_groups(by_environment)
    service_groups, service_estimated = parse_groups(by_service)
    environments = _environment_costs(organization, accounts, environment_groups)
    unowned_costs: tuple[EnvironmentCost, ...] = ()
    if unowned is not None:
        unowned_costs = _environment_costs(organization, accounts, parse_groups(unowned)[0])
    units = sorted({g.unit for g in environment_groups + service_groups})
    unit = units[0] if units else "USD"
    notes = []
    if len(units) > 1:
        notes.append(f"costs come in several units ({', '.join(units)}); totals add {unit} only")

    per_account: dict[str, Decimal] = defaultdict(Decimal)
    for cost in environments:
        if cost.unit == unit:
            per_account[cost.account.id] += cost.amount
    services: dict[str, list[ServiceCost]] = defaultdict(list)
    for group in service_groups:
        services[group.keys[0]].append(ServiceCost(group.keys[1], group.amount, group.unit))
    account_costs = []
    for account_id in set(per_account) | set(services):
        top = sorted(services.get(account_id, []), key=lambda s: (-s.amount, s.service))[:TOP_SERVICES]
        account_costs.append(AccountCost(accounts[account_id], per_account.get(account_id, Decimal(0)), unit,
                                         tuple(top)))
    account_costs.sort(key=lambda c: (_rank(organization, c.account), -c.amount, c.account.id))

    total = sum((c.amount for c in account_costs), Decimal(0))
    if total and all(c.environment is None for c in environments):
        notes.append(f"no cost carries the {ENVIRONMENT_TAG} tag: activate {ENVIRONMENT_TAG}, "
                     f"{', '.join(OWNERSHIP_TAGS)} as cost allocation tags in the management account "
                     "(Billing, Cost allocation tags); costs before activation stay untagged")
    strays = sorted({f"{c.environment} in {c.account.name}" for c in environments
                     if c.environment is not None and not c.configured})
    if strays:
        notes.append(f"Environment tags that match no environment of that account: {', '.join(strays)}")
    return CostReport(period=period, metric=METRIC, total=total, unit=unit,
                      estimated=estimated or service_estimated, accounts=tuple(account_costs),
                      environments=environments, unowned=unowned_costs, notes=tuple(notes))


def _account_refs(organization: Organization, *responses: dict[str, Any] | None) -> dict[str, AccountRef]:
    """Account id -> how to show it: the configuration's name, else the name AWS reports for it."""
    refs = {a.id: ref(a) for a in organization.accounts if a.id}
    result: dict[str, AccountRef] = {}
    for response in responses:
        for attribute in (response or {}).get("DimensionValueAttributes", []):
            account_id = attribute.get("Value", "")
            name = attribute.get("Attributes", {}).get("description") or account_id
            result[account_id] = refs.get(account_id) or AccountRef(name, account_id, NOT_CONFIGURED)
        for period in (response or {}).get("ResultsByTime", []):
            for group in period.get("Groups", []):
                account_id = group.get("Keys", [""])[0]
                if account_id not in result:
                    result[account_id] = refs.get(account_id) or AccountRef(account_id, account_id, NOT_CONFIGURED)
    return result


def _environment_costs(organization: Organization, accounts: dict[str, AccountRef],
                       groups: list[_Group]) -> tuple[EnvironmentCost, ...]:
    defined = {(e.account.id, e.name) for e in organization.environments}
    costs = [EnvironmentCost(accounts[g.keys[0]], tag_value(g.keys[1]), (g.keys[0], tag_value(g.keys[1])) in defined,
                             g.amount, g.unit) for g in groups]
    costs.sort(key=lambda c: (_rank(organization, c.account), c.account.id, -c.amount, c.environment or ""))
    return tuple(costs)


def _rank(organization: Organization, account: AccountRef) -> int:
    configured = next((a for a in organization.accounts if a.id and a.id == account.id), None)
    return kind_rank(configured) if configured else len(AccountKind)
