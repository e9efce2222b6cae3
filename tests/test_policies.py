"""The policy documents bootstrap puts in place, checked as documents: moto stores service control
policies, bucket policies and trust conditions but does not evaluate them, so their meaning is
tested here (test_bootstrap.py checks that bootstrap really put these documents in place)."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace

import pytest

from generators.aws import policies
from generators.config.models import AccountKind
from generators.config.organization import load_organization
from tests.conftest import EXAMPLE_ENVIRONMENTS, MODULES

pytestmark = pytest.mark.fast  # pure: no subprocess, terraform or AWS server

MANAGEMENT_ID = "123456789012"
PROD_ID = "200000000001"
PROD_BUCKET = f"acme-tfstate-{PROD_ID}"
STATE_OBJECT = f"arn:aws:s3:::{PROD_BUCKET}/production/terraform.tfstate"
LOCK_OBJECT = f"arn:aws:s3:::{PROD_BUCKET}/production/terraform.tfstate.tflock"


def iam_matches(pattern: str, value: str) -> bool:
    """IAM's wildcards in ARNs: * is any run of characters (slashes included), ? any one character."""
    return fnmatch.fnmatchcase(value, pattern)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def statements(document: dict, effect: str | None = None) -> list[dict]:
    return [s for s in as_list(document["Statement"]) if effect is None or s["Effect"] == effect]


def denied(document: dict, action: str, resource: str) -> bool:
    return any(action in as_list(s["Action"]) and any(iam_matches(r, resource) for r in as_list(s["Resource"]))
               for s in statements(document, "Deny"))


@pytest.fixture(scope="module")
def settings():
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES).settings


# -- service control policies ---------------------------------------------------------------------

def test_protect_state_never_matches_the_lock_object():
    document = policies.protect_state("acme", "OrganizationAccountAccessRole")
    for statement in statements(document, "Deny"):
        for resource in as_list(statement["Resource"]):
            assert not iam_matches(resource, LOCK_OBJECT), (statement["Sid"], resource)


def test_protect_state_exempts_only_the_access_role():
    document = policies.protect_state("acme", "OrganizationAccountAccessRole")
    for statement in statements(document, "Deny"):
        exempt = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert iam_matches(exempt, f"arn:aws:iam::{PROD_ID}:role/OrganizationAccountAccessRole")
        for bound in (f"arn:aws:iam::{PROD_ID}:role/TerraformDeploy", f"arn:aws:iam::{PROD_ID}:role/TerraformPlan",
                      f"arn:aws:iam::{PROD_ID}:user/admin"):
            assert not iam_matches(exempt, bound)


def test_deny_leave_organization():
    document = policies.deny_leave_organization()
    assert statements(document) == statements(document, "Deny")
    assert denied(document, "organizations:LeaveOrganization", "*")
    assert policies.deny_leave_organization_name("acme") == "acme-deny-leave-organization"
    assert policies.protect_state_name("acme") == "acme-protect-state"
    assert policies.guardrails_name("acme") == "acme-guardrails"


def test_where_each_service_control_policy_is_attached(settings):
    targets = {scp.name: scp.targets for scp in policies.service_control_policies(settings)}
    assert targets == {"acme-deny-leave-organization": ("root",), "acme-guardrails": ("root",),
                       "acme-protect-state": ("production", "staging")}


def test_service_control_policies_fit_the_size_limit(settings):
    # The longest names the rules allow: the organization within the state bucket's 63 characters,
    # roles at IAM's 64, all three different.
    longest = replace(settings, name="a" * (63 - len("-tfstate-") - 12), access_role="A" * 64,
                      deploy_role="D" * 64, plan_role="P" * 64)
    for scp in policies.service_control_policies(longest):
        assert len(policies.compact(scp.document)) <= 5120, scp.name


def test_plan_role_inline_policies_fit_iams_limit(settings):
    # IAM allows 10,240 characters (whitespace not counted) for all inline policies of a role together.
    documents = policies.plan_inline_policies("a" * 42 + "-tfstate-200000000001", "ap-southeast-2")
    assert sum(len(policies.compact(document)) for document in documents.values()) <= 10240


# -- the state bucket ---------------------------------------------------------------------------------

def test_tls_only_policy_denies_any_insecure_access_to_bucket_and_objects():
    statement = policies.tls_only_statement(PROD_BUCKET)
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for resource in (f"arn:aws:s3:::{PROD_BUCKET}", STATE_OBJECT, LOCK_OBJECT):
        assert any(iam_matches(r, resource) for r in statement["Resource"]), resource
    assert not any(iam_matches(r, "arn:aws:s3:::acme-tfstate-300000000001") for r in statement["Resource"])


