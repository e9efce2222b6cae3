"""plan / deploy / destroy: the real terraform binary against a real moto server, on scratch copies.

Bootstrap (state buckets, roles) is not assumed: ``state_buckets`` creates each account's state
bucket directly, which is all Terraform needs, because moto lets any caller assume any role.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, ROOT, copy_project, run_cli
from generators import aws
from generators.config import load_organization
from generators.errors import UsageError
from generators.models import Organization
from generators.runner import (
    Changes,
    Result,
    RunRequest,
    check_request,
    parse_apply_summary,
    parse_lock_info,
    parse_plan_summary,
    read_state_lock,
    run,
    select_environments,
    waves,
)
from generators.terraform_cli import terraform_environment

REGION = "us-east-1"
ACCESS_ROLE = "OrganizationAccountAccessRole"
WITH_INFRA = {"alice", "bob", "dev", "preprod", "production", "qa", "uat"}
API_USERS = ("feature-checkout", "hotfix-login")

LOCK_OUTPUT = """
Error: Error acquiring the state lock

Error message: operation error S3: PutObject, https response error
StatusCode: 412, api error PreconditionFailed: At least one of the pre-conditions you
specified did not hold
Lock Info:
  ID:        c9fb70d5-2950-d49d-9998-184095a59770
  Path:      acme-tfstate-400000000001/dev/terraform.tfstate
  Operation: OperationTypePlan
  Who:       ci@runner-7
  Version:   1.11.4
  Created:   2026-11-29 19:21:30.855912352 +0000 UTC
  Info:      

