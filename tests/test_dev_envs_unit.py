"""The environment-file writer of dev_envs, called directly: what it writes reads back, through the
loader, as the values it was given, or it is refused."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from generators.config.expressions import SourceText
from generators.config.hcl_loader import RawBlock, load_file
from generators.envs.dev_envs import render_environment
from generators.errors import UsageError

pytestmark = pytest.mark.fast

CREATED = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
TRICKY = [
    "plain",
    'with "quotes"',
    "back\\slash and a trailing one\\",
    "${not_interpolated} and %{not_a_directive}",
    "$${already doubled} %%{too}",
    "a lone $ and { braces }",
    "two\nlines\tand a tab\r",
    "non-ASCII: émojis 🚀, ü, 中文",
    'feature/${x}-"quoted" after the sequence',
]


def _write(tmp_path: Path, text: str) -> RawBlock:
    path = tmp_path / "written.hcl"
    path.write_text(text, encoding="utf-8")
    blocks, problems = load_file(path)
    assert not problems, problems
    (block,) = blocks
    return block


def _template(tmp_path: Path, body: str) -> list[RawBlock]:
    path = tmp_path / "template.hcl"
    path.write_text(f'environment "dev" {{\n  account = "dev"\n{body}}}\n', encoding="utf-8")
    blocks, problems = load_file(path)
    assert not problems, problems
    return list(blocks[0].children("module"))


def _render(**overrides) -> str:
    arguments = dict(name="feature-x", account="dev", uses="dev", ttl="7d", branch=None, owner=None,
                     created=CREATED, modules=[])
    arguments.update(overrides)
    return render_environment(**arguments)


@pytest.mark.parametrize("value", TRICKY)
def test_literal_strings_read_back_as_given(tmp_path, value):
    text = _render(branch=value, owner=value)
    block = _write(tmp_path, text)
    # python-hcl2 holds a literal ${ or %{ as $${ or %%{: Terraform's JSON form, in which the branch
    # reaches the Branch tag of cdk.tf.json
    held = value.replace("${", "$${").replace("%{", "%%{")
    assert block.attributes["branch"] == block.attributes["owner"] == held
    # and by HCL's own escapes (what Terraform reads) the value is the branch name itself
    expression = SourceText(text).attribute_in_block("environment", "feature-x", "branch")
    assert [t.value for t in expression.tokens] == [value]


def test_the_attributes_read_back_with_their_lines_and_in_order(tmp_path):
    text = _render(branch="feature/x", owner="alice")
    block = _write(tmp_path, text)
    assert dict(block.attributes) == {"account": "dev", "uses": "dev", "ttl": "7d", "branch": "feature/x",
                                      "owner": "alice", "created": "2026-01-31T12:00:00Z"}
    assert text.splitlines()[:3] == [
        "# Development environment written by `python main.py env create`.",
        "# Destroy it with `python main.py env destroy feature-x` (CI runs that when its pull request closes).",
        'environment "feature-x" {']
    assert [line.split("=")[0].strip() for line in text.splitlines()[3:9]] == [
        "account", "uses", "ttl", "branch", "owner", "created"]


def test_empty_optional_attributes_are_left_out(tmp_path):
    block = _write(tmp_path, _render(uses=None, branch="", owner=None))
    assert set(block.attributes) == {"account", "ttl", "created"}


@pytest.mark.parametrize("value", [
    '${"quoted"} inside a sequence',  # python-hcl2's writer unescapes these quotes: the string would end early
    "a backslash before n: \\n",  # python-hcl2's reader takes the written \\n for a newline
    "an unclosed ${ sequence",  # python-hcl2's reader reads $${ up to the next } in the file
])
def test_values_that_would_not_read_back_are_refused(value):
    with pytest.raises(UsageError, match="cannot write branch"):
        _render(branch=value)


def test_module_sources_versions_and_providers_are_copied(tmp_path):
    modules = _template(tmp_path, '  module "api" {\n    source  = "registry.example/api/aws"\n'
                                  '    version = "~> 1.2"\n    providers = { "aws.global" = "global" }\n  }\n'
                                  '  module "db" {\n    source = "./db"\n  }\n')
    block = _write(tmp_path, _render(modules=modules))
    copied = block.children("module")
    assert [m.label for m in copied] == ["api", "db"]
    assert dict(copied[0].attributes) == {"source": "registry.example/api/aws", "version": "~> 1.2",
                                          "providers": {"aws.global": "global"}}
    assert dict(copied[1].attributes) == {"source": "./db"}


def test_inputs_keep_their_exact_text(tmp_path):
    inputs = {"principals": 'toset(["ec2.amazonaws.com"])', "enabled": "true ? false : true", "ownership": "null",
              "policy": '<<-EOT\n      {"a": 1}\n      EOT', "name": '"${module.infra.table_name}-x"',
              "tags": '{\n        a = "b" # a comment\n      }', "placeholder_like": "__input_0__"}
    body = "".join(f"      {key} = {value}\n" for key, value in inputs.items())
    modules = _template(tmp_path, f'  module "api" {{\n    source = "api"\n    inputs = {{\n{body}    }}\n  }}\n')
    module = _write(tmp_path, _render(modules=modules)).children("module")[0]
    written = {key: module.expressions[f"inputs.{key}"].text for key in inputs}
    # comments are blanked in an expression's text, so compare that one without them
    assert written == {**inputs, "tags": inputs["tags"].replace("# a comment", " " * len("# a comment"))}

