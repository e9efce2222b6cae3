"""What the plan role, the deploy role and the guardrails allow, as tables of principal x action x
resource -> Allow or Deny, evaluated by generators.aws.policy_eval over the very documents bootstrap
puts in place and the service control policies of each account's place in the Organization.

moto stores these documents but does not enforce them; test_bootstrap.py checks they are in place.
"""

from __future__ import annotations

import pytest

from generators.aws import policies
from generators.aws.policy_eval import FULL_AWS_ACCESS, Decision, Policies, Request, evaluate
from generators.config.models import AccountKind
from generators.config.organization import load_organization
from tests.conftest import EXAMPLE_ENVIRONMENTS, MODULES

pytestmark = pytest.mark.fast  # pure: no subprocess, terraform or AWS server

REGION = "us-east-1"
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ACCOUNTS = {"prod": ("200000000001", AccountKind.PRODUCTION), "qa": ("300000000002", AccountKind.STAGING),
            "dev": ("400000000001", AccountKind.DEVELOPMENT), "alice": ("500000000001", AccountKind.DEVELOPER)}
ALLOW, DENY = True, False


@pytest.fixture(scope="module")
def settings():
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES).settings


def scp_levels(settings, kind: AccountKind) -> list[list[dict]]:
    """The SCPs over an account of ``kind``: root, its OU, the account itself (FullAWSAccess by default)."""
    scps = policies.service_control_policies(settings)
    root = [FULL_AWS_ACCESS, *(s.document for s in scps if policies.ROOT in s.targets)]
    unit = [FULL_AWS_ACCESS, *(s.document for s in scps if kind.value in s.targets)]
    return [root, unit, [FULL_AWS_ACCESS]]


def role_arn(account: str, role: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[account][0]}:role/{role}"


def state_bucket(account: str) -> str:
    return f"arn:aws:s3:::acme-tfstate-{ACCOUNTS[account][0]}"


def decide(settings, account: str, role: str, action: str, resource: str, context=None) -> Decision:
    account_id, kind = ACCOUNTS[account]
    if role == settings.plan_role:
        identity = list(policies.plan_inline_policies(f"acme-tfstate-{account_id}", REGION).values())
    else:  # the deploy role (AdministratorAccess) and the access role bootstrap enters through
        identity = [ADMINISTRATOR]
    return evaluate(Request(role_arn(account, role), action, resource, context or {}),
                    Policies(identity=identity, scp_levels=scp_levels(settings, kind)))


# -- the plan role reads configuration ---------------------------------------------------------------

PROD = "200000000001"
UPLOADS = f"arn:aws:s3:::production-uploads-{PROD}"
TABLE = f"arn:aws:dynamodb:{REGION}:{PROD}:table/production-notes"
API_ROLE = f"arn:aws:iam::{PROD}:role/production-api"
PARAMETER = f"arn:aws:ssm:{REGION}:{PROD}:parameter/production/api/table_name"
STATE = f"arn:aws:s3:::acme-tfstate-{PROD}"
VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com",
          "kms:EncryptionContext:aws:s3:arn": f"{STATE}/production/terraform.tfstate"}

