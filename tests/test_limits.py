"""`limits`: usage against quota in every account holding environments, on the moto server.

moto serves the usage side (ListBuckets, ListRoles, ListTables, ListFunctions, ListStacks) but none
of the quota APIs for these services, so against it every quota is the documented default and Lambda
usage is the ListFunctions sum; the real-AWS paths' parsers are tested on recorded responses.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES, run_cli
from fixtures.aws.recorded import load as recorded
from generators.aws import clients as aws
from generators.config.organization import load_organization
from generators.insights.limits import (CLOUDFORMATION_STACKS, DEFAULTS, DYNAMODB_TABLES, IAM_ROLES, LAMBDA, S3_BUCKETS,
                                        parse_lambda_account_settings, parse_service_quota, parse_stack_limit,
                                        read_limits)

REGION = "us-east-1"
ACCESS_ROLE = "OrganizationAccountAccessRole"
ORDER = ["prod", "preprod", "qa", "uat", "dev", "alice", "bob"]


@pytest.fixture(scope="module")
def example():
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES)


def session_of(account_id: str):
    return aws.assume_role_session(aws.session(REGION), f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}",
                                   "limits-tests", REGION)


def lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return event\n" * 40)
    return buffer.getvalue()


def populate() -> int:
    """Resources in the development and production accounts; returns the Lambda code size in dev."""
    dev = session_of("400000000001")
    for name in ("dev-infra-data", "feature-checkout-assets", "hotfix-login-assets"):
        dev.client("s3").create_bucket(Bucket=name)
    iam = dev.client("iam")
    role = iam.create_role(RoleName="dev-api", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]
    iam.create_role(RoleName="feature-checkout-api", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    dynamodb = dev.client("dynamodb")
    for table in ("dev-table", "feature-checkout-table"):
        dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    size = dev.client("lambda").create_function(FunctionName="dev-api", Runtime="python3.12", Role=role["Arn"],
                                                Handler="handler.handle", Code={"ZipFile": lambda_zip()})["CodeSize"]
    dev.client("cloudformation").create_stack(StackName="legacy-queue", TemplateBody=json.dumps(
        {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}))
    prod = session_of("200000000001")
    prod.client("s3").create_bucket(Bucket="production-assets")
    prod.client("dynamodb").create_table(TableName="production-table", BillingMode="PAY_PER_REQUEST",
                                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    return size


def rows_of(report, account: str) -> dict[str, object]:
    return {row.resource: row for row in report.rows if row.account.name == account}


def test_usage_sources_and_headroom(fresh_aws, example):
    code_size = populate()
    report = read_limits(example, 80)

    accounts = [row.account.name for row in report.rows]
    assert sorted(set(accounts), key=accounts.index) == ORDER  # production first, development after staging
    dev, prod, qa = rows_of(report, "dev"), rows_of(report, "prod"), rows_of(report, "qa")
    assert set(dev) == {LAMBDA, S3_BUCKETS, IAM_ROLES, DYNAMODB_TABLES, CLOUDFORMATION_STACKS}
    assert set(prod) == set(qa) == {LAMBDA, S3_BUCKETS, IAM_ROLES, DYNAMODB_TABLES}  # no stacks: no row

    assert (dev[S3_BUCKETS].used, dev[IAM_ROLES].used, dev[DYNAMODB_TABLES].used) == (3, 2, 2)
    assert (prod[S3_BUCKETS].used, prod[IAM_ROLES].used, prod[DYNAMODB_TABLES].used) == (1, 0, 1)
    assert (dev[LAMBDA].used, dev[LAMBDA].unit, dev[LAMBDA].scope) == (code_size, "bytes", REGION)
    assert dev[CLOUDFORMATION_STACKS].used == 1 and dev[CLOUDFORMATION_STACKS].scope == REGION
    assert dev[S3_BUCKETS].scope == dev[IAM_ROLES].scope == "account"

    # Every figure names its source; moto serves no quota API here, so every quota is the documented default.
    assert dev[LAMBDA].used_source == "sum of ListFunctions CodeSize"
    assert "GetAccountSettings unavailable (404)" in dev[LAMBDA].note
    assert dev[S3_BUCKETS].used_source == "S3 ListBuckets"
    assert dev[IAM_ROLES].used_source == "IAM ListRoles"
    assert dev[DYNAMODB_TABLES].used_source == "DynamoDB ListTables"
    assert dev[CLOUDFORMATION_STACKS].used_source == "CloudFormation ListStacks"
    assert "DescribeAccountLimits unavailable" in dev[CLOUDFORMATION_STACKS].note
    for resource, row in dev.items():
        assert row.quota == DEFAULTS[resource].value
        assert row.quota_source.startswith("documented default quota (")
    assert dev[S3_BUCKETS].quota == 10_000 and dev[IAM_ROLES].quota == 1_000
    assert dev[DYNAMODB_TABLES].quota == 2_500 and dev[LAMBDA].quota == 75 * 1024 ** 3
    assert dev[S3_BUCKETS].percent == pytest.approx(0.03) and not report.flagged

    # The development account's headroom next to production's, resource by resource.
    headroom = {h.resource: h for h in report.headroom}
    assert set(headroom) == set(dev)
    assert headroom[S3_BUCKETS].development.name == "dev" and headroom[S3_BUCKETS].production.name == "prod"
    assert (headroom[S3_BUCKETS].development_percent, headroom[S3_BUCKETS].production_percent) == \
        (pytest.approx(0.03), pytest.approx(0.01))
    assert headroom[CLOUDFORMATION_STACKS].production is None

    table = run_cli("limits", env=fresh_aws)
    assert table.returncode == 0, table.stderr
    for text in ("development next to production", "sum of ListFunctions CodeSize", "documented default quota",
                 "75.00 GB", "ok: every quota under 80%"):
        assert text in table.stdout, text

    # A threshold the development account crosses: flagged, and exit 1.
    flagged = run_cli("limits", "--json", "--warn", "0.06", env=fresh_aws)
    assert flagged.returncode == 1
    document = json.loads(flagged.stdout)
    assert document["over"] is True and document["warn_percent"] == 0.06
    assert {(r["account"]["name"], r["resource"]) for r in document["rows"] if r["flagged"]} == \
        {("dev", IAM_ROLES), ("dev", DYNAMODB_TABLES)}  # 2 of 1,000 and 2 of 2,500
    assert "2 quotas at or over 0.06%" in flagged.stderr


def test_warn_must_be_a_positive_percentage():
    assert run_cli("limits", "--warn", "0").returncode == 2
    assert run_cli("limits", "--warn", "lots").returncode == 2


def test_accounts_without_an_id_are_skipped(fresh_aws, tmp_path):
    from conftest import copy_project

    project = copy_project(tmp_path / "project")
    accounts = project / "environments" / "accounts.hcl"
    accounts.write_text(accounts.read_text().replace('  id    = "500000000002"\n', "", 1))
    organization = load_organization(project / "environments", project / "modules")
    report = read_limits(organization)
    assert report.skipped == ("bob",)
    assert "bob" not in {row.account.name for row in report.rows}


# -- the real-AWS paths, on recorded responses --------------------------------------------------------


@pytest.mark.fast
def test_parse_lambda_get_account_settings():
    response = recorded("lambda-get-account-settings", "lambda", "GetAccountSettings")
    assert parse_lambda_account_settings(response) == (1_503_238_553, 80_530_636_800)  # 1.4 GB of 75 GB


@pytest.mark.fast
@pytest.mark.parametrize("name, value", [("service-quotas-get-service-quota-s3", 10_000),
                                         ("service-quotas-get-service-quota-iam", 5_000)])
def test_parse_service_quota(name, value):
    assert parse_service_quota(recorded(name, "service-quotas", "GetServiceQuota")) == value


@pytest.mark.fast
def test_parse_stack_limit():
    response = recorded("cloudformation-describe-account-limits", "cloudformation", "DescribeAccountLimits")
    assert parse_stack_limit(response) == 2_000
    assert parse_stack_limit({"AccountLimits": [{"Name": "StackOutputsLimit", "Value": 200}]}) is None
