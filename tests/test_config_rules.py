"""Every layout rule, as a bad-configuration fixture: the message, its location, exit code 2, no
traceback, and an output folder left exactly as it was.

The cases run in-process (``cli_in_process``): they never reach cdktf or Terraform, and an
interpreter start per case would make the corpus slow. test_bad_input_cli.py runs the boundary
itself in real interpreters."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cli_in_process import run_cli_in_process
from conftest import FIXTURES, MODULES, run_cli

BAD = FIXTURES / "bad"
CASES = sorted(p for p in BAD.iterdir() if not p.name.startswith("_") and (p.suffix == ".hcl" or p.is_dir()))


def _case_files(case: Path) -> list[Path]:
    return sorted(case.glob("*.hcl")) if case.is_dir() else [case]


def _header(case: Path) -> dict[str, str]:
    header = {}
    for line in _case_files(case)[0].read_text(encoding="utf-8").splitlines():
        match = re.match(r"#\s*(\w+):\s*(.*)$", line)
        if not line.startswith("#"):
            break
        if match:
            header[match.group(1)] = match.group(2).strip()
        elif line.strip() == "# standalone":
            header["standalone"] = "yes"
    return header


def _project(case: Path, tmp_path: Path) -> Path:
    environments = tmp_path / "environments"
    environments.mkdir()
    if "standalone" not in _header(case):
        shutil.copy(BAD / "_base" / "organization.hcl", environments / "_base.hcl")
    for file in _case_files(case):
        shutil.copy(file, environments / file.name)
    return environments


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.fast
def test_every_case_declares_what_it_expects():
    assert len(CASES) >= 80
    for case in CASES:
        header = _header(case)
        assert "expect" in header and ("line" in header or "at" in header), case.name


def test_base_layout_is_valid(tmp_path):
    shutil.copytree(BAD / "_base", tmp_path / "environments")
    result = run_cli("--environments", str(tmp_path / "environments"), "--modules", str(MODULES), "validate")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_rule_violation_is_reported_and_nothing_is_written(case, tmp_path):
    header = _header(case)
    environments = _project(case, tmp_path)
    out = tmp_path / "out"
    (out / "stacks" / "existing").mkdir(parents=True)
    (out / "stacks" / "existing" / "note.txt").write_text("must survive a failed synth\n")
    before = _snapshot(out)

    for command in (["validate"], ["synth", "--out", str(out)]):
        result = run_cli_in_process("--environments", str(environments), "--modules", str(MODULES), *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert header["expect"] in result.stderr, result.stderr
        if "at" in header:
            file_name, line = header["at"].split(":")
            assert f"{environments / file_name}:{line}: " in result.stderr, result.stderr
        elif header["line"] != "0":
            assert f"{environments / case.name}:{header['line']}: " in result.stderr, result.stderr
    assert _snapshot(out) == before
