"""plan / deploy / destroy: the real terraform binary against a real moto server, on scratch copies.

Bootstrap (state buckets, roles) is not assumed: ``state_buckets`` creates each account's state
bucket directly, which is all Terraform needs, because moto lets any caller assume any role.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, FIXTURES, ROOT, copy_project, run_cli
from generators.aws import clients as aws
from generators.config.models import Organization
from generators.config.organization import load_organization
from generators.errors import UsageError
from generators.run.model import Result, RunRequest
from generators.run.run_lock import StackBusy, StackLocks
from generators.run.runner import run
from generators.run.selection import check_request, select_environments, waves
from generators.run.state_lock import read_state_lock
from generators.run.terraform_output import Changes, parse_lock_info, summarize
from generators.terraform_cli import terraform_environment

REGION = "us-east-1"
ACCESS_ROLE = "OrganizationAccountAccessRole"
WITH_INFRA = {"alice", "bob", "dev", "preprod", "production", "qa", "uat"}
API_USERS = ("feature-checkout", "hotfix-login")

LOCK_DETAIL = """Error message: operation error S3: PutObject, https response error
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


def json_lines(*messages: dict) -> list[str]:
    return [json.dumps(m) + "\n" for m in messages]


@pytest.mark.fast
def test_summaries_and_diagnostics_come_from_terraform_json_messages():
    plan = summarize(["not json\n", *json_lines(
        {"type": "version", "@message": "Terraform 1.11.4"},
        {"type": "change_summary", "@message": "Plan: 6 to add, 1 to change, 2 to destroy.",
         "changes": {"add": 6, "change": 1, "import": 0, "remove": 2, "operation": "plan"}})])
    assert plan.changes == Changes(6, 1, 2) and plan.errors == []
    # The wording of @message is Terraform's business; only the typed fields count.
    reworded = summarize(json_lines({"type": "change_summary", "@message": "Plan geändert",
                                     "changes": {"add": 0, "change": 0, "remove": 4, "operation": "destroy"}}))
    assert reworded.changes == Changes(0, 0, 4)
    failed = summarize(json_lines(
        {"type": "apply_errored", "hook": {"resource": {"addr": "module.p.aws_ssm_parameter.first[0]"}}},
        {"type": "diagnostic", "@level": "error", "diagnostic": {
            "severity": "error", "summary": "creating SSM Parameter (/dev/first/0): ParameterAlreadyExists",
            "detail": ""}}))
    assert failed.errored == ["module.p.aws_ssm_parameter.first[0]"]
    [error] = failed.errors
    assert error.is_already_exists and not error.is_lock_error


@pytest.mark.fast
def test_the_lock_holder_comes_from_the_lock_diagnostic():
    stream = summarize(json_lines({"type": "diagnostic", "@level": "error", "diagnostic": {
        "severity": "error", "summary": "Error acquiring the state lock", "detail": LOCK_DETAIL}}))
    lock = stream.lock()
    assert lock is not None
    assert (lock.id, lock.who, lock.operation) == ("c9fb70d5-2950-d49d-9998-184095a59770", "ci@runner-7",
                                                    "OperationTypePlan")
    assert lock.path == "acme-tfstate-400000000001/dev/terraform.tfstate"
    assert "ci@runner-7" in str(lock)
    assert parse_lock_info("Error: something else") is None


@pytest.mark.fast
def test_a_second_run_on_the_same_stacks_is_refused_at_once_naming_the_holder(tmp_path):
    first = StackLocks(tmp_path, command="main.py deploy dev qa")
    first.acquire(["dev", "qa"])
    with pytest.raises(StackBusy) as refused:
        StackLocks(tmp_path, command="main.py plan qa alice").acquire(["alice", "qa"])
    message = str(refused.value)
    assert f"qa (pid {os.getpid()} on " in message and "`main.py deploy dev qa`" in message
    assert "alice" not in message  # it was free
    # All or nothing: the refused run holds nothing, so alice is free for a third one.
    third = StackLocks(tmp_path, command="third")
    third.acquire(["alice"])
    third.release()
    first.release()
    StackLocks(tmp_path).acquire(["dev", "qa"])  # released with the holder


@pytest.mark.fast
def test_selection_errors_name_the_known_environments():
    organization = load_organization(EXAMPLE_ENVIRONMENTS, EXAMPLE_ENVIRONMENTS.parent / "modules")
    with pytest.raises(UsageError, match="unknown environment 'nope'; known environments: alice, bob, dev"):
        select_environments(organization, ["dev", "nope"], False, "plan")
    with pytest.raises(UsageError, match="--all"):
        select_environments(organization, [], False, "deploy")
    with pytest.raises(UsageError, match="not --all"):
        select_environments(organization, [], True, "destroy")
    assert [e.name for e in select_environments(organization, ["qa", "dev", "qa"], False, "plan")] == ["qa", "dev"]


