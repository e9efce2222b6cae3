"""The synthesis cache (generators/synth/cache.py): an incremental synth must write exactly what a cold
synth from an empty cache writes, whatever changed; the cache must be used, safe to lose, and never
trusted when someone else wrote it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from conftest import ROOT, copy_project, run_cli

sys.path.insert(0, str(ROOT / "benchmarks"))
from synth_benchmark import feature_environment  # noqa: E402

from generators.config.organization import load_organization  # noqa: E402
from generators.synth.cache import FORMAT, SynthCache, fingerprint_of_code  # noqa: E402
from generators.synth.output import read_tree  # noqa: E402
from generators.synth.pipeline import SynthRequest, plan_synthesis, write_synthesis  # noqa: E402

FEATURES = 12


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example organization and a dozen branch environments, one file each (as `env create` writes)."""
    project = copy_project(tmp_path / "project")
    for index in range(FEATURES):
        (project / "environments" / f"feature-{index:04d}.hcl").write_text(feature_environment(index))
    return project


@pytest.fixture
def cache_paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "cache", tmp_path / "key"


def synth(project: Path, outdir: Path, cache: SynthCache | None, with_extensions: bool = False):
    organization = load_organization(project / "environments", project / "modules", cache)
    plan = plan_synthesis(SynthRequest(organization, project / "modules", outdir, with_extensions=with_extensions,
                                       cache=cache))
    report = write_synthesis(plan)
    if cache is not None:
        cache.save()
    return report


def warm_then_cold(project: Path, tmp_path: Path, cache_paths, change, with_extensions: bool = False):
    """Synth with a cache, apply ``change``, synth again from the same cache, then cold into another
    folder; return both trees, the incremental run's cache statistics and its report."""
    warm = tmp_path / "warm"
    synth(project, warm, SynthCache.open(*cache_paths), with_extensions)
    change(project)
    cache = SynthCache.open(*cache_paths)
    report = synth(project, warm, cache, with_extensions)
    cold = tmp_path / "cold"
    synth(project, cold, None, with_extensions)
    return read_tree(warm), read_tree(cold), cache.stats(), report


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def change_one_environment(project: Path) -> None:
    (project / "environments" / "feature-0005.hcl").write_text(feature_environment(5, '"renamed-table"'))


def change_module_variables(project: Path) -> None:
    # An optional name_prefix is not set by the generator: every stack calling `api` changes.
    edit(project / "modules" / "api" / "variables.tf", 'variable "name_prefix" {\n',
         'variable "name_prefix" {\n  default = "x"\n')


def change_organization(project: Path) -> None:
    edit(project / "environments" / "organization.hcl", 'deploy_role = "TerraformDeploy"',
         'deploy_role = "TerraformApply"')


def change_account_id(project: Path) -> None:
    edit(project / "environments" / "accounts.hcl", '"300000000001"', '"300000000009"')


def change_uses_target(project: Path) -> None:
    dev = (project / "environments" / "dev.hcl").read_text()
    (project / "environments" / "dev-two.hcl").write_text(dev.replace('environment "dev"', 'environment "dev-two"'))
    edit(project / "environments" / "feature-0003.hcl", 'uses    = "dev"', 'uses    = "dev-two"')


def remove_file(project: Path) -> None:
    (project / "environments" / "feature-0007.hcl").unlink()


def record_account_id(project: Path, account_id: str) -> None:
    (project / "environments" / "account-ids.generated.json").write_text(
        json.dumps({"//": "test", "accounts": {"dev": account_id}}))


def change_recorded_account_id(project: Path) -> None:
    record_account_id(project, "400000000009")


def dev_id_from_the_account_ids_file(project: Path) -> None:
    edit(project / "environments" / "accounts.hcl", '  id    = "400000000001"\n', "")
    record_account_id(project, "400000000001")


@pytest.mark.parametrize("prepare,change", [
    (None, change_one_environment), (None, change_module_variables), (None, change_organization),
    (None, change_account_id), (dev_id_from_the_account_ids_file, change_recorded_account_id),
    (None, change_uses_target), (None, remove_file)], ids=lambda f: f.__name__ if f else "")
def test_incremental_synth_writes_what_a_cold_synth_writes(project, tmp_path, cache_paths, prepare, change):
    if prepare:
        prepare(project)
    warm, cold, stats, report = warm_then_cold(project, tmp_path, cache_paths, change)
    assert warm == cold
    assert report.created or report.changed or report.removed, "the change must change the output"
    parsed_hits, _ = stats["environment-files"]
    assert parsed_hits >= FEATURES - 1, stats  # the unchanged files were not parsed again


