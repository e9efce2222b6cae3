"""The policy documents `bootstrap` puts in place, as pure functions of the configuration.

Kept apart from the AWS calls so each document can be checked on its own: the emulator the tests
run against stores service control policies, bucket policies and trust conditions without
evaluating them.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from . import naming
from .models import OrganizationSettings

VERSION = "2012-10-17"

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
PLAN_STATE_POLICY_NAME = "TerraformStateAccess"

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
GITHUB_AUDIENCE = "sts.amazonaws.com"

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


def github_deploy_subject(repository: str) -> str:
    """Only the main branch deploys."""
    return f"repo:{repository}:ref:refs/heads/main"


def github_plan_subject(repository: str) -> str:
    """Pull requests plan."""
    return f"repo:{repository}:pull_request"


def trust_policy(principals: Sequence[str], account_id: str, github_subject: str | None) -> dict[str, Any]:
    """Trust exactly ``principals`` and, when ``github_subject`` is given, that GitHub Actions subject."""
    statements: list[dict[str, Any]] = [{
        "Sid": "TrustedPrincipals",
        "Effect": "Allow",
        "Principal": {"AWS": list(dict.fromkeys(principals))},
        "Action": "sts:AssumeRole",
    }]
    if github_subject is not None:
        statements.append({
            "Sid": "GitHubActions",
            "Effect": "Allow",
            "Principal": {"Federated": github_oidc_provider_arn(account_id)},
            "Action": "sts:AssumeRoleWithWebIdentity",
            # StringEquals, not StringLike: no other repository, branch or event matches.
            "Condition": {"StringEquals": {
                f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                f"{GITHUB_OIDC_HOST}:sub": github_subject,
            }},
        })
    return {"Version": VERSION, "Statement": statements}


def deploy_trust_policy(settings: OrganizationSettings, account_id: str, management_id: str) -> dict[str, Any]:
    repository = settings.github_repository
    return trust_policy(settings.deploy_principals or (account_root(management_id),), account_id,
                        github_deploy_subject(repository) if repository else None)


def plan_trust_policy(settings: OrganizationSettings, account_id: str, management_id: str) -> dict[str, Any]:
    repository = settings.github_repository
    return trust_policy(settings.plan_principals or (account_root(management_id),), account_id,
                        github_plan_subject(repository) if repository else None)


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
