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
from generators import aws, policies
from generators.config import load_organization
from generators.insights import accounts_with_environments, ref
from generators.insights.access import (DEPLOY, DEVELOPMENT_READS_PRODUCTION, NOT_CI, PLAN, UNCONDITIONED,
                                        RoleTrust, analyse, parse_trust_policy, read_access)
from generators.models import Organization

REGION = "us-east-1"
ACCESS_ROLE = "OrganizationAccountAccessRole"
REPOSITORY = "acme/infrastructure"
CI = "arn:aws:iam::123456789012:role/platform-ci-deploy"
CI_PLAN = "arn:aws:iam::123456789012:role/platform-ci-plan"
DEV_ROOT = "arn:aws:iam::400000000001:root"
GITHUB_MAIN = f"github-oidc sub=repo:{REPOSITORY}:ref:refs/heads/main"
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
    trusts them (generators/policies.py): the configured principals and, with a GitHub repository,
    GitHub's OIDC provider for the main branch (deploy) and pull requests (plan)."""
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
            policies.deploy_trust_policy(settings, account.id, management.id)))
        iam.create_role(RoleName=settings.plan_role, AssumeRolePolicyDocument=json.dumps(
            policies.plan_trust_policy(settings, account.id, management.id)))


def add_to_trust(account_id: str, role: str, *statements: dict) -> None:
    iam = iam_of(account_id)
    document = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    document["Statement"] += list(statements)
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(document))


def with_github(tmp_path: Path) -> Path:
    project = copy_project(tmp_path / "project")
    organization_file = project / "environments" / "organization.hcl"
    text = organization_file.read_text()
    organization_file.write_text(text.replace("  plan_principals", f'  github_repository = "{REPOSITORY}"\n'
                                                                   "  plan_principals", 1))
    return project


def matrix(report) -> dict[str, dict[str, str]]:
    return {row.principal: dict(zip((a.name for a in report.accounts), row.levels)) for row in report.matrix}


ALL = ("prod", "preprod", "qa", "uat", "dev", "alice", "bob")


@pytest.fixture(scope="module")
def example() -> Organization:
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES)


# -- against the moto server -----------------------------------------------------------------------


def test_bootstrap_trust_is_clean_until_production_trusts_development(fresh_aws, example):
    bootstrap_like(example)
    report = read_access(example)
    assert [a.name for a in report.accounts] == list(ALL)  # production first, development next to it
    assert matrix(report) == {CI: {name: DEPLOY for name in ALL}, CI_PLAN: {name: PLAN for name in ALL}}
    assert report.violations == () and report.missing_roles == () and report.skipped == ()
    assert {(r.account.name, r.role, r.level) for r in report.roles} == \
        {(name, role, level) for name in ALL for role, level in (("TerraformDeploy", DEPLOY), ("TerraformPlan", PLAN))}
    result = run_cli("access", "--json", env=fresh_aws)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["matrix"] == [{"principal": CI, "levels": [DEPLOY] * 7},
                                                   {"principal": CI_PLAN, "levels": [PLAN] * 7}]

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
    assert matrix(report) == {
        CI: {**{name: DEPLOY for name in ALL}, "bob": "none"},
        CI_PLAN: {**{name: PLAN for name in ALL}, "bob": "none"},
        GITHUB_MAIN: {**{name: DEPLOY for name in ALL}, "bob": "none"},
        GITHUB_PR: {**{name: PLAN for name in ALL}, "bob": "none"},
    }
    assert report.violations == ()
    assert report.missing_roles == ("bob (500000000002): TerraformPlan", "bob (500000000002): TerraformDeploy")
    main = next(g for r in report.roles if r.account.name == "prod" and r.level == DEPLOY for g in r.grants
                if g.type == "Federated")
    assert main.pinned_ref and not main.mfa and main.account_id == "200000000001"

    result = run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"),
                     "access", env=fresh_aws)
    assert result.returncode == 0, result.stderr
    assert "ok:" in result.stdout and GITHUB_MAIN in result.stdout
    assert "missing role: bob (500000000002): TerraformDeploy" in result.stdout


# -- trust policies and rules, offline ----------------------------------------------------------------


def trust(organization: Organization, account: str, level: str, *statements: dict) -> RoleTrust:
    configured = organization.account(account)
    role = organization.settings.deploy_role if level == DEPLOY else organization.settings.plan_role
    return RoleTrust(ref(configured), role, level, organization.role_arn(configured, role), True,
                     parse_trust_policy({"Statement": list(statements)}, configured.id))


def rules(organization: Organization, *roles: RoleTrust) -> set[tuple[str, str]]:
    accounts = tuple(ref(organization.account(name)) for name in ALL)
    return {(v.rule, v.principal) for v in analyse(organization, accounts, roles).violations}


def test_mfa_protected_human_is_only_not_ci(example):
    root = "arn:aws:iam::123456789012:root"
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert rules(example, trust(example, "prod", DEPLOY, allow("Humans", {"AWS": "123456789012"}, condition=mfa))) \
        == {(NOT_CI, root)}
    if_exists = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}  # lets keys without MFA through
    assert rules(example, trust(example, "prod", DEPLOY, allow("Humans", {"AWS": root}, condition=if_exists))) \
        == {(NOT_CI, root), (UNCONDITIONED, root)}


def test_github_rules(tmp_path):
    project = with_github(tmp_path)
    organization = load_organization(project / "environments", project / "modules")
    provider = "arn:aws:iam::200000000001:oidc-provider/token.actions.githubusercontent.com"
    assert rules(organization, trust(organization, "prod", DEPLOY, github("Any", provider, "*"))) \
        == {(UNCONDITIONED, GITHUB_ANY)}  # the right repository, but any branch
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
        {(NOT_CI, "github-oidc sub=*"), (UNCONDITIONED, "github-oidc sub=*")}


def test_github_is_not_ci_without_a_configured_repository(example):
    provider = "arn:aws:iam::200000000001:oidc-provider/token.actions.githubusercontent.com"
    assert rules(example, trust(example, "prod", DEPLOY, github("Main", provider, "ref:refs/heads/main"))) \
        == {(NOT_CI, GITHUB_MAIN)}


def test_anyone_and_only_production_counts(example):
    everyone = allow("Open", "*")
    assert rules(example, trust(example, "prod", PLAN, everyone)) == {(DEVELOPMENT_READS_PRODUCTION, "* (anyone)")}
    assert rules(example, trust(example, "preprod", DEPLOY, everyone), trust(example, "dev", DEPLOY, everyone)) \
        == set()


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


def test_without_deploy_principals_bootstrap_trusts_the_management_root_which_is_flagged(example):
    """No deploy_principals: bootstrap trusts the management account's root, that is anyone there whose
    own IAM policy allows sts:AssumeRole, with no MFA asked. Named a violation on purpose."""
    settings = dataclasses.replace(example.settings, deploy_principals=(), plan_principals=())
    organization = dataclasses.replace(example, settings=settings)
    document = policies.deploy_trust_policy(settings, "200000000001", "123456789012")
    prod = organization.account("prod")
    role = RoleTrust(ref(prod), "TerraformDeploy", DEPLOY, organization.role_arn(prod),
                     True, parse_trust_policy(document, prod.id))
    root = "arn:aws:iam::123456789012:root"
    assert rules(organization, role) == {(NOT_CI, root), (UNCONDITIONED, root)}
