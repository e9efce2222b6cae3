"""The policy documents `bootstrap` puts in place, as pure functions of the configuration.

Kept apart from the AWS calls so each document can be checked on its own: the emulator the tests
run against stores service control policies, bucket policies and trust conditions without
evaluating them.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from . import naming
from .models import AccountKind, OrganizationSettings

VERSION = "2012-10-17"

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
PLAN_STATE_POLICY_NAME = "TerraformStateAccess"

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
GITHUB_AUDIENCE = "sts.amazonaws.com"
SELF_TRUST_SID = "RoleItself"

# Terraform keeps state in <key> (".../terraform.tfstate") and, with S3-native locking
# (use_lockfile), takes the lock by creating "<key>.tflock" and releases it by deleting it.
STATE_OBJECT_PATTERN = "*.tfstate"
LOCK_OBJECT_PATTERN = "*.tflock"

# Everything that could delete a state bucket or weaken how it keeps state safe.
STATE_BUCKET_GUARDED_ACTIONS = (
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:PutLifecycleConfiguration",
)
STATE_OBJECT_GUARDED_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")


# -- service control policies -----------------------------------------------------------------

def deny_leave_organization_name(organization: str) -> str:
    return f"{organization}-deny-leave-organization"


def protect_state_name(organization: str) -> str:
    return f"{organization}-protect-state"


def deny_leave_organization() -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [{
        "Sid": "DenyLeaveOrganization",
        "Effect": "Deny",
        "Action": "organizations:LeaveOrganization",
        "Resource": "*",
    }]}


def protect_state(organization: str, access_role: str) -> dict[str, Any]:
    """Deny deleting or weakening the state buckets, and deleting state (never lock) objects.

    The organization's access role is exempt: bootstrap enters accounts through it and must be
    able to repair a bucket setting (an SCP binds every principal of a member account).
    """
    # Twelve ?, one per account-id digit, not *: IAM's * also crosses "/", so "<org>-tfstate-*" would
    # match every object in those buckets too, lock objects included.
    buckets = state_bucket_arn(naming.state_bucket(organization, "?" * 12))
    exempt = {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{access_role}"}}
    return {"Version": VERSION, "Statement": [
        {
            "Sid": "ProtectStateBuckets",
            "Effect": "Deny",
            "Action": list(STATE_BUCKET_GUARDED_ACTIONS),
            "Resource": buckets,
            "Condition": exempt,
        },
        {
            "Sid": "ProtectStateObjects",
            "Effect": "Deny",
            "Action": list(STATE_OBJECT_GUARDED_ACTIONS),
            # Only *.tfstate: Terraform must stay free to delete its *.tflock lock objects.
            "Resource": f"{buckets}/{STATE_OBJECT_PATTERN}",
            "Condition": exempt,
        },
    ]}


# -- the state bucket ---------------------------------------------------------------------------

def state_bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def tls_only_statement(bucket: str) -> dict[str, Any]:
    arn = state_bucket_arn(bucket)
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_bucket_policy(bucket: str) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [tls_only_statement(bucket)]}


def with_statement(policy: Mapping[str, Any] | None, statement: Mapping[str, Any]) -> dict[str, Any]:
    """``policy`` with ``statement`` in place of any statement of the same Sid, others kept as they are.

    A bucket policy may hold statements someone else added; bootstrap owns only its own.
    """
    existing = (policy or {}).get("Statement", [])
    statements = [existing] if isinstance(existing, Mapping) else list(existing)
    kept = [s for s in statements if s.get("Sid") != statement["Sid"]]
    return {**(policy or {}), "Version": VERSION, "Statement": [*kept, dict(statement)]}


def plan_state_access(bucket: str) -> dict[str, Any]:
    """What the read-only plan role needs beyond ReadOnlyAccess: read state, take and release the lock."""
    arn = state_bucket_arn(bucket)
    return {"Version": VERSION, "Statement": [
        {
            "Sid": "ReadStateBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketVersioning"],
            "Resource": arn,
        },
        {
            "Sid": "ReadState",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{arn}/*",
        },
        {
            "Sid": "TakeStateLock",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{arn}/{LOCK_OBJECT_PATTERN}",
        },
    ]}


# -- trust policies ---------------------------------------------------------------------------------

def account_root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def github_oidc_provider_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"


# The GitHub environment the generated workflow's production job binds: a job bound to an environment
# presents the subject repo:R:environment:<name>, never its branch, so this is what production trusts.
GITHUB_PRODUCTION_ENVIRONMENT = "production"


def github_deploy_subject(repository: str) -> str:
    """Jobs on pushes to main that bind no environment."""
    return f"repo:{repository}:ref:refs/heads/main"


def github_plan_subject(repository: str) -> str:
    """Pull-request jobs: their author can change the workflow, so only plan roles (and the development
    account's deploy role, for preview environments) trust this."""
    return f"repo:{repository}:pull_request"


def github_production_subject(repository: str) -> str:
    """Jobs bound to the protected GitHub environment "production" (required reviewers, main only)."""
    return f"repo:{repository}:environment:{GITHUB_PRODUCTION_ENVIRONMENT}"


def github_deploy_subjects(repository: str, kind: AccountKind) -> tuple[str, ...]:
    """What may deploy to an account of ``kind``: nothing a pull request presents reaches staging or production."""
    if kind is AccountKind.PRODUCTION:
        return (github_production_subject(repository),)
    if kind is AccountKind.DEVELOPMENT:  # pull-request preview environments live there
        return (github_deploy_subject(repository), github_plan_subject(repository))
    return (github_deploy_subject(repository),)


def trust_policy(principals: Sequence[str], account_id: str, github_subjects: Sequence[str] | None,
                 role_arn: str | None = None) -> dict[str, Any]:
    """Trust exactly ``principals`` and, when given, those GitHub Actions subjects.

    With GitHub, a job signs in as the account's role itself and its workspace then assumes that same
    role again; IAM allows a role to assume itself only when its trust policy names it (``role_arn``).
    """
    statements: list[dict[str, Any]] = [{
        "Sid": "TrustedPrincipals",
        "Effect": "Allow",
        "Principal": {"AWS": list(dict.fromkeys(principals))},
        "Action": "sts:AssumeRole",
    }]
    if github_subjects:
        statements.append({
            "Sid": "GitHubActions",
            "Effect": "Allow",
            "Principal": {"Federated": github_oidc_provider_arn(account_id)},
            "Action": "sts:AssumeRoleWithWebIdentity",
            # StringEquals, not StringLike: no other repository, branch, event or environment matches.
            "Condition": {"StringEquals": {
                f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                f"{GITHUB_OIDC_HOST}:sub": _one_or_list(github_subjects),
            }},
        })
        if role_arn is not None:
            statements.append({
                "Sid": SELF_TRUST_SID,
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": "sts:AssumeRole",
            })
    return {"Version": VERSION, "Statement": statements}


def without_self_trust(trust: Mapping[str, Any]) -> dict[str, Any]:
    """``trust`` for creating the role: IAM refuses a principal that does not exist yet, the role itself included."""
    return {**trust, "Statement": [s for s in trust["Statement"] if s.get("Sid") != SELF_TRUST_SID]}


def _one_or_list(values: Sequence[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


def deploy_trust_policy(settings: OrganizationSettings, account_id: str, management_id: str,
                        kind: AccountKind) -> dict[str, Any]:
    repository = settings.github_repository
    return trust_policy(settings.deploy_principals or (account_root(management_id),), account_id,
                        github_deploy_subjects(repository, kind) if repository else None,
                        naming.role_arn(account_id, settings.deploy_role))


def plan_trust_policy(settings: OrganizationSettings, account_id: str, management_id: str) -> dict[str, Any]:
    repository = settings.github_repository
    return trust_policy(settings.plan_principals or (account_root(management_id),), account_id,
                        (github_plan_subject(repository),) if repository else None,
                        naming.role_arn(account_id, settings.plan_role))


# -- comparing documents --------------------------------------------------------------------------

def canonical(document: Any) -> Any:
    """A form in which documents that mean the same compare equal.

    AWS hands policies back rewritten: a one-element list as a plain string, elements reordered.
    """
    if isinstance(document, Mapping):
        return {key: canonical(value) for key, value in sorted(document.items())}
    if isinstance(document, (list, tuple)):
        items = [canonical(item) for item in document]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return document


def same_policy(left: Any, right: Any) -> bool:
    return canonical(left) == canonical(right)


def compact(document: Mapping[str, Any]) -> str:
    """JSON without spaces: service control policies are limited to 5,120 characters, spaces included."""
    return json.dumps(document, separators=(",", ":"))
