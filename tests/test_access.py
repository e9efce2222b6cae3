"""`access`: the deploy and plan roles' trust, read live from IAM on the moto server.

The roles are created here with boto3 in each account (entered through the access role, which moto
does not require to exist), with trust policies like the ones bootstrap writes: the organization's
deploy/plan principals, and the GitHub OIDC provider with `aud` and `sub` conditions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES, copy_project, run_cli
from fixtures.aws.recorded import load as recorded
from generators.aws import clients as aws
from generators.aws import policies
from generators.config.models import AccountKind, Organization
from generators.config.organization import load_organization
from generators.insights import accounts_with_environments, ref
from generators.insights.access import (DEPLOY, DEVELOPMENT_READS_PRODUCTION, NOT_CI, PLAN, PLANS_AND_DEPLOYS,
                                        PULL_REQUEST_DEPLOYS, UNCONDITIONED, RoleTrust, analyse, parse_trust_policy,
                                        read_access, unreviewed_subjects)

REGION = "us-east-1"
ACCESS_ROLE = "OrganizationAccountAccessRole"
REPOSITORY = "acme/infrastructure"
CI = "arn:aws:iam::123456789012:role/platform-ci-deploy"
CI_PLAN = "arn:aws:iam::123456789012:role/platform-ci-plan"
DEV_ROOT = "arn:aws:iam::400000000001:root"
GITHUB_MAIN = f"github-oidc sub=repo:{REPOSITORY}:ref:refs/heads/main"
GITHUB_PRODUCTION = f"github-oidc sub=repo:{REPOSITORY}:environment:production"
GITHUB_PREVIEW = f"github-oidc sub=repo:{REPOSITORY}:pull_request,repo:{REPOSITORY}:ref:refs/heads/main"
GITHUB_ANY = f"github-oidc sub=repo:{REPOSITORY}:*"
GITHUB_PR = f"github-oidc sub=repo:{REPOSITORY}:pull_request"


# -- helpers ---------------------------------------------------------------------------------------


def iam_of(account_id: str, base=None):
    return aws.assume_role_session(base or aws.session(REGION), f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}",
                                   "access-tests", REGION).client("iam")


def allow(sid: str, principal, action: str = "sts:AssumeRole", condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return statement


def github(sid: str, provider_arn: str, sub: str) -> dict:
    operator = "StringLike" if "*" in sub else "StringEquals"
    return allow(sid, {"Federated": provider_arn}, "sts:AssumeRoleWithWebIdentity", {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        operator: {"token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:{sub}"},
    })


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def bootstrap_like(organization: Organization, skip: tuple[str, ...] = ()) -> None:
    """The deploy and plan roles in every account holding environments, trusted exactly as bootstrap
    trusts them (generators/aws/policies.py): the configured principals and, with a GitHub repository,
    GitHub's OIDC provider with the subjects of each account kind, and the role itself."""
    settings = organization.settings
    management = next(a for a in organization.accounts if a.kind.value == "management")
    accounts, _ = accounts_with_environments(organization)
    base = aws.session(REGION)
    for account in accounts:
        if account.name in skip:
            continue
        iam = iam_of(account.id, base)
        if settings.github_repository:
            iam.create_open_id_connect_provider(Url=policies.GITHUB_OIDC_URL,
                                                ClientIDList=[policies.GITHUB_AUDIENCE])
        iam.create_role(RoleName=settings.deploy_role, AssumeRolePolicyDocument=json.dumps(
            policies.deploy_trust_policy(settings, account.id, management.id, account.kind)))
        iam.create_role(RoleName=settings.plan_role, AssumeRolePolicyDocument=json.dumps(
            policies.plan_trust_policy(settings, account.id, management.id)))


def add_to_trust(account_id: str, role: str, *statements: dict) -> None:
    iam = iam_of(account_id)
    document = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    document["Statement"] += list(statements)
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(document))


def with_github(tmp_path: Path) -> Path:
    """A copy of the example organization, which trusts GitHub's OIDC for REPOSITORY."""
    project = copy_project(tmp_path / "project")
    assert f'github_repository = "{REPOSITORY}"' in (project / "environments" / "organization.hcl").read_text()
    return project


def matrix(report) -> dict[str, dict[str, str]]:
    return {row.principal: dict(zip((a.name for a in report.accounts), row.levels)) for row in report.matrix}


