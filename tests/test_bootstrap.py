"""`bootstrap` against a real moto server: what it puts in place, in which account, and that it is
idempotent, resumable and refuses the wrong credentials.

moto stores policies without evaluating them: test_policies.py checks what the documents mean, these
tests check that bootstrap really put those documents in place.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import botocore.exceptions
import pytest

from generators import naming
from generators.aws import clients as aws
from generators.aws import policies
from generators.aws.bootstrap import BootstrapRequest, Status, bootstrap
from generators.config.account_ids import FILE_NAME as ACCOUNT_IDS_FILE
from generators.config.models import Organization
from generators.config.organization import load_organization
from tests.conftest import ROOT, copy_project, run_cli

MANAGEMENT_ID = "123456789012"  # the example's management account, and the account moto's credentials act in
REGION = "us-east-1"
ACCESS_ROLE = "OrganizationAccountAccessRole"


@functools.lru_cache(maxsize=1)
def _attached_managed_policies() -> str:
    import moto.iam.models

    catalogue = json.loads(moto.iam.models.aws_managed_policies_data)
    return json.dumps({name: catalogue[name] for name in ("AdministratorAccess", "ReadOnlyAccess")})


@pytest.fixture
def aws_env_with_managed_policies(fresh_aws, monkeypatch) -> dict[str, str]:
    """``fresh_aws`` where the AWS managed policies bootstrap attaches exist.

    moto knows no AWS managed policy unless MOTO_IAM_LOAD_MANAGED_POLICIES is true (its /moto-api/config
    does not take that setting), and then builds all ~1,300 of them in every account (about 2 s each).
    The server runs in this process, so the setting and a catalogue cut to the two policies bootstrap
    attaches reach it directly.
    """
    import moto.iam.models

    monkeypatch.setattr(moto.iam.models, "aws_managed_policies_data", _attached_managed_policies())
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    return {**os.environ}


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path)


def organization_of(project: Path) -> Organization:
    return load_organization(project / "environments", project / "modules")


def run_bootstrap(project: Path, dry_run: bool = False):
    return bootstrap(BootstrapRequest(organization_of(project), project / "environments", poll_interval=0.1,
                                      dry_run=dry_run))


def reset_aws(moto_server: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=30).read()


@functools.lru_cache(maxsize=None)
def _management(endpoint: str):
    return aws.session(REGION)


def management():
    """One session for the whole run: each new boto3 session parses the service models again (~0.1 s a client)."""
    return _management(os.environ["AWS_ENDPOINT_URL"])


class AccountSession:
    """Clients acting in one account, entered through its access role like bootstrap enters it."""

    def __init__(self, account_id: str):
        role = naming.role_arn(account_id, ACCESS_ROLE)
        credentials = management().client("sts").assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
        self.credentials = {"aws_access_key_id": credentials["AccessKeyId"],
                            "aws_secret_access_key": credentials["SecretAccessKey"],
                            "aws_session_token": credentials["SessionToken"]}

    def client(self, service: str):
        return management().client(service, **self.credentials)


def account_session(account_id: str) -> AccountSession:
    return AccountSession(account_id)


def bucket_names(account_id: str) -> set[str]:
    return {b["Name"] for b in account_session(account_id).client("s3").list_buckets()["Buckets"]}


def environment_accounts(organization: Organization) -> dict[str, str]:
    """Name to id of every account that holds environments."""
    return {a.name: a.id for a in organization.accounts if organization.environments_in(a)}


def _decoded(value):
    return json.loads(value) if isinstance(value, str) else value


def aws_state(organization: Organization) -> dict:
    """Everything bootstrap manages, by name (never by generated id), so two runs can be compared."""
    orgs = management().client("organizations")
    root = orgs.list_roots()["Roots"][0]
    units = orgs.list_organizational_units_for_parent(ParentId=root["Id"])["OrganizationalUnits"]
    listed = orgs.list_accounts()["Accounts"]
    # Named by email, not id: accounts bootstrap creates get a new id on every clean run.
    names = {root["Id"]: "root", **{u["Id"]: u["Name"] for u in units}, **{a["Id"]: a["Email"] for a in listed}}
    scps = {}
    for policy in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]:
        content = json.loads(orgs.describe_policy(PolicyId=policy["Id"])["Policy"]["Content"])
        targets = orgs.list_targets_for_policy(PolicyId=policy["Id"])["Targets"]
        scps[policy["Name"]] = {"content": content, "targets": sorted(names[t["TargetId"]] for t in targets)}
    members = {a["Email"]: names[orgs.list_parents(ChildId=a["Id"])["Parents"][0]["Id"]]
               for a in listed}
    accounts = {}
    for name, account_id in environment_accounts(organization).items():
        session = account_session(account_id)
        s3, iam = session.client("s3"), session.client("iam")
        accounts[name] = {
            "buckets": {b["Name"]: bucket_state(s3, b["Name"]) for b in s3.list_buckets()["Buckets"]},
            "roles": {r["RoleName"]: role_state(iam, r["RoleName"]) for r in iam.list_roles()["Roles"]},
            "oidc": sorted(p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]),
        }
    return {"policy types": root["PolicyTypes"], "units": sorted(u["Name"] for u in units), "scps": scps,
            "members": members, "accounts": accounts}


def _unless_missing(read):
    try:
        return read()
    except botocore.exceptions.ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
            raise
        return None


def bucket_state(s3, bucket: str) -> dict:
    return {
        "region": s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] or "us-east-1",
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "encryption": _unless_missing(lambda: [
            r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            for r in s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]]),
        "public access block": _unless_missing(
            lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]),
        "ownership": _unless_missing(
            lambda: s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]),
        "policy": _unless_missing(lambda: json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])),
    }


def role_state(iam, role: str) -> dict:
    return {
        "trust": _decoded(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]),
        "attached": sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]),
        "inline": {n: _decoded(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
                   for n in iam.list_role_policies(RoleName=role)["PolicyNames"]},
    }


def assert_bootstrapped(organization: Organization, state: dict, only: set[str] | None = None) -> None:
    """``state`` (from aws_state) holds exactly what bootstrap should have put in place (in the ``only`` accounts)."""
    settings = organization.settings
    for name, account_id in environment_accounts(organization).items():
        if only is not None and name not in only:
            continue
        bucket = naming.state_bucket(organization.name, account_id)
        account = state["accounts"][name]
        assert set(account["buckets"]) == {bucket}, name  # the state bucket lives IN its account
        found = account["buckets"][bucket]
        assert found["region"] == settings.region
        assert found["versioning"] == "Enabled"
        assert found["encryption"] == ["AES256"]
        assert found["public access block"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                                "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
        assert found["ownership"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert policies.same_policy(found["policy"], policies.state_bucket_policy(bucket, account_id, settings))

        deploy, plan = account["roles"][settings.deploy_role], account["roles"][settings.plan_role]
        kind = organization.account(name).kind
        assert policies.same_policy(deploy["trust"],
                                    policies.deploy_trust_policy(settings, account_id, MANAGEMENT_ID, kind))
        assert policies.same_policy(plan["trust"], policies.plan_trust_policy(settings, account_id, MANAGEMENT_ID))
        assert deploy["attached"] == [policies.ADMINISTRATOR_ACCESS]
        assert deploy["inline"] == {}
        assert plan["attached"] == []  # no managed policy: ReadOnlyAccess reads data
        wanted_inline = policies.plan_inline_policies(bucket, settings.region)
        assert set(plan["inline"]) == set(wanted_inline)
        for name, document in wanted_inline.items():
            assert policies.same_policy(plan["inline"][name], document), name
        github = [policies.github_oidc_provider_arn(account_id)] if settings.github_repository else []
        assert account["oidc"] == github

    assert state["policy types"] == [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
    wanted_scps = {scp.name: scp for scp in policies.service_control_policies(settings)}
    assert set(state["scps"]) - {"FullAWSAccess"} == set(wanted_scps)  # AWS's own default stays
    for name, scp in wanted_scps.items():
        assert policies.same_policy(state["scps"][name]["content"], scp.document), name
    assert state["scps"][policies.deny_leave_organization_name(organization.name)]["targets"] == ["root"]
    assert state["scps"][policies.guardrails_name(organization.name)]["targets"] == ["root"]
    assert state["scps"][policies.protect_state_name(organization.name)]["targets"] == ["production", "staging"]
    assert state["units"] == ["developer", "development", "production", "staging"]


# -- the example organization ------------------------------------------------------------------------

def test_bootstrap_of_the_example_sets_up_every_account_then_changes_nothing_then_repairs_drift(
        aws_env_with_managed_policies, project):
    organization = organization_of(project)
    report = run_bootstrap(project)

    assert report.failed == ()
    members = [a for a in organization.accounts if a.kind.value != "management"]
    not_members = report.with_status(Status.NOT_MEMBER)
    # The example's fixed ids are no members of moto's Organization: reported, with the command to invite them.
    assert sorted(r.account for r in not_members) == sorted(a.name for a in members)
    for row in not_members:
        assert f"aws organizations invite-account-to-organization --target Id={row.account_id},Type=ACCOUNT" \
            in row.detail
    first_run = aws_state(organization)
    assert_bootstrapped(organization, first_run)
    assert bucket_names(MANAGEMENT_ID) == set()  # nothing lands in the account bootstrap runs from
    assert not (project / "environments" / ACCOUNT_IDS_FILE).exists()  # no account was created

    again = run_cli("bootstrap", cwd=project, env=aws_env_with_managed_policies)

    assert again.returncode == 0, again.stderr
    assert "Nothing to change" in again.stdout
    assert "0 created, 0 updated" in again.stdout
    assert "invite-account-to-organization --target Id=200000000001,Type=ACCOUNT" in again.stdout
    assert aws_state(organization) == first_run

    # Someone weakens production by hand; the next run puts back what bootstrap owns, and only that.
    prod = "200000000001"
    bucket = naming.state_bucket("acme", prod)
    prod_session = account_session(prod)
    s3, iam = prod_session.client("s3"), prod_session.client("iam")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket=bucket)
    their_statement = {"Sid": "AllowAuditRead", "Effect": "Allow",
                       "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [their_statement]}))
    iam.update_assume_role_policy(RoleName="TerraformDeploy", PolicyDocument=json.dumps(
        policies.trust_policy(["arn:aws:iam::999999999999:root"], prod, None)))
    # The plan role as an earlier version left it (ReadOnlyAccess), plus a grant someone added.
    iam.attach_role_policy(RoleName="TerraformPlan", PolicyArn=policies.READ_ONLY_ACCESS)
    iam.put_role_policy(RoleName="TerraformPlan", PolicyName="ReadEverything", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    orgs = management().client("organizations")
    protect = next(p for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
                   if p["Name"] == "acme-protect-state")
    orgs.update_policy(PolicyId=protect["Id"], Content=policies.compact(policies.deny_leave_organization()))
    staging = next(u["Id"] for u in orgs.list_organizational_units_for_parent(
        ParentId=orgs.list_roots()["Roots"][0]["Id"])["OrganizationalUnits"] if u["Name"] == "staging")
    orgs.detach_policy(PolicyId=protect["Id"], TargetId=staging)

    drifted = aws_state(organization)

    # A dry run reads everything, says what a run would change, and changes nothing.
    preview = run_bootstrap(project, dry_run=True)
    assert preview.dry_run and preview.failed == ()
    assert aws_state(organization) == drifted
    shown = run_cli("bootstrap", "--dry-run", cwd=project, env=aws_env_with_managed_policies)
    assert shown.returncode == 0, shown.stderr
    assert "would be updated" in shown.stdout and "removed statement AllowAuditRead" in shown.stdout
    assert "bootstrap --dry-run: 0 created, 4 updated" in shown.stdout and "nothing was changed" in shown.stdout
    assert aws_state(organization) == drifted

    repair = run_bootstrap(project)

    changed = {(r.account, r.item): r.detail for r in repair.changed}
    assert {(r.account, r.item, r.status, r.detail) for r in preview.changed} == \
        {(r.account, r.item, r.status, r.detail) for r in repair.changed}
    assert set(changed) == {("prod", "state bucket"), ("prod", "role TerraformDeploy"),
                            ("prod", "role TerraformPlan"), ("management", "SCP acme-protect-state")}
    assert {r.status for r in repair.changed} == {Status.UPDATED}
    # Their statement is removed, and named: the state bucket's policy is the tool's alone.
    assert changed["prod", "state bucket"] == (f"{bucket}: versioning enabled, public access blocked, "
                                               "bucket policy: removed statement AllowAuditRead; restored "
                                               "DenyInsecureTransport, OnlyToolRolesTouchState")
    assert changed["prod", "role TerraformDeploy"] == "trust policy updated"
    assert changed["prod", "role TerraformPlan"] == "ReadOnlyAccess detached, inline policy ReadEverything removed"
    assert changed["management", "SCP acme-protect-state"] == "content updated, attached to OU staging"
    assert aws_state(organization) == first_run


def test_an_extra_statement_next_to_the_tools_own_is_named_by_summary_and_removed(
        aws_env_with_managed_policies, project):
    organization = organization_of(project)
    assert run_bootstrap(project).failed == ()
    prod = "200000000001"
    bucket = naming.state_bucket("acme", prod)
    s3 = account_session(prod).client("s3")
    copy_out = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}/*"}
    ours = policies.state_bucket_policy(bucket, prod, organization.settings)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**ours, "Statement": [*ours["Statement"], copy_out]}))

    rows = {(r.account, r.item): r for r in run_bootstrap(project).changed}

    assert list(rows) == [("prod", "state bucket")]
    assert rows["prod", "state bucket"].detail == (
        f"{bucket}: bucket policy: removed statement Allow s3:GetObject +1 to arn:aws:iam::999999999999:root")
    assert policies.same_policy(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]), ours)
    assert_bootstrapped(organization, aws_state(organization))


def test_a_dry_run_on_nothing_says_everything_would_be_created_and_creates_nothing(
        aws_env_with_managed_policies, project):
    orgs = management().client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    add_developer(project, "carol")  # an account to be created, in an OU to be created
    organization = organization_of(project)

    report = run_bootstrap(project, dry_run=True)

    assert report.failed == ()
    statuses = {(r.account, r.item): r.status for r in report.rows}
    for kind in ("production", "staging", "development", "developer"):
        assert statuses["management", f"OU {kind}"] is Status.CREATED
    assert statuses["carol", "account"] is Status.CREATED
    assert statuses["management", "service control policies"] is Status.CREATED
    for scp in policies.service_control_policies(organization.settings):
        assert statuses["management", f"SCP {scp.name}"] is Status.CREATED
    details = {(r.account, r.item): r.detail for r in report.rows}
    assert details["management", "SCP acme-protect-state"] == \
        "attached to OU production (to be created), attached to OU staging (to be created)"
    for name in environment_accounts(organization):
        if name == "carol":
            continue
        assert statuses[name, "state bucket"] is Status.CREATED, name
        assert statuses[name, "role TerraformPlan"] is Status.CREATED, name
        assert details[name, "role TerraformPlan"].startswith(
            "TerraformStateAccess + TerraformPlanRead + TerraformPlanDenyData; trusts"), name
    root = orgs.list_roots()["Roots"][0]
    assert orgs.list_organizational_units_for_parent(ParentId=root["Id"])["OrganizationalUnits"] == []
    assert orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"] == [] or all(
        p["Name"] == "FullAWSAccess" for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"])
    assert [a["Email"] for a in orgs.list_accounts()["Accounts"]] == [a["Email"] for a in orgs.list_accounts()[
        "Accounts"] if a["Id"] == MANAGEMENT_ID]
    for account_id in ("200000000001", "300000000001"):
        assert bucket_names(account_id) == set()
        assert account_session(account_id).client("iam").list_roles()["Roles"] == []
    assert not (project / "environments" / ACCOUNT_IDS_FILE).exists()


def test_a_dry_run_without_an_organization_says_so_and_stops(aws_env_with_managed_policies, project):
    result = run_cli("bootstrap", "--dry-run", cwd=project, env=aws_env_with_managed_policies)

    assert result.returncode == 0, result.stderr
    assert "Organization" in result.stdout and "would be created" in result.stdout
    with pytest.raises(management().client("organizations").exceptions.AWSOrganizationsNotInUseException):
        management().client("organizations").describe_organization()


def test_a_failure_in_one_account_is_reported_and_the_others_go_on(aws_env_with_managed_policies, project):
    # Another account already holds the name qa's state bucket needs.
    squatted = naming.state_bucket("acme", "300000000002")
    management().client("s3").create_bucket(Bucket=squatted)

    result = run_cli("bootstrap", cwd=project, env=aws_env_with_managed_policies)

    assert result.returncode == 1
    assert f"qa: state bucket: the name {squatted} is taken by a bucket of another AWS account" in result.stderr
    assert "1 failed" in result.stdout
    organization = organization_of(project)
    state = aws_state(organization)
    qa = state["accounts"].pop("qa")
    assert qa["buckets"] == {}
    assert set(qa["roles"]) == {"TerraformDeploy", "TerraformPlan"}  # the account's other items went on
    assert_bootstrapped(organization, state, only=set(state["accounts"]))


# -- accounts created by bootstrap ---------------------------------------------------------------------

def add_developer(project: Path, name: str) -> None:
    environments = project / "environments"
    with open(environments / "accounts.hcl", "a", encoding="utf-8") as accounts:
        accounts.write(f'\naccount "{name}" {{\n  email = "aws+{name}@acme.test"\n  kind  = "developer"\n'
                       f'  owner = "{name}"\n}}\n')
    (environments / f"{name}.hcl").write_text(f'environment "{name}" {{\n  account = "{name}"\n\n'
                                              '  module "infra" {\n    source = "infrastructure"\n  }\n}\n')


def test_accounts_declared_by_email_are_created_recorded_and_found_again(aws_env_with_managed_policies, project):
    add_developer(project, "carol")
    add_developer(project, "dave")
    # With a GitHub repository, every account also gets GitHub's OIDC provider and trusts it.
    organization_file = project / "environments" / "organization.hcl"
    organization_file.write_text(re.sub(r'(?m)^  github_repository .*$', '', organization_file.read_text()).replace(
        'extensions = ["developer-budget"]',
        'extensions = ["developer-budget"]\n  github_repository = "acme/platform"'))
    orgs = management().client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    # dave was created by a run that stopped before it recorded his id.
    dave = orgs.create_account(Email="aws+dave@acme.test", AccountName="dave")["CreateAccountStatus"]["AccountId"]

    report = run_bootstrap(project)

    assert report.failed == ()
    rows = {r.account: r for r in report.rows if r.item == "account"}
    assert rows["carol"].status is Status.CREATED
    assert rows["dave"].status is Status.UPDATED
    recorded = json.loads((project / "environments" / ACCOUNT_IDS_FILE).read_text())
    assert list(recorded) == ["//", "accounts"]
    assert "bootstrap" in recorded["//"] and "Commit" in recorded["//"]
    assert set(recorded["accounts"]) == {"carol", "dave"}
    carol = recorded["accounts"]["carol"]
    assert naming.ACCOUNT_ID_PATTERN.match(carol)
    assert recorded["accounts"]["dave"] == dave
    assert (rows["carol"].account_id, rows["dave"].account_id) == (carol, dave)
    assert [a["Email"] for a in orgs.list_accounts()["Accounts"]].count("aws+dave@acme.test") == 1

    reloaded = organization_of(project)
    assert (reloaded.account("carol").id, reloaded.account("dave").id) == (carol, dave)
    assert reloaded.settings.github_repository == "acme/platform"
    state = aws_state(reloaded)
    assert_bootstrapped(reloaded, state)  # carol's and dave's state buckets are in their new accounts
    assert state["members"]["aws+carol@acme.test"] == "developer"
    assert state["members"]["aws+dave@acme.test"] == "developer"
    trust = state["accounts"]["carol"]["roles"]["TerraformPlan"]["trust"]
    assert [s["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
            for s in trust["Statement"] if "Condition" in s] == ["repo:acme/platform:pull_request"]

    written = (project / "environments" / ACCOUNT_IDS_FILE).read_text()
    again = run_bootstrap(project)
    assert again.changed == () and again.failed == ()
    assert {r.account: r.status for r in again.rows if r.item == "account"}["carol"] is Status.PRESENT
    assert (project / "environments" / ACCOUNT_IDS_FILE).read_text() == written


# -- interrupted, and refused ---------------------------------------------------------------------------

def test_a_run_killed_midway_converges_when_run_again(aws_env_with_managed_policies, moto_server, project):
    organization = organization_of(project)
    accounts = list(environment_accounts(organization).values())
    first, last = accounts[0], accounts[-1]

    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "bootstrap"], cwd=project,
                               env=aws_env_with_managed_policies, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first_s3 = account_session(first).client("s3")
        deadline = time.monotonic() + 60
        while not first_s3.list_buckets()["Buckets"]:
            assert process.poll() is None, "bootstrap ended before its first state bucket was seen"
            assert time.monotonic() < deadline, "no state bucket appeared"
            time.sleep(0.01)
        assert process.poll() is None, "bootstrap ended before it could be killed"
        process.kill()  # SIGKILL: no cleanup of any kind
    finally:
        process.kill()
        process.wait(timeout=30)
    assert bucket_names(last) == set(), "killed too late to be midway"

    rerun = run_cli("bootstrap", cwd=project, env=aws_env_with_managed_policies)
    assert rerun.returncode == 0, rerun.stderr
    converged = aws_state(organization)

    reset_aws(moto_server)
    assert run_bootstrap(project).failed == ()
    assert converged == aws_state(organization)
    assert_bootstrapped(organization, converged)


def test_credentials_of_another_account_are_refused_before_any_change(aws_env_with_managed_policies, project):
    accounts_file = project / "environments" / "accounts.hcl"
    accounts_file.write_text(accounts_file.read_text().replace('id    = "123456789012"', 'id    = "111111111111"'))
    assert organization_of(project).account("management").id == "111111111111"

    result = run_cli("bootstrap", cwd=project, env=aws_env_with_managed_policies)

    assert result.returncode == 1
    assert "123456789012" in result.stderr and "111111111111" in result.stderr
    orgs = management().client("organizations")
    with pytest.raises(orgs.exceptions.AWSOrganizationsNotInUseException):
        orgs.describe_organization()
    for account_id in ("200000000001", "300000000001"):
        assert bucket_names(account_id) == set()
        assert account_session(account_id).client("iam").list_roles()["Roles"] == []
    assert not (project / "environments" / ACCOUNT_IDS_FILE).exists()


# -- the roles bootstrap made, used by Terraform ----------------------------------------------------------

@pytest.mark.terraform
def test_the_example_plans_with_the_bootstrapped_plan_role(aws_env_with_managed_policies, terraform_env,
                                                           terraform_cache, tmp_path):
    """Deployed with the deploy role, then `plan --all --role plan`, each through the roles bootstrap put in
    place (moto does not enforce their policies: test_policy_tables.py checks what they allow)."""
    project = copy_project(tmp_path)
    for path in (project / "environments").glob("*.hcl"):  # production, and a user of another environment
        if path.stem not in {"accounts", "organization", "layouts", "production", "dev", "feature-checkout"}:
            path.unlink()
    env = {**aws_env_with_managed_policies, "AWS_ORG_WORKSPACES_CACHE": str(terraform_cache),
           **{k: v for k, v in terraform_env.items() if k.startswith("TF_") or k == "CHECKPOINT_DISABLE"}}
    assert run_bootstrap(project).failed == ()

    def main_py(*args: str):
        return run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"),
                       *args, "--out", str(project / "cdktf.out"), "--no-extensions", env=env)

    deployed = main_py("deploy", "--all", "--auto-approve", "--allow-production", "--jobs", "2")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    planned = main_py("plan", "--all", "--role", "plan", "--jobs", "2", "--json", str(project / "review.json"))

    assert planned.returncode == 0, planned.stdout + planned.stderr
    review = json.loads((project / "review.json").read_text())
    entries = [e for group in review["accounts"] for e in group["environments"]]
    assert sorted(e["environment"] for e in entries) == ["dev", "feature-checkout", "production"]
    for entry in entries:
        assert entry["status"] == "unchanged", entry
        assert entry["role_arn"] == f"arn:aws:iam::{entry['account_id']}:role/TerraformPlan"
        plan_role = account_session(entry["account_id"]).client("iam").get_role(RoleName="TerraformPlan")["Role"]
        assert plan_role["Arn"] == entry["role_arn"]  # the role bootstrap made, not one moto made up


def test_a_dry_runs_clients_let_reads_through_and_refuse_writes(fresh_aws):
    from generators.aws.bootstrap import DryRunWrite, _ReadOnlyClient

    s3 = _ReadOnlyClient(management().client("s3"))
    assert s3.list_buckets()["Buckets"] == []
    with pytest.raises(DryRunWrite, match="create_bucket"):
        s3.create_bucket(Bucket="acme-tfstate-123456789012")
    assert management().client("s3").list_buckets()["Buckets"] == []
    assert s3.can_paginate("list_objects_v2") and s3.get_paginator("list_objects_v2") is not None
