"""Environment variables and secrets: declared in the .hcl, values from TF_VAR_* or a secret store
read at plan time in the environment's own account, never written to any generated file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli
from generators.aws import clients as aws

MODULES = FIXTURES / "modules"
DEV_ACCOUNT = "400000000000"
TF_VAR_SECRET = "tfvar-db-password-8c1f"
SSM_SECRET = "ssm-api-key-51e0"

ENVIRONMENT = '''
organization "acme" {
  region = "us-east-1"
}

account "dev" {
  id   = "400000000000"
  kind = "development"
}

environment "dev" {
  account = "dev"
  variable "db_password" {
    sensitive   = true
    description = "The database password, from CI's secrets"
  }
  variable "api_key" {
    sensitive     = true
    ssm_parameter = "/shared/api-key"
  }
  module "secrets" {
    source = "secret-consumer"
    inputs = {
      db_password = var.db_password
      api_key     = "${var.api_key}"
    }
  }
}
'''


def _project(tmp_path: Path, text: str = ENVIRONMENT) -> Path:
    project = tmp_path / "project"
    (project / "environments").mkdir(parents=True)
    (project / "environments" / "org.hcl").write_text(text)
    shutil.copytree(MODULES, project / "modules")
    return project


def _cli(project: Path, *args: str, env: dict[str, str] | None = None):
    return run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"), *args,
                   env=env)


def test_variables_become_root_variables_and_secret_stores_data_sources(tmp_path):
    project = _project(tmp_path)
    result = _cli(project, "synth", "--out", str(project / "out"), "--no-extensions")
    assert result.returncode == 0, result.stderr
    document = json.loads((project / "out" / "stacks" / "dev" / "cdk.tf.json").read_text())
    assert document["variable"]["db_password"] == {"description": "The database password, from CI's secrets",
                                                   "sensitive": True}
    assert "api_key" not in document["variable"]
    assert document["data"]["aws_ssm_parameter"]["api_key"] == {"name": "/shared/api-key", "with_decryption": True}
    assert document["module"]["secrets"]["db_password"] == "${var.db_password}"
    assert document["module"]["secrets"]["api_key"] == '${"${data.aws_ssm_parameter.api_key.value}"}'


def test_undeclared_variable_is_refused_at_its_line(tmp_path):
    text = ENVIRONMENT.replace("db_password = var.db_password", "db_password = var.db_pasword")
    line = text.splitlines().index("      db_password = var.db_pasword") + 1
    project = _project(tmp_path, text)
    result = _cli(project, "validate")
    assert result.returncode == 2
    assert (f"org.hcl:{line}: module 'secrets' input 'db_password': var.db_pasword is not declared in environment 'dev'; "
            'declare it with variable "db_pasword" { sensitive = true } (declared: api_key, db_password)') in result.stderr


def test_variable_with_two_stores_is_refused(tmp_path):
    project = _project(tmp_path, ENVIRONMENT.replace('ssm_parameter = "/shared/api-key"',
                                                     'ssm_parameter = "/shared/api-key"\n    '
                                                     'secretsmanager_secret = "api-key"'))
    result = _cli(project, "validate")
    assert result.returncode == 2
    assert "variable 'api_key' names two secret stores" in result.stderr


def _files_containing(folder: Path, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 5_000_000:
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return found


@pytest.mark.terraform
def test_secrets_reach_the_module_and_no_generated_file(tmp_path, fresh_aws, terraform_env, terraform_cache):
    env = dict(fresh_aws)
    env.update({k: v for k, v in terraform_env.items() if k.startswith("TF_") or k == "CHECKPOINT_DISABLE"})
    env["AWS_ORG_WORKSPACES_CACHE"] = str(terraform_cache)
    env["TF_VAR_db_password"] = TF_VAR_SECRET
    project = _project(tmp_path)
    session = aws.assume_role_session(aws.session("us-east-1"),
                                      f"arn:aws:iam::{DEV_ACCOUNT}:role/OrganizationAccountAccessRole",
                                      "variables-test", "us-east-1")
    s3 = session.client("s3")
    s3.create_bucket(Bucket=f"acme-tfstate-{DEV_ACCOUNT}")
    ssm = session.client("ssm")
    ssm.put_parameter(Name="/shared/api-key", Value=SSM_SECRET, Type="SecureString")

    out = project / "cdktf.out"
    done = _cli(project, "deploy", "dev", "--auto-approve", "--out", str(out), "--no-extensions", env=env)
    assert done.returncode == 0, done.stdout + done.stderr

    stored = {name: ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
              for name in ("/dev/db-password", "/dev/api-key")}
    assert stored == {"/dev/db-password": TF_VAR_SECRET, "/dev/api-key": SSM_SECRET}
    secrets = (TF_VAR_SECRET, SSM_SECRET)
    assert not any(s in done.stdout + done.stderr for s in secrets)
    assert _files_containing(project, secrets) == []
