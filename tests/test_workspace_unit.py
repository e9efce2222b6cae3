"""generators/synth/workspace.py called directly on the example organization: each environment's Terraform
document as plain data, before any engine sees it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES
from generators import TOOL_NAME
from generators.config.organization import load_organization
from generators.synth.workspace import ROLE_VARIABLE, WorkspaceOptions, build_workspace, default_tags

pytestmark = pytest.mark.fast

DEV_ID, QA_ID, ALICE_ID = "400000000001", "300000000002", "500000000001"
OPTIONS = WorkspaceOptions(modules_dir="/repo/modules", stacks_dir="/repo/cdktf.out/stacks")


@pytest.fixture(scope="module")
def organization():
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES)


def test_state_is_in_the_environments_own_account_through_its_deploy_role(organization):
    document = build_workspace(organization, organization.environment("qa"), OPTIONS)
    assert document.backend == {
        "bucket": f"acme-tfstate-{QA_ID}", "key": "qa/terraform.tfstate", "region": "us-east-1", "encrypt": True,
        "use_lockfile": True, "allowed_account_ids": [QA_ID],
        "assume_role": {"role_arn": f"arn:aws:iam::{QA_ID}:role/TerraformDeploy", "session_name": f"{TOOL_NAME}-qa"}}


def test_the_provider_is_pinned_to_its_account_and_assumes_the_role_variable(organization):
    (provider,) = build_workspace(organization, organization.environment("qa"), OPTIONS).sections["provider"]["aws"]
    assert provider["allowed_account_ids"] == [QA_ID] and provider["region"] == "us-east-1"
    assert provider["assume_role"] == [{"role_arn": f"arn:aws:iam::{QA_ID}:role/${{var.{ROLE_VARIABLE}}}",
                                        "session_name": f"{TOOL_NAME}-qa"}]
    assert "s3_use_path_style" not in provider and "alias" not in provider


def test_the_role_variable_accepts_only_the_deploy_and_plan_roles(organization):
    variable = build_workspace(organization, organization.environment("qa"), OPTIONS).sections["variable"]
    assert variable[ROLE_VARIABLE]["default"] == "TerraformDeploy"
    assert variable[ROLE_VARIABLE]["validation"][0]["condition"] == \
        f'${{contains(["TerraformDeploy", "TerraformPlan"], var.{ROLE_VARIABLE})}}'


def test_modules_are_relative_to_the_stack_and_every_output_is_exposed(organization):
    sections = build_workspace(organization, organization.environment("qa"), OPTIONS).sections
    assert sections["module"]["infra"]["source"] == "../../../modules/infrastructure"
    assert sections["module"]["api"]["table_name"] == "${module.infra.table_name}"
    assert sections["module"]["api"]["name_prefix"] == "qa"
    assert sections["output"]["infra_table_name"] == {"value": "${module.infra.table_name}"}
    assert list(sections["output"]) == sorted(sections["output"])
    assert sections["terraform"]["required_providers"]["aws"] == {
        "source": "hashicorp/aws", "version": organization.settings.aws_provider_version}


def test_uses_reads_the_used_environments_state_in_the_same_bucket(organization):
    document = build_workspace(organization, organization.environment("feature-checkout"), OPTIONS)
    remote = document.sections["data"]["terraform_remote_state"]["uses"]
    assert remote["backend"] == "s3"
    assert remote["config"] == {
        "bucket": f"acme-tfstate-{DEV_ID}", "key": "dev/terraform.tfstate", "region": "us-east-1",
        "assume_role": {"role_arn": f"arn:aws:iam::{DEV_ID}:role/${{var.{ROLE_VARIABLE}}}",
                        "session_name": f"{TOOL_NAME}-feature-checkout"}}
    assert "data" not in build_workspace(organization, organization.environment("qa"), OPTIONS).sections


def test_a_local_endpoint_adds_path_style_and_changes_nothing_else(organization):
    environment = organization.environment("feature-checkout")
    real = build_workspace(organization, environment, OPTIONS)
    local = build_workspace(organization, environment, dataclasses.replace(OPTIONS, local_endpoint=True))
    assert local.backend == {**real.backend, "use_path_style": True}
    assert local.sections["data"]["terraform_remote_state"]["uses"]["config"]["use_path_style"] is True
    assert local.sections["provider"]["aws"][0]["s3_use_path_style"] is True
    without = json.dumps(local.sections).replace(', "use_path_style": true', "")
    assert without.replace(', "s3_use_path_style": true', "") == json.dumps(real.sections)


def test_default_tags_name_the_environment_and_its_owner_branch_and_expiry(organization):
    qa = default_tags(organization, organization.environment("qa"))
    assert qa == {"Environment": "qa", "AccountKind": "staging", "Account": "qa", "Organization": "acme",
                  "ManagedBy": TOOL_NAME}
    assert default_tags(organization, organization.environment("alice"))["Owner"] == "alice"
    branch = organization.environment("feature-checkout")
    assert default_tags(organization, branch)["Branch"] == "feature/checkout"
    created = dataclasses.replace(branch, created="2026-01-01T00:00:00Z", owner="bob & co")
    tags = default_tags(organization, created)
    assert tags["ExpiresAt"] == "2026-01-08T00:00:00Z" and tags["Owner"] == "bob _ co"


def test_building_is_pure_and_deterministic(organization):
    environment = organization.environment("alice")
    first, second = (build_workspace(organization, environment, OPTIONS) for _ in range(2))
    assert json.dumps(first.sections) == json.dumps(second.sections) and first.backend == second.backend
    assert first.backend["allowed_account_ids"] == [ALICE_ID]