Terraform acquires a state lock to protect the state from being written
"""


# -- helpers ---------------------------------------------------------------------------------------


def make_project(tmp_path: Path, keep: tuple[str, ...] | None = None) -> Path:
    """A scratch copy of the example; ``keep`` trims it to those environments, so a test only pays for
    the workspaces it is about."""
    project = copy_project(tmp_path / "project")
    if keep is not None:
        for path in (project / "environments").glob("*.hcl"):
            if path.stem not in {"accounts", "organization", "layouts", *keep}:
                path.unlink()
    return project


def organization_of(project: Path) -> Organization:
    return load_organization(project / "environments", project / "modules")


def account_session(account_id: str):
    return aws.assume_role_session(aws.session(REGION), f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}",
                                   "runner-tests", REGION)


def create_state_buckets(organization: Organization, skip: tuple[str, ...] = ()) -> None:
    """What bootstrap would do for state: one versioned bucket per account that holds environments."""
    for account in {e.account for e in organization.environments}:
        if account.name in skip:
            continue
        s3 = account_session(account.id).client("s3")
        bucket = organization.state_bucket(account)
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def state_keys(organization: Organization, account) -> set[str]:
    s3 = account_session(account.id).client("s3")
    listing = s3.list_objects_v2(Bucket=organization.state_bucket(account))
    return {o["Key"] for o in listing.get("Contents", [])}


def state_object(organization: Organization, environment) -> bytes:
    s3 = account_session(environment.account.id).client("s3")
    return s3.get_object(Bucket=organization.state_bucket(environment.account),
                         Key=environment.state_key)["Body"].read()


def tables(account_id: str) -> set[str]:
    return set(account_session(account_id).client("dynamodb").list_tables()["TableNames"])


def main_py(project: Path, env: dict[str, str], command: str, *args: str, input: str | None = None):
    """`python main.py COMMAND ARGS` on the scratch project, without the slow typed extensions."""
    argv = ["--environments", str(project / "environments"), "--modules", str(project / "modules"), command,
            *args, "--out", str(project / "cdktf.out"), "--no-extensions"]
    if input is None:
        return run_cli(*argv, env=env)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], cwd=ROOT, env=env, input=input,
                          capture_output=True, text=True, timeout=600)  # run_cli has no stdin


def request(project: Path, action: str, *names: str, **options) -> RunRequest:
    options.setdefault("with_extensions", False)
    options.setdefault("local_endpoint", aws.endpoint_is_local())
    return RunRequest(organization=organization_of(project), modules_dir=project / "modules",
                      outdir=project / "cdktf.out", action=action, environments=names, **options)


@pytest.fixture
def run_env(fresh_aws, terraform_env, terraform_cache, monkeypatch) -> dict[str, str]:
    """moto's endpoint and credentials plus the session's Terraform CLI configuration (provider mirror,
    shared plugin cache), for CLI subprocesses and in-process runs alike."""
    env = dict(fresh_aws)
    for name, value in terraform_env.items():
        if name.startswith("TF_") or name == "CHECKPOINT_DISABLE":
            env[name] = value
            monkeypatch.setenv(name, value)
    env["AWS_ORG_WORKSPACES_CACHE"] = str(terraform_cache)
    monkeypatch.setenv("AWS_ORG_WORKSPACES_CACHE", str(terraform_cache))
    return env


# -- pure parts: parsing, selection, ordering --------------------------------------------------------


def test_parses_terraform_summary_lines():
    assert parse_plan_summary("x\nPlan: 6 to add, 1 to change, 2 to destroy.\n") == Changes(6, 1, 2)
    assert parse_plan_summary("Plan: 1 to import, 3 to add, 0 to change, 0 to destroy.") == Changes(3, 0, 0)
    assert parse_plan_summary("\nNo changes. Your infrastructure matches the configuration.\n") == Changes()
    assert parse_plan_summary("Error: boom") is None
    assert parse_apply_summary("Apply complete! Resources: 6 added, 0 changed, 0 destroyed.") == Changes(6, 0, 0)
    assert parse_apply_summary("Apply complete! Resources: 0 added, 0 changed, 4 destroyed.") == Changes(0, 0, 4)
    assert parse_apply_summary("Destroy complete! Resources: 4 destroyed.") == Changes(0, 0, 4)


def test_parses_the_lock_info_block():
    lock = parse_lock_info(LOCK_OUTPUT)
    assert lock is not None
    assert (lock.id, lock.who, lock.operation) == ("c9fb70d5-2950-d49d-9998-184095a59770", "ci@runner-7",
                                                    "OperationTypePlan")
    assert lock.path == "acme-tfstate-400000000001/dev/terraform.tfstate"
    assert "ci@runner-7" in str(lock)
    assert parse_lock_info("Error: something else") is None


def test_selection_errors_name_the_known_environments():
    organization = load_organization(EXAMPLE_ENVIRONMENTS, EXAMPLE_ENVIRONMENTS.parent / "modules")
    with pytest.raises(UsageError, match="unknown environment 'nope'; known environments: alice, bob, dev"):
        select_environments(organization, ["dev", "nope"], False, "plan")
    with pytest.raises(UsageError, match="--all"):
        select_environments(organization, [], False, "deploy")
    with pytest.raises(UsageError, match="not --all"):
        select_environments(organization, [], True, "destroy")
    assert [e.name for e in select_environments(organization, ["qa", "dev", "qa"], False, "plan")] == ["qa", "dev"]


def test_users_deploy_after_and_destroy_before_what_they_use():
    organization = load_organization(EXAMPLE_ENVIRONMENTS, EXAMPLE_ENVIRONMENTS.parent / "modules")
    selected = organization.environments
    deploy = [[e.name for e in group] for group in waves(selected, "deploy")]
    assert set(deploy[1]) == set(API_USERS) and "dev" in deploy[0] and len(deploy) == 2
    destroy = [[e.name for e in group] for group in waves(selected, "destroy")]
    assert destroy == [deploy[1], deploy[0]]
    assert len(waves(selected, "plan")) == 1
    # A user whose infrastructure environment is not part of the command runs at once.
    alone = select_environments(organization, ["feature-checkout"], False, "deploy")
    assert [[e.name for e in g] for g in waves(alone, "deploy")] == [["feature-checkout"]]


def test_destroying_a_used_environment_alone_is_refused():
    organization = load_organization(EXAMPLE_ENVIRONMENTS, EXAMPLE_ENVIRONMENTS.parent / "modules")

    def check(*names: str, allow_production: bool = False) -> None:
        selected = select_environments(organization, names, False, "destroy")
        check_request(organization, selected, RunRequest(organization, Path("m"), Path("o"), "destroy", names,
                                                         allow_production=allow_production))

    with pytest.raises(UsageError, match="cannot destroy 'dev': still used by feature-checkout, hotfix-login"):
        check("dev")
    with pytest.raises(UsageError, match="still used by hotfix-login"):
        check("dev", "feature-checkout")
    check("dev", "feature-checkout", "hotfix-login")
    with pytest.raises(UsageError, match="--allow-production"):
        check("production")
    check("production", allow_production=True)


# -- against moto ----------------------------------------------------------------------------------


@pytest.mark.terraform
def test_deploy_all_puts_every_environment_in_its_own_account(tmp_path, run_env):
    project = make_project(tmp_path)
    organization = organization_of(project)
    create_state_buckets(organization)

    done = main_py(project, run_env, "deploy", "--all", "--auto-approve", "--allow-production", "--jobs", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[dev] plan: 6 to add, 0 to change, 0 to destroy" in done.stdout
    for environment in organization.environments:
        assert f"[{environment.name}] apply: " in done.stdout

    holding = {e.account for e in organization.environments}
    for account in holding:
        expected = {e.state_key for e in organization.environments_in(account)}
        assert state_keys(organization, account) == expected, account.name  # own bucket, and only there
        assert tables(account.id) == {f"{e.name}-notes" for e in organization.environments_in(account)
                                      if e.name in WITH_INFRA}, account.name
    dev = organization.account("dev")
    ssm = account_session(dev.id).client("ssm")
    for user in API_USERS:
        value = ssm.get_parameter(Name=f"/{user}/api/table_name")["Parameter"]["Value"]
        assert value == "dev-notes"  # read from dev's state through `uses`
    # Outputs of the shared environment are in its state, where the users read them.
    dev_state = json.loads(state_object(organization, organization.environment("dev")))
    assert dev_state["outputs"]["infra_table_name"]["value"] == "dev-notes"

    stacks = project / "cdktf.out" / "stacks"
    for environment in organization.environments:
        stack = stacks / environment.name
        log = (stack / "terraform.log").read_text()
        for step in ("init", "plan", "apply"):
            assert f"deploy {environment.name}: terraform {step} " in log
        assert str(Path("stacks") / environment.name / "terraform.log") in done.stdout
        assert not (stack / "plan.tfplan").exists()  # applied plans are not left behind
        # The provider comes from the shared cache as a link, never a copy per workspace.
        for platform in (stack / ".terraform" / "providers").glob("*/*/*/*/*"):
            assert platform.is_symlink(), platform


@pytest.mark.terraform
def test_destroy_keeps_the_shared_environment_and_refuses_it_while_used(tmp_path, run_env):
    project = make_project(tmp_path, keep=("dev", *API_USERS))
    organization = organization_of(project)
    create_state_buckets(organization)
    dev = organization.environment("dev")
    deployed = run(request(project, "deploy", all_environments=True, auto_approve=True))
    assert {r.result for r in deployed.results} == {Result.OK}, deployed

    destroyed = main_py(project, run_env, "destroy", "hotfix-login", "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "[hotfix-login] apply: 0 added, 0 changed, 4 destroyed" in destroyed.stdout
    ssm = account_session(dev.account.id).client("ssm")
    names = {p["Name"] for p in ssm.describe_parameters()["Parameters"]}
    assert "/hotfix-login/api/table_name" not in names and "/feature-checkout/api/table_name" in names
    assert "dev-notes" in tables(dev.account.id)
    assert json.loads(state_object(organization, dev))["outputs"]["infra_table_name"]["value"] == "dev-notes"

    refused = main_py(project, run_env, "destroy", "dev", "--auto-approve")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "cannot destroy 'dev': still used by feature-checkout, hotfix-login" in refused.stderr
    assert "dev-notes" in tables(dev.account.id)
    assert "[dev]" not in refused.stdout

    # Once the destroyed environment is removed from the configuration, dev and its last user can go
    # together: the user first, the shared environment after it.
    (project / "environments" / "hotfix-login.hcl").unlink()
    both = main_py(project, run_env, "destroy", "dev", "feature-checkout", "--auto-approve")
    assert both.returncode == 0, both.stdout + both.stderr
    lines = both.stdout.splitlines()
    assert lines.index("[feature-checkout] apply: 0 added, 0 changed, 4 destroyed") < next(i for i, line in enumerate(lines) if line.startswith("[dev] init"))
    assert tables(dev.account.id) == set()
    assert "hotfix-login" not in os.listdir(project / "cdktf.out" / "stacks")  # its stack went with it


@pytest.mark.terraform
def test_production_needs_allow_production_and_shows_its_plan(tmp_path, run_env):
    project = make_project(tmp_path, keep=("production",))
    organization = organization_of(project)
    create_state_buckets(organization)
    production = organization.environment("production")
    stack = project / "cdktf.out" / "stacks" / "production"

    refused = main_py(project, run_env, "deploy", "production", "--auto-approve")
    assert refused.returncode == 2
    assert "--allow-production" in refused.stderr
    assert not (stack / "terraform.log").exists()  # nothing ran for it
    assert state_keys(organization, production.account) == set()

    # Allowed but not auto-approved: the full plan is shown and asked about; "no" applies nothing.
    declined = main_py(project, run_env, "deploy", "production", "--allow-production", input="n\n")
    assert declined.returncode == 0, declined.stdout + declined.stderr
    assert "module.infra.aws_dynamodb_table.notes will be created" in declined.stdout
    assert "to PRODUCTION (production) now?" in declined.stdout
    assert "production: skipped: not confirmed" in declined.stdout
    assert tables(production.account.id) == set()
    assert not (stack / "plan.tfplan").exists()


@pytest.mark.terraform
def test_a_workspace_pointed_at_another_account_fails_before_any_change(tmp_path, run_env):
    project = make_project(tmp_path, keep=("dev", "alice"))
    organization = organization_of(project)
    create_state_buckets(organization)
    synthesized = main_py(project, run_env, "synth")
    assert synthesized.returncode == 0, synthesized.stderr

    # The dev environment's workspace, but its provider enters alice's account.
    stacks = project / "cdktf.out" / "stacks"
    wrong = stacks / "dev-wrong-account"
    wrong.mkdir()
    (wrong / "cdk.tf.json").write_bytes((stacks / "dev" / "cdk.tf.json").read_bytes())
    alice = organization.account("alice")
    (wrong / "override.tf.json").write_text(json.dumps({"provider": {"aws": {"assume_role": [{
        "role_arn": organization.role_arn(alice), "session_name": "wrong-account-test"}]}}}))
    env = terraform_environment(Path(run_env["AWS_ORG_WORKSPACES_CACHE"]))
    common = ["-input=false", "-no-color", "-lock-timeout=10s"]
    init = subprocess.run(["terraform", "init", *common], cwd=wrong, env=env, capture_output=True, text=True)
    assert init.returncode == 0, init.stdout + init.stderr
    plan = subprocess.run(["terraform", "plan", *common], cwd=wrong, env=env, capture_output=True, text=True)

    assert plan.returncode != 0
    assert f"AWS account ID not allowed: {alice.id}" in plan.stdout + plan.stderr
    assert tables(alice.id) == set()
    assert state_keys(organization, alice) == set()
    buckets = {b["Name"] for b in account_session(alice.id).client("s3").list_buckets()["Buckets"]}
    assert not any(b.startswith("dev-") for b in buckets)
    assert state_keys(organization, organization.account("dev")) == set()  # the plan wrote no state


@pytest.mark.terraform
def test_concurrent_runs_wait_for_or_report_the_lock_and_never_break_it(tmp_path, run_env):
    project = make_project(tmp_path, keep=("dev",))
    organization = organization_of(project)
    create_state_buckets(organization)
    dev = organization.environment("dev")
    deployed = run(request(project, "deploy", "dev", auto_approve=True))
    assert [r.result for r in deployed.results] == [Result.OK], deployed
    before = state_object(organization, dev)
    serial = json.loads(before)["serial"]
    stack = project / "cdktf.out" / "stacks" / "dev"
    env = terraform_environment(Path(run_env["AWS_ORG_WORKSPACES_CACHE"]))

    # Two plans of the same workspace at once: the second waits for the first's lock.
    plan = ["terraform", "plan", "-input=false", "-no-color", "-lock-timeout=120s"]
    both = [subprocess.Popen(plan, cwd=stack, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert all("No changes." in o for o in outputs)
    assert state_object(organization, dev) == before

    # A lock held by someone else (an apply waiting at its prompt) is reported with its holder.
    holder = subprocess.Popen(["terraform", "destroy", "-no-color", "-input=true"], cwd=stack,
                              env={**env, "TF_INPUT": "1"}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        held = _wait_for_lock(organization, dev)
        assert held is not None, "the holder never took the lock"
        report = run(request(project, "plan", "dev", lock_timeout=1))
        [result] = report.results
        assert result.result is Result.FAILED
        assert result.lock is not None and (result.lock.id, result.lock.who) == (held.id, held.who)
        assert held.who in result.message and "not broken" in result.message
        assert "Error acquiring the state lock" in result.log_path.read_text()
        still = read_state_lock(organization, dev)
        assert still is not None and still.id == held.id  # never broken
    finally:
        holder_output = holder.communicate("no\n", timeout=120)[0]
    assert "Destroy cancelled." in holder_output
    assert read_state_lock(organization, dev) is None
    after = state_object(organization, dev)
    assert after == before and json.loads(after)["serial"] == serial
    assert "dev-notes" in tables(dev.account.id)


def _wait_for_lock(organization, environment, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lock = read_state_lock(organization, environment)
        if lock is not None:
            return lock
        time.sleep(0.2)
    return None


@pytest.mark.terraform
def test_one_failing_workspace_does_not_stop_the_others(tmp_path, run_env):
    project = make_project(tmp_path, keep=("dev", "alice", "production"))
    organization = organization_of(project)
    create_state_buckets(organization, skip=("alice",))  # alice's account was never bootstrapped

    done = main_py(project, run_env, "deploy", "--all", "--auto-approve")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in ("dev", "alice", "production")}
    assert rows["dev"][3] == "ok" and rows["alice"][3] == "failed" and rows["production"][3] == "refused"
    assert "alice: failed: init:" in done.stdout and "does not exist" in done.stdout
    assert "1 of 3 workspaces failed: alice" in done.stderr
    assert "dev-notes" in tables(organization.account("dev").id)
    assert not (project / "cdktf.out" / "stacks" / "production" / "terraform.log").exists()