def test_an_edit_rewrites_only_the_stack_it_changes(project, tmp_path, cache_paths):
    outdir = tmp_path / "out"
    synth(project, outdir, SynthCache.open(*cache_paths))
    before = {p: p.stat().st_mtime_ns for p in outdir.rglob("*") if p.is_file()}
    change_one_environment(project)
    cache = SynthCache.open(*cache_paths)
    report = synth(project, outdir, cache)
    assert report.changed == ("feature-0005",) and not report.created and not report.removed
    rewritten = sorted(p.relative_to(outdir).as_posix() for p, mtime in before.items()
                       if p.stat().st_mtime_ns != mtime)
    assert rewritten == ["stacks/feature-0005/cdk.tf.json"]
    stack_hits, stack_misses = cache.stats()["stacks"]
    stacks = len(list((outdir / "stacks").iterdir()))
    assert stack_misses == 1 and stack_hits == stacks - 1  # every stack but the edited one


def test_an_edit_rewrites_one_shard_of_the_parts_it_adds_to(project, tmp_path, cache_paths):
    """Each part is kept in sixteen files by key: one edited environment adds one parsed file and one
    rendered stack, so one file of each of those two parts is rewritten and the rest stay as they are."""
    synth(project, tmp_path / "out", SynthCache.open(*cache_paths))
    before = {p: p.read_bytes() for p in cache_paths[0].glob("*.?.pickle")}
    assert len({p.name.split(".")[1] for p in before}) > 1  # the entries are spread over several shards
    change_one_environment(project)
    synth(project, tmp_path / "out", SynthCache.open(*cache_paths))
    rewritten = sorted(p.name.split(".")[0] for p in cache_paths[0].glob("*.?.pickle")
                       if p.read_bytes() != before.get(p))  # changed, or made for a new entry
    assert rewritten == ["environment-files", "stacks"]


def test_the_cache_is_read_and_no_cache_does_not_read_it(project, tmp_path, cache_paths):
    """Proof that the output comes from the cache when it can: an entry changed (with the right key)
    shows in the output, and `--no-cache` ignores it."""
    outdir = tmp_path / "out"
    synth(project, outdir, SynthCache.open(*cache_paths))
    cache = SynthCache.open(*cache_paths)
    stacks = cache.part("stacks")
    key = next(k for k, v in stacks.entries.items() if isinstance(v, bytes) and b'"feature-0001"' in v)
    stacks.put(key, stacks.entries[key].replace(b'"feature-0001"', b'"planted"'))
    cache.save()
    environment = {**os.environ, "AWS_ORG_WORKSPACES_CACHE": str(cache_paths[0].parent),
                   "AWS_ORG_WORKSPACES_CACHE_KEY": str(cache_paths[1])}
    cache_paths[0].rename(cache_paths[0].parent / "synth")  # where the CLI looks under that variable
    planted = tmp_path / "planted"
    args = ("--environments", str(project / "environments"), "--modules", str(project / "modules"), "synth",
            "--no-extensions")
    result = run_cli(*args, "--out", str(planted), env=environment)
    assert result.returncode == 0, result.stderr
    assert b'"planted"' in (planted / "stacks" / "feature-0001" / "cdk.tf.json").read_bytes()
    clean = tmp_path / "clean"
    result = run_cli(*args, "--no-cache", "--out", str(clean), env=environment)
    assert result.returncode == 0, result.stderr
    assert read_tree(clean) == read_tree(outdir)


def test_a_cache_signed_with_another_key_is_ignored(project, tmp_path, cache_paths):
    """A .cache/ that came with a checkout or from a shared CI cache cannot feed the output."""
    outdir = tmp_path / "out"
    attacker = SynthCache.open(cache_paths[0], tmp_path / "attacker-key")
    synth(project, outdir, attacker)
    stacks = attacker.part("stacks")
    for key, value in list(stacks.entries.items()):
        if isinstance(value, bytes):
            stacks.put(key, value.replace(b"TerraformDeploy", b"Attacker"))
    attacker.save()
    mine = SynthCache.open(*cache_paths)
    result = tmp_path / "mine"
    synth(project, result, mine)
    assert read_tree(result) == read_tree(outdir)
    assert mine.stats()["stacks"][0] == 0  # nothing taken from the foreign file


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other format"])
def test_a_damaged_cache_counts_as_empty(project, tmp_path, cache_paths, damage):
    synth(project, tmp_path / "first", SynthCache.open(*cache_paths))
    for path in cache_paths[0].glob("*.pickle"):
        data = path.read_bytes()
        path.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(200), "empty": b"",
                          "other format": b"something else\n" + data[len(FORMAT):]}[damage])
    # a write a crash interrupted leaves a temporary file beside the cache files
    (cache_paths[0] / ".stacks.pickle.abcd1234.tmp").write_bytes(b"half a file")
    cache = SynthCache.open(*cache_paths)
    second = tmp_path / "second"
    synth(project, second, cache)
    assert read_tree(second) == read_tree(tmp_path / "first")
    assert cache.stats()["stacks"][0] == 0
    # the next run finds the rewritten cache whole
    third_cache = SynthCache.open(*cache_paths)
    synth(project, tmp_path / "third", third_cache)
    assert third_cache.stats()["stacks"][1] == 0


