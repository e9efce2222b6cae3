"""The real CLIs of both engines (pinned in package.json) on the project: cdktf (CDK for Terraform) and
cdktn (CDK Terrain) run the app from cdktf.json, synthesize, and deploy into the moto sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, copy_project
from generators.aws import clients as aws
from generators.config.organization import load_organization

pytestmark = pytest.mark.cdktf_cli
CLIS = {"cdktf": ROOT / "node_modules" / ".bin" / "cdktf", "cdktn": ROOT / "node_modules" / ".bin" / "cdktn"}
# cdktn-cli needs Node.js >= 22.19; `make install` puts one here when the system's is older
NODE22 = ROOT / "tools" / "node22" / "node_modules" / ".bin"
OUT = "cdktf.out"
ALL = ["alice", "bob", "dev", "feature-checkout", "hotfix-login", "preprod", "production", "qa", "uat"]
REGION = "us-east-1"


def cdk_project(tmp_path: Path, engine: str, keep: tuple[str, ...] | None = None) -> Path:
    """A scratch project whose cdktf.json runs the checkout's app with this interpreter and ``engine``."""
    assert CLIS[engine].exists(), f"{engine} CLI missing: run `make install` (npm ci)"
    project = copy_project(tmp_path / "project")
    if keep is not None:
        for path in (project / "environments").glob("*.hcl"):
            if path.stem not in {"accounts", "organization", "layouts", *keep}:
                path.unlink()
    config = json.loads((ROOT / "cdktf.json").read_text())
    # the checkout's app command, pointed at this interpreter and the checkout's main.py; the typed
    # extensions are slow to import and have no bindings for cdktn (see README)
    config["app"] = config["app"].replace(".venv/bin/python", sys.executable).replace(
        "main.py", f"{ROOT / 'main.py'} --environments environments --modules modules") + " --no-extensions"
    config["context"] = {"engine": engine}
    (project / "cdktf.json").write_text(json.dumps(config))
    return project


def run_cdk(engine: str, project: Path, *args: str, env: dict[str, str] | None = None,
            timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**(env or os.environ), "CHECKPOINT_DISABLE": "1", "CI": "1", "FORCE_COLOR": "0"}
    if engine == "cdktn" and (NODE22 / "node").exists():
        env["PATH"] = f"{NODE22}{os.pathsep}{env['PATH']}"
    result = subprocess.run([str(CLIS[engine]), *args], cwd=project, env=env, capture_output=True, text=True,
                            timeout=timeout)
    result.stdout = _ANSI.sub("", result.stdout)  # the CLIs colour the app's output as they relay it
    return result


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def manifest(project: Path) -> dict:
    return json.loads((project / OUT / "manifest.json").read_text())


def stack_folders(project: Path) -> list[str]:
    return sorted(p.name for p in (project / OUT / "stacks").iterdir())


@pytest.mark.parametrize("engine", sorted(CLIS))
def test_synth_twice_with_environments_removed_renamed_and_added(tmp_path, engine):
    project = cdk_project(tmp_path, engine)
    first = run_cdk(engine, project, "synth")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(manifest(project)["stacks"]) == ALL == stack_folders(project)
    assert manifest(project)["stacks"]["feature-checkout"]["dependencies"] == ["dev"]
    stack = json.loads((project / OUT / "stacks" / "qa" / "cdk.tf.json").read_text())
    assert stack["terraform"]["backend"]["s3"]["key"] == "qa/terraform.tfstate"

    environments = project / "environments"
    (environments / "bob.hcl").unlink()  # removed
    (environments / "uat.hcl").write_text((environments / "uat.hcl").read_text().replace(
        'environment "uat"', 'environment "acceptance"'))  # renamed
    (environments / "feature-search.hcl").write_text(
        (environments / "hotfix-login.hcl").read_text().replace('"hotfix-login"', '"feature-search"')
        .replace("hotfix/login", "feature/search"))  # added
    second = run_cdk(engine, project, "synth")
    assert second.returncode == 0, second.stdout + second.stderr
    expected = sorted(set(ALL) - {"bob", "uat"} | {"acceptance", "feature-search"})
    assert sorted(manifest(project)["stacks"]) == expected == stack_folders(project)
    # the app's own report, as `python main.py synth` prints it
    for line in ("created  acceptance", "created  feature-search", "removed  bob", "removed  uat"):
        assert line in second.stdout, second.stdout
    assert "ENOENT" not in second.stdout + second.stderr


def test_synth_refuses_when_the_cli_would_delete_files_the_tool_did_not_write(tmp_path):
    project = cdk_project(tmp_path, "cdktf")
    assert run_cdk("cdktf", project, "synth").returncode == 0
    local_state = project / OUT / "stacks" / "bob" / "terraform.tfstate"
    local_state.write_text("{}")
    (project / "environments" / "bob.hcl").unlink()
    before = (project / OUT / "manifest.json").read_bytes()
    result = run_cdk("cdktf", project, "synth")
    assert result.returncode != 0
    assert "terraform.tfstate" in result.stdout + result.stderr and "move those files away" in result.stdout + result.stderr
    assert local_state.exists() and (project / OUT / "manifest.json").read_bytes() == before  # nothing written


# -- deploying through the CLIs, into the sandbox --------------------------------------------------------


