"""Module inputs keep their exact meaning: Terraform itself is the oracle.

Every expression of the corpus is written once as a module input in an environment file (and goes
through the loader, the rules, the workspace builder and cdktf), and once in a hand-written root
module. Terraform evaluates both; their outputs (values and types) must be identical. The whole
corpus is one workspace and one hand-written root, so it costs two `terraform apply` runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli

pytestmark = pytest.mark.terraform

MODULES = FIXTURES / "modules"

# Each entry is a Terraform expression exactly as a user would write it as a module input. The
# names e1, e2 ... of the module calls can be referred to as module.eN.v (e1 holds "base").
CORPUS: list[str] = [
    '"base"',
    # literals
    '"plain string"',
    '""',
    '"quotes \\"inside\\" and a backslash \\\\"',
    '"tab\\tnewline\\nunicode \\u00e9 snowman \\u2603"',
    '"dollar $5 and percent 100% and braces {}"',
    '"escaped $${not_interpolated} and %%{not_a_directive}"',
    "42",
    "-7",
    "0",
    "3.14159",
    "1e3",
    "-2.5e-3",
    "123456789012345678901234567890",
    "true",
    "false",
    "null",
    # collections
    "[]",
    "{}",
    '["a", "b", "c"]',
    '[1, "two", true, null]',
    "[[1, 2], [3, [4, 5]]]",
    '{ a = 1, b = "two", c = true }',
    '{ "key-with-dash" = 1, "key with space" = 2, plain = 3 }',
    '{ b = null }',
    "[null]",
    '{ nested = { deeper = { deepest = ["x"] } } }',
    '{\n  a = 1 # a comment\n  // another comment\n  b = [\n    "x", /* inline */ "y",\n  ]\n}',
    '[\n  "trailing",\n  "comma",\n]',
    '{ a = 1, a2 = 2 }',
    # functions
    'toset(["ec2.amazonaws.com"])',
    'toset(["b", "a", "b"])',
    'tolist(toset(["z", "y"]))',
    'tomap({ a = "1", b = "2" })',
    'concat(["arn:aws:iam::123456789012:root"], [])',
    'merge({ a = 1 }, { b = 2 }, { a = 3 })',
    'jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["s3:GetObject"] }] })',
    'jsondecode("{\\"a\\": [1, 2]}")',
    'format("%s-%03d", "item", 7)',
    'join(",", ["a", "b"])',
    'split("/", "a/b/c")',
    'lookup({ a = "x" }, "b", "fallback")',
    'try(tonumber("nope"), 0)',
    'can(regex("^[a-z]+$", "abc"))',
    'coalesce("", "second")',
    'length([1, 2, 3])',
    'keys({ b = 1, a = 2 })',
    'zipmap(["a", "b"], [1, 2])',
    'flatten([[1], [2, [3]]])',
    'distinct([1, 1, 2])',
    'sort(["c", "a", "b"])',
    'range(3)',
    'replace("a-b-c", "-", "_")',
    'upper("abc")',
    'base64encode("hello")',
    'cidrsubnet("10.0.0.0/16", 8, 2)',
    'max(1, 5, 3)',
    'tonumber("5")',
    'tostring(5)',
    'element(["a", "b"], 3)',
    'slice([1, 2, 3, 4], 1, 3)',
    'setunion(["a"], ["b"])',
    'sha256("x")',
    'yamlencode({ a = [1, 2] })',
    'timeadd("2024-01-01T00:00:00Z", "1h")',
    'formatlist("%s.example.com", ["a", "b"])',
    'alltrue([true, 1 == 1])',
    'one(["only"])',
    'endswith("bucket-logs", "-logs")',
    # operators and conditionals
    "true ? false : true",
    '1 > 2 ? "big" : "small"',
    'false ? 1 : (true ? 2 : 3)',
    "(1 + 2) * 3 - 4 / 2 % 3",
    "!true",
    "-(5)",
    "1 == 1 && 2 != 3 || false",
    '"a" == "a"',
    # for expressions and splats
    '[for s in ["a", "b"] : upper(s)]',
    '[for i, s in ["a", "b"] : "${i}=${s}" if s != "a"]',
    '{ for k, v in { a = 1, b = 2 } : k => v * 10 }',
    '{ for s in ["x", "y", "x"] : s => s... }',
    '[{ id = 1 }, { id = 2 }][*].id',
    '[{ id = 1 }, { id = 2 }].*.id',
    # index and attribute access
    '["a", "b"][1]',
    '{ a = { b = "deep" } }["a"].b',
    '{ a = 1 }.a',
    # templates and heredocs
    '"prefix-${upper("x")}-suffix"',
    '"%{ if true }yes%{ else }no%{ endif }"',
    # python-hcl2 7.3.1 cannot parse a quoted string inside a %{ } directive inside a string
    '"%{ for x in range(2) }${x};%{ endfor }"',
    '"nested ${"inner ${1 + 1}"}"',
    '<<EOT\nline one\n  line two\nEOT',
    '<<-EOT\n    indented\n      more\n    EOT',
    '<<EOT\nwith ${upper("interp")} and %{ if true }directive%{ endif }\nEOT',
    'jsonencode(<<EOT\n{"a": 1}\nEOT\n)',
    # references to other module calls
    "module.e1.v",
    "module.e1.v.value",
    '"${module.e1.v.value}-suffix"',
    '[for c in split("", module.e1.v.value) : upper(c)]',
    'module.e1.v.value == "base" ? "yes" : "no"',
]


def _project(tmp_path: Path) -> tuple[Path, Path]:
    environments = tmp_path / "environments"
    environments.mkdir()
    calls = "".join(f'\n  module "e{n}" {{\n    source = "echo"\n    inputs = {{\n      v = {expression}\n    }}\n  }}\n'
                    for n, expression in enumerate(CORPUS, start=1))
    (environments / "org.hcl").write_text(
        'organization "acme" {\n  region = "us-east-1"\n}\n'
        'account "dev" {\n  id   = "400000000000"\n  kind = "development"\n}\n'
        f'environment "corpus" {{\n  account = "dev"\n{calls}}}\n')
    root = tmp_path / "hand-written"
    root.mkdir()
    echo = (MODULES / "echo").as_posix()
    root.joinpath("main.tf").write_text("".join(
        f'module "e{n}" {{\n  source = "{echo}"\n  v = {expression}\n}}\n'
        f'output "e{n}_v" {{\n  value = module.e{n}.v\n}}\n' for n, expression in enumerate(CORPUS, start=1)))
    return environments, root


def _terraform(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(["terraform", *args, "-no-color"], cwd=folder, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"terraform {args[0]} in {folder}: {result.stderr}"
    return result


def _outputs(folder: Path, env: dict[str, str]) -> dict:
    _terraform(folder, env, "init", "-input=false")
    _terraform(folder, env, "apply", "-auto-approve", "-input=false")
    return json.loads(_terraform(folder, env, "output", "-json").stdout)


def _local_only(stack: Path) -> None:
    """The generated workspace without its AWS backend and provider: nothing in it needs AWS."""
    document = json.loads((stack / "cdk.tf.json").read_text())
    document["terraform"].pop("backend")
    document["terraform"].pop("required_providers")
    document.pop("provider")
    (stack / "cdk.tf.json").write_text(json.dumps(document))


@pytest.mark.fast
def test_corpus_is_large_and_distinct():
    assert len(CORPUS) >= 60
    assert len(set(CORPUS)) == len(CORPUS)


def test_every_expression_means_what_it_meant(tmp_path, terraform_env):
    environments, root = _project(tmp_path)
    out = tmp_path / "out"
    result = run_cli("--environments", str(environments), "--modules", str(MODULES), "synth", "--out", str(out),
                     "--no-extensions")
    assert result.returncode == 0, result.stderr
    stack = out / "stacks" / "corpus"
    _local_only(stack)

    generated, expected = _outputs(stack, terraform_env), _outputs(root, terraform_env)

    assert len(expected) == len(CORPUS)
    differences = []
    for n, expression in enumerate(CORPUS, start=1):
        name = f"e{n}_v"
        got, want = generated.get(name), expected[name]
        if got is None or (got["value"], got["type"]) != (want["value"], want["type"]):
            differences.append(f"{expression!r}: generated {got and (got['value'], got['type'])}, "
                               f"hand-written {(want['value'], want['type'])}")
    assert not differences, "\n".join(differences)


def test_plain_literals_are_json_values_and_the_rest_expressions(tmp_path):
    environments, _ = _project(tmp_path)
    out = tmp_path / "out"
    result = run_cli("--environments", str(environments), "--modules", str(MODULES), "synth", "--out", str(out),
                     "--no-extensions")
    assert result.returncode == 0, result.stderr
    modules = json.loads((out / "stacks" / "corpus" / "cdk.tf.json").read_text())["module"]
    value_of = {expression: modules[f"e{n}"]["v"] for n, expression in enumerate(CORPUS, start=1)}
    assert value_of["42"] == 42
    assert value_of['["a", "b", "c"]'] == ["a", "b", "c"]
    assert value_of['"escaped $${not_interpolated} and %%{not_a_directive}"'] == \
        "escaped $${not_interpolated} and %%{not_a_directive}"
    assert value_of["null"] == "${null}"  # cdktf drops a JSON null
    assert value_of["[null]"] == "${[null]}"
    assert value_of["true ? false : true"] == "${true ? false : true}"
    assert value_of['toset(["ec2.amazonaws.com"])'] == '${toset(["ec2.amazonaws.com"])}'
    assert value_of["3.14159"] == "${3.14159}"  # exact decimal, never through a binary float


@pytest.mark.fast
def test_env_create_copies_inputs_as_written(tmp_path):
    """A branch environment copied from a template keeps each input's exact expression."""
    from datetime import datetime, timezone

    from generators.config.hcl_loader import load_file
    from generators.envs.dev_envs import render_environment

    inputs = {"principals": 'toset(["ec2.amazonaws.com"])', "enabled": "true ? false : true", "ownership": "null",
              "policy": '<<-EOT\n      {"a": 1}\n      EOT', "name": '"${module.infra.table_name}-x"'}
    body = "\n".join(f"      {key} = {value}" for key, value in inputs.items())
    template = tmp_path / "template.hcl"
    template.write_text(f'environment "dev" {{\n  account = "dev"\n  module "api" {{\n    source = "api"\n'
                        f"    inputs = {{\n{body}\n    }}\n  }}\n}}\n")
    blocks, problems = load_file(template)
    assert not problems
    text = render_environment(name="feature-x", account="dev", uses=None, ttl="7d", branch=None, owner=None,
                              created=datetime(2026, 1, 1, tzinfo=timezone.utc),
                              modules=list(blocks[0].children("module")))
    copy = tmp_path / "copy.hcl"
    copy.write_text(text)
    copied, problems = load_file(copy)
    assert not problems, problems
    module = copied[0].children("module")[0]
    assert {k: module.expressions[f"inputs.{k}"].text for k in inputs} == inputs
