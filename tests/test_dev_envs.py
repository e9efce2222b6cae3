"""Short-lived development environments: names from branches, and the create / deploy / destroy / reap
lifecycle against a real moto server with the real terraform."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import ROOT
from generators import naming
from generators.envs.dev_envs import sanitize_name
from test_runner import (  # noqa: F401 - run_env is a fixture
    account_session,
    create_state_buckets,
    main_py,
    make_project,
    organization_of,
    run_env,
    state_keys,
    tables,
)

DEV_ACCOUNT = "400000000001"
LONG_BRANCH = "Feature/JIRA-1234: Add a really long & fancy checkout flow (with émojis 🚀) for the holidays"


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.fast
def test_branch_names_become_valid_environment_names():
    assert sanitize_name("feature/Checkout_V2", 60) == "feature-checkout-v2"
    assert sanitize_name("123-hotfix", 60) == "br-123-hotfix"
    assert sanitize_name("---", 60) == "br"
    name = sanitize_name(LONG_BRANCH, 42)
    assert len(name) == 42 and naming.NAME_PATTERN.match(name) and not name.endswith("--")


@pytest.mark.fast
def test_long_branch_names_with_a_common_prefix_never_collide():
    first = sanitize_name("feature/" + "x" * 80 + "-one", 42)
    second = sanitize_name("feature/" + "x" * 80 + "-two", 42)
    assert first != second and len(first) == len(second) == 42
    assert sanitize_name("feature/" + "x" * 80 + "-one", 42) == first  # stable across runs


def test_create_refuses_existing_names_and_non_development_templates(tmp_path):
    project = make_project(tmp_path)
    existing = main_py(project, dict(os.environ), "env", "create", "feature-checkout")
    assert existing.returncode == 2 and "already exists" in existing.stderr
    staging = main_py(project, dict(os.environ), "env", "create", "x1", "--from", "qa")
    assert staging.returncode == 2 and "staging account" in staging.stderr
    assert sorted(p.name for p in (project / "environments").glob("x1*")) == []


# -- lifecycle against moto -----------------------------------------------------------------------


def _shared(tmp_path: Path) -> Path:
    """The example trimmed to the development account: dev (infrastructure) and one API environment."""
    project = make_project(tmp_path, keep=("dev", "feature-checkout", "qa"))
    create_state_buckets(organization_of(project))
    return project


def _created_name(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def _parameter(name: str) -> str:
    return account_session(DEV_ACCOUNT).client("ssm").get_parameter(Name=name)["Parameter"]["Value"]


def _role_tags(role: str) -> dict[str, str]:
    tags = account_session(DEV_ACCOUNT).client("iam").list_role_tags(RoleName=role)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_create_deploy_destroy_from_a_long_branch_name(tmp_path, run_env):
    project = _shared(tmp_path)
    assert main_py(project, run_env, "deploy", "dev", "--auto-approve").returncode == 0

    name = _created_name(main_py(project, run_env, "env", "create", "--branch", LONG_BRANCH, "--owner", "alice",
                                 "--deploy"))
    assert len(name) <= 60 and name.startswith("feature-jira-1234-add-a-really-long")
    environment = organization_of(project).environment(name)
    assert environment.uses == "dev" and environment.branch == LONG_BRANCH

    # its API reads the shared infrastructure's outputs, in the development account, tagged for clean-up
    assert _parameter(f"/{name}/api/table_name") == "dev-notes"
    tags = _role_tags(f"{name}-api")
    assert tags["Environment"] == name and tags["Owner"] == "alice"
    assert tags["Branch"].startswith("Feature/JIRA-1234") and tags["ExpiresAt"] == naming.format_timestamp(
        environment.expires_at)
    organization = organization_of(project)
    assert f"{name}/terraform.tfstate" in state_keys(organization, environment.account)

    # CI's pull-request-closed job runs in a fresh checkout, without the file the opened job wrote
    (project / "environments" / f"{name}.hcl").unlink()
    destroyed = main_py(project, run_env, "env", "destroy", "--branch", LONG_BRANCH)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "again to destroy it" in destroyed.stdout
    iam = account_session(DEV_ACCOUNT).client("iam")
    assert f"{name}-api" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    keys = state_keys(organization, environment.account)
    assert not any(k.startswith(f"{name}/") for k in keys)  # state and lock objects gone
    versions = account_session(DEV_ACCOUNT).client("s3").list_object_versions(
        Bucket=organization.state_bucket(environment.account), Prefix=f"{name}/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    assert not (project / "environments" / f"{name}.hcl").exists()
    assert not (project / "cdktf.out" / "stacks" / name).exists()
    # the shared infrastructure is untouched
    assert "dev-notes" in tables(DEV_ACCOUNT) and "dev/terraform.tfstate" in keys
    # and a second destroy has nothing left to do
    again = main_py(project, run_env, "env", "destroy", name)
    assert again.returncode == 0 and "nothing left to destroy" in again.stdout


def test_destroy_interrupted_midway_converges_when_run_again(tmp_path, run_env):
    project = _shared(tmp_path)
    assert main_py(project, run_env, "deploy", "dev", "--auto-approve").returncode == 0
    name = _created_name(main_py(project, run_env, "env", "create", "feature-halfway", "--deploy"))
    argv = [sys.executable, str(ROOT / "main.py"), "--environments", str(project / "environments"),
            "--modules", str(project / "modules"), "env", "destroy", name, "--out", str(project / "cdktf.out"),
            "--no-extensions"]
    process = subprocess.Popen(argv, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    log = project / "cdktf.out" / "stacks" / name / "terraform.log"
    deadline = time.monotonic() + 120
    # killed as soon as the resources are gone, before the state, file and stack are removed (killing
    # terraform itself mid-apply would leave its lock held, which the tool reports and never breaks)
    while time.monotonic() < deadline and not re.search(r"Resources: 0 added, 0 changed, \d+ destroyed",
                                                        log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert (project / "environments" / f"{name}.hcl").exists()  # the file goes last

    finished = main_py(project, run_env, "env", "destroy", name, "--no-extensions")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    iam = account_session(DEV_ACCOUNT).client("iam")
    assert f"{name}-api" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert not any(k.startswith(f"{name}/") for k in state_keys(organization_of(project),
                                                                 organization_of(project).account("dev")))
    assert not (project / "environments" / f"{name}.hcl").exists()
    assert "dev-notes" in tables(DEV_ACCOUNT)


def test_reap_destroys_exactly_the_expired_environment(tmp_path, run_env):
    project = _shared(tmp_path)
    assert main_py(project, run_env, "deploy", "dev", "--auto-approve").returncode == 0
    old = _created_name(main_py(project, run_env, "env", "create", "feature-old", "--ttl", "1d", "--deploy"))
    new = _created_name(main_py(project, run_env, "env", "create", "feature-new", "--ttl", "1d", "--deploy"))
    old_file = project / "environments" / f"{old}.hcl"
    two_days_ago = naming.format_timestamp(datetime.now(timezone.utc) - timedelta(days=2))

    def backdate(path: Path) -> None:
        text = path.read_text()
        path.write_text(text.replace(text.split('created = "')[1].split('"')[0], two_days_ago))

    backdate(old_file)
    # one that CI created for a pull request: deployed (tagged ExpiresAt), its file never committed
    ci = _created_name(main_py(project, run_env, "env", "create", "feature-from-ci", "--ttl", "1d"))
    backdate(project / "environments" / f"{ci}.hcl")
    assert main_py(project, run_env, "deploy", ci, "--auto-approve").returncode == 0
    (project / "environments" / f"{ci}.hcl").unlink()

    dry = main_py(project, run_env, "env", "reap", "--dry-run")
    assert dry.returncode == 0 and f"would destroy {old}" in dry.stdout and new not in dry.stdout.replace(
        f"keep     {new}", "")
    assert f"would destroy {ci}: not defined here" in dry.stdout
    assert old_file.exists()

    reaped = main_py(project, run_env, "env", "reap")
    assert reaped.returncode == 0, reaped.stdout + reaped.stderr
    assert not old_file.exists() and (project / "environments" / f"{new}.hcl").exists()
    assert _parameter(f"/{new}/api/table_name") == "dev-notes"
    for gone in (old, ci):
        with pytest.raises(Exception):
            _parameter(f"/{gone}/api/table_name")
        assert not any(k.startswith(f"{gone}/") for k in state_keys(organization_of(project),
                                                                    organization_of(project).account("dev")))
    assert not (project / "environments" / f"{ci}.hcl").exists()


def test_env_destroy_refuses_staging_and_used_infrastructure(tmp_path):
    project = make_project(tmp_path)
    staging = main_py(project, dict(os.environ), "env", "destroy", "qa")
    assert staging.returncode == 2 and "only for development environments" in staging.stderr
    used = main_py(project, dict(os.environ), "env", "destroy", "dev")
    assert used.returncode == 2 and "still used by feature-checkout, hotfix-login" in used.stderr
    assert (project / "environments" / "qa.hcl").exists() and (project / "environments" / "dev.hcl").exists()
