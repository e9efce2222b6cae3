"""Module inputs against the module fixtures in tests/fixtures/modules (shapes of popular public
modules): the name_prefix rule, root output names, literal types, references. Bad cases live in
tests/fixtures/module-bad/, each naming its expected message and line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli

MODULES = FIXTURES / "modules"
BAD = FIXTURES / "module-bad"
CASES = sorted(p for p in BAD.glob("*.hcl"))
BASE = (BAD / "_base" / "organization.hcl").read_text()


def _header(case: Path) -> dict[str, str]:
    return dict(re.findall(r"^#\s*(\w+):\s*(.*)$", case.read_text(), re.MULTILINE))


def _environments(tmp_path: Path, files: dict[str, str]) -> Path:
    environments = tmp_path / "environments"
    environments.mkdir()
    (environments / "_base.hcl").write_text(BASE)
    for name, text in files.items():
        (environments / name).write_text(text)
    return environments


def _synth(environments: Path, out: Path) -> subprocess.CompletedProcess:
    return run_cli("--environments", str(environments), "--modules", str(MODULES), "synth", "--out", str(out),
                   "--no-extensions")


def _modules(out: Path, environment: str) -> dict:
    return json.loads((out / "stacks" / environment / "cdk.tf.json").read_text())["module"]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_module_input_is_reported_at_its_line(case, tmp_path):
    header = _header(case)
    environments = _environments(tmp_path, {case.name: case.read_text()})
    out = tmp_path / "out"
    for command in (["validate"], ["synth", "--out", str(out)]):
        result = run_cli("--environments", str(environments), "--modules", str(MODULES), *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert f"{environments / case.name}:{header['line']}: " in result.stderr, result.stderr
        assert header["expect"] in result.stderr, result.stderr
    assert not out.exists()


def test_name_prefix_is_set_only_where_the_module_requires_it(tmp_path):
    environments = _environments(tmp_path, {"dev.hcl": '''
environment "dev" {
  account = "dev"
  module "logs" {
    source = "labelled"
  }
  module "named" {
    source = "labelled"
    inputs = {
      name_prefix = "chosen"
      suffix      = "audit"
    }
  }
  module "policy" {
    source = "iam-policy"
    inputs = {
      name = "dev-readonly"
    }
  }
  module "prefixed-policy" {
    source = "iam-policy"
    inputs = {
      name_prefix = null
    }
  }
}
'''})
    out = tmp_path / "out"
    result = _synth(environments, out)
    assert result.returncode == 0, result.stderr
    modules = _modules(out, "dev")
    assert modules["logs"]["name_prefix"] == "dev"  # required by the module: ours to set
    assert modules["named"]["name_prefix"] == "chosen"  # an explicit value wins
    assert "name_prefix" not in modules["policy"]  # the AWS argument beside name: left alone
    assert modules["prefixed-policy"]["name_prefix"] == "${null}"  # explicit null wins, and survives cdktf


def test_explicit_name_prefix_is_not_held_to_the_environment_name_limit(tmp_path):
    environments = _environments(tmp_path, {"long.hcl": '''
environment "a-rather-long-environment" {
  account = "dev"
  module "logs" {
    source = "labelled"
    inputs = {
      name_prefix = "short"
    }
  }
}
'''})
    result = run_cli("--environments", str(environments), "--modules", str(MODULES), "validate")
    assert result.returncode == 0, result.stderr


def test_literals_that_terraform_converts_are_accepted(tmp_path):
    environments = _environments(tmp_path, {"dev.hcl": '''
environment "dev" {
  account = "dev"
  module "table" {
    source = "typed"
    inputs = {
      name           = 5
      read_capacity  = "5"
      enabled        = "false"
      azs            = ["us-east-1a", 2, true]
      principals     = ["a", "a"]
      tags           = { Team = "platform", Cost = 12 }
      pair           = ["a", "2"]
      lifecycle_rule = [{ id = "expire", enabled = true }]
      object_ownership = null
      listeners = {
        http  = { port = "80", extra = "dropped by Terraform" }
        https = { port = 443, protocol = "HTTPS", rules = [{ priority = 1 }] }
      }
    }
  }
}
'''})
    result = run_cli("--environments", str(environments), "--modules", str(MODULES), "validate")
    assert result.returncode == 0, result.stderr


def test_every_problem_of_one_file_is_reported_at_once(tmp_path):
    environments = _environments(tmp_path, {"dev.hcl": '''
environment "dev" {
  account = "dev"
  module "table" {
    source = "typed"
    inputs = {
      name          = local.name
      read_capacity = "five"
      enabled       = [true]
    }
  }
}
'''})
    result = run_cli("--environments", str(environments), "--modules", str(MODULES), "validate")
    assert result.returncode == 2
    for line in (7, 8, 9):
        assert f"{environments / 'dev.hcl'}:{line}: " in result.stderr, result.stderr


@pytest.mark.terraform
def test_fixture_modules_validate_with_terraform(tmp_path, terraform_env):
    """What validate accepts, terraform accepts: converted literals, optional attributes, explicit null."""
    project = tmp_path / "project"
    shutil.copytree(MODULES, project / "modules")
    environments = _environments(project, {"dev.hcl": '''
environment "dev" {
  account = "dev"
  module "table" {
    source = "typed"
    inputs = {
      name          = "orders"
      read_capacity = "5"
      enabled       = "true"
      principals    = ["ec2.amazonaws.com"]
      listeners = {
        https = { port = 443, rules = [{ priority = 1 }] }
      }
      object_ownership = null
    }
  }
  module "policy" {
    source = "iam-policy"
    inputs = {
      name   = "dev-${module.table.name}"
      policy = jsonencode({ Version = "2012-10-17", Statement = [] })
      tags   = { Team = "platform" }
    }
  }
  module "logs" {
    source = "labelled"
  }
  module "network" {
    source = "wide"
    inputs = {
      name        = "dev-network"
      setting_000 = 7
      setting_001 = "7"
      setting_002 = "true"
      setting_003 = ["a", 1]
      setting_007 = { enabled = true }
      setting_115 = [for z in ["a", "b"] : "us-east-1${z}"]
    }
  }
}
'''})
    out = project / "out"
    result = run_cli("--environments", str(environments), "--modules", str(project / "modules"), "synth",
                     "--out", str(out), "--no-extensions")
    assert result.returncode == 0, result.stderr
    stack = out / "stacks" / "dev"
    for args in (["init", "-backend=false", "-input=false"], ["validate", "-json"]):
        run = subprocess.run(["terraform", *args, "-no-color"], cwd=stack, env=terraform_env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["valid"] is True


def test_other_providers_of_modules_and_nested_modules_reach_required_providers(tmp_path):
    environments = _environments(tmp_path, {"dev.hcl": '''
environment "dev" {
  account = "dev"
  module "names" {
    source = "random-name"
  }
}
'''})
    out = tmp_path / "out"
    result = _synth(environments, out)
    assert result.returncode == 0, result.stderr
    required = json.loads((out / "stacks" / "dev" / "cdk.tf.json").read_text())["terraform"]["required_providers"]
    assert required["random"] == {"source": "hashicorp/random", "version": ">= 3.1"}  # from ./naming, nested
    assert required["aws"]["version"] == ">= 5.100.0, < 6.0.0"  # the organization's, unchanged


@pytest.mark.fast
@pytest.mark.parametrize("constraints, compatible", [
    ((">= 5.100.0, < 6.0.0", ">= 5.0"), True),
    ((">= 5.100.0, < 6.0.0", ">= 6.28"), False),
    ((">= 5.100.0, < 6.0.0", "~> 5.100"), True),
    ((">= 5.100.0, < 6.0.0", "~> 5.99.0"), False),
    (("~> 5.0", "< 5.0.1"), True),
    (("= 3.1.0", "!= 3.1.0"), False),
    ((">= 3.1", "> 3.1, <= 3.1"), False),
    (("<= 4.0", ">= 4.0"), True),
    (("< 4.0", ">= 4.0"), False),
])
def test_provider_constraints_intersect_as_terraform_does(constraints, compatible):
    from generators.config.provider_versions import compatible as check

    assert check(*constraints) is compatible