@pytest.mark.fast
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


@pytest.mark.fast
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
        runs = project / "cdktf.out" / ".runs" / environment.name
        assert {p.name for p in runs.iterdir()} == {"lock"}  # applied plans are not left behind
        assert not list(stack.glob("*.tfplan"))
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
    assert declined.returncode == 1, declined.stdout + declined.stderr  # not done, so not a success
    assert "1 of 1 environments not done (skipped: production)" in declined.stderr
    assert "module.infra.aws_dynamodb_table.notes will be created" in declined.stdout
    assert "to PRODUCTION (production) now?" in declined.stdout
    assert "production: skipped: not confirmed" in declined.stdout
    assert tables(production.account.id) == set()
    assert {p.name for p in (project / "cdktf.out" / ".runs" / "production").iterdir()} == {"lock"}


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

        # The plan role takes no lock at all (it may not write): it plans beside the holder, untouched.
        report = run(request(project, "plan", "dev", role="plan"))
        [result] = report.results
        assert result.result is Result.OK, result.message
        last_plan = [line for line in result.log_path.read_text().splitlines() if ": terraform plan " in line][-1]
        assert "-lock=false" in last_plan and "-lock-timeout" not in last_plan
        still = read_state_lock(organization, dev)
        assert still is not None and still.id == held.id
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
    assert "2 of 3 environments not done (failed: alice; refused: production); see their terraform.log" \
        in done.stderr
    assert "dev-notes" in tables(organization.account("dev").id)
    assert not (project / "cdktf.out" / "stacks" / "production" / "terraform.log").exists()


# -- one run per stack, what was shown is what is applied, interruption ----------------------------

PARAMETERS_ENVIRONMENT = """
environment "dev" {
  account = "dev"

  module "params" {
    source = "parameters"
    inputs = {
      value         = "%(value)s"
      first_count   = %(first)d
      second_count  = %(second)d
      pause_seconds = %(pause)d
    }
  }
}
"""


def parameters_project(tmp_path: Path, value: str, first: int = 1, second: int = 0, pause: int = 0) -> Path:
    """Only dev, calling the test fixture module `parameters` (SSM parameters, an optional pause)."""
    project = make_project(tmp_path, keep=("dev",))
    shutil.copytree(FIXTURES / "modules" / "parameters", project / "modules" / "parameters")
    set_parameters(project, value, first, second, pause)
    return project


def set_parameters(project: Path, value: str, first: int = 1, second: int = 0, pause: int = 0) -> None:
    (project / "environments" / "dev.hcl").write_text(
        PARAMETERS_ENVIRONMENT % {"value": value, "first": first, "second": second, "pause": pause})


def parameter_values(account_id: str) -> dict[str, str]:
    ssm = account_session(account_id).client("ssm")
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path="/dev", Recursive=True)
    return {p["Name"]: p["Value"] for page in pages for p in page["Parameters"]}


def run_files(project: Path) -> set[str]:
    folder = project / "cdktf.out" / ".runs" / "dev"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def main_py_process(project: Path, env: dict[str, str], command: str, *args: str,
                    new_session: bool = False) -> subprocess.Popen:
    """The CLI running in the background; ``new_session``: in a process group of its own, as a shell
    runs a foreground job."""
    argv = ["--environments", str(project / "environments"), "--modules", str(project / "modules"), command,
            *args, "--out", str(project / "cdktf.out"), "--no-extensions"]
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *argv], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)


