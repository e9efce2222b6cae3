"""Module sources as Terraform knows them: relative paths, git:: URLs pinned with ?ref= and a
//subfolder (from a repository the test creates, offline), registry addresses with a version; the
fetch step into the shared cache, and what validate and synth say before it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli

MODULES = FIXTURES / "modules"
BASE = (FIXTURES / "module-bad" / "_base" / "organization.hcl").read_text()


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.test"})


@pytest.fixture
def module_repository(tmp_path) -> Path:
    """A git repository holding modules/labelled and modules/typed at tag v1.0.0 (later commits change labelled)."""
    repository = tmp_path / "module-repo"
    (repository / "modules").mkdir(parents=True)
    for name in ("labelled", "typed"):
        shutil.copytree(MODULES / name, repository / "modules" / name)
    _git(repository, "init", "-q", "-b", "main")
    _git(repository, "add", ".")
    _git(repository, "commit", "-q", "-m", "v1")
    _git(repository, "tag", "v1.0.0")
    (repository / "modules" / "labelled" / "main.tf").write_text('variable "renamed" {\n  type = string\n}\n')
    _git(repository, "commit", "-q", "-am", "v2: breaks the interface")
    return repository


def _project(tmp_path: Path, environment: str) -> tuple[Path, dict[str, str]]:
    environments = tmp_path / "project" / "environments"
    environments.mkdir(parents=True)
    (environments / "_base.hcl").write_text(BASE)
    (environments / "dev.hcl").write_text(environment)
    env = {**os.environ, "AWS_ORG_WORKSPACES_CACHE": str(tmp_path / "cache")}
    return environments, env


def _cli(environments: Path, env: dict[str, str], *args: str):
    return run_cli("--environments", str(environments), "--modules", str(MODULES), *args, env=env)


def test_git_source_is_checked_once_fetched_and_written_as_is(tmp_path, module_repository):
    source = f"git::file://{module_repository}//modules/labelled?ref=v1.0.0"
    environments, env = _project(tmp_path, f'''
environment "dev" {{
  account = "dev"
  module "logs" {{
    source = "{source}"
    inputs = {{
      suffix = "audit"
    }}
  }}
  module "reader" {{
    source = "typed"
    inputs = {{
      name = module.logs.id
    }}
  }}
}}
''')
    before = _cli(environments, env, "validate")
    assert before.returncode == 0, before.stderr
    assert f"dev.hcl:5: module 'logs' source {source} is not fetched, so its inputs were not checked" in before.stdout
    refused = _cli(environments, env, "synth", "--out", str(tmp_path / "out"), "--no-extensions")
    assert refused.returncode == 2 and "run `python main.py modules fetch`" in refused.stderr
    assert not (tmp_path / "out").exists()

    fetched = _cli(environments, env, "modules", "fetch")
    assert fetched.returncode == 0, fetched.stderr
    assert "fetched" in fetched.stdout and (tmp_path / "cache" / "modules").is_dir()
    # the tag's interface, not the branch head's (which renamed every variable)
    shutil.rmtree(module_repository)  # offline from now on: only the cache is read
    after = _cli(environments, env, "validate")
    assert after.returncode == 0, after.stderr
    assert "not fetched" not in after.stdout

    out = tmp_path / "out"
    done = _cli(environments, env, "synth", "--out", str(out), "--no-extensions")
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "stacks" / "dev" / "cdk.tf.json").read_text())
    assert document["module"]["logs"]["source"] == source
    assert document["module"]["logs"]["name_prefix"] == "dev"  # read from the fetched module: required there
    assert document["output"]["logs_bucket_id"] == {"value": "${module.logs.bucket_id}"}


def test_fetched_module_inputs_are_checked(tmp_path, module_repository):
    source = f"git::file://{module_repository}//modules/typed?ref=v1.0.0"
    environments, env = _project(tmp_path, f'''
environment "dev" {{
  account = "dev"
  module "table" {{
    source = "{source}"
    inputs = {{
      name          = "orders"
      read_capacity = "five"
      colour        = "blue"
    }}
  }}
}}
''')
    assert _cli(environments, env, "validate").returncode == 0  # not fetched: not checked, and said so
    fetched = _cli(environments, env, "modules", "fetch")
    assert fetched.returncode == 2, fetched.stdout + fetched.stderr
    assert "dev.hcl:8: module 'table' input 'read_capacity': the string \"five\" cannot be converted" in fetched.stderr
    assert "dev.hcl:9: module 'table' (" in fetched.stderr and "has no variable 'colour'" in fetched.stderr


def test_unpinned_git_source_and_registry_source_without_version_are_refused(tmp_path):
    environments, env = _project(tmp_path, '''
environment "dev" {
  account = "dev"
  module "a" {
    source = "git::https://example.com/modules.git//s3"
  }
  module "b" {
    source = "terraform-aws-modules/s3-bucket/aws"
  }
  module "c" {
    source  = "labelled"
    version = "1.0.0"
  }
  module "d" {
    source = "https://example.com/module.zip"
  }
}
''')
    result = _cli(environments, env, "validate")
    assert result.returncode == 2
    assert "dev.hcl:5: module 'a': git source 'git::https://example.com/modules.git//s3' is not pinned" in result.stderr
    assert "dev.hcl:8: module 'b': registry module 'terraform-aws-modules/s3-bucket/aws' needs a version" in result.stderr
    assert "dev.hcl:12: module 'c': version applies only to registry sources" in result.stderr
    assert "dev.hcl:15: module 'd': unknown module source 'https://example.com/module.zip'; a source is" in result.stderr


def test_registry_source_is_written_with_its_version(tmp_path):
    environments, env = _project(tmp_path, '''
environment "dev" {
  account = "dev"
  module "bucket" {
    source  = "terraform-aws-modules/s3-bucket/aws"
    version = "~> 4.1"
    inputs = {
      bucket = "dev-${module.logs.id}"
    }
  }
  module "logs" {
    source = "labelled"
  }
}
''')
    result = _cli(environments, env, "validate")
    assert result.returncode == 0, result.stderr
    assert "module 'bucket' source terraform-aws-modules/s3-bucket/aws (version ~> 4.1) is not fetched" in result.stdout


@pytest.mark.terraform
def test_relative_path_source_is_read_from_the_declaring_file_and_validates(tmp_path, terraform_env):
    project = tmp_path / "project"
    shutil.copytree(MODULES / "typed", project / "infra" / "typed")
    environments, env = _project(tmp_path, '''
environment "dev" {
  account = "dev"
  module "table" {
    source = "../infra/typed"
    inputs = {
      name = "orders"
    }
  }
}
''')
    out = project / "out"
    done = _cli(environments, env, "synth", "--out", str(out), "--no-extensions")
    assert done.returncode == 0, done.stderr
    stack = out / "stacks" / "dev"
    document = json.loads((stack / "cdk.tf.json").read_text())
    assert document["module"]["table"]["source"] == "../../../infra/typed"  # moves with the repository
    for args in (["init", "-backend=false", "-input=false"], ["validate"]):
        run = subprocess.run(["terraform", *args, "-no-color"], cwd=stack, env=terraform_env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.terraform
def test_git_sourced_workspace_initializes_with_terraform(tmp_path, module_repository, terraform_env):
    source = f"git::file://{module_repository}//modules/typed?ref=v1.0.0"
    environments, env = _project(tmp_path, f'''
environment "dev" {{
  account = "dev"
  module "table" {{
    source = "{source}"
    inputs = {{
      name = "orders"
    }}
  }}
}}
''')
    assert _cli(environments, env, "modules", "fetch").returncode == 0
    out = tmp_path / "out"
    assert _cli(environments, env, "synth", "--out", str(out), "--no-extensions").returncode == 0
    stack = out / "stacks" / "dev"
    for args in (["init", "-backend=false", "-input=false"], ["validate"]):
        run = subprocess.run(["terraform", *args, "-no-color"], cwd=stack, env=terraform_env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.terraform
def test_registry_source_is_fetched_through_the_registry_protocol(tmp_path, module_repository, terraform_env):
    """A registry on loopback (HTTPS, a CA made for the test): fetch picks the newest version the
    constraint allows, validate then checks the inputs, and terraform init gets the same code."""
    from registry_server import ModuleRegistry

    located = f"git::file://{module_repository}//modules/labelled?ref=v1.0.0"
    registry = ModuleRegistry(tmp_path, {"acme/labelled/aws": {"0.9.0": "git::file:///nowhere?ref=x",
                                                              "1.0.0": located,
                                                              "2.0.0": "git::file:///nowhere?ref=y"}})
    with registry:
        # a private registry's name, its services set in the CLI configuration as terraform reads them
        source = "registry.acme.test/acme/labelled/aws"
        cli_config = tmp_path / "terraformrc"
        cli_config.write_text(Path(terraform_env["TF_CLI_CONFIG_FILE"]).read_text() +
                              f'\nhost "registry.acme.test" {{\n  services = {{\n'
                              f'    "modules.v1" = "https://127.0.0.1:{registry.port}/v1/modules/"\n  }}\n}}\n')
        environments, env = _project(tmp_path, f'''
environment "dev" {{
  account = "dev"
  module "logs" {{
    source  = "{source}"
    version = ">= 1.0.0, < 2.0.0"
    inputs = {{
      suffix = "audit"
    }}
  }}
}}
''')
        env.update(SSL_CERT_FILE=str(registry.ca), TF_CLI_CONFIG_FILE=str(cli_config))
        fetched = _cli(environments, env, "modules", "fetch")
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
        assert "/v1/modules/acme/labelled/aws/1.0.0/download" in registry.requests
        out = tmp_path / "out"
        done = _cli(environments, env, "synth", "--out", str(out), "--no-extensions")
        assert done.returncode == 0, done.stderr
        stack = out / "stacks" / "dev"
        document = json.loads((stack / "cdk.tf.json").read_text())
        assert document["module"]["logs"] == {"source": source, "version": ">= 1.0.0, < 2.0.0",
                                              "suffix": "audit", "name_prefix": "dev"}
        terraform = {**terraform_env, "SSL_CERT_FILE": str(registry.ca), "TF_CLI_CONFIG_FILE": str(cli_config)}
        init = subprocess.run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=stack,
                              env=terraform, capture_output=True, text=True, timeout=300)
        assert init.returncode == 0, init.stdout + init.stderr
        modules = json.loads((stack / ".terraform" / "modules" / "modules.json").read_text())["Modules"]
        assert {"Key": "logs", "Source": f"{source}", "Version": "1.0.0"}.items() <= \
            next(m for m in modules if m["Key"] == "logs").items()