# Every call `terraform plan` makes refreshing what modules/infrastructure, modules/api and the
# developer-budget extension declare (hashicorp/aws 5.x), and reading state.
PLAN_NEEDS = [
    ("sts:GetCallerIdentity", "*"),
    ("dynamodb:DescribeTable", TABLE), ("dynamodb:DescribeContinuousBackups", TABLE),
    ("dynamodb:DescribeTimeToLive", TABLE), ("dynamodb:DescribeKinesisStreamingDestination", TABLE),
    ("dynamodb:ListTagsOfResource", TABLE),
    ("s3:ListBucket", UPLOADS), ("s3:GetBucketPolicy", UPLOADS), ("s3:GetBucketAcl", UPLOADS),
    ("s3:GetBucketCORS", UPLOADS), ("s3:GetBucketWebsite", UPLOADS), ("s3:GetBucketVersioning", UPLOADS),
    ("s3:GetAccelerateConfiguration", UPLOADS), ("s3:GetBucketRequestPayment", UPLOADS),
    ("s3:GetBucketLogging", UPLOADS), ("s3:GetLifecycleConfiguration", UPLOADS),
    ("s3:GetReplicationConfiguration", UPLOADS), ("s3:GetEncryptionConfiguration", UPLOADS),
    ("s3:GetBucketObjectLockConfiguration", UPLOADS), ("s3:GetBucketTagging", UPLOADS),
    ("s3:GetBucketPublicAccessBlock", UPLOADS), ("s3:GetBucketOwnershipControls", UPLOADS),
    ("iam:GetRole", API_ROLE), ("iam:GetRolePolicy", API_ROLE), ("iam:ListRolePolicies", API_ROLE),
    ("iam:ListAttachedRolePolicies", API_ROLE),
    ("ssm:GetParameter", PARAMETER), ("ssm:DescribeParameters", "*"), ("ssm:ListTagsForResource", PARAMETER),
    ("budgets:ViewBudget", f"arn:aws:budgets::{PROD}:budget/production-monthly"),
    ("budgets:ListTagsForResource", f"arn:aws:budgets::{PROD}:budget/production-monthly"),
    # state: its own account's state bucket, every environment's state (terraform_remote_state)
    ("s3:ListBucket", STATE), ("s3:GetBucketVersioning", STATE),
    ("s3:GetObject", f"{STATE}/production/terraform.tfstate"),
    ("s3:GetObject", f"{STATE}/dev/terraform.tfstate"),
]


@pytest.mark.parametrize("action, resource", PLAN_NEEDS)
def test_the_plan_role_may_read_what_a_plan_needs(settings, action, resource):
    assert decide(settings, "prod", settings.plan_role, action, resource) is Decision.ALLOW


def test_the_plan_role_may_decrypt_only_its_own_state_through_s3(settings):
    plan = settings.plan_role
    assert decide(settings, "prod", plan, "kms:Decrypt", "*", VIA_S3) is Decision.ALLOW
    # Direct calls carry no kms:ViaService: a SecureString, a ciphertext from anywhere.
    assert decide(settings, "prod", plan, "kms:Decrypt", "*") is Decision.EXPLICIT_DENY
    secure_string = {"kms:ViaService": f"ssm.{REGION}.amazonaws.com",
                     "kms:EncryptionContext:PARAMETER_ARN": PARAMETER}
    assert decide(settings, "prod", plan, "kms:Decrypt", "*", secure_string) is Decision.EXPLICIT_DENY
    uploads = {**VIA_S3, "kms:EncryptionContext:aws:s3:arn": f"{UPLOADS}/customers.csv"}
    assert decide(settings, "prod", plan, "kms:Decrypt", "*", uploads) is Decision.EXPLICIT_DENY
    # A caller-supplied context alone is not enough: the call must come through S3 too.
    forged = {"kms:EncryptionContext:aws:s3:arn": f"{STATE}/production/terraform.tfstate"}
    assert decide(settings, "prod", plan, "kms:Decrypt", "*", forged) is Decision.EXPLICIT_DENY


# Reads that return data: each explicitly denied, so no later allow can bring it back.
DATA_READS = [
    ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{PROD}:secret:db-password-AbCdEf"),
    ("secretsmanager:BatchGetSecretValue", "*"),
    ("s3:GetObject", f"{UPLOADS}/customers.csv"), ("s3:GetObjectVersion", f"{UPLOADS}/customers.csv"),
    ("s3:GetObject", "arn:aws:s3:::acme-tfstate-300000000002/qa/terraform.tfstate"),  # another account's state
    ("s3-object-lambda:GetObject", "*"),
    ("dynamodb:GetItem", TABLE), ("dynamodb:BatchGetItem", TABLE), ("dynamodb:Query", TABLE),
    ("dynamodb:Scan", TABLE), ("dynamodb:PartiQLSelect", TABLE),
    ("dynamodb:GetRecords", f"{TABLE}/stream/2026-01-01T00:00:00.000"),
    ("dynamodb:GetShardIterator", f"{TABLE}/stream/2026-01-01T00:00:00.000"),
    ("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{PROD}:orders"),
    ("logs:GetLogEvents", "*"), ("logs:FilterLogEvents", "*"), ("logs:StartQuery", "*"),
    ("logs:GetQueryResults", "*"), ("logs:StartLiveTail", "*"),
    ("kinesis:GetRecords", "*"), ("kinesis:GetShardIterator", "*"), ("kinesis:SubscribeToShard", "*"),
    ("rds:DownloadDBLogFilePortion", "*"), ("rds:DownloadCompleteDBLogFile", "*"),
    ("athena:GetQueryResults", "*"), ("athena:StartQueryExecution", "*"),
    ("lambda:GetFunction", f"arn:aws:lambda:{REGION}:{PROD}:function:production-api"),
    ("ec2:GetPasswordData", "*"), ("ecr:GetDownloadUrlForLayer", "*"),
]