@pytest.fixture
def sandbox_env(fresh_aws, terraform_env, terraform_cache) -> dict[str, str]:
    """The sandbox's endpoint and dummy credentials, and the Terraform CLI configuration the tool writes
    (the provider mirror): what `python main.py demo --keep` tells a user to export."""
    env = dict(fresh_aws)
    env.update({k: v for k, v in terraform_env.items() if k.startswith("TF_")})
    env["AWS_ORG_WORKSPACES_CACHE"] = str(terraform_cache)
    return env


def account_session(account_id: str):
    return aws.assume_role_session(aws.session(REGION), f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                                   "cdk-cli-tests", REGION)


def create_state_buckets(project: Path):
    """What bootstrap does for state, in accounts that are otherwise empty."""
    organization = load_organization(project / "environments", project / "modules")
    for account in {e.account for e in organization.environments}:
        s3 = account_session(account.id).client("s3")
        s3.create_bucket(Bucket=organization.state_bucket(account))
        s3.put_bucket_versioning(Bucket=organization.state_bucket(account),
                                 VersioningConfiguration={"Status": "Enabled"})
    return organization


def state_resources(organization, name: str) -> list[str]:
    environment = organization.environment(name)
    s3 = account_session(environment.account.id).client("s3")
    state = json.loads(s3.get_object(Bucket=organization.state_bucket(environment.account),
                                     Key=environment.state_key)["Body"].read())
    return sorted(f"{r.get('module', '')}.{r['type']}" for r in state["resources"] if r["mode"] == "managed")


def test_cdktf_cli_deploys_the_api_environments_after_their_shared_infrastructure(tmp_path, sandbox_env):
    engine = "cdktf"
    project = cdk_project(tmp_path, engine, keep=("dev", "feature-checkout", "hotfix-login"))
    organization = create_state_buckets(project)

    synth = run_cdk(engine, project, "synth", env=sandbox_env)
    assert synth.returncode == 0, synth.stdout + synth.stderr
    for name in ("dev", "feature-checkout", "hotfix-login"):
        assert (project / OUT / "stacks" / name / ".terraform.lock.hcl").is_file()

    diff = run_cdk(engine, project, "diff", "dev", env=sandbox_env)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert "to add" in diff.stdout, diff.stdout

    # '*' from empty accounts: the API environments read dev's state, so dev must come first
    deploy = run_cdk(engine, project, "deploy", "*", "--auto-approve", env=sandbox_env)
    assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-4000:]
    assert "registry.terraform.io" not in deploy.stdout + deploy.stderr  # offline: lock file and mirror
    for name in ("dev", "feature-checkout", "hotfix-login"):
        assert state_resources(organization, name), f"{name}: no resources in its state in its own account"
    assert any("aws_dynamodb_table" in r for r in state_resources(organization, "dev"))

    output = run_cdk(engine, project, "output", "dev", env=sandbox_env)
    assert output.returncode == 0, output.stdout + output.stderr
    assert "infra_table_name" in output.stdout and "dev" in output.stdout

    # one API environment alone: the CLI insists on its dependency unless told it is deployed already
    alone = run_cdk(engine, project, "deploy", "feature-checkout", "--auto-approve", env=sandbox_env)
    assert alone.returncode != 0 and "dependencies are not included" in alone.stdout + alone.stderr
    again = run_cdk(engine, project, "deploy", "feature-checkout", "--auto-approve",
                    "--ignore-missing-stack-dependencies", env=sandbox_env)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert "No changes" in again.stdout, again.stdout[-4000:]

    destroy = run_cdk(engine, project, "destroy", "feature-checkout", "--auto-approve", env=sandbox_env)
    assert destroy.returncode == 0, destroy.stdout[-4000:] + destroy.stderr[-4000:]
    assert state_resources(organization, "feature-checkout") == []
    assert state_resources(organization, "dev")  # what it used stays

    # its definition goes too: the stack folder, with the CLI's saved plan and Terraform's cache, is removed
    (project / "environments" / "feature-checkout.hcl").unlink()
    removal = run_cdk(engine, project, "synth", env=sandbox_env)
    assert removal.returncode == 0, removal.stdout + removal.stderr
    assert "removed  feature-checkout" in removal.stdout
    assert stack_folders(project) == ["dev", "hotfix-login"]


def test_cdktn_cli_deploys_and_destroys_in_dependency_order(tmp_path, sandbox_env):
    engine = "cdktn"
    project = cdk_project(tmp_path, engine, keep=("dev", "feature-checkout"))
    organization = create_state_buckets(project)

    deploy = run_cdk(engine, project, "deploy", "*", "--auto-approve", env=sandbox_env)
    assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-4000:]
    assert '"version": "0.24.0"' in (project / OUT / "manifest.json").read_text()  # synthesized by CDK Terrain
    assert any("aws_dynamodb_table" in r for r in state_resources(organization, "dev"))
    assert any("aws_iam_role" in r for r in state_resources(organization, "feature-checkout"))

    output = run_cdk(engine, project, "output", "feature-checkout", env=sandbox_env)
    assert output.returncode == 0, output.stdout + output.stderr
    assert "api_role_arn" in output.stdout, output.stdout

    # '*' destroys the user before what it uses: dev's state is still readable while feature-checkout goes
    destroy = run_cdk(engine, project, "destroy", "*", "--auto-approve", env=sandbox_env)
    assert destroy.returncode == 0, destroy.stdout[-4000:] + destroy.stderr[-4000:]
    assert state_resources(organization, "feature-checkout") == [] == state_resources(organization, "dev")