ALL = ("prod", "preprod", "qa", "uat", "dev", "alice", "bob")
MAIN_ONLY = ("preprod", "qa", "uat", "alice", "bob")


def example_matrix(without: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """The access matrix bootstrap's trust gives the example: separate plan and deploy identities."""
    def row(level: str, names) -> dict[str, str]:
        return {name: level if name in names and name not in without else "none" for name in ALL}

    return {CI: row(DEPLOY, ALL), CI_PLAN: row(PLAN, ALL), GITHUB_PR: row(PLAN, ALL),
            GITHUB_MAIN: row(DEPLOY, MAIN_ONLY), GITHUB_PRODUCTION: row(DEPLOY, ("prod",)),
            GITHUB_PREVIEW: row(DEPLOY, ("dev",))}


@pytest.fixture(scope="module")
def example() -> Organization:
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES)


# -- against the moto server -----------------------------------------------------------------------


def test_bootstrap_trust_is_clean_until_production_trusts_development(fresh_aws, example):
    bootstrap_like(example)
    report = read_access(example)
    assert [a.name for a in report.accounts] == list(ALL)  # production first, development next to it
    assert matrix(report) == example_matrix()
    assert report.violations == () and report.missing_roles == () and report.skipped == ()
    assert [c.passed for c in report.checks] == [True] * 5
    assert {(r.account.name, r.role, r.level) for r in report.roles} == \
        {(name, role, level) for name in ALL for role, level in (("TerraformDeploy", DEPLOY), ("TerraformPlan", PLAN))}
    result = run_cli("access", "--json", env=fresh_aws)
    assert result.returncode == 0, result.stderr
    assert {row["principal"]: row["levels"] for row in json.loads(result.stdout)["matrix"]} == \
        {principal: list(levels.values()) for principal, levels in example_matrix().items()}

    # Deliberately over-permissive: production's deploy role trusts the whole development account.
    add_to_trust("200000000001", "TerraformDeploy", allow("DevelopersToo", {"AWS": DEV_ROOT}))
    report = read_access(example)
    assert matrix(report)[DEV_ROOT] == {name: DEPLOY if name == "prod" else "none" for name in ALL}
    assert {(v.rule, v.account.name, v.role, v.principal) for v in report.violations} == {
        (NOT_CI, "prod", "TerraformDeploy", DEV_ROOT),
        (UNCONDITIONED, "prod", "TerraformDeploy", DEV_ROOT),
        (DEVELOPMENT_READS_PRODUCTION, "prod", "TerraformDeploy", DEV_ROOT),
    }
    result = run_cli("access", env=fresh_aws)
    assert result.returncode == 1
    assert "violation [development-reads-production] prod/TerraformDeploy" in result.stdout
    assert "3 access violations" in result.stderr and "account dev, development" in result.stdout

    # Reading production's state is enough: its plan role trusting a developer's role is flagged too.
    add_to_trust("200000000001", "TerraformPlan", allow("Alice", {"AWS": "arn:aws:iam::500000000001:role/admin"}))
    flagged = [(v.rule, v.role, v.principal) for v in read_access(example).violations
               if v.rule == DEVELOPMENT_READS_PRODUCTION]
    assert flagged == [(DEVELOPMENT_READS_PRODUCTION, "TerraformDeploy", DEV_ROOT),
                       (DEVELOPMENT_READS_PRODUCTION, "TerraformPlan", "arn:aws:iam::500000000001:role/admin")]


def test_github_oidc_trust_is_clean_and_missing_roles_are_reported(fresh_aws, tmp_path):
    project = with_github(tmp_path)
    organization = load_organization(project / "environments", project / "modules")
    bootstrap_like(organization, skip=("bob",))
    report = read_access(organization)
    assert matrix(report) == example_matrix(without=("bob",))
    assert report.violations == ()
    assert report.missing_roles == ("bob (500000000002): TerraformPlan", "bob (500000000002): TerraformDeploy")
    main = next(g for r in report.roles if r.account.name == "prod" and r.level == DEPLOY for g in r.grants
                if g.type == "Federated")
    # production trusts its protected GitHub environment: pinned, like a git ref
    assert main.subjects == (f"repo:{REPOSITORY}:environment:production",)
    assert main.pinned_ref and not main.mfa and main.account_id == "200000000001"

    result = run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"),
                     "access", env=fresh_aws)
    assert result.returncode == 0, result.stderr
    assert "ok:" in result.stdout and GITHUB_MAIN in result.stdout
    assert "missing role: bob (500000000002): TerraformDeploy" in result.stdout