@pytest.mark.parametrize("action, resource", DATA_READS)
def test_the_plan_role_reads_no_data(settings, action, resource):
    assert decide(settings, "prod", settings.plan_role, action, resource) is Decision.EXPLICIT_DENY


def test_data_stays_denied_even_if_someone_attaches_read_only_access(settings):
    identity = [*policies.plan_inline_policies(f"acme-tfstate-{PROD}", REGION).values(), ADMINISTRATOR]
    for action, resource in DATA_READS:
        request = Request(role_arn("prod", settings.plan_role), action, resource)
        assert evaluate(request, Policies(identity=identity)) is Decision.EXPLICIT_DENY, action


WRITES = [
    ("s3:PutObject", f"{STATE}/production/terraform.tfstate.tflock"),  # no lock: plans run with -lock=false
    ("s3:DeleteObject", f"{STATE}/production/terraform.tfstate.tflock"),  # never a running deploy's lock
    ("s3:PutObject", f"{STATE}/production/terraform.tfstate"),
    ("dynamodb:PutItem", TABLE), ("dynamodb:UpdateTable", TABLE), ("s3:PutBucketPolicy", UPLOADS),
    ("iam:PutRolePolicy", API_ROLE), ("iam:CreateRole", API_ROLE), ("ssm:PutParameter", PARAMETER),
    ("sqs:SendMessage", "*"), ("lambda:InvokeFunction", "*"), ("sts:AssumeRole", role_arn("prod", "TerraformDeploy")),
    ("kms:GenerateDataKey", "*"), ("budgets:ModifyBudget", "*"),
]


@pytest.mark.parametrize("action, resource", WRITES)
def test_the_plan_role_writes_nothing(settings, action, resource):
    assert not decide(settings, "prod", settings.plan_role, action, resource).allowed


# -- guardrails: what no one but the access role may change, in every member account -----------------

TOOL_ROLE_CHANGES = ["iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                     "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:DeleteRole", "iam:UpdateRole",
                     "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:CreateRole",
                     "iam:TagRole"]
STATE_BUCKET_CHANGES = ["s3:PutReplicationConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                        "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock",
                        "s3:PutBucketOwnershipControls", "s3:PutLifecycleConfiguration", "s3:PutBucketAcl",
                        "s3:DeleteBucket"]


def guardrail_table(settings) -> list[tuple[str, str, str, str, bool]]:
    """(account, role, action, resource, allowed?)"""
    deploy, plan, access = settings.deploy_role, settings.plan_role, settings.access_role
    rows = []
    for account in ACCOUNTS:
        for target in (access, deploy, plan):
            for action in TOOL_ROLE_CHANGES:
                rows.append((account, deploy, action, role_arn(account, target), DENY))
                rows.append((account, access, action, role_arn(account, target), ALLOW))
            # the same role name under a path is protected too
            rows.append((account, deploy, "iam:CreateRole", role_arn(account, f"ci/{target}"), DENY))
        for action in STATE_BUCKET_CHANGES:
            rows.append((account, deploy, action, state_bucket(account), DENY))
            rows.append((account, access, action, state_bucket(account), ALLOW))
        rows += [
            # modules keep managing their own roles and buckets
            (account, deploy, "iam:CreateRole", role_arn(account, "production-api"), ALLOW),
            (account, deploy, "iam:PutRolePolicy", role_arn(account, "production-api"), ALLOW),
            (account, deploy, "s3:PutBucketPolicy", "arn:aws:s3:::production-uploads-1", ALLOW),
            (account, deploy, "s3:PutReplicationConfiguration", "arn:aws:s3:::production-uploads-1", ALLOW),
            # Terraform keeps writing state and taking and releasing its lock
            (account, deploy, "s3:PutObject", f"{state_bucket(account)}/env/terraform.tfstate", ALLOW),
            (account, deploy, "s3:DeleteObject", f"{state_bucket(account)}/env/terraform.tfstate.tflock", ALLOW),
            (account, deploy, "iam:DeleteOpenIDConnectProvider",
             f"arn:aws:iam::{ACCOUNTS[account][0]}:oidc-provider/token.actions.githubusercontent.com", DENY),
            (account, deploy, "organizations:LeaveOrganization", "*", DENY),
        ]
        # Deleting state: refused in production and staging; development state goes with `env destroy`.
        protected = ACCOUNTS[account][1].is_protected
        for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
            rows.append((account, deploy, action, f"{state_bucket(account)}/env/terraform.tfstate",
                         DENY if protected else ALLOW))
    return rows


