"""generators/config/layouts.py called directly on loaded blocks: the environment wins input by input, and
every merged value remembers the file and line that wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from generators.config.hcl_loader import RawBlock, load_directory
from generators.config.layouts import apply_layouts

pytestmark = pytest.mark.fast

LAYOUTS = '''layout "stack" {
  module "infra" {
    source = "infrastructure"
  }
  module "api" {
    source = "api"
    inputs = {
      table_name  = module.infra.table_name
      bucket_name = module.infra.bucket_name
    }
    providers = { "aws.global" = "global" }
  }
  variable "token" {
    sensitive = true
  }
}
'''


def _load(tmp_path: Path, environments: str) -> tuple[list[RawBlock], list, dict]:
    (tmp_path / "layouts.hcl").write_text(LAYOUTS)
    (tmp_path / "envs.hcl").write_text(environments)
    blocks, problems = load_directory(tmp_path)
    assert not problems, problems
    return apply_layouts(blocks)


def _module(environment: RawBlock, label: str) -> RawBlock:
    return next(m for m in environment.children("module") if m.label == label)


def test_an_environment_without_changes_gets_the_layouts_blocks_located_in_the_layout(tmp_path):
    merged, problems, layouts = _load(tmp_path, 'environment "qa" {\n  account = "qa"\n  layout = "stack"\n}\n')
    assert not problems and set(layouts) == {"stack"}
    (qa,) = merged
    assert [(b.kind, b.label) for b in qa.blocks] == [("module", "infra"), ("module", "api"), ("variable", "token")]
    api = _module(qa, "api")
    assert api.file_of("inputs.table_name") == str(tmp_path / "layouts.hcl") and api.line_of("inputs.table_name") == 8
    assert api.expressions["inputs.bucket_name"].text == "module.infra.bucket_name"


def test_the_environment_wins_input_by_input_and_adds_its_own_modules(tmp_path):
    merged, problems, _ = _load(tmp_path, '''environment "qa" {
  account = "qa"
  layout  = "stack"
  module "api" {
    inputs = {
      table_name = "fixed"
    }
  }
  module "extra" {
    source = "extra"
  }
  variable "token" {
    description = "the environment's own"
  }
}
''')
    assert not problems
    (qa,) = merged
    api = _module(qa, "api")
    envs, layouts = str(tmp_path / "envs.hcl"), str(tmp_path / "layouts.hcl")
    assert dict(api.attributes["inputs"]) == {"table_name": "fixed", "bucket_name": "${module.infra.bucket_name}"}
    assert (api.file_of("inputs.table_name"), api.line_of("inputs.table_name")) == (envs, 6)
    assert (api.file_of("inputs.bucket_name"), api.line_of("inputs.bucket_name")) == (layouts, 9)
    assert {k: e.text for k, e in api.expressions.items()} == {"inputs.table_name": '"fixed"',
                                                               "inputs.bucket_name": "module.infra.bucket_name"}
    assert api.attributes["source"] == "api" and api.file_of("source") == layouts
    assert dict(api.attributes["providers"]) == {"aws.global": "global"}
    assert [m.label for m in qa.children("module")] == ["infra", "api", "extra"]
    (token,) = qa.children("variable")
    assert dict(token.attributes) == {"description": "the environment's own"}


def test_unknown_and_duplicate_layouts_are_problems_at_their_lines(tmp_path):
    merged, problems, _ = _load(tmp_path, 'layout "stack" {\n}\nenvironment "qa" {\n  account = "qa"\n'
                                          '  layout  = "nope"\n}\n')
    assert merged == []
    envs, layouts = str(tmp_path / "envs.hcl"), str(tmp_path / "layouts.hcl")  # files are read in sorted order
    assert [(p.file, p.line, p.message) for p in problems] == [
        (layouts, 1, f"layout 'stack' is already defined at {envs}:1"),
        (str(tmp_path / "envs.hcl"), 5, "environment 'qa' names unknown layout 'nope'; layouts: stack"),
    ]


def test_environments_without_a_layout_and_other_blocks_pass_unchanged(tmp_path):
    merged, problems, _ = _load(tmp_path, 'account "qa" {\n  id = "300000000002"\n}\n'
                                          'environment "qa" {\n  account = "qa"\n}\n')
    assert not problems and [(b.kind, b.label, b.blocks) for b in merged] == [("account", "qa", ()),
                                                                              ("environment", "qa", ())]
