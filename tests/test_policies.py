"""The policy documents bootstrap puts in place, checked as documents: moto stores service control
policies, bucket policies and trust conditions but does not evaluate them, so their meaning is
tested here (test_bootstrap.py checks that bootstrap really put these documents in place)."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace

import pytest

from generators import policies
from generators.config import load_organization
from generators.models import AccountKind
from tests.conftest import EXAMPLE_ENVIRONMENTS, MODULES

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


def test_protect_state_denies_deleting_state_objects_but_not_lock_objects():
    document = policies.protect_state("acme", "OrganizationAccountAccessRole")
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
        assert denied(document, action, STATE_OBJECT)
        assert not denied(document, action, LOCK_OBJECT)
    assert not denied(document, "s3:PutObject", STATE_OBJECT)  # Terraform must keep writing state


def test_protect_state_denies_deleting_or_weakening_every_state_bucket_and_only_those():
    document = policies.protect_state("acme", "OrganizationAccountAccessRole")
    for action in ("s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning",
                   "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock",
                   "s3:PutBucketOwnershipControls", "s3:PutLifecycleConfiguration"):
        assert denied(document, action, f"arn:aws:s3:::{PROD_BUCKET}"), action
        assert denied(document, action, "arn:aws:s3:::acme-tfstate-300000000001"), action
        assert not denied(document, action, "arn:aws:s3:::production-uploads-200000000001"), action
        assert not denied(document, action, "arn:aws:s3:::other-tfstate-200000000001"), action


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


def test_service_control_policies_fit_the_size_limit():
    for document in (policies.deny_leave_organization(), policies.protect_state("a" * 50, "R" * 64)):
        assert len(policies.compact(document)) <= 5120


# -- the state bucket ---------------------------------------------------------------------------------

def test_tls_only_policy_denies_any_insecure_access_to_bucket_and_objects():
    [statement] = statements(policies.tls_only_bucket_policy(PROD_BUCKET))
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for resource in (f"arn:aws:s3:::{PROD_BUCKET}", STATE_OBJECT, LOCK_OBJECT):
        assert any(iam_matches(r, resource) for r in statement["Resource"]), resource
    assert not any(iam_matches(r, "arn:aws:s3:::acme-tfstate-300000000001") for r in statement["Resource"])


def test_with_statement_keeps_other_statements_and_replaces_its_own():
    others = {"Sid": "AllowLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
              "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{PROD_BUCKET}/logs/*"}
    stale = {**policies.tls_only_statement(PROD_BUCKET), "Resource": "arn:aws:s3:::old"}
    merged = policies.with_statement({"Version": "2012-10-17", "Statement": [others, stale]},
                                     policies.tls_only_statement(PROD_BUCKET))
    assert merged["Statement"] == [others, policies.tls_only_statement(PROD_BUCKET)]
    assert policies.with_statement(None, policies.tls_only_statement(PROD_BUCKET)) == \
        policies.tls_only_bucket_policy(PROD_BUCKET)
    # Applying it twice changes nothing: that is how bootstrap sees the policy is already in place.
    assert policies.same_policy(policies.with_statement(merged, policies.tls_only_statement(PROD_BUCKET)), merged)


def test_plan_role_may_write_and_delete_only_lock_objects():
    document = policies.plan_state_access(PROD_BUCKET)
    allowed = statements(document, "Allow")
    assert allowed == statements(document)

    def allows(action: str, resource: str) -> bool:
        return any(action in as_list(s["Action"]) and any(iam_matches(r, resource) for r in as_list(s["Resource"]))
                   for s in allowed)

    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert allows(action, LOCK_OBJECT)
        assert not allows(action, STATE_OBJECT)
    assert allows("s3:GetObject", STATE_OBJECT)
    assert allows("s3:ListBucket", f"arn:aws:s3:::{PROD_BUCKET}")


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