def test_a_principal_that_plans_and_deploys_is_a_violation_and_loses_its_exemption(fresh_aws, example):
    bootstrap_like(example)
    # Pull requests plan in qa with the very role that deploys production.
    add_to_trust("300000000002", "TerraformPlan", allow("SharedCi", {"AWS": CI}))
    result = run_cli("access", env=fresh_aws)
    assert result.returncode == 1
    assert f"violation [plans-and-deploys] prod/TerraformDeploy: {CI} can deploy production account prod" in \
        result.stdout
    # Being a deploy principal no longer excuses an unconditioned production trust once it also plans.
    assert "violation [unconditioned] prod/TerraformDeploy" in result.stdout
    assert "access violations" in result.stderr and "Traceback" not in result.stderr
    flagged = {(v.rule, v.account.name, v.principal) for v in read_access(example).violations}
    assert flagged == {(PLANS_AND_DEPLOYS, name, CI) for name in ("prod", "preprod", "qa", "uat")} | \
        {(UNCONDITIONED, "prod", CI)}
    # The checks that still hold say what they looked at.
    assert "ok: [pull-request-deploys] no deploy role outside development accounts trusts a GitHub subject" in \
        result.stdout
    assert "ok: [plans-and-deploys]" not in result.stdout


def test_a_production_trust_a_pull_request_can_satisfy_is_a_violation(fresh_aws, example):
    bootstrap_like(example)
    provider = "arn:aws:iam::200000000001:oidc-provider/token.actions.githubusercontent.com"
    add_to_trust("200000000001", "TerraformDeploy", github("Previews", provider, "pull_request"))
    staging = "arn:aws:iam::300000000001:oidc-provider/token.actions.githubusercontent.com"
    add_to_trust("300000000001", "TerraformDeploy", github("AnyJob", staging, "*"))
    result = run_cli("access", env=fresh_aws)
    assert result.returncode == 1
    assert "violation [pull-request-deploys] prod/TerraformDeploy" in result.stdout
    assert "violation [pull-request-deploys] preprod/TerraformDeploy" in result.stdout
    flagged = {(v.rule, v.account.name, v.principal) for v in read_access(example).violations}
    assert flagged == {
        (PULL_REQUEST_DEPLOYS, "prod", GITHUB_PR), (PLANS_AND_DEPLOYS, "prod", GITHUB_PR),
        (UNCONDITIONED, "prod", GITHUB_PR),  # a pull request is no git ref
        (PULL_REQUEST_DEPLOYS, "preprod", GITHUB_ANY), (PLANS_AND_DEPLOYS, "preprod", GITHUB_ANY),
    }


def test_the_example_is_clean_and_every_ok_line_says_what_it_checked(fresh_aws, example):
    bootstrap_like(example)
    result = run_cli("access", env=fresh_aws)
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in (NOT_CI, UNCONDITIONED, DEVELOPMENT_READS_PRODUCTION, PLANS_AND_DEPLOYS, PULL_REQUEST_DEPLOYS):
        assert f"ok: [{rule}] " in result.stdout
    assert "violation" not in result.stdout


# -- trust policies and rules, offline ----------------------------------------------------------------


def trust(organization: Organization, account: str, level: str, *statements: dict) -> RoleTrust:
    configured = organization.account(account)
    role = organization.settings.deploy_role if level == DEPLOY else organization.settings.plan_role
    return RoleTrust(ref(configured), role, level, organization.role_arn(configured, role), True,
                     parse_trust_policy({"Statement": list(statements)}, configured.id))


def rules(organization: Organization, *roles: RoleTrust) -> set[tuple[str, str]]:
    accounts = tuple(ref(organization.account(name)) for name in ALL)
    return {(v.rule, v.principal) for v in analyse(organization, accounts, roles).violations}


@pytest.mark.fast
def test_mfa_protected_human_is_only_not_ci(example):
    root = "arn:aws:iam::123456789012:root"
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert rules(example, trust(example, "prod", DEPLOY, allow("Humans", {"AWS": "123456789012"}, condition=mfa))) \
        == {(NOT_CI, root)}
    if_exists = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}  # lets keys without MFA through
    assert rules(example, trust(example, "prod", DEPLOY, allow("Humans", {"AWS": root}, condition=if_exists))) \
        == {(NOT_CI, root), (UNCONDITIONED, root)}


