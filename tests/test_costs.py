"""`costs`: Cost Explorer from the management account, mapped back to accounts and environments.

moto's Cost Explorer answers only with results seeded through POST /moto-api/static/ce/cost-and-usage-results:
each distinct request takes the next seeded result, so the seeds follow the tool's request order (by
account and environment, by account and service, then unowned development cost), and a NextPageToken
follow-up takes one more. The same responses, in the shapes real AWS documents, are recorded under
tests/fixtures/aws/ and parsed offline too.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import date
from decimal import Decimal

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES, copy_project, run_cli
from fixtures.aws.recorded import load as recorded
from generators.config.organization import load_organization
from generators.errors import ToolError, UsageError
from generators.insights.costs import NOT_CONFIGURED, Period, build_report, month_period, read_costs, tag_value

OCTOBER = Period("2026-10", "2026-10-01", "2026-11-01")


@pytest.fixture(scope="module")
def example():
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES)


def responses() -> dict[str, dict]:
    """The recorded responses, in request order (the first request answers in two pages)."""
    return {name: recorded(f"ce-get-cost-and-usage-{name}", "ce", "GetCostAndUsage") for name in (
        "by-account-environment-page-1", "by-account-environment-page-2", "by-account-service", "unowned")}


def merged(*pages: dict) -> dict:
    return {"ResultsByTime": [r for p in pages for r in p["ResultsByTime"]],
            "DimensionValueAttributes": [a for p in pages for a in p["DimensionValueAttributes"]]}


def seed(moto_server: str, *results: dict) -> None:
    request = urllib.request.Request(f"{moto_server}/moto-api/static/ce/cost-and-usage-results", method="POST",
                                     data=json.dumps({"results": list(results)}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201


def check_october(report) -> None:
    """What the recorded month must come to, whichever way it was read."""
    assert report.period == OCTOBER and report.metric == "UnblendedCost" and report.unit == "USD"
    assert not report.estimated
    by_account = {c.account.name: c for c in report.accounts}
    assert [c.account.name for c in report.accounts] == ["prod", "preprod", "dev", "alice", "acme-legacy-sandbox"]
    assert by_account["prod"].amount == Decimal("1207.5633338")
    assert by_account["dev"].amount == Decimal("108.15")
    assert report.total == Decimal("1651.9633338")
    assert by_account["acme-legacy-sandbox"].account.kind == NOT_CONFIGURED  # named as AWS knows it
    top = [s.service for s in by_account["prod"].top_services]
    assert top == ["Amazon DynamoDB", "Amazon Simple Storage Service", "AWS Key Management Service",
                   "AmazonCloudWatch", "AWS Systems Manager"]  # five, largest first: Tax is cut

    environments = {(c.account.name, c.environment): c for c in report.environments}
    assert environments[("prod", "production")].amount == Decimal("1204.5521338")
    assert environments[("prod", "production")].configured
    assert environments[("dev", "feature-checkout")].configured
    assert environments[("dev", None)].amount == Decimal("7.65")  # resources without the tag
    assert [(c.account.name, c.environment, c.amount) for c in report.unowned] == [
        ("dev", "dev", Decimal("88.10")), ("dev", None, Decimal("7.65"))]  # shared dev infra has no branch


def test_recorded_responses_map_to_the_configuration(example):
    recorded_ = responses()
    report = build_report(example, OCTOBER, merged(recorded_["by-account-environment-page-1"],
                                                   recorded_["by-account-environment-page-2"]),
                          recorded_["by-account-service"], recorded_["unowned"])
    check_october(report)
    assert report.notes == ()


def test_seeded_cost_explorer_paginated(fresh_aws, moto_server, example):
    recorded_ = responses()
    seed(moto_server, recorded_["by-account-environment-page-1"], recorded_["by-account-environment-page-2"],
         recorded_["by-account-service"], recorded_["unowned"])
    check_october(read_costs(example, OCTOBER))

    table = run_cli("costs", "--month", "2026-10", env=fresh_aws)  # same requests: moto replays its answers
    assert table.returncode == 0, table.stderr
    for text in ("2026-10", "1,651.96 USD", "unowned development cost", "(no Environment tag)",
                 "Amazon DynamoDB 900.00", "acme-legacy-sandbox"):
        assert text in table.stdout, text
    as_json = run_cli("costs", "--month", "2026-10", "--json", env=fresh_aws)
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["total"] == "1651.9633338" and document["period"]["start"] == "2026-10-01"
    assert {(c["account"]["name"], c["environment"]) for c in document["unowned"]} == {("dev", "dev"), ("dev", None)}


def test_untagged_costs_and_strays_are_explained(fresh_aws, moto_server, example):
    group = lambda account, key, amount: {"Keys": [account, key],  # noqa: E731
                                          "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
    period = {"TimePeriod": {"Start": "2026-09-01", "End": "2026-10-01"}, "Total": {}, "Estimated": True}
    untagged = {"ResultsByTime": [{**period, "Groups": [group("200000000001", "Environment$", "10"),
                                                        group("400000000001", "Environment$", "2")]}]}
    services = {"ResultsByTime": [{**period, "Groups": [group("200000000001", "Amazon S3", "10")]}]}
    seed(moto_server, untagged, services, {"ResultsByTime": []})
    report = read_costs(example, month_period("2026-09", date(2026, 11, 29)))
    assert report.estimated and report.total == Decimal("12")
    assert any("activate Environment, Owner, Branch as cost allocation tags" in note for note in report.notes)

    stray = {"ResultsByTime": [{**period, "Groups": [group("400000000001", "Environment$old-feature", "3")]}]}
    report = build_report(example, OCTOBER, stray, {"ResultsByTime": []}, None)
    assert not report.environments[0].configured
    assert report.notes == ("Environment tags that match no environment of that account: old-feature in dev",)


def test_needs_the_management_account(fresh_aws, tmp_path):
    project = copy_project(tmp_path / "project")
    accounts = project / "environments" / "accounts.hcl"
    accounts.write_text(accounts.read_text().replace('"123456789012"', '"100000000009"', 1))
    organization = load_organization(project / "environments", project / "modules")
    with pytest.raises(ToolError, match=r"management account's credentials \(management, 100000000009\); "
                                        r"these are account 123456789012's"):
        read_costs(organization, OCTOBER)


def test_month_period():
    today = date(2026, 1, 15)
    assert month_period(None, today) == Period("2025-12", "2025-12-01", "2026-01-01")  # previous month
    assert month_period(None, date(2026, 11, 29)) == Period("2026-10", "2026-10-01", "2026-11-01")
    assert month_period("2026-01", today) == Period("2026-01", "2026-01-01", "2026-02-01")  # current, partial
    assert month_period("2024-02", today).end == "2024-03-01"
    for bad in ("2026-1", "2026-13", "26-01", "january"):
        with pytest.raises(UsageError, match="is not a month"):
            month_period(bad, today)
    with pytest.raises(UsageError, match="has not started yet"):
        month_period("2026-02", today)
    assert run_cli("costs", "--month", "2026-13").returncode == 2


@pytest.mark.fast
def test_tag_value():
    assert tag_value("Environment$dev") == "dev"
    assert tag_value("Environment$") is None
    assert tag_value("Environment$a$b") == "a$b"
