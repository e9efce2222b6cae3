"""The policy documents `bootstrap` puts in place, as pure functions of the configuration.

Kept apart from the AWS calls so each document can be checked on its own: the emulator the tests
run against stores service control policies, bucket policies and trust conditions without
evaluating them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from generators import naming
from generators.config.models import AccountKind, OrganizationSettings

VERSION = "2012-10-17"

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
# Attached to plan roles by earlier versions; bootstrap now detaches it (it reads data, see below).
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
PLAN_STATE_POLICY_NAME = "TerraformStateAccess"
PLAN_READ_POLICY_NAME = "TerraformPlanRead"
PLAN_DENY_DATA_POLICY_NAME = "TerraformPlanDenyData"

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
GITHUB_AUDIENCE = "sts.amazonaws.com"
SELF_TRUST_SID = "RoleItself"

# Terraform keeps state in <key> (".../terraform.tfstate") and, with S3-native locking
# (use_lockfile), takes the lock by creating "<key>.tflock" and releases it by deleting it.
STATE_OBJECT_PATTERN = "*.tfstate"
LOCK_OBJECT_PATTERN = "*.tflock"

# Everything that could delete a state bucket, weaken how it keeps state safe, or copy state out.
STATE_BUCKET_GUARDED_ACTIONS = (
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketAcl",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",  # replication would copy every state version to another bucket
)
STATE_OBJECT_GUARDED_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")

# Everything that changes who can assume a role or what it may do, or removes it to recreate it.
ROLE_GUARDED_ACTIONS = (
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:TagRole",  # tags can carry meaning for attribute-based conditions elsewhere
    "iam:UntagRole",
)
OIDC_PROVIDER_GUARDED_ACTIONS = (
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
)


# -- service control policies -----------------------------------------------------------------

ROOT = "root"  # an SCP target: the Organization's root, so every member account


@dataclass(frozen=True)
class ServiceControlPolicy:
    name: str
    description: str
    document: dict[str, Any]
    # ROOT, or the account kinds whose OUs it is attached to
    targets: tuple[str, ...]


def service_control_policies(settings: OrganizationSettings) -> tuple[ServiceControlPolicy, ...]:
    """Every SCP bootstrap puts in place, and where it is attached.

    - Leaving the Organization (which drops every guardrail) is denied in every member account.
    - The guardrails (tool roles, GitHub's OIDC provider, state bucket settings) bind every member
      account, development and developer accounts included: a deploy role that could rewrite its
      own trust or a state bucket's policy in development could still reach whatever that account
      holds, and a developer playground is where hand-made changes are most likely.
    - Deleting state objects is denied only in production and staging: `env destroy` deletes the
      state of short-lived development environments, and a playground owner may reset theirs.

    SCPs never bind the management account, which holds no environments. Roles and buckets share one
    document so the root keeps room under AWS's five SCPs per target (FullAWSAccess and two of ours).
    """
    name = settings.name
    protected = tuple(kind.value for kind in AccountKind if kind.is_protected)
    return (
        ServiceControlPolicy(deny_leave_organization_name(name), "Members cannot leave the Organization.",
                             deny_leave_organization(), (ROOT,)),
        ServiceControlPolicy(guardrails_name(name),
                             "Only the access role may change the Terraform roles, GitHub's OIDC provider or "
                             "the state buckets' settings.", guardrails(settings), (ROOT,)),
        ServiceControlPolicy(protect_state_name(name), "Terraform state objects cannot be deleted.",
                             protect_state(name, settings.access_role), protected),
    )


def deny_leave_organization_name(organization: str) -> str:
    return f"{organization}-deny-leave-organization"


def guardrails_name(organization: str) -> str:
    return f"{organization}-guardrails"


def protect_state_name(organization: str) -> str:
    return f"{organization}-protect-state"


def deny_leave_organization() -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [{
        "Sid": "DenyLeaveOrganization",
        "Effect": "Deny",
        "Action": "organizations:LeaveOrganization",
        "Resource": "*",
    }]}


def access_role_exemption(access_role: str) -> dict[str, Any]:
    """Only the access role escapes a guardrail: bootstrap enters accounts through it to repair them.

    ArnNotLike compares an ARN's six colon-separated parts one by one, so the * stands for the account
    id only. The exemption holds because the guardrails also protect the access role itself: no one
    else can rewrite its trust to assume it.
    """
    return {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{access_role}"}}


def state_buckets_pattern(organization: str) -> str:
    # Twelve ?, one per account-id digit, not *: IAM's * also crosses "/", so "<org>-tfstate-*" would
    # match every object in those buckets too, lock objects included.
    return state_bucket_arn(naming.state_bucket(organization, "?" * 12))


def guardrails(settings: OrganizationSettings) -> dict[str, Any]:
    """Deny changing the access, deploy and plan roles, GitHub's OIDC provider and the state buckets'
    settings to everyone but the access role.

    Without it, a deploy role (AdministratorAccess) could rewrite the access role's trust, assume it
    and so sidestep every exemption; or rewrite a plan role's trust and hand it to anyone.
    """
    exempt = access_role_exemption(settings.access_role)
    roles = [f"arn:aws:iam::*:role/{path}{role}" for role in dict.fromkeys(
        (settings.access_role, settings.deploy_role, settings.plan_role)) for path in ("", "*/")]
    return {"Version": VERSION, "Statement": [
        {
            "Sid": "ProtectToolRoles",
            "Effect": "Deny",
            "Action": list(ROLE_GUARDED_ACTIONS),
            "Resource": roles,
            "Condition": exempt,
        },
        {
            "Sid": "ProtectGitHubProvider",
            "Effect": "Deny",
            "Action": list(OIDC_PROVIDER_GUARDED_ACTIONS),
            "Resource": f"arn:aws:iam::*:oidc-provider/{GITHUB_OIDC_HOST}",
            "Condition": exempt,
        },
        {
            "Sid": "ProtectStateBuckets",
            "Effect": "Deny",
            "Action": list(STATE_BUCKET_GUARDED_ACTIONS),
            "Resource": state_buckets_pattern(settings.name),
            "Condition": exempt,
        },
    ]}


def protect_state(organization: str, access_role: str) -> dict[str, Any]:
    """Deny deleting state objects (never lock objects), in production and staging.

    The state buckets' settings are protected in every account by ``guardrails``; with versioning
    kept on there, overwriting state leaves the earlier versions, and this denies deleting them.
    """
    return {"Version": VERSION, "Statement": [
        {
            "Sid": "ProtectStateObjects",
            "Effect": "Deny",
            "Action": list(STATE_OBJECT_GUARDED_ACTIONS),
            # Only *.tfstate: Terraform must stay free to delete its *.tflock lock objects.
            "Resource": f"{state_buckets_pattern(organization)}/{STATE_OBJECT_PATTERN}",
            "Condition": access_role_exemption(access_role),
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


def tool_roles_only_statement(bucket: str, account_id: str, settings: OrganizationSettings) -> dict[str, Any]:
    """State objects are read and written by the account's deploy, plan and access roles only.

    Other principals of the account (an application's role with s3:GetObject on "*", a person's
    role) must not read state, which holds every resource's attributes, sensitive ones included.
    """
    roles = [naming.role_arn(account_id, role)
             for role in dict.fromkeys((settings.deploy_role, settings.plan_role, settings.access_role))]
    return {
        "Sid": "OnlyToolRolesTouchState",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject"],
        "Resource": f"{state_bucket_arn(bucket)}/*",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": roles}},
    }


def state_bucket_policy(bucket: str, account_id: str, settings: OrganizationSettings) -> dict[str, Any]:
    """The whole policy of a state bucket: bootstrap removes any other statement."""
    return {"Version": VERSION, "Statement": [tls_only_statement(bucket),
                                              tool_roles_only_statement(bucket, account_id, settings)]}


def statement_label(statement: Mapping[str, Any]) -> str:
    """A statement named for a report: its Sid, or a short summary of what it does."""
    if statement.get("Sid"):
        return str(statement["Sid"])
    actions = statement.get("Action", statement.get("NotAction", "?"))
    actions = actions if isinstance(actions, list) else [actions]
    principal = statement.get("Principal", statement.get("NotPrincipal", "?"))
    if isinstance(principal, Mapping):
        principal = ", ".join(str(v) for values in principal.values()
                              for v in (values if isinstance(values, list) else [values]))
    more = f" +{len(actions) - 1}" if len(actions) > 1 else ""
    return f"{statement.get('Effect', '?')} {actions[0]}{more} to {principal}"


def statements_of(policy: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    existing = (policy or {}).get("Statement", [])
    return [existing] if isinstance(existing, Mapping) else list(existing)


# -- the plan role ------------------------------------------------------------------------------------
#
# A pull-request plan evaluates the pull request's Terraform, so whatever the plan role can read, the
# pull request's author can read (a data source or file() output in the plan is enough). It gets what
# `terraform plan` with refresh needs for the shipped modules and extensions (configuration: describe,
# list, get-configuration) and nothing that returns data. It writes nothing, not even the state lock:
# S3 has no condition for "the lock object this run created", so a role allowed to delete *.tflock
# could delete the lock of a running deploy; pull-request plans run with -lock=false instead (a plan
# changes nothing, so it needs no lock).

# What refreshing the shipped modules' resources reads (by resource) and the provider itself calls.
PLAN_READ_ACTIONS = (
    "sts:GetCallerIdentity",  # provider start-up, allowed_account_ids, data.aws_caller_identity
    "ec2:DescribeRegions", "ec2:DescribeAvailabilityZones",  # region and zone data sources
    # aws_dynamodb_table
    "dynamodb:Describe*", "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy",
    # aws_s3_bucket and its aws_s3_bucket_* settings; HeadBucket needs s3:ListBucket (keys, not bodies)
    "s3:ListAllMyBuckets", "s3:ListBucket", "s3:GetBucket*", "s3:GetAccelerateConfiguration",
    "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration",
    "s3:GetIntelligentTieringConfiguration", "s3:GetAnalyticsConfiguration", "s3:GetInventoryConfiguration",
    "s3:GetMetricsConfiguration", "s3:GetAccountPublicAccessBlock",
    # aws_iam_role, aws_iam_role_policy (IAM holds configuration only)
    "iam:Get*", "iam:List*",
    # aws_ssm_parameter: the provider reads with decryption; SecureStrings stay unreadable (kms:Decrypt)
    "ssm:GetParameter", "ssm:GetParameters", "ssm:DescribeParameters", "ssm:ListTagsForResource",
    # aws_budgets_budget (developer-budget)
    "budgets:ViewBudget", "budgets:ListTagsForResource",
    # key metadata, for resources that name a KMS key
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
)

# Reads that return data rather than configuration, denied outright: a later allow (someone
# attaching ReadOnlyAccess, a wider PLAN_READ_ACTIONS) cannot bring them back.
PLAN_DENIED_DATA_ACTIONS = (
    "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue",
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PartiQLSelect",
    "dynamodb:GetRecords", "dynamodb:GetShardIterator",  # DynamoDB streams
    "sqs:ReceiveMessage",  # also hides the messages from their consumers: a side effect
    "logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery", "logs:GetQueryResults", "logs:StartLiveTail",
    "logs:GetLogRecord", "logs:Unmask",
    "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:SubscribeToShard",
    "rds:Download*",
    # Glue's catalogue (tables, partitions) is metadata; the data behind it is S3 objects, denied below
    "athena:StartQueryExecution", "athena:GetQueryResults", "athena:GetQueryResultsStream",
    # GetFunction answers with a download URL for the code package, which may embed secrets
    "lambda:GetFunction", "lambda:GetLayerVersion",
    "ec2:GetPasswordData", "ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot",
    "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
    "codecommit:GitPull", "codecommit:GetBlob", "codecommit:GetFile",
    "s3-object-lambda:GetObject",
)
OBJECT_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent")


def _state_encryption_context(bucket: str) -> dict[str, Any]:
    arn = state_bucket_arn(bucket)
    return {"kms:EncryptionContext:aws:s3:arn": [arn, f"{arn}/*"]}


def plan_state_access(bucket: str, region: str) -> dict[str, Any]:
    """What the plan role may do with state: read its own account's state bucket, and nothing else.

    kms:Decrypt only through S3 for this bucket's objects, for state buckets switched to SSE-KMS
    (bootstrap keeps an existing KMS default); with the default SSE-S3 it is never used.
    """
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
            "Sid": "DecryptStateThroughS3",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                          "StringLike": _state_encryption_context(bucket)},
        },
    ]}


def plan_read() -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [{
        "Sid": "ReadConfiguration",
        "Effect": "Allow",
        "Action": list(PLAN_READ_ACTIONS),
        "Resource": "*",
    }]}


def plan_deny_data(bucket: str, region: str) -> dict[str, Any]:
    arn = state_bucket_arn(bucket)
    return {"Version": VERSION, "Statement": [
        {
            "Sid": "DenyDataReads",
            "Effect": "Deny",
            "Action": list(PLAN_DENIED_DATA_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "DenyObjectsOutsideState",
            "Effect": "Deny",
            "Action": list(OBJECT_READ_ACTIONS),
            "NotResource": f"{arn}/*",
        },
        # Two statements, so each alone denies: a direct kms:Decrypt call (SSM SecureStrings, any
        # ciphertext) has no kms:ViaService, and a Not operator on a missing key holds.
        {
            "Sid": "DenyDecryptOutsideS3",
            "Effect": "Deny",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        },
        {
            "Sid": "DenyDecryptOutsideState",
            "Effect": "Deny",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringNotLike": _state_encryption_context(bucket)},
        },
    ]}


def plan_inline_policies(bucket: str, region: str) -> dict[str, dict[str, Any]]:
    """The plan role's inline policies, by name: all it has (no managed policy)."""
    return {
        PLAN_STATE_POLICY_NAME: plan_state_access(bucket, region),
        PLAN_READ_POLICY_NAME: plan_read(),
        PLAN_DENY_DATA_POLICY_NAME: plan_deny_data(bucket, region),
    }


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