@pytest.mark.fast
def test_github_rules(tmp_path):
    project = with_github(tmp_path)
    organization = load_organization(project / "environments", project / "modules")
    provider = "arn:aws:iam::200000000001:oidc-provider/token.actions.githubusercontent.com"
    assert rules(organization, trust(organization, "prod", DEPLOY, github("Any", provider, "*"))) \
        == {(UNCONDITIONED, GITHUB_ANY), (PULL_REQUEST_DEPLOYS, GITHUB_ANY)}  # the right repository, but any job
    assert rules(organization, trust(organization, "prod", DEPLOY, github("Main", provider, "ref:refs/heads/main"))) \
        == set()
    fork = "repo:mallory/fork:ref:refs/heads/main"
    other = allow("Fork", {"Federated": provider}, "sts:AssumeRoleWithWebIdentity",
                  {"StringEquals": {"token.actions.githubusercontent.com:sub": fork}})
    assert rules(organization, trust(organization, "prod", DEPLOY, other)) == \
        {(NOT_CI, "github-oidc sub=repo:mallory/fork:ref:refs/heads/main")}
    unpinned = allow("NoSub", {"Federated": provider}, "sts:AssumeRoleWithWebIdentity",
                     {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}})
    assert rules(organization, trust(organization, "prod", DEPLOY, unpinned)) == \
        {(NOT_CI, "github-oidc sub=*"), (UNCONDITIONED, "github-oidc sub=*"), (PULL_REQUEST_DEPLOYS, "github-oidc sub=*")}


@pytest.mark.fast
@pytest.mark.parametrize("sub, reachable", [
    ("ref:refs/heads/main", ()),
    ("environment:production", ()),  # relies on the environment's protection rules (ci github prints them)
    ("pull_request", ("pull_request",)),
    ("ref:refs/heads/*", ("ref:refs/heads/unreviewed-branch",)),
    ("environment:*", ("environment:unprotected-environment",)),
    ("*", ("pull_request", "ref:refs/heads/unreviewed-branch", "environment:unprotected-environment")),
    ("pull_reques?", ("pull_request",)),
])
def test_subjects_a_job_running_unreviewed_code_can_present(sub, reachable):
    provider = "arn:aws:iam::300000000001:oidc-provider/token.actions.githubusercontent.com"
    [grant] = parse_trust_policy({"Statement": [github("Gh", provider, sub)]}, "300000000001")
    assert unreviewed_subjects(grant, REPOSITORY) == tuple(f"repo:{REPOSITORY}:{r}" for r in reachable)


@pytest.mark.fast
def test_a_missing_sub_admits_any_job(example):
    provider = "arn:aws:iam::300000000001:oidc-provider/token.actions.githubusercontent.com"
    unpinned = allow("NoSub", {"Federated": provider}, "sts:AssumeRoleWithWebIdentity",
                     {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}})
    assert rules(example, trust(example, "preprod", DEPLOY, unpinned)) == \
        {(PULL_REQUEST_DEPLOYS, "github-oidc sub=*")}


@pytest.mark.fast
def test_development_deploy_role_may_trust_pull_requests_and_an_account_root_covers_its_planners(example):
    dev_provider = "arn:aws:iam::400000000001:oidc-provider/token.actions.githubusercontent.com"
    plan = trust(example, "qa", PLAN, allow("Ci", {"AWS": CI_PLAN}))
    assert rules(example, trust(example, "dev", DEPLOY, github("Previews", dev_provider, "pull_request")), plan) \
        == set()
    management_root = "arn:aws:iam::123456789012:root"
    assert rules(example, trust(example, "qa", DEPLOY, allow("Root", {"AWS": management_root})), plan) \
        == {(PLANS_AND_DEPLOYS, management_root)}
    assert rules(example, trust(example, "alice", DEPLOY, allow("Root", {"AWS": management_root})), plan) == set()


@pytest.mark.fast
def test_a_role_trusting_itself_admits_nobody_new(example):
    prod = example.account("prod")
    itself = allow("RoleItself", {"AWS": example.role_arn(prod)})
    role = trust(example, "prod", DEPLOY, itself, allow("Ci", {"AWS": CI}))
    report = analyse(example, (ref(prod),), (role,))
    assert [row.principal for row in report.matrix] == [CI] and report.violations == ()


