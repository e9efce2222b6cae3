"""generators/config/hcl_loader.py called directly: located blocks, schema problems at their lines, and every
file read or reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import in_a_fresh_process
from generators.config.hcl_loader import expression_of, load_directory, load_file

pytestmark = pytest.mark.fast

ENVIRONMENT = '''# a comment
environment "qa" {
  account = "qa"
  ttl     = "7d"

  provider "global" {
    region = "us-east-1"
  }

  module "api" {
    source = "api"
    inputs = {
      table_name = module.infra.table_name
      retries    = 3
      "quoted"   = "x"
    }
  }
}
'''


def _file(tmp_path: Path, text: str | bytes, name: str = "env.hcl") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _messages(problems) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in problems]


def test_blocks_are_located_with_their_attributes_and_inputs_as_written(tmp_path):
    path = _file(tmp_path, ENVIRONMENT)
    blocks, problems = load_file(path)
    assert not problems
    (environment,) = blocks
    assert (environment.kind, environment.label, environment.file, environment.line) == ("environment", "qa",
                                                                                         str(path), 2)
    assert dict(environment.attributes) == {"account": "qa", "ttl": "7d"}
    assert environment.line_of("ttl") == 4 and environment.line_of("nothing") == 2
    (provider,) = environment.children("provider")
    assert (provider.label, dict(provider.attributes), provider.line) == ("global", {"region": "us-east-1"}, 6)
    (module,) = environment.children("module")
    assert module.line_of("inputs.retries") == 14 and module.line_of("inputs") == 12
    assert {k: e.text for k, e in module.expressions.items()} == {
        "inputs.table_name": "module.infra.table_name", "inputs.retries": "3", "inputs.quoted": '"x"'}
    assert module.file_of("inputs.retries") == str(path)


@pytest.mark.parametrize("text, line, message", [
    ('environment "qa" {\n  account = "qa"\n  colour = "blue"\n}\n', 3,
     "unknown attribute 'colour' in environment \"qa\"; valid: account, branch, created, layout, owner, region, "
     "ttl, uses, module {}, provider {}, variable {}"),
    ('environment "qa" {\n  account = qa\n}\n', 2,
     "in environment \"qa\": 'account' must be a quoted string, got the expression qa (add quotes)"),
    ('account "a" {\n  extensions = ["x", 1]\n}\n', 2,
     "in account \"a\": 'extensions' must be a list of quoted strings, got ['x', 1]"),
    ('widget "w" {\n}\n', 1, "unknown block 'widget' at top level; valid blocks: organization, account, layout, "
                             "environment"),
    ('environment {\n  account = "qa"\n}\n', 1, 'environment block needs exactly one label, like environment '
                                               '"name" { ... }'),
])
def test_schema_problems_name_the_line_and_what_is_valid(tmp_path, text, line, message):
    blocks, problems = load_file(_file(tmp_path, text))
    assert _messages(problems) == [(line, message)]


def test_every_problem_of_a_file_is_reported(tmp_path):
    _, problems = load_file(_file(tmp_path, 'environment "qa" {\n  account = qa\n  colour = "x"\n}\n'))
    assert [line for line, _ in _messages(problems)] == [2, 3]


def test_unreadable_text_is_reported_with_its_line(tmp_path):
    _, not_utf8 = load_file(_file(tmp_path, b'environment "qa" {\n  account = "\xff"\n}\n'))
    assert _messages(not_utf8) == [(2, "not UTF-8 text: byte 0xff at offset 32 (save the file as UTF-8)")]
    _, nul = load_file(_file(tmp_path, 'environment "qa" {\n\n  account = "\0"\n}\n'))
    assert _messages(nul) == [(3, "not a text file: it contains a NUL byte")]
    _, syntax = load_file(_file(tmp_path, 'environment "qa" {\n  account = \n}\n'))
    assert len(syntax) == 1 and syntax[0].message.startswith("HCL syntax error")


def test_a_byte_order_mark_is_accepted(tmp_path):
    blocks, problems = load_file(_file(tmp_path, b'\xef\xbb\xbfenvironment "qa" {\n  account = "qa"\n}\n'))
    assert not problems and blocks[0].attributes["account"] == "qa"


def test_a_directory_is_read_in_sorted_order_and_subfolders_count(tmp_path):
    (tmp_path / "b").mkdir()
    _file(tmp_path / "b", 'environment "two" {\n  account = "x"\n}\n', "x.hcl")
    _file(tmp_path, 'environment "one" {\n  account = "x"\n}\n', "a.hcl")
    _file(tmp_path, "not configuration", "notes.txt")
    blocks, problems = load_directory(tmp_path)
    assert not problems and [b.label for b in blocks] == ["one", "two"]


def test_a_missing_or_empty_directory_is_a_problem_not_an_empty_organization(tmp_path):
    assert _messages(load_directory(tmp_path / "missing")[1]) == [(None, "environments directory does not exist")]
    assert _messages(load_directory(_file(tmp_path, "x"))[1]) == [(None, "environments directory is not a folder")]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _messages(load_directory(empty)[1]) == [(None, "no *.hcl files found")]


@pytest.mark.parametrize("value, expression", [("${module.x.y}", "module.x.y"), ("plain", None),
                                               ("a ${b} c", None), ("${a}${b}", None), (3, None)])
def test_expression_of(value, expression):
    assert expression_of(value) == expression


def check_many_files_read_in_two_processes_give_what_one_at_a_time_gives(folder: str) -> None:
    """Past parallel.MIN_ITEMS files the loader parses half of them in a forked child: every block and
    problem is still there, in file order, with its file and line."""
    import threading

    from generators.config.hcl_loader import load_files
    from generators.parallel import MIN_ITEMS

    tmp_path = Path(folder)
    count = 2 * MIN_ITEMS + 3
    for index in range(count):
        text = ENVIRONMENT.replace('"qa"', f'"env-{index:03d}"', 1)
        if index in (5, count - 4):  # a problem in each half
            text = text.replace('ttl     = "7d"', 'ttl     = 7')
        if index == count - 2:
            text = "environment {\n"  # a syntax error, in the child's half
        _file(tmp_path, text, f"env-{index:03d}.hcl")
    assert threading.active_count() == 1  # so the loader forks (on more than one core)
    blocks, problems = load_directory(tmp_path)
    one_by_one = [load_file(path) for path in sorted(tmp_path.glob("*.hcl"))]
    assert [(b.label, b.file, b.line, dict(b.attributes)) for b in blocks] == [
        (b.label, b.file, b.line, dict(b.attributes)) for file_blocks, _ in one_by_one for b in file_blocks]
    assert problems == [p for _, file_problems in one_by_one for p in file_problems]
    assert [Path(p.file).name for p in problems] == ["env-005.hcl", f"env-{count - 4:03d}.hcl",
                                                     f"env-{count - 2:03d}.hcl"]
    assert [p.line for p in problems][:2] == [4, 4]
    assert load_files(sorted(tmp_path.glob("*.hcl"))) == one_by_one


def test_many_files_read_in_two_processes_give_what_one_at_a_time_gives(tmp_path):
    in_a_fresh_process(__name__, check_many_files_read_in_two_processes_give_what_one_at_a_time_gives.__name__,
                       str(tmp_path))
