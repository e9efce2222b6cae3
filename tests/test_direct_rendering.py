"""Stacks without extensions are written by generators/synth/engine/direct.py instead of the engine's runtime:
the result must be byte for byte what the engine writes, for every stack, through each engine."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from synth_benchmark import generated_organization  # noqa: E402

from generators.config.organization import load_organization  # noqa: E402
from generators.synth.engine import ENGINES, cdktf_engine, direct  # noqa: E402
from generators.synth.workspace import WorkspaceOptions, build_workspace  # noqa: E402


def _documents(organization, tmp_path: Path, local_endpoint: bool):
    options = WorkspaceOptions(modules_dir=str(MODULES), stacks_dir=str(tmp_path / "out" / "stacks"),
                               local_endpoint=local_endpoint)
    return [build_workspace(organization, e, options) for e in organization.environments]


@pytest.fixture(scope="module")
def organization(tmp_path_factory):
    """The example plus generated development environments (those read the `dev` stack's state)."""
    environments = generated_organization(tmp_path_factory.mktemp("org"), 12)
    return load_organization(environments, MODULES)


@pytest.mark.parametrize("engine", ["cdktf", "cdktn"])
@pytest.mark.parametrize("local_endpoint", [False, True])
def test_direct_rendering_is_what_the_engine_writes(organization, tmp_path, engine, local_endpoint):
    documents = _documents(organization, tmp_path, local_endpoint)
    fast = cdktf_engine.synthesize(organization, documents, False, ENGINES[engine])
    engine_only = cdktf_engine._through_engine(organization, documents, False, ENGINES[engine])
    assert sorted(fast) == sorted(engine_only)
    for path in engine_only:
        assert fast[path] == engine_only[path], path


def test_with_extensions_only_the_stacks_that_have_them_need_the_engine(tmp_path):
    organization = load_organization(EXAMPLE_ENVIRONMENTS, MODULES)
    documents = _documents(organization, tmp_path, False)
    fast = cdktf_engine.synthesize(organization, documents, True, ENGINES["cdktf"])
    engine_only = cdktf_engine._through_engine(organization, documents, True, ENGINES["cdktf"])
    assert fast == engine_only
    assert b"aws_budgets_budget" in fast["stacks/alice/cdk.tf.json"]  # an extension's typed construct


def test_a_rendering_that_differs_from_the_engine_falls_back_to_the_engine(organization, tmp_path, monkeypatch):
    documents = _documents(organization, tmp_path, False)
    expected = cdktf_engine._through_engine(organization, documents, False, ENGINES["cdktf"])
    real = direct.stack_json
    monkeypatch.setattr(direct, "stack_json", lambda *args: real(*args) + b"\n")
    monkeypatch.setattr(direct, "VERIFIED", {})  # a version not verified: the engine is asked
    assert cdktf_engine.synthesize(organization, documents, False, ENGINES["cdktf"]) == expected


def test_the_benchmarks_thousand_environments_are_identical_to_the_engines_output(tmp_path):
    """The benchmark's organization, every file of the output compared (the engine alone takes ~6 s)."""
    organization = load_organization(generated_organization(tmp_path / "org", 1000), MODULES)
    documents = _documents(organization, tmp_path, False)
    fast = cdktf_engine.synthesize(organization, documents, False, ENGINES["cdktf"])
    engine_only = cdktf_engine._through_engine(organization, documents, False, ENGINES["cdktf"])
    assert len(fast) == len(engine_only) == 1 + len(organization.environments)
    assert [p for p in engine_only if fast.get(p) != engine_only[p]] == []


def test_values_the_runtime_changes_are_changed_the_same_way(tmp_path):
    """None (undefined in JavaScript) dropped from objects and arrays, doubles printed as JavaScript
    prints them, empty objects and arrays kept, strings untouched: compared with each engine's output."""
    organization = load_organization(EXAMPLE_ENVIRONMENTS, MODULES)
    document = _documents(organization, tmp_path, False)[-1]
    unusual = {"source": "./x", "none": None, "one": 1.0, "half": 2.5, "list": [1, 2.0, None, -0.0],
               "empty_object": {}, "empty_list": [], "inner_none": {"gone": None}, "tiny": 1e-7,
               "huge": 1e22, "text": "ü€\u2028\"\\\t", "beyond_2_53": 12345678901234567890, "exact": 2 ** 53,
               "flag": True}
    document = dataclasses.replace(document, sections={**document.sections, "module": {"m": unusual},
                                                       "locals": None})
    path = f"stacks/{document.environment.name}/cdk.tf.json"
    for engine in ("cdktf", "cdktn"):
        rendered = cdktf_engine._through_engine(organization, [document], False, ENGINES[engine])
        version = json.loads(rendered["manifest.json"])["version"]
        mine = direct.stack_json(document, version, cdktf_engine.GENERATED_MARKER_KEY, cdktf_engine.GENERATED_MARKER)
        assert mine.decode() == rendered[path].decode(), engine


@pytest.mark.parametrize("engine", ["cdktf", "cdktn"])
def test_the_reference_document_is_what_each_engine_writes(engine):
    """The document the engine check renders (once per engine version) must match, or every run would
    fall back to the engine; started ahead in a thread, as `synth` does, it gives the same verdict."""
    from generators.synth.cache import library_version

    assert cdktf_engine.DirectCheck(ENGINES[engine], verified={}).verdict() == library_version(engine)
    started = cdktf_engine.DirectCheck(ENGINES[engine], verified={}).start()
    assert started.verdict() == library_version(engine)


@pytest.mark.parametrize("engine", ["cdktf", "cdktn"])
def test_the_installed_engines_are_the_verified_ones_and_the_engine_agrees(engine):
    """direct.VERIFIED spares the engine's start-up for the versions this file checks; it must name
    the installed ones (else every cold synth pays the check), with the version the engine reports."""
    from generators.synth.cache import library_version

    installed = (engine, library_version(engine), library_version("jsii"))
    assert installed in direct.VERIFIED, f"run this file against {installed}, then add it to direct.VERIFIED"
    assert cdktf_engine.DirectCheck(ENGINES[engine], verified={}).verdict() == direct.VERIFIED[installed]