def test_statement_label_names_a_statement_by_sid_or_by_what_it_does():
    assert policies.statement_label(policies.tls_only_statement(PROD_BUCKET)) == "DenyInsecureTransport"
    assert policies.statement_label({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                                     "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}) == \
        "Allow s3:GetObject +1 to arn:aws:iam::999999999999:root"
    assert policies.statement_label({"Effect": "Deny", "Principal": "*", "Action": "s3:*"}) == "Deny s3:* to *"



# -- trust policies -------------------------------------------------------------------------------------

def test_trust_policies_trust_exactly_the_configured_principals(settings):
    settings = replace(settings, github_repository=None)
    for document, principals in ((policies.deploy_trust_policy(settings, PROD_ID, MANAGEMENT_ID, AccountKind.PRODUCTION),
                                  settings.deploy_principals),
                                 (policies.plan_trust_policy(settings, PROD_ID, MANAGEMENT_ID),
                                  settings.plan_principals)):
        [statement] = statements(document)
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Principal"] == {"AWS": list(principals)}
        assert "Condition" not in statement
    assert settings.deploy_principals == ("arn:aws:iam::123456789012:role/platform-ci-deploy",)
    assert settings.plan_principals == ("arn:aws:iam::123456789012:role/platform-ci-plan",)


def test_trust_policies_default_to_the_management_account(settings):
    bare = replace(settings, deploy_principals=(), plan_principals=(), github_repository=None)
    for document in (policies.deploy_trust_policy(bare, PROD_ID, MANAGEMENT_ID, AccountKind.PRODUCTION),
                     policies.plan_trust_policy(bare, PROD_ID, MANAGEMENT_ID)):
        [statement] = statements(document)
        assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{MANAGEMENT_ID}:root"]}


PULL_REQUEST = "repo:acme/platform:pull_request"
MAIN = "repo:acme/platform:ref:refs/heads/main"
PRODUCTION_ENVIRONMENT = "repo:acme/platform:environment:production"


@pytest.mark.parametrize("role, kind, subjects", [
    ("plan", kind, [PULL_REQUEST]) for kind in AccountKind
] + [
    ("deploy", AccountKind.PRODUCTION, [PRODUCTION_ENVIRONMENT]),  # the protected job's own subject, nothing else
    ("deploy", AccountKind.STAGING, [MAIN]),
    ("deploy", AccountKind.DEVELOPER, [MAIN]),
    ("deploy", AccountKind.DEVELOPMENT, [MAIN, PULL_REQUEST]),  # pull-request preview environments live there
], ids=lambda value: getattr(value, "value", value) if not isinstance(value, list) else "")
def test_github_subjects_per_role_and_account_kind(settings, role, kind, subjects):
    github_settings = replace(settings, github_repository="acme/platform")
    document = (policies.plan_trust_policy(github_settings, PROD_ID, MANAGEMENT_ID) if role == "plan" else
                policies.deploy_trust_policy(github_settings, PROD_ID, MANAGEMENT_ID, kind))
    people, github, itself = statements(document)
    principals = settings.plan_principals if role == "plan" else settings.deploy_principals
    assert people["Principal"] == {"AWS": list(principals)}  # the configured principals keep applying
    assert github == {
        "Sid": "GitHubActions",
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{PROD_ID}:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subjects[0] if len(subjects) == 1 else subjects,
        }},
    }
    # A job holding the role runs a workspace that assumes the same role again: the role trusts itself.
    role_name = settings.plan_role if role == "plan" else settings.deploy_role
    assert itself == {"Sid": "RoleItself", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PROD_ID}:role/{role_name}"},
                      "Action": "sts:AssumeRole"}
    assert policies.without_self_trust(document)["Statement"] == [people, github]


def test_nothing_a_pull_request_presents_reaches_a_staging_or_production_deploy_role(settings):
    github_settings = replace(settings, github_repository="acme/platform")
    for kind in (AccountKind.PRODUCTION, AccountKind.STAGING):
        document = policies.deploy_trust_policy(github_settings, PROD_ID, MANAGEMENT_ID, kind)
        text = json.dumps(document)
        assert "pull_request" not in text and "StringLike" not in text and "*" not in text


# -- comparing documents ---------------------------------------------------------------------------------

def test_documents_that_mean_the_same_compare_equal():
    written = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root"]}, "Action": ["b", "a"]}]}
    returned = {"Statement": {"Action": ["a", "b"], "Principal": {"AWS": "arn:aws:iam::1:root"}, "Effect": "Allow"},
                "Version": "2012-10-17"}
    assert policies.same_policy(written, returned)
    assert not policies.same_policy(written, {**returned, "Statement": {**returned["Statement"], "Effect": "Deny"}})
