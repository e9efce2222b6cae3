"""generators/synth/output.py called directly on temporary folders: the plan only reads, the write carries it
out whole, and nothing the tool did not write is overwritten or deleted."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from generators.errors import GeneratedFileConflict, UsageError
from generators.synth.output import (MANIFEST, OutputError, folders_a_cli_would_lose, plan_output, read_tree,
                                     write_output)

pytestmark = pytest.mark.fast


def _stack(name: str, value: int = 1) -> bytes:
    return json.dumps({"//": {"generated_by": "test"}, "locals": {name: value}}).encode()


def _rendered(**stacks: int) -> dict[str, bytes]:
    files = {f"stacks/{name}/cdk.tf.json": _stack(name, value) for name, value in stacks.items()}
    files[MANIFEST] = json.dumps(sorted(stacks)).encode()
    return files


def test_a_first_run_creates_every_stack_and_the_plan_writes_nothing(tmp_path):
    out = tmp_path / "out"
    plan = plan_output(_rendered(dev=1, qa=1), out)
    assert (plan.created, plan.changed, plan.unchanged, plan.removed) == (("dev", "qa"), (), (), ())
    assert not out.exists()  # planning only reads
    report = write_output(plan)
    assert report.created == ("dev", "qa")
    assert read_tree(out) == _rendered(dev=1, qa=1)


def test_a_second_run_reports_changed_unchanged_and_removed_stacks(tmp_path):
    out = tmp_path / "out"
    write_output(plan_output(_rendered(dev=1, qa=1, old=1), out))
    plan = plan_output(_rendered(dev=2, qa=1), out)
    assert (plan.created, plan.changed, plan.unchanged, plan.removed) == ((), ("dev",), ("qa",), ("old",))
    assert set(plan.writes) == {"stacks/dev/cdk.tf.json", MANIFEST}  # only what differs is written
    report = write_output(plan)
    assert report.removed == ("old",) and not (out / "stacks" / "old").exists()
    assert read_tree(out) == _rendered(dev=2, qa=1)
    assert plan_output(_rendered(dev=2, qa=1), out).up_to_date


def test_a_stale_stack_holding_anything_else_is_kept_and_reported(tmp_path):
    out = tmp_path / "out"
    write_output(plan_output(_rendered(dev=1, old=1), out))
    (out / "stacks" / "old" / "terraform.tfstate").write_text("{}")
    (out / "stacks" / "old" / ".terraform").mkdir()
    assert folders_a_cli_would_lose(out, {"dev"}) == {"old": ["terraform.tfstate"]}
    report = write_output(plan_output(_rendered(dev=1), out))
    assert report.removed == () and report.kept == {"old": ["terraform.tfstate"]}
    assert (out / "stacks" / "old" / "terraform.tfstate").exists()


def test_a_hand_written_stack_file_stops_the_run_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    (out / "stacks" / "qa").mkdir(parents=True)
    (out / "stacks" / "qa" / "cdk.tf.json").write_text('{"resource": {}}')
    with pytest.raises(GeneratedFileConflict, match="refusing to overwrite files that were not generated"):
        plan_output(_rendered(dev=1, qa=1), out)
    assert read_tree(out) == {"stacks/qa/cdk.tf.json": b'{"resource": {}}'}
    # and a folder without the marker is never planned for removal
    assert plan_output(_rendered(dev=1), out).removed == ()


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        plan_output(_rendered(dev=1), tmp_path / "out")


def test_a_failed_write_leaves_the_previous_output_and_no_temporary_files(tmp_path):
    out = tmp_path / "out"
    write_output(plan_output(_rendered(dev=1), out))
    before = read_tree(out)
    plan = plan_output(_rendered(dev=2, new=1), out)
    (out / "stacks" / "new").write_text("a file where the new stack's folder must go")
    with pytest.raises(OutputError, match="nothing was changed"):
        write_output(plan)
    assert read_tree(out) == {**before, "stacks/new": b"a file where the new stack's folder must go"}


def test_a_failed_first_write_leaves_no_folder_it_made(tmp_path):
    """Folders are made and written by several threads: when one stack cannot be written, the folders
    the others made are all removed again, and no temporary file stays."""
    out = tmp_path / "out"
    plan = plan_output(_rendered(**{f"stack-{index:02d}": 1 for index in range(40)}), out)
    (out / "stacks").mkdir(parents=True)
    (out / "stacks" / "stack-17").write_text("a file where the stack's folder must go")
    with pytest.raises(OutputError, match="nothing was changed"):
        write_output(plan)
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["stack-17"]
    assert list(out.iterdir()) == [out / "stacks"]


def test_old_temporary_files_of_a_killed_run_are_removed_and_recent_ones_left(tmp_path):
    out = tmp_path / "out"
    write_output(plan_output(_rendered(dev=1), out))
    old = out / "stacks" / "dev" / ".cdk.tf.json.abcd1234.tmp"
    recent = out / "stacks" / "dev" / ".cdk.tf.json.efgh5678.tmp"
    for path in (old, recent):
        path.write_text("half")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    write_output(plan_output(_rendered(dev=2), out))
    assert not old.exists() and recent.exists()


def test_generated_files_get_the_permissions_of_any_new_file(tmp_path):
    out = tmp_path / "out"
    write_output(plan_output(_rendered(dev=1), out))
    umask = os.umask(0)
    os.umask(umask)
    assert Path(out / "stacks" / "dev" / "cdk.tf.json").stat().st_mode & 0o777 == 0o666 & ~umask