def test_deleting_the_cache_at_any_time_changes_nothing(project, tmp_path, cache_paths):
    synth(project, tmp_path / "first", SynthCache.open(*cache_paths))
    shutil.rmtree(cache_paths[0])
    synth(project, tmp_path / "second", SynthCache.open(*cache_paths))
    assert read_tree(tmp_path / "second") == read_tree(tmp_path / "first")


def test_the_signing_key_is_private_and_an_unusable_one_turns_the_cache_off(project, tmp_path):
    key = tmp_path / "keys" / "synth-cache.key"
    assert SynthCache.open(tmp_path / "cache", key) is not None
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert SynthCache.open(tmp_path / "cache", blocked / "synth-cache.key") is None
    key.write_bytes(b"short")
    assert SynthCache.open(tmp_path / "cache", key) is None


def test_a_change_to_the_generators_code_changes_every_key(tmp_path):
    package = tmp_path / "generators"
    shutil.copytree(ROOT / "generators", package, ignore=shutil.ignore_patterns("__pycache__"))
    before = fingerprint_of_code(package)
    assert fingerprint_of_code(package) == before
    with (package / "synth" / "workspace.py").open("a") as stream:
        stream.write("\n# changed\n")
    assert fingerprint_of_code(package) != before


def test_synth_check_uses_the_cache_and_sees_a_change(project, tmp_path):
    environment = {**os.environ, "AWS_ORG_WORKSPACES_CACHE": str(tmp_path / "cache-root"),
                   "AWS_ORG_WORKSPACES_CACHE_KEY": str(tmp_path / "key")}
    args = ("--environments", str(project / "environments"), "--modules", str(project / "modules"), "synth",
            "--no-extensions", "--out", str(tmp_path / "out"))
    assert run_cli(*args, env=environment).returncode == 0
    written = {p.name.split(".")[0] for p in (tmp_path / "cache-root" / "synth").glob("*.?.pickle")}
    assert written == {"environment-files", "hcl", "stacks"}  # engine: known for the verified engines
    checked = run_cli(*args, "--check", env=environment)
    assert checked.returncode == 0 and "up to date" in checked.stdout
    change_one_environment(project)
    checked = run_cli(*args, "--check", env=environment)
    assert checked.returncode == 1 and "changed  feature-0005" in checked.stdout


@pytest.mark.typed
def test_a_stack_with_extensions_is_rendered_again_when_what_it_reads_changes(project, tmp_path, cache_paths):
    """developer-budget reads the account's email: changing it must reach the cached budget stack."""
    def change_developer_email(project: Path) -> None:
        accounts = project / "environments" / "accounts.hcl"
        text = accounts.read_text()
        assert "alice@" in text
        accounts.write_text(text.replace("alice@", "alice.new@"))

    warm, cold, _, report = warm_then_cold(project, tmp_path, cache_paths, change_developer_email,
                                           with_extensions=True)
    assert warm == cold
    assert "alice" in report.changed
    assert b"alice.new@" in warm["stacks/alice/cdk.tf.json"]
    assert json.loads(warm["manifest.json"])["stacks"]["alice"]["dependencies"] == []


def test_an_engine_remembered_to_differ_renders_every_stack_itself(project, tmp_path, cache_paths, monkeypatch):
    """A remembered mismatch (a future engine version that lays stacks out otherwise) is obeyed: no
    stack is written by the tool's own writer or taken from the cache, and the output is the engine's."""
    from generators.synth.engine import choose_engine, direct
    from generators.synth.engine.cdktf_engine import _MISMATCH, engine_key

    monkeypatch.setattr(direct, "VERIFIED", {})  # an engine version the tests have not verified
    cache = SynthCache.open(*cache_paths)
    cache.part("engine").put(engine_key(cache, choose_engine(None)), _MISMATCH)
    cache.save()
    cache = SynthCache.open(*cache_paths)
    synth(project, tmp_path / "engine", cache)
    assert "stacks" not in cache.stats()
    synth(project, tmp_path / "cold", None)
    assert read_tree(tmp_path / "engine") == read_tree(tmp_path / "cold")