def wait_for(predicate, timeout: float = 300.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.terraform
def test_deploy_applies_the_plan_it_showed_and_a_second_run_is_refused(tmp_path, run_env):
    """The race of issue 9: deploy waits at its prompt, the definition changes and `plan` runs meanwhile."""
    project = parameters_project(tmp_path, "shown")
    organization = organization_of(project)
    create_state_buckets(organization)
    dev = organization.environment("dev")
    stack_file = project / "cdktf.out" / "stacks" / "dev" / "cdk.tf.json"

    deploy = main_py_process(project, run_env, "deploy", "dev")
    try:
        wait_for(lambda: any(name.endswith(".tfplan") for name in run_files(project)), what="deploy's saved plan")
        [plan_file] = [name for name in run_files(project) if name.endswith(".tfplan")]
        wait_for(lambda: (project / "cdktf.out" / "stacks" / "dev" / "terraform.log").is_file()
                 and "exit code 2" in (project / "cdktf.out" / "stacks" / "dev" / "terraform.log").read_text(),
                 what="deploy's plan to finish")
        shown_stack = stack_file.read_bytes()

        set_parameters(project, "unseen")
        second = main_py(project, run_env, "plan", "dev")
        assert second.returncode == 1, second.stdout + second.stderr
        assert "another run of the tool is using this stack: dev (pid " in second.stderr
        assert f"pid {deploy.pid} on " in second.stderr and "deploy dev" in second.stderr
        assert "since 20" in second.stderr and "Traceback" not in second.stderr
        assert stack_file.read_bytes() == shown_stack  # refused before it synthesized anything
        assert run_files(project) == {"lock", plan_file}

        output, errors = deploy.communicate("y\n", timeout=300)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    assert deploy.returncode == 0, output + errors
    assert "[dev] apply: 1 added, 0 changed, 0 destroyed" in output
    assert parameter_values(dev.account.id) == {"/dev/first/0": "shown"}  # the shown plan, not the unseen one
    assert run_files(project) == {"lock"}  # the applied plan is gone, the lock file stays (unlocked)

    # Once the first run is over, the second one runs: it now plans the changed definition.
    again = main_py(project, run_env, "plan", "dev")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[dev] plan: 0 to add, 1 to change, 0 to destroy" in again.stdout


@pytest.mark.terraform
def test_each_run_plans_into_a_file_of_its_own(tmp_path, run_env):
    project = parameters_project(tmp_path, "one")
    create_state_buckets(organization_of(project))
    reports = [run(request(project, "plan", "dev")) for _ in range(2)]
    [first], [second] = (r.results for r in reports)
    assert reports[0].run_id != reports[1].run_id
    assert first.plan_file != second.plan_file and second.plan_file.name == f"{reports[1].run_id}.tfplan"
    assert not first.plan_file.exists() and second.plan_file.is_file()  # the next run cleared the older one
    assert first.plan_sha256 and second.plan_sha256 != first.plan_sha256
    assert oct(second.plan_file.parent.stat().st_mode & 0o777) == "0o700"  # saved plans hold sensitive values


@pytest.mark.terraform
def test_sigterm_mid_apply_keeps_state_and_the_rerun_converges(tmp_path, run_env):
    project = parameters_project(tmp_path, "v1", first=12, second=13, pause=20)
    organization = organization_of(project)
    create_state_buckets(organization)
    dev = organization.environment("dev")
    log = project / "cdktf.out" / "stacks" / "dev" / "terraform.log"

    deploy = main_py_process(project, run_env, "deploy", "dev", "--auto-approve")
    try:
        wait_for(lambda: log.is_file() and "terraform_data.pause[0]: Provisioning with 'local-exec'" in log.read_text(),
                 what="the apply to reach the pause")
        deploy.send_signal(signal.SIGTERM)
        output, errors = deploy.communicate(timeout=300)
    finally:
        if deploy.poll() is None:
            deploy.kill()

    assert deploy.returncode == 143, output + errors
    assert "Traceback" not in errors and "BrokenPipeError" not in errors
    assert "interrupted by SIGTERM; stopped: dev (apply interrupted by SIGTERM: terraform stopped cleanly" in errors
    state = json.loads(state_object(organization, dev))
    first = [r for r in state["resources"] if r["type"] == "aws_ssm_parameter" and r["name"] == "first"]
    assert len(first[0]["instances"]) == 12  # what was created before the signal is in the state
    assert read_state_lock(organization, dev) is None  # and terraform released its lock
    assert len(parameter_values(dev.account.id)) == 12

    set_parameters(project, "v1", first=12, second=13, pause=1)
    rerun = main_py(project, run_env, "deploy", "dev", "--auto-approve")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "AlreadyExists" not in rerun.stdout + rerun.stderr + log.read_text().split("exit code 143")[-1]
    assert len(parameter_values(dev.account.id)) == 25

    # Ctrl-C in a terminal signals the whole foreground process group: the tool (and cdktf's node
    # runtime) get SIGINT, terraform (in its own session) gets it once, from the tool.
    set_parameters(project, "v2", first=12, second=13, pause=20)
    pauses = log.read_text().count("Provisioning with 'local-exec'")
    deploy = main_py_process(project, run_env, "deploy", "dev", "--auto-approve", new_session=True)
    try:
        wait_for(lambda: log.read_text().count("Provisioning with 'local-exec'") > pauses,
                 what="the second apply to reach the pause")
        os.killpg(deploy.pid, signal.SIGINT)
        output, errors = deploy.communicate(timeout=300)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    assert deploy.returncode == 130, output + errors
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors
    assert "interrupted by SIGINT; stopped: dev (apply interrupted by SIGINT" in errors
    assert read_state_lock(organization, dev) is None
    values = parameter_values(dev.account.id)
    assert {v for k, v in values.items() if "/first/" in k} == {"v2"}  # updated before the signal ...
    assert {v for k, v in values.items() if "/second/" in k} == {"v1"}  # ... and not after it
    set_parameters(project, "v2", first=12, second=13, pause=1)
    rerun = main_py(project, run_env, "deploy", "dev", "--auto-approve")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert set(parameter_values(dev.account.id).values()) == {"v2"}

    # State lost some other way: the error names the resource and how to import it.
    account_session(dev.account.id).client("s3").delete_object(Bucket=organization.state_bucket(dev.account),
                                                               Key=dev.state_key)
    lost = main_py(project, run_env, "deploy", "dev", "--auto-approve")
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert "module.params.aws_ssm_parameter.first[" in lost.stdout
    assert "already exists in AWS but not in the state" in lost.stdout
    assert "terraform import -var=role_name=TerraformDeploy 'module.params.aws_ssm_parameter.first[" in lost.stdout


@pytest.mark.terraform
def test_deploy_with_expect_review_applies_only_the_reviewed_change_set(tmp_path, run_env):
    project = parameters_project(tmp_path, "one")
    organization = organization_of(project)
    create_state_buckets(organization)
    dev = organization.environment("dev")
    assert run(request(project, "deploy", "dev", auto_approve=True)).results[0].result is Result.OK

    set_parameters(project, "two")
    review_file = project / "review.json"
    reviewed = main_py(project, run_env, "plan", "dev", "--json", str(review_file))
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    [entry] = [e for g in json.loads(review_file.read_text())["accounts"] for e in g["environments"]]
    plan_file = Path(entry["plan_file"])
    assert entry["plan_sha256"] == hashlib.sha256(plan_file.read_bytes()).hexdigest()
    [change] = entry["change_set"]
    assert (change["address"], change["actions"]) == ("module.params.aws_ssm_parameter.first[0]", ["update"])
    assert len(change["before_sha256"]) == len(change["after_sha256"]) == 64
    assert '"two"' not in review_file.read_text()  # digests, never values

    # The definition changes after the review: the deploy's own plan differs, so nothing is applied.
    set_parameters(project, "three")
    refused = main_py(project, run_env, "deploy", "dev", "--expect-review", str(review_file), "--auto-approve")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert ("module.params.aws_ssm_parameter.first[0]: update with different values than reviewed"
            in refused.stdout)
    assert "1 of 1 environments not done (refused: dev)" in refused.stderr
    assert parameter_values(dev.account.id) == {"/dev/first/0": "one"}
    assert run_files(project) == {"lock"}

    # What was reviewed, with the deploy role instead of the plan role: the same change set, applied.
    set_parameters(project, "two")
    applied = main_py(project, run_env, "deploy", "dev", "--expect-review", str(review_file), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "[dev] plan: matches the review" in applied.stdout
    assert parameter_values(dev.account.id) == {"/dev/first/0": "two"}

    # An environment the review does not cover is refused; a file that is not a review is a usage error.
    set_parameters(project, "four", first=2)
    broken = project / "not-a-review.json"
    broken.write_text('{"accounts": [{"environments": [{"environment": "dev"}]}]}')
    bad = main_py(project, run_env, "deploy", "dev", "--expect-review", str(broken), "--auto-approve")
    assert bad.returncode == 2 and "is not a plan review with change sets" in bad.stderr, bad.stderr


# A stand-in for terraform's signal handling: on SIGINT it says so and, unless told to hang, exits 1.
_CHILD = """
import signal, sys, time
def stop(signum, frame):
    print("interrupt", flush=True)
    if sys.argv[1] == "exit":
        sys.exit(1)
signal.signal(signal.SIGINT, stop)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def _child(interruption, mode: str):
    process = interruption.start([sys.executable, "-c", _CHILD, mode], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    return process


def test_interruption_passes_one_sigint_then_kills_at_the_second_or_after_the_grace():
    from generators.run.interruption import Interruption

    clean = Interruption(grace=30)
    process = _child(clean, "exit")
    assert os.getpgid(process.pid) != os.getpgid(0)  # its own session: a terminal's Ctrl-C is not sent to it
    clean.interrupt(signal.SIGTERM)
    assert process.wait(10) == 1 and process.stdout.read() == "interrupt\n"  # one SIGINT, whatever came in
    clean.finished(process)
    assert clean.signal == signal.SIGTERM and not clean.killed
    assert clean.start([sys.executable, "-c", "pass"]) is None  # nothing new starts once interrupted

    twice = Interruption(grace=30)
    stubborn = _child(twice, "hang")
    twice.interrupt(signal.SIGINT)
    assert stubborn.stdout.readline() == "interrupt\n"
    twice.interrupt(signal.SIGINT)  # the second signal kills at once
    assert stubborn.wait(10) == -signal.SIGKILL and twice.killed

    bounded = Interruption(grace=0.5)
    stubborn = _child(bounded, "hang")
    bounded.interrupt(signal.SIGINT)
    assert stubborn.wait(10) == -signal.SIGKILL and bounded.killed  # waited for, but not forever
