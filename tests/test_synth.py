"""`synth` end to end on the example organization: what every workspace must contain, golden files,
determinism, removal of stale stacks, and the refusal to overwrite hand-written files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, copy_project, run_cli
from regen_golden import GOLDEN, golden_files, synthesize_example

ACCOUNT_IDS = {
    "production": "200000000001", "preprod": "300000000001", "qa": "300000000002", "uat": "300000000003",
    "dev": "400000000001", "feature-checkout": "400000000001", "hotfix-login": "400000000001",
    "alice": "500000000001", "bob": "500000000002",
}


def _env_without_endpoint() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}


def _synth(project: Path, *extra: str, env: dict[str, str] | None = None):
    return run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"),
                   "synth", "--out", str(project / "cdktf.out"), *extra, env=env or _env_without_endpoint())


def _stack(project: Path, name: str) -> dict:
    return json.loads((project / "cdktf.out" / "stacks" / name / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def example_out(tmp_path_factory) -> Path:
    """The example organization synthesized once, with its extensions (typed bindings: slow import)."""
    return synthesize_example(tmp_path_factory.mktemp("example"))


def test_matches_golden_files(example_out):
    produced = golden_files(example_out)
    expected = {p.name: p.read_bytes() for p in GOLDEN.iterdir()}
    assert sorted(produced) == sorted(expected)
    for name in expected:
        assert produced[name] == expected[name], f"{name} differs; run tests/regen_golden.py and review the diff"


@pytest.mark.parametrize("environment", sorted(ACCOUNT_IDS))
def test_workspace_is_isolated_in_its_own_account(example_out, environment):
    stack = json.loads((example_out / "stacks" / environment / "cdk.tf.json").read_text())
    account_id = ACCOUNT_IDS[environment]
    deploy_role = f"arn:aws:iam::{account_id}:role/TerraformDeploy"

    backend = stack["terraform"]["backend"]["s3"]
    assert backend["bucket"] == f"acme-tfstate-{account_id}"
    assert backend["key"] == f"{environment}/terraform.tfstate"
    assert backend["encrypt"] is True and backend["use_lockfile"] is True
    assert backend["assume_role"]["role_arn"] == deploy_role
    assert backend["allowed_account_ids"] == [account_id]

    (provider,) = stack["provider"]["aws"]
    assert provider["allowed_account_ids"] == [account_id]
    # the provider's role is chosen per run (deploy by default, plan for pull-request plans)
    assert provider["assume_role"][0]["role_arn"] == f"arn:aws:iam::{account_id}:role/${{var.role_name}}"
    assert stack["variable"]["role_name"]["default"] == "TerraformDeploy"
    assert "TerraformPlan" in stack["variable"]["role_name"]["validation"][0]["condition"]
    tags = provider["default_tags"][0]["tags"]
    assert tags["Environment"] == environment and tags["ManagedBy"] == "aws-org-workspaces"
    assert tags["AccountKind"] in {"production", "staging", "development", "developer"}
    assert "use_path_style" not in backend and "s3_use_path_style" not in provider

    required = stack["terraform"]["required_providers"]["aws"]
    assert required["source"] == "hashicorp/aws"
    assert "6.25.0" not in required["version"] and "5.99.1" not in required["version"]

    # every module output is exposed as <module>_<output>
    for name, module in stack["module"].items():
        assert module["name_prefix"] == environment
        assert module["source"].startswith("../../../modules/")
    assert all("${module." in output["value"] for output in stack["output"].values())


def test_api_environments_read_shared_infrastructure_through_remote_state(example_out):
    for environment in ("feature-checkout", "hotfix-login"):
        stack = json.loads((example_out / "stacks" / environment / "cdk.tf.json").read_text())
        remote = stack["data"]["terraform_remote_state"]["uses"]
        assert remote["backend"] == "s3"
        assert remote["config"]["bucket"] == "acme-tfstate-400000000001"
        assert remote["config"]["key"] == "dev/terraform.tfstate"
        assert stack["module"]["api"]["table_name"] == "${data.terraform_remote_state.uses.outputs.infra_table_name}"
        assert "infra" not in stack["module"]
    dev = json.loads((example_out / "stacks" / "dev" / "cdk.tf.json").read_text())
    assert {"infra_table_name", "infra_bucket_name", "infra_table_arn"} <= set(dev["output"])


def test_developer_budget_extension_only_in_developer_accounts(example_out):
    for environment in ACCOUNT_IDS:
        stack = json.loads((example_out / "stacks" / environment / "cdk.tf.json").read_text())
        budgets = stack.get("resource", {}).get("aws_budgets_budget", {})
        if environment in ("alice", "bob"):
            (budget,) = budgets.values()
            assert budget["time_unit"] == "MONTHLY" and budget["budget_type"] == "COST"
            assert budget["notification"][0]["subscriber_email_addresses"] == [f"aws+{environment}@acme.test"]
        else:
            assert budgets == {}


def test_synth_twice_is_byte_identical_and_says_nothing_to_do(tmp_path):
    project = copy_project(tmp_path)
    first = _synth(project, "--no-extensions")
    assert first.returncode == 0, first.stderr
    assert "9 created" in first.stdout
    before = {p: p.read_bytes() for p in (project / "cdktf.out").rglob("*") if p.is_file()}
    second = _synth(project, "--no-extensions")
    assert second.returncode == 0, second.stderr
    assert "Nothing to do" in second.stdout
    after = {p: p.read_bytes() for p in (project / "cdktf.out").rglob("*") if p.is_file()}
    assert before == after
    assert _synth(project, "--no-extensions", "--check").returncode == 0


def test_check_fails_when_output_is_stale(tmp_path):
    project = copy_project(tmp_path)
    assert _synth(project, "--no-extensions").returncode == 0
    (project / "environments" / "qa.hcl").write_text(
        (project / "environments" / "qa.hcl").read_text().replace('account = "qa"', 'account = "qa"\n  region = "eu-west-1"'))
    result = _synth(project, "--no-extensions", "--check")
    assert result.returncode == 1
    assert "changed  qa" in result.stdout and "out of date" in result.stderr
    assert _stack(project, "qa")["provider"]["aws"][0]["region"] == "us-east-1"  # --check wrote nothing


def test_stack_of_removed_environment_is_removed_and_reported(tmp_path):
    project = copy_project(tmp_path)
    assert _synth(project, "--no-extensions").returncode == 0
    stacks = project / "cdktf.out" / "stacks"
    (stacks / "hotfix-login" / ".terraform").mkdir()  # Terraform's local cache goes with the stack
    (project / "environments" / "hotfix-login.hcl").unlink()
    result = _synth(project, "--no-extensions")
    assert result.returncode == 0, result.stderr
    assert "removed  hotfix-login" in result.stdout
    assert not (stacks / "hotfix-login").exists()
    manifest = json.loads((project / "cdktf.out" / "manifest.json").read_text())
    assert "hotfix-login" not in manifest["stacks"] and "feature-checkout" in manifest["stacks"]


def test_stale_stack_with_files_the_tool_did_not_write_is_kept(tmp_path):
    project = copy_project(tmp_path)
    assert _synth(project, "--no-extensions").returncode == 0
    stack = project / "cdktf.out" / "stacks" / "hotfix-login"
    (stack / "terraform.tfstate").write_text("{}")  # local state must never be deleted by synth
    (project / "environments" / "hotfix-login.hcl").unlink()
    result = _synth(project, "--no-extensions")
    assert result.returncode == 0, result.stderr
    assert "kept" in result.stdout and "terraform.tfstate" in result.stdout
    assert (stack / "terraform.tfstate").read_text() == "{}"


def test_hand_written_file_is_never_overwritten(tmp_path):
    project = copy_project(tmp_path)
    stack = project / "cdktf.out" / "stacks" / "production"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text('{"resource": {}}')
    result = _synth(project, "--no-extensions")
    assert result.returncode == 2
    assert "refusing to overwrite" in result.stderr and str(stack / "cdk.tf.json") in result.stderr
    assert (stack / "cdk.tf.json").read_text() == '{"resource": {}}'
    assert not (project / "cdktf.out" / "stacks" / "qa").exists()  # nothing else written either


def test_local_endpoint_adds_only_path_style_settings(tmp_path):
    real = copy_project(tmp_path / "real")
    local = copy_project(tmp_path / "local")
    assert _synth(real, "--no-extensions").returncode == 0
    sandbox_env = {**_env_without_endpoint(), "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    assert _synth(local, "--no-extensions", env=sandbox_env).returncode == 0
    real_stack, local_stack = _stack(real, "feature-checkout"), _stack(local, "feature-checkout")
    assert local_stack["terraform"]["backend"]["s3"].pop("use_path_style") is True
    assert local_stack["provider"]["aws"][0].pop("s3_use_path_style") is True
    assert local_stack["data"]["terraform_remote_state"]["uses"]["config"].pop("use_path_style") is True
    assert local_stack == real_stack


def test_account_created_by_bootstrap_later_is_a_clear_error(tmp_path):
    project = copy_project(tmp_path)
    accounts = project / "environments" / "accounts.hcl"
    accounts.write_text(accounts.read_text().replace('id    = "300000000002"\n', ""))
    # validate and synth say the same: the configuration is incomplete until bootstrap runs
    validated = run_cli("--environments", str(project / "environments"), "validate")
    result = _synth(project, "--no-extensions")
    for outcome in (validated, result):
        assert outcome.returncode == 2
        assert "environment 'qa' is in account 'qa', which has no id yet; run `python main.py bootstrap`" in \
            outcome.stderr
    assert not (project / "cdktf.out").exists()
    # once bootstrap has recorded the id, synth works offline
    (project / "environments" / "account-ids.generated.json").write_text(json.dumps({"accounts": {"qa": "300000000009"}}))
    assert _synth(project, "--no-extensions").returncode == 0
    assert _stack(project, "qa")["provider"]["aws"][0]["allowed_account_ids"] == ["300000000009"]


def test_list_json_describes_every_environment(tmp_path):
    result = run_cli("list", "--json", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(ACCOUNT_IDS)
    hotfix = rows["hotfix-login"]
    assert hotfix == {
        "name": "hotfix-login", "account": "dev", "account_id": "400000000001", "kind": "development",
        "region": "us-east-1", "stack_dir": f"{tmp_path / 'out'}/stacks/hotfix-login",
        "state_bucket": "acme-tfstate-400000000001", "state_key": "hotfix-login/terraform.tfstate",
        "role_arn": "arn:aws:iam::400000000001:role/TerraformDeploy", "uses": "dev",
    }
    assert rows["production"]["kind"] == "production" and rows["production"]["uses"] is None


def test_every_command_has_help():
    for command in ([], ["validate"], ["synth"], ["list"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout, command


def test_unknown_command_is_a_usage_error():
    result = run_cli("synthesize")
    assert result.returncode == 2 and "No such command" in result.stderr and "Traceback" not in result.stderr


# -- dependency lock files -------------------------------------------------------------------------------


def _mirror() -> Path:
    from generators.terraform_cli import find_provider_mirror

    mirror = find_provider_mirror()
    assert mirror is not None, "the tests need the hashicorp/aws provider in a filesystem mirror"
    return mirror


def _terraform_lock(stack: Path, mirror: Path, env: dict[str, str]) -> bytes:
    """What `terraform providers lock -fs-mirror` writes for the stack, for every platform in the mirror."""
    ours = stack / ".terraform.lock.hcl"
    generated = ours.read_bytes()
    ours.unlink()
    platforms = sorted({p.name for p in (mirror / "registry.terraform.io").glob("*/*/*/*") if p.is_dir()})
    for command in (["get"], ["providers", "lock", f"-fs-mirror={mirror}", *(f"-platform={p}" for p in platforms)]):
        result = subprocess.run(["terraform", *command], cwd=stack, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    written = ours.read_bytes()
    ours.write_bytes(generated)
    return written


def _set_provider_version(project: Path, constraint: str) -> None:
    organization = project / "environments" / "organization.hcl"
    text = organization.read_text()
    assert "aws_provider_version" not in text
    organization.write_text(text.replace('region', f'aws_provider_version = "{constraint}"\n  region', 1))


@pytest.mark.terraform
@pytest.mark.parametrize("constraint", [None, "~> 5.100"])
def test_lock_files_are_what_terraform_providers_lock_writes(tmp_path, constraint):
    project = copy_project(tmp_path)
    if constraint:
        _set_provider_version(project, constraint)
    assert _synth(project, "--no-extensions").returncode == 0
    mirror = _mirror()
    stacks = project / "cdktf.out" / "stacks"
    locks = {p.parent.name: p.read_bytes() for p in stacks.glob("*/.terraform.lock.hcl")}
    assert sorted(locks) == sorted(ACCOUNT_IDS)
    for name in ("feature-checkout", "dev"):  # a module with a constraint of its own, and another
        assert _terraform_lock(stacks / name, mirror, _env_without_endpoint()) == locks[name]
    assert b'version     = "5.100.0"' in locks["qa"] and b"h1:" in locks["qa"]


def test_changing_the_provider_constraint_updates_the_lock_files(tmp_path):
    project = copy_project(tmp_path)
    assert _synth(project, "--no-extensions").returncode == 0
    _set_provider_version(project, "~> 5.100.0")
    check = _synth(project, "--no-extensions", "--check")
    assert check.returncode == 1 and "changed  qa" in check.stdout
    assert b"~> 5.100.0" not in (project / "cdktf.out" / "stacks" / "qa" / ".terraform.lock.hcl").read_bytes()
    assert _synth(project, "--no-extensions").returncode == 0
    lock = (project / "cdktf.out" / "stacks" / "qa" / ".terraform.lock.hcl").read_text()
    assert 'constraints = ">= 5.0.0, ~> 5.100.0"' in lock
    # a lock file edited or left behind by hand is stale too
    (project / "cdktf.out" / "stacks" / "uat" / ".terraform.lock.hcl").write_text("# old\n")
    stale = _synth(project, "--no-extensions", "--check")
    assert stale.returncode == 1 and "changed  uat" in stale.stdout


def test_lock_files_take_the_newest_matching_version_from_the_users_own_mirror(tmp_path):
    """A user's CLI configuration names the mirror; a second (dummy) release in it shows the choice."""
    mirror = tmp_path / "mirror"
    provider = mirror / "registry.terraform.io" / "hashicorp" / "aws"
    provider.mkdir(parents=True)
    (provider / "5.100.0").symlink_to(_mirror() / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0")
    dummy = provider / "5.101.0" / "linux_amd64"
    dummy.mkdir(parents=True)
    (dummy / "terraform-provider-aws_v5.101.0_x5").write_bytes(b"not a real provider")
    (provider / "6.0.0" / "linux_amd64").mkdir(parents=True)  # outside the default constraint
    (provider / "6.0.0" / "linux_amd64" / "terraform-provider-aws_v6.0.0_x5").write_bytes(b"nor this")
    config = tmp_path / "terraformrc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    env = {**_env_without_endpoint(), "TF_CLI_CONFIG_FILE": str(config), "AWS_ORG_WORKSPACES_CACHE": str(tmp_path / "cache")}

    project = copy_project(tmp_path / "project")
    assert _synth(project, "--no-extensions", env=env).returncode == 0
    stack = project / "cdktf.out" / "stacks" / "dev"
    assert 'version     = "5.101.0"' in (stack / ".terraform.lock.hcl").read_text()
    assert _terraform_lock(stack, mirror, env) == (stack / ".terraform.lock.hcl").read_bytes()

    _set_provider_version(project, ">= 5.100.0, < 5.101.0")
    assert _synth(project, "--no-extensions", env=env).returncode == 0
    assert 'version     = "5.100.0"' in (stack / ".terraform.lock.hcl").read_text()

    organization = project / "environments" / "organization.hcl"
    organization.write_text(organization.read_text().replace(">= 5.100.0, < 5.101.0", "~> 7.0"))
    result = _synth(project, "--no-extensions", env=env)
    assert result.returncode == 0, result.stderr
    assert "no version of registry.terraform.io/hashicorp/aws matching \">= 5.0.0, ~> 7.0\"" in result.stdout
    assert "versions there: 5.100.0, 5.101.0, 6.0.0" in result.stdout


def test_without_a_provider_mirror_synth_says_so_and_writes_no_lock_files(tmp_path):
    config = tmp_path / "terraformrc"
    config.write_text('plugin_cache_dir = "/nonexistent"\n')  # the user's own: the registry, no mirror
    env = {**_env_without_endpoint(), "TF_CLI_CONFIG_FILE": str(config)}
    project = copy_project(tmp_path / "project")
    result = _synth(project, "--no-extensions", env=env)
    assert result.returncode == 0, result.stderr
    assert "no Terraform provider mirror is configured" in result.stdout
    assert not list((project / "cdktf.out").rglob(".terraform.lock.hcl"))


# -- engines ---------------------------------------------------------------------------------------------


def test_both_engines_synthesize_the_same_workspaces(tmp_path):
    trees = {}
    for engine in ("cdktf", "cdktn"):
        project = copy_project(tmp_path / engine)
        result = _synth(project, "--no-extensions", "--engine", engine)
        assert result.returncode == 0, result.stderr
        trees[engine] = {p.relative_to(project / "cdktf.out").as_posix(): p.read_text()
                         for p in sorted((project / "cdktf.out").rglob("*")) if p.is_file()}
    cdktf, cdktn = trees["cdktf"], trees["cdktn"]
    assert sorted(cdktf) == sorted(cdktn) and len(cdktf) == 1 + 2 * len(ACCOUNT_IDS)
    for path in cdktf:
        # module sources are relative, so the two projects' files compare; only the engine's version differs
        assert cdktf[path].replace('"version": "0.20.12"', '"version": "<engine>"') == \
            cdktn[path].replace('"version": "0.24.0"', '"version": "<engine>"'), path
    assert '"version": "0.24.0"' in cdktn["manifest.json"]


def test_engine_from_cdktf_json_context_and_a_clear_error_when_it_is_missing(tmp_path):
    project = copy_project(tmp_path)
    (project / "cdktf.json").write_text(json.dumps({"app": "x", "context": {"engine": "cdktn"}}))
    args = ["--environments", str(project / "environments"), "--modules", str(project / "modules"), "synth",
            "--out", str(project / "cdktf.out"), "--no-extensions"]
    chosen = run_cli(*args, cwd=project)
    assert chosen.returncode == 0, chosen.stderr
    assert '"version": "0.24.0"' in (project / "cdktf.out" / "manifest.json").read_text()
    # the same in an interpreter where CDK Terrain cannot be imported
    blocked = ("import runpy, sys; sys.modules['cdktn'] = None; sys.argv = sys.argv[1:]; "
               "runpy.run_path(sys.argv[0], run_name='__main__')")
    missing = subprocess.run([sys.executable, "-c", blocked, str(ROOT / "main.py"), *args], cwd=project,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2
    assert ("engine 'cdktn' (CDK Terrain, from the context of" in missing.stderr
            and "pip install -e '.[cdktn]'" in missing.stderr and "Traceback" not in missing.stderr), missing.stderr
    with_extensions = run_cli(*args[:-1], cwd=project)
    assert with_extensions.returncode == 2
    assert "extension 'developer-budget'" in with_extensions.stderr and "--no-extensions" in with_extensions.stderr
