"""The bad-input corpus beyond configuration rules (those are fixtures, see test_config_rules.py): paths
that cannot be read, output folders that cannot be written, usage mistakes, and AWS that cannot be
reached or has no credentials for us. Each case is one row: how to break the project, the command, the
exit code, the message; every case also checks that there is no traceback and that the existing
output folder is exactly as it was.

Cases run in-process unless the behaviour needs a real interpreter: dropped file permissions (which
root ignores, so those run with the DAC capabilities dropped), AWS endpoints and credentials from the
environment, and the closed pipe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from cli_in_process import run_cli_in_process
from conftest import EXAMPLE_ENVIRONMENTS, MODULES, ROOT, free_port, run_cli

# As root, file permissions are not checked; without these capabilities they are, as for anyone else.
WITHOUT_ROOT_OVERRIDES = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


@dataclass(frozen=True)
class Case:
    name: str
    breaks: Callable[[Path], None]  # changes the project (environments/, out/) to set the case up
    command: tuple[str, ...]
    exit_code: int
    message: str  # a substring of stderr; "{project}" stands for the project folder
    in_process: bool = True
    env: dict[str, str | None] | None = None  # environment changes (None removes a variable)


def _write(relative: str, content: bytes) -> Callable[[Path], None]:
    def breaks(project: Path) -> None:
        (project / relative).write_bytes(content)
    return breaks


def _link(relative: str, target: str) -> Callable[[Path], None]:
    def breaks(project: Path) -> None:
        path = project / relative
        if path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    return breaks


def _chmod(relative: str, mode: int) -> Callable[[Path], None]:
    def breaks(project: Path) -> None:
        (project / relative).chmod(mode)
    return breaks


def _steps(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def breaks(project: Path) -> None:
        for step in steps:
            step(project)
    return breaks


def _fifo(relative: str) -> Callable[[Path], None]:
    return lambda project: os.mkfifo(project / relative)


def _nothing(project: Path) -> None:
    pass


def _change_dev_region(project: Path) -> None:
    """A valid change, so synth has something to write."""
    path = project / "environments" / "dev.hcl"
    path.write_text(path.read_text().replace('account = "dev"', 'account = "dev"\n  region  = "us-west-2"', 1))


ENV = "environments"
VALIDATE = ("validate",)
SYNTH = ("synth", "--out", "{project}/out", "--no-extensions")
UNREACHABLE = {"AWS_ENDPOINT_URL": "http://127.0.0.1:{closed_port}", "AWS_ACCESS_KEY_ID": "x",
               "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1"}
NO_CREDENTIALS = {"AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                  "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None, "AWS_REGION": "us-east-1",
                  "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                  "AWS_EC2_METADATA_DISABLED": "true"}
CANNOT_REACH = "cannot reach AWS at http://127.0.0.1:{closed_port}"

CASES = [
    # -- every path is read or reported (exit 2, and synth removes no stack) --------------------------
    *(Case(f"broken-link-{c[0]}", _link(f"{ENV}/feature-checkout.hcl", "moved-away.hcl"), c, 2,
           "feature-checkout.hcl: broken symbolic link: its target moved-away.hcl does not exist")
      for c in (VALIDATE, SYNTH)),
    *(Case(f"link-loop-{c[0]}", _link(f"{ENV}/loop.hcl", "loop.hcl"), c, 2,
           "loop.hcl: symbolic link loop") for c in (VALIDATE, SYNTH)),
    Case("folder-link-loop", _link(f"{ENV}/more/up", ".."), SYNTH, 2,
         "more/up: symbolic link loop: it leads back to"),
    Case("broken-folder-link", _link(f"{ENV}/teams", "/nonexistent/teams"), SYNTH, 2,
         "teams: broken symbolic link: its target /nonexistent/teams does not exist"),
    Case("latin-1-file", _write(f"{ENV}/notes.hcl", b'# caf\xe9\nenvironment "x" {}\n'), SYNTH, 2,
         "notes.hcl:1: not UTF-8 text: byte 0xe9 at offset 5"),
    Case("utf-16-file", _write(f"{ENV}/wide.hcl", "# wide\n".encode("utf-16")), VALIDATE, 2,
         "wide.hcl:1: not UTF-8 text: byte 0xff at offset 0"),
    Case("nul-byte", _write(f"{ENV}/binary.hcl", b"\n\n\x00\x01"), SYNTH, 2,
         "binary.hcl:3: not a text file: it contains a NUL byte"),
    Case("fifo-named-hcl", _fifo(f"{ENV}/pipe.hcl"), SYNTH, 2, "pipe.hcl: not a regular file"),
    Case("folder-named-hcl-is-read", lambda p: (p / ENV / "extra.hcl").mkdir() or _write(
        f"{ENV}/extra.hcl/x.hcl", b'environment "x" {\n  account = "nowhere"\n}\n')(p), VALIDATE, 2,
         "refers to unknown account 'nowhere'"),
    Case("environments-missing", lambda p: shutil.rmtree(p / ENV), SYNTH, 2, "environments directory does not exist"),
    Case("environments-is-a-file", lambda p: shutil.rmtree(p / ENV) or (p / ENV).write_text(""), VALIDATE, 2,
         "environments directory is not a folder"),
    Case("environments-empty", lambda p: [f.unlink() for f in (p / ENV).glob("*.hcl")], SYNTH, 2,
         "no *.hcl files found"),
    Case("account-ids-not-json", _write(f"{ENV}/account-ids.generated.json", b"{not json"), SYNTH, 2,
         "account-ids.generated.json:1: cannot read recorded account ids: Expecting property name"),
    Case("account-ids-wrong-shape", _write(f"{ENV}/account-ids.generated.json", b'{"accounts": ["qa"]}'), SYNTH, 2,
         "account-ids.generated.json: cannot read recorded account ids: expected a JSON object like"),
    Case("unreadable-file", _chmod(f"{ENV}/qa.hcl", 0), SYNTH, 2, "qa.hcl: cannot read file: Permission denied",
         in_process=False),
    Case("unreadable-folder", _steps(lambda p: (p / ENV / "team").mkdir(),
                                     _write(f"{ENV}/team/x.hcl", b""), _chmod(f"{ENV}/team", 0)),
         SYNTH, 2, "team: cannot read folder: Permission denied", in_process=False),
    # -- output that cannot be written: a clear error, the previous output complete ------------------
    Case("out-is-a-file", _steps(_change_dev_region, lambda p: (p / "out-file").write_text("")),
         ("synth", "--out", "{project}/out-file", "--no-extensions"), 2, "out-file is a file, not a folder"),
    Case("out-stacks-is-a-file", _steps(_change_dev_region, lambda p: (p / "other").mkdir(),
                                        lambda p: (p / "other" / "stacks").write_text("")),
         ("synth", "--out", "{project}/other", "--no-extensions"), 2, "other/stacks is a file, not a folder"),
    Case("read-only-output", _steps(_change_dev_region, _chmod("out/stacks/dev", 0o555)), SYNTH, 1,
         "cannot write the output in {project}/out: {project}/out/stacks/dev/", in_process=False),
    Case("read-only-output-folder", _steps(lambda p: (p / ENV / "extra.hcl").write_text(
        'environment "extra" {\n  account = "dev"\n  module "infra" {\n    source = "infrastructure"\n  }\n}\n'),
        _chmod("out/stacks", 0o555)), SYNTH, 1, "out/stacks/extra: Permission denied (check the permissions",
        in_process=False),
    # -- usage -------------------------------------------------------------------------------------
    Case("unknown-command", _nothing, ("synthesize",), 2, "No such command 'synthesize'"),
    Case("unknown-option", _nothing, ("synth", "--outdir", "x"), 2, "No such option '--outdir'"),
    Case("env-create-ttl-overflow", _nothing, ("env", "create", "feature-y", "--ttl", "99999999w"), 2,
         "--ttl '99999999w' is longer than a year"),
    Case("env-create-ttl-garbage", _nothing, ("env", "create", "feature-y", "--ttl", "soon"), 2,
         "--ttl 'soon' must be a number and a unit h, d or w"),
    Case("costs-month-garbage", _nothing, ("costs", "--month", "banana"), 2, "--month"),
    Case("plan-unknown-environment", _nothing, ("plan", "nowhere", "--out", "{project}/out"), 2, "nowhere"),
    # -- AWS unreachable, or no credentials: the endpoint or account named, a hint, exit 1 ------------
    Case("bootstrap-unreachable", _nothing, ("bootstrap",), 1, "http://127.0.0.1:{closed_port}", False, UNREACHABLE),
    Case("limits-unreachable", _nothing, ("limits",), 1, "could not be measured", False, UNREACHABLE),
    Case("costs-unreachable", _nothing, ("costs",), 1, "http://127.0.0.1:{closed_port}", False, UNREACHABLE),
    Case("access-unreachable", _nothing, ("access",), 1, "http://127.0.0.1:{closed_port}", False, UNREACHABLE),
    Case("env-reap-dry-run-unreachable", _nothing, ("env", "reap", "--dry-run"), 1, CANNOT_REACH, False,
         UNREACHABLE),
    Case("env-destroy-unreachable", _nothing, ("env", "destroy", "feature-checkout", "--out", "{project}/out"), 1,
         CANNOT_REACH, False, UNREACHABLE),
    # plan, deploy and destroy write their runs into their own --out; the synthesized `out` stays as it was
    *(Case(f"{c[0]}-unreachable", _nothing, (*c, "--out", "{project}/run-out"), 1,
           f"1 of 1 environments not done (failed: {c[1]})", False, UNREACHABLE)
      for c in (("plan", "dev"), ("deploy", "dev", "--auto-approve"), ("destroy", "qa", "--auto-approve"))),
    Case("env-list-unreachable", _nothing, ("env", "list"), 0, "could not read the state of 3 environments", False,
         UNREACHABLE),
    Case("env-reap-dry-run-no-credentials", _nothing, ("env", "reap", "--dry-run"), 1,
         "no AWS credentials found for AWS's public endpoints", False, NO_CREDENTIALS),
    Case("bootstrap-no-credentials", _nothing, ("bootstrap",), 1, "credentials", False, NO_CREDENTIALS),
]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> Path:
    """The example, synthesized once: the output every case must leave as it was."""
    # at the depth of each test's tmp_path/project, so the relative module sources stay the same in a copy
    project = tmp_path_factory.mktemp("example") / "project"
    shutil.copytree(EXAMPLE_ENVIRONMENTS, project / ENV)
    result = run_cli("--environments", str(project / ENV), "--modules", str(MODULES), "synth", "--out",
                     str(project / "out"), "--no-extensions")
    assert result.returncode == 0, result.stderr
    return project


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(case: Case, project: Path, closed_port: int) -> subprocess.CompletedProcess:
    def fill(text: str) -> str:
        return text.replace("{project}", str(project)).replace("{closed_port}", str(closed_port))

    args = ("--environments", str(project / ENV), "--modules", str(MODULES), *(fill(a) for a in case.command))
    if case.in_process and case.env is None:
        return run_cli_in_process(*args)
    env = dict(os.environ)
    for name, value in (case.env or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = fill(value)
    return subprocess.run([*WITHOUT_ROOT_OVERRIDES, sys.executable, str(ROOT / "main.py"), *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.fast
def test_the_corpus_covers_at_least_eighty_cases_with_the_rule_fixtures():
    from test_config_rules import CASES as RULE_CASES

    assert len(CASES) + len(RULE_CASES) >= 80


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_reported_and_the_output_is_untouched(case, synthesized, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(synthesized, project, symlinks=True)
    case.breaks(project)
    before = _snapshot(project / "out")
    closed_port = free_port()  # nothing listens there once the probe socket is closed
    try:
        result = _run(case, project, closed_port)
    finally:  # let pytest clean up whatever the case locked
        for path in [project, *project.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
            elif path.is_file() and not path.is_symlink():
                path.chmod(0o644)
    message = case.message.replace("{project}", str(project)).replace("{closed_port}", str(closed_port))
    assert result.returncode == case.exit_code, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert _snapshot(project / "out") == before
    assert not list((project / "out").rglob("*.tmp")), "temporary files left behind"


def test_a_closed_stdout_pipe_ends_quietly(synthesized):
    """`main.py list | head -1` style: the reader leaves before the tool writes."""
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--environments", str(synthesized / ENV),
                                "--modules", str(MODULES), "list", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=synthesized)
    process.stdout.close()
    stderr = process.communicate(timeout=120)[1].decode()
    assert process.returncode == 1
    assert stderr == "", stderr


def test_a_byte_order_mark_is_accepted(synthesized, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(synthesized, project)
    path = project / ENV / "dev.hcl"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = run_cli("--environments", str(project / ENV), "--modules", str(MODULES), "synth", "--check",
                     "--out", str(project / "out"), "--no-extensions")
    assert result.returncode == 0, result.stderr  # the same configuration, so the same output


def test_debug_shows_the_traceback_the_boundary_hides(synthesized, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(synthesized, project)
    (project / "out-file").write_text("")
    args = ("--modules", str(MODULES), "--environments", str(project / ENV))
    synth = ("synth", "--out", str(project / "out" / "stacks" / "dev" / "cdk.tf.json" / "x"), "--no-extensions")
    plain = run_cli(*args, *synth)
    debug = run_cli(*args, "--debug", *synth)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert "cdk.tf.json" in plain.stderr and "a file stands where a folder is expected" in plain.stderr
    assert "Traceback" in debug.stderr
