"""The main job, end to end, as the README runs it: `python main.py demo` in a fresh sandbox."""

from __future__ import annotations

import os

import pytest

from conftest import run_cli

pytestmark = pytest.mark.terraform


def test_demo_deploys_the_example_organization_and_shows_the_guard(tmp_path, terraform_cache):
    # the demo starts its own AWS sandbox: no endpoint or credentials of the test session leak in
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ORG_WORKSPACES_CACHE"] = str(terraform_cache)
    result = run_cli("demo", "--out", str(tmp_path / "sandbox"), env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for environment, account_id in (("production", "200000000001"), ("qa", "300000000002"),
                                    ("feature-checkout", "400000000001"), ("alice", "500000000001")):
        assert f"s3://acme-tfstate-{account_id}/{environment}/terraform.tfstate" in out
    assert "refused" in out and "AWS account ID not allowed: 200000000001" in out
    assert "9 environments deployed into 7 accounts" in out
    # the access matrix: pull requests plan with identities that deploy nowhere outside development
    for identity in ("arn:aws:iam::123456789012:role/platform-ci-plan", "arn:aws:iam::123456789012:role/platform-ci-deploy",
                     "github-oidc sub=repo:acme/infrastructure:pull_request",
                     "github-oidc sub=repo:acme/infrastructure:environment:production"):
        assert identity in out
    assert "ok: [plans-and-deploys]" in out and "ok: [pull-request-deploys]" in out and "violation" not in out
    # the example's accounts are members of the sandbox Organization: placed in OUs, under SCPs
    assert ", 0 not-member," in out and "invite" not in out
    for account, unit in (("prod (200000000001)", "production"), ("qa (300000000002)", "staging"),
                          ("dev (400000000001)", "development"), ("alice (500000000001)", "developer")):
        row = next(line for line in out.splitlines() if line.strip().startswith(account))
        assert "ACTIVE" in row and unit in row and "acme-" in row, row
    assert "sandbox: extension developer-budget is left out" in result.stderr
    assert "Traceback" not in result.stderr
