"""Expiry of short-lived environments without a `created` time: their ttl counts from the first deploy,
read from the oldest version of their state object (the state bucket is versioned).

The state objects are written with boto3 as Terraform writes them (one version per apply), into the
real moto server; the passage of time is simulated by backdating the stored versions on that server.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from conftest import MODULES, run_cli
from test_runner import (  # noqa: F401 - run_env is a fixture
    account_session,
    create_state_buckets,
    make_project,
    organization_of,
    run_env,
)

DEV_ACCOUNT = "400000000001"


def _deploy_state(organization, name: str, applies: int) -> None:
    """What `applies` terraform applies leave in the state bucket: that many versions of the state."""
    s3 = account_session(DEV_ACCOUNT).client("s3")
    for serial in range(applies):
        s3.put_object(Bucket=organization.state_bucket(organization.account("dev")), Key=f"{name}/terraform.tfstate",
                      Body=json.dumps({"version": 4, "serial": serial, "resources": []}).encode())


def _backdate(organization, name: str, first: datetime) -> None:
    """Move the versions of ``name``'s state back in time on the moto server, oldest to ``first``."""
    from moto.s3.models import s3_backends

    bucket = s3_backends[DEV_ACCOUNT]["aws"].buckets[organization.state_bucket(organization.account("dev"))]
    versions = sorted(bucket.keys.getlist(f"{name}/terraform.tfstate"), key=lambda v: v.last_modified)
    for index, version in enumerate(versions):
        version.last_modified = (first + timedelta(minutes=index)).replace(tzinfo=None)


def _cli(project, env, *args):
    return run_cli("--environments", str(project / "environments"), "--modules", str(MODULES), *args, env=env)


def test_ttl_without_created_counts_from_the_first_deploy(tmp_path, run_env):
    project = make_project(tmp_path, keep=("dev", "feature-checkout", "hotfix-login"))
    organization = organization_of(project)
    assert organization.environment("feature-checkout").created is None  # hand-written: ttl 7d, no created
    create_state_buckets(organization)
    _deploy_state(organization, "feature-checkout", applies=3)
    eight_days_ago = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=8)
    _backdate(organization, "feature-checkout", eight_days_ago)
    _deploy_state(organization, "hotfix-login", applies=1)  # deployed just now: 7 days to go

    listed = _cli(project, run_env, "env", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    checkout = rows["feature-checkout"]
    assert checkout["created"] == eight_days_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert checkout["created_from"] == "first deploy"
    assert checkout["expires_at"] == (eight_days_ago + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert checkout["expired"] is True
    # the last deploy is the newest version, not the first
    assert checkout["last_deploy"] == (eight_days_ago + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows["hotfix-login"]["expired"] is False and rows["hotfix-login"]["created_from"] == "first deploy"
    assert rows["dev"]["expires_at"] is None  # no ttl: never expires

    dry = _cli(project, run_env, "env", "reap", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would destroy feature-checkout: created " in dry.stdout and "(first deploy), ttl 7d" in dry.stdout
    assert "hotfix-login" not in dry.stdout


def test_ttl_of_an_environment_never_deployed_has_not_started(tmp_path, run_env):
    project = make_project(tmp_path, keep=("dev", "feature-checkout"))
    create_state_buckets(organization_of(project))
    dry = _cli(project, run_env, "env", "reap", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "keep     feature-checkout: ttl 7d, never deployed" in dry.stdout
    assert "Nothing to reap" in dry.stdout


def test_reap_reports_an_unreadable_account_and_still_lists_the_rest(tmp_path, run_env):
    # no state bucket in the development account: the stray search fails there, the definitions are checked
    project = make_project(tmp_path, keep=("dev", "feature-checkout"))
    dry = _cli(project, run_env, "env", "reap", "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "keep     feature-checkout: ttl 7d, never deployed" in dry.stdout
    assert "could not be checked" in dry.stderr and "NoSuchBucket" in dry.stderr
    assert "s3://acme-tfstate-400000000001 (searched for environments not defined here)" in dry.stderr
    assert "Traceback" not in dry.stderr
