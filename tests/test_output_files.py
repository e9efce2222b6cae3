"""Generated files as an on-call engineer expects them: ordinary permissions, no temporary files left to
trip over, and output that always parses, even when synth is killed at any moment."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import MODULES, ROOT, copy_project


def _synth_command(project: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), "--environments", str(project / "environments"), "--modules",
            str(MODULES), "synth", "--out", str(project / "out"), "--no-extensions", *extra]


def _with_umask(mask: int):
    return lambda: os.umask(mask)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".tmp")}


def test_generated_files_get_ordinary_permissions(tmp_path):
    for mask, expected in ((0o022, 0o644), (0o002, 0o664)):
        project = copy_project(tmp_path / f"umask-{mask:03o}")
        result = subprocess.run(_synth_command(project), capture_output=True, text=True, timeout=600,
                                preexec_fn=_with_umask(mask))
        assert result.returncode == 0, result.stderr
        files = [p for p in (project / "out").rglob("*") if p.is_file()]
        assert files
        modes = {p.relative_to(project).as_posix(): oct(p.stat().st_mode & 0o777) for p in files}
        assert set(modes.values()) == {oct(expected)}, modes


def test_stale_temporary_files_of_a_killed_run_are_ignored_and_cleaned(tmp_path):
    project = copy_project(tmp_path)
    assert subprocess.run(_synth_command(project), capture_output=True, timeout=600).returncode == 0
    old = time.time() - 3600
    stale = project / "out" / "stacks" / "dev" / ".cdk.tf.json.k1ll3d_x.tmp"
    stale.write_text('{"half": ')
    os.utime(stale, (old, old))
    fresh = project / "out" / "stacks" / "qa" / ".cdk.tf.json.st1llgo1.tmp"  # maybe another run's, still writing
    fresh.write_text('{"half": ')
    # a removed environment whose folder holds only the tool's files and a stale temporary file
    (project / "environments" / "uat.hcl").unlink()
    uat_stale = project / "out" / "stacks" / "uat" / ".cdk.tf.json.abcdefgh.tmp"
    uat_stale.write_text("{")
    os.utime(uat_stale, (old, old))

    result = subprocess.run(_synth_command(project), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "removed  uat" in result.stdout
    assert not (project / "out" / "stacks" / "uat").exists()
    assert not stale.exists()
    assert fresh.exists()  # too young to be sure it is stale: left alone, and ignored
    check = subprocess.run(_synth_command(project, "--check"), capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stdout + check.stderr


def test_synth_killed_at_random_moments_leaves_output_that_parses_and_a_rerun_completes(tmp_path):
    reference = copy_project(tmp_path / "reference")
    started = time.monotonic()
    assert subprocess.run(_synth_command(reference), capture_output=True, timeout=600).returncode == 0
    duration = time.monotonic() - started
    expected = _tree(reference / "out")

    project = copy_project(tmp_path / "killed")
    # a different previous output (another region for dev), so a kill can land between old and new files
    dev = project / "environments" / "dev.hcl"
    original = dev.read_text()
    dev.write_text(original.replace('account = "dev"', 'account = "dev"\n  region  = "eu-west-1"', 1))
    assert subprocess.run(_synth_command(project), capture_output=True, timeout=600).returncode == 0
    dev.write_text(original)
    # same depth as the reference, so relative module sources match
    moments = sorted(random.uniform(0.2, duration) for _ in range(4))
    for moment in moments:
        process = subprocess.Popen(_synth_command(project), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        time.sleep(moment)
        os.killpg(process.pid, signal.SIGKILL)  # the engine's node process goes too
        process.wait(timeout=60)
        for path in (project / "out").rglob("*.json"):
            json.loads(path.read_text())  # every file is whole, old or new: never half-written
    result = subprocess.run(_synth_command(project), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert _tree(project / "out") == expected, f"killed at {moments} of {duration:.1f} s"


def test_a_write_that_fails_midway_leaves_the_previous_output(tmp_path):
    """A stack folder the tool may not write (as another user would see it), with earlier stacks changing
    too: nothing is rewritten, no temporary file stays, exit 1 naming the folder."""
    project = copy_project(tmp_path)
    assert subprocess.run(_synth_command(project), capture_output=True, timeout=600).returncode == 0
    before = {p: (p.read_bytes(), p.stat().st_mode) for p in (project / "out").rglob("*") if p.is_file()}
    organization = project / "environments" / "organization.hcl"
    organization.write_text(organization.read_text().replace('region      = "us-east-1"', 'region      = "us-west-2"'))
    locked = project / "out" / "stacks" / "uat"  # sorts after most stacks, so they would be written first
    locked.chmod(0o555)
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        result = subprocess.run([*prefix, *_synth_command(project)], capture_output=True, text=True, timeout=600)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{locked}/" in result.stderr and "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    after = {p: (p.read_bytes(), p.stat().st_mode) for p in (project / "out").rglob("*") if p.is_file()}
    assert after == before


def test_generated_ci_file_gets_ordinary_permissions(tmp_path):
    project = copy_project(tmp_path)
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--environments", str(project / "environments"),
                             "--modules", str(project / "modules"), "ci", "atlantis"], cwd=project,
                            capture_output=True, text=True, timeout=600, preexec_fn=_with_umask(0o022))
    assert result.returncode == 0, result.stderr
    assert oct((project / "atlantis.yaml").stat().st_mode & 0o777) == oct(0o644)