def test_guardrails_table(settings):
    wrong = [(account, role, action, resource, "allowed" if expected else "denied")
             for account, role, action, resource, expected in guardrail_table(settings)
             if decide(settings, account, role, action, resource).allowed is not expected]
    assert wrong == [], "expected, but evaluated otherwise"


def test_the_deploy_role_can_no_longer_take_over_the_access_role(settings):
    """The path around the old exemption: rewrite the access role's trust, assume it, then do anything."""
    access = role_arn("prod", settings.access_role)
    deploy = role_arn("prod", settings.deploy_role)
    take_over = Request(deploy, "iam:UpdateAssumeRolePolicy", access)
    without_guardrails = Policies(identity=[ADMINISTRATOR], scp_levels=[
        [FULL_AWS_ACCESS, policies.deny_leave_organization()],
        [FULL_AWS_ACCESS, policies.protect_state("acme", settings.access_role)], [FULL_AWS_ACCESS]])
    assert evaluate(take_over, without_guardrails) is Decision.ALLOW  # the hole issue #9 describes
    assert decide(settings, "prod", settings.deploy_role, "iam:UpdateAssumeRolePolicy", access) \
        is Decision.EXPLICIT_DENY
    # And the access role's own trust (created by Organizations: the management account) does not let it in.
    access_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}
    assert evaluate(Request(deploy, "sts:AssumeRole", access),
                    Policies(resource=access_trust)) is Decision.IMPLICIT_DENY
    # So the exemption is the access role's alone: a role merely named like it under a path is bound.
    lookalike = role_arn("prod", f"x/{settings.access_role}")
    assert evaluate(Request(lookalike, "s3:PutBucketPolicy", state_bucket("prod")),
                    Policies(identity=[ADMINISTRATOR], scp_levels=scp_levels(settings, AccountKind.PRODUCTION))) \
        is Decision.EXPLICIT_DENY


# -- the state bucket's own policy: state for the tool's roles only ------------------------------------

def test_only_the_tool_roles_touch_state_objects(settings):
    """An application role granted s3:* on "*" still cannot read or overwrite state: the bucket policy denies it."""
    bucket_policy = policies.state_bucket_policy(f"acme-tfstate-{PROD}", PROD, settings)
    state_object = f"{STATE}/production/terraform.tfstate"
    tls = {"aws:SecureTransport": "true"}

    def decision(role: str, identity: list[dict], action: str, resource: str = state_object, context=tls):
        return evaluate(Request(role_arn("prod", role), action, resource, context),
                        Policies(identity=identity, resource=bucket_policy,
                                 scp_levels=scp_levels(settings, AccountKind.PRODUCTION)))

    plan_policies = list(policies.plan_inline_policies(f"acme-tfstate-{PROD}", REGION).values())
    for role, identity in ((settings.deploy_role, [ADMINISTRATOR]), (settings.access_role, [ADMINISTRATOR])):
        assert decision(role, identity, "s3:GetObject") is Decision.ALLOW, role
        assert decision(role, identity, "s3:PutObject") is Decision.ALLOW, role
    assert decision(settings.plan_role, plan_policies, "s3:GetObject") is Decision.ALLOW
    assert not decision(settings.plan_role, plan_policies, "s3:PutObject").allowed
    for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"):
        assert decision("production-api", [ADMINISTRATOR], action) is Decision.EXPLICIT_DENY, action
    assert decision("production-api", [ADMINISTRATOR], "s3:ListBucket", STATE) is Decision.ALLOW  # keys only
    # And nobody, tool roles included, reaches state without TLS.
    insecure = {"aws:SecureTransport": "false"}
    assert decision(settings.deploy_role, [ADMINISTRATOR], "s3:GetObject", context=insecure) is Decision.EXPLICIT_DENY
