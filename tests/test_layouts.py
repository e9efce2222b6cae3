"""Layouts: modules and variables stated once for many environments, merged by documented rules,
every problem located where the value was written, and `show ENV` with each value's origin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, FIXTURES, MODULES, run_cli

FIXTURE_MODULES = FIXTURES / "modules"
BASE = (FIXTURES / "module-bad" / "_base" / "organization.hcl").read_text()

LAYOUT = '''layout "service" {
  description = "A table and a policy"

  variable "token" {
    sensitive = true
  }

  module "table" {
    source = "typed"
    inputs = {
      name          = "orders"
      read_capacity = 5
      tags          = { Team = "platform" }
    }
  }

  module "policy" {
    source = "iam-policy"
    inputs = {
      name = "service-${module.table.name}"
    }
  }
}
'''


def _environments(tmp_path: Path, environment: str, layout: str = LAYOUT) -> Path:
    environments = tmp_path / "environments"
    environments.mkdir()
    (environments / "_base.hcl").write_text(BASE)
    (environments / "layouts.hcl").write_text(layout)
    (environments / "dev.hcl").write_text(environment)
    return environments


def _cli(environments: Path, *args: str, modules: Path = FIXTURE_MODULES):
    return run_cli("--environments", str(environments), "--modules", str(modules), *args)


def test_environment_wins_input_by_input_and_adds_modules(tmp_path):
    environments = _environments(tmp_path, '''
environment "dev" {
  account = "dev"
  layout  = "service"

  module "table" {
    inputs = {
      read_capacity = 10
    }
  }

  module "logs" {
    source = "labelled"
  }
}
''')
    out = tmp_path / "out"
    result = _cli(environments, "synth", "--out", str(out), "--no-extensions")
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "stacks" / "dev" / "cdk.tf.json").read_text())
    modules = document["module"]
    assert modules["table"]["read_capacity"] == 10  # the environment's
    assert modules["table"]["name"] == "orders" and modules["table"]["tags"] == {"Team": "platform"}  # the layout's
    assert modules["policy"]["name"] == '${"service-${module.table.name}"}'
    assert modules["logs"]["name_prefix"] == "dev"
    assert "token" in document["variable"]  # variables come with the layout


def test_show_prints_the_effective_definition_with_origins(tmp_path):
    environments = _environments(tmp_path, '''
environment "dev" {
  account = "dev"
  layout  = "service"

  module "table" {
    inputs = {
      read_capacity = 10
    }
  }
}
''')
    result = _cli(environments, "show", "dev")
    assert result.returncode == 0, result.stderr
    layouts, dev = environments / "layouts.hcl", environments / "dev.hcl"
    assert f"      read_capacity = 10  # {dev}:8" in result.stdout
    assert f'      name          = "orders"  # {layouts}:11' in result.stdout
    assert f'    source = "typed"  # {layouts}:9' in result.stdout
    assert f'  # layout "service"  # {layouts}:1' in result.stdout
    unknown = _cli(environments, "show", "nope")
    assert unknown.returncode == 2 and "unknown environment 'nope'; known: dev" in unknown.stderr


def test_problem_in_an_inherited_input_points_at_the_layout(tmp_path):
    environments = _environments(tmp_path, 'environment "dev" {\n  account = "dev"\n  layout  = "service"\n}\n',
                                 LAYOUT.replace("read_capacity = 5", 'read_capacity = "five"'))
    result = _cli(environments, "validate")
    assert result.returncode == 2
    assert f"{environments / 'layouts.hcl'}:12: module 'table' input 'read_capacity': the string \"five\"" in result.stderr


def test_unknown_and_duplicate_layouts_are_refused(tmp_path):
    environments = _environments(tmp_path, 'environment "dev" {\n  account = "dev"\n  layout  = "services"\n}\n',
                                 LAYOUT + LAYOUT)
    result = _cli(environments, "validate")
    assert result.returncode == 2
    assert f"{environments / 'dev.hcl'}:3: environment 'dev' names unknown layout 'services'; layouts: service" \
        in result.stderr
    assert f"{environments / 'layouts.hcl'}:24: layout 'service' is already defined at" in result.stderr


@pytest.mark.fast
def test_example_organization_uses_layouts_and_each_environment_lists_its_layout_file():
    from generators.config.organization import load_organization

    organization = load_organization(EXAMPLE_ENVIRONMENTS, MODULES)
    layouts = str(EXAMPLE_ENVIRONMENTS / "layouts.hcl")
    production = organization.environment("production")
    assert production.layout == "full-stack" and layouts in production.definition_files
    assert [c.name for c in production.modules] == ["infra", "api"]
    assert organization.environment("feature-checkout").layout == "branch-api"
