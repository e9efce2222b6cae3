"""Every run against the sandbox behaves like the demo's: extensions the emulator cannot serve are left
out, the user's cdktf.out is never rewritten with the sandbox's path-style settings, and the example's
accounts are members of the sandbox's Organization."""

from __future__ import annotations

import json
import os

import boto3
import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES, copy_project, run_cli
from generators.aws.sandbox import SANDBOX_OUT, join_members_on_create, without_unserved_extensions
from generators.config.organization import load_organization


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sandbox_runs_never_touch_the_users_cdktf_out_and_leave_out_unserved_extensions(tmp_path):
    project = copy_project(tmp_path)
    real_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    real = run_cli("--environments", "environments", "--modules", "modules", "synth", "--no-extensions", cwd=project,
                   env=real_env)
    assert real.returncode == 0, real.stderr
    users_output = _tree(project / "cdktf.out")

    # the export lines of `demo --keep` in the user's shell, then a plain `synth` (extensions on)
    sandbox_env = {**real_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    sandbox = run_cli("--environments", "environments", "--modules", "modules", "synth", cwd=project, env=sandbox_env)
    assert sandbox.returncode == 0, sandbox.stderr
    assert _tree(project / "cdktf.out") == users_output
    assert "sandbox: extension developer-budget is left out: the emulator does not serve AWS Budgets'" in sandbox.stderr
    alice = json.loads((project / SANDBOX_OUT / "stacks" / "alice" / "cdk.tf.json").read_text())
    assert alice["terraform"]["backend"]["s3"]["use_path_style"] is True
    assert "aws_budgets_budget" not in json.dumps(alice)  # the extension's resource
    # and back on real AWS, the user's output is still up to date: nothing flips back and forth
    check = run_cli("--environments", "environments", "--modules", "modules", "synth", "--check", "--no-extensions",
                    cwd=project, env=real_env)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.fast
def test_unserved_extensions_are_switched_off_everywhere_and_nothing_else_changes():
    organization = load_organization(EXAMPLE_ENVIRONMENTS, MODULES)
    assert any("developer-budget" in organization.extensions_for(a) for a in organization.accounts)
    served, dropped = without_unserved_extensions(organization)
    assert dropped == ["developer-budget"]
    assert all(served.extensions_for(a) == () for a in served.accounts)
    assert all(e.account.extensions == () for e in served.environments)
    assert [e.name for e in served.environments] == [e.name for e in organization.environments]
    assert served.modules == organization.modules
    assert without_unserved_extensions(served) == (served, [])


def test_accounts_join_the_sandbox_organization_with_their_own_ids(fresh_aws):
    join_members_on_create({"200000000001": ("prod", "aws+prod@acme.test")}, "OrganizationAccountAccessRole")
    try:
        organizations = boto3.client("organizations", region_name="us-east-1")
        organizations.create_organization(FeatureSet="ALL")
        accounts = {a["Id"]: a for a in organizations.list_accounts()["Accounts"]}
        assert accounts["200000000001"]["Status"] == "ACTIVE" and accounts["200000000001"]["Name"] == "prod"
        assert accounts["200000000001"]["JoinedMethod"] == "INVITED"
        member = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::200000000001:role/OrganizationAccountAccessRole",
                                                 RoleSessionName="test")["Credentials"]
        iam = boto3.client("iam", aws_access_key_id=member["AccessKeyId"], aws_secret_access_key=member["SecretAccessKey"],
                           aws_session_token=member["SessionToken"], region_name="us-east-1")
        trust = iam.get_role(RoleName="OrganizationAccountAccessRole")["Role"]["AssumeRolePolicyDocument"]
        assert "arn:aws:iam::123456789012:root" in json.dumps(trust)
    finally:
        join_members_on_create({}, "OrganizationAccountAccessRole")  # the patch stays; with no members it adds none