@pytest.mark.fast
def test_github_is_not_ci_without_a_configured_repository(example):
    example = dataclasses.replace(example, settings=dataclasses.replace(example.settings, github_repository=None))
    provider = "arn:aws:iam::200000000001:oidc-provider/token.actions.githubusercontent.com"
    assert rules(example, trust(example, "prod", DEPLOY, github("Main", provider, "ref:refs/heads/main"))) \
        == {(NOT_CI, GITHUB_MAIN)}


@pytest.mark.fast
def test_anyone_and_only_production_counts(example):
    everyone = allow("Open", "*")
    assert rules(example, trust(example, "prod", PLAN, everyone)) == {(DEVELOPMENT_READS_PRODUCTION, "* (anyone)")}
    assert rules(example, trust(example, "preprod", DEPLOY, everyone), trust(example, "dev", DEPLOY, everyone)) \
        == set()


@pytest.mark.fast
def test_parse_trust_policy_shapes():
    grants = parse_trust_policy({"Statement": {"Effect": "Allow", "Principal": {"AWS": ["111111111111", CI]},
                                               "Action": ["sts:TagSession", "STS:AssumeRole"]}}, "200000000001")
    assert [(g.type, g.arn, g.account_id) for g in grants] == [
        ("AWS", "arn:aws:iam::111111111111:root", "111111111111"), ("AWS", CI, "123456789012")]
    assert parse_trust_policy({"Statement": [allow("Tags", {"AWS": CI}, "sts:TagSession")]}, "1") == ()
    not_principal = {"Effect": "Allow", "NotPrincipal": {"AWS": CI}, "Action": "sts:AssumeRole"}
    assert [g.type for g in parse_trust_policy({"Statement": [not_principal]}, "1")] == ["*"]
    denied = parse_trust_policy({"Statement": [allow("A", {"AWS": [CI, DEV_ROOT]}),
                                               {"Effect": "Deny", "Principal": {"AWS": DEV_ROOT},
                                                "Action": "sts:*"}]}, "1")
    assert [g.arn for g in denied] == [CI]
    service = parse_trust_policy({"Statement": [allow("Svc", {"Service": "ec2.amazonaws.com"})]}, "1")
    assert [(g.principal, g.account_id) for g in service] == [("service:ec2.amazonaws.com", None)]
    wildcard_ref = parse_trust_policy({"Statement": [allow("Gh", {"Federated": "arn:aws:iam::1:oidc-provider/x"},
                                                           condition={"StringLike": {
                                                               "token.actions.githubusercontent.com:sub":
                                                                   "repo:a/b:ref:refs/heads/*"}})]}, "1")
    assert not wildcard_ref[0].pinned_ref


def test_parse_recorded_get_role_with_url_encoded_policy():
    """The query API sends the trust policy URL-encoded (boto3 decodes it); both are accepted."""
    role = recorded("iam-get-role-raw", "iam", "GetRole")["Role"]
    grants = parse_trust_policy(role["AssumeRolePolicyDocument"], "200000000001")
    assert [(g.principal, g.statement, g.pinned_ref) for g in grants] == [
        ("arn:aws:iam::123456789012:role/platform-ci", "DeployPrincipals", False),
        (GITHUB_MAIN, "GitHubMain", True),
    ]


@pytest.mark.fast
def test_without_deploy_principals_bootstrap_trusts_the_management_root_which_is_flagged(example):
    """No deploy_principals: bootstrap trusts the management account's root, that is anyone there whose
    own IAM policy allows sts:AssumeRole, with no MFA asked. Named a violation on purpose."""
    settings = dataclasses.replace(example.settings, deploy_principals=(), plan_principals=())
    organization = dataclasses.replace(example, settings=settings)
    document = policies.deploy_trust_policy(settings, "200000000001", "123456789012", AccountKind.PRODUCTION)
    prod = organization.account("prod")
    role = RoleTrust(ref(prod), "TerraformDeploy", DEPLOY, organization.role_arn(prod),
                     True, parse_trust_policy(document, prod.id))
    root = "arn:aws:iam::123456789012:root"
    assert rules(organization, role) == {(NOT_CI, root), (UNCONDITIONED, root)}
