"""`graph`: golden Mermaid and DOT for the example organization, what the pictures must show, and the
DOT rendered by the real Graphviz."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES, copy_project, run_cli
from generators.config.organization import load_organization
from generators.insights.graph import DOT, FORMATS, MERMAID, render

GOLDEN = Path(__file__).resolve().parent / "golden" / "graph"
GOLDEN_FILES = {MERMAID: GOLDEN / "example.mmd", DOT: GOLDEN / "example.dot"}
REGEN = "run `.venv/bin/python tests/regen_graph_golden.py` and review the diff"


@pytest.fixture(scope="module")
def example():
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES)


@pytest.mark.fast
@pytest.mark.parametrize("fmt", FORMATS)
def test_matches_golden(example, fmt):
    assert render(example, fmt) == GOLDEN_FILES[fmt].read_text(encoding="utf-8"), REGEN


@pytest.mark.fast
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_account_and_environment_appears(example, fmt):
    text = render(example, fmt)
    for environment in example.environments:
        assert re.search(rf"\benv_{environment.name.replace('-', '_')}\b", text), environment.name
        assert f'"{environment.name}' in text  # the label, first line
    for account in example.accounts:
        assert account.id in text
        if account.kind.value != "management":
            assert f"account {account.name}" in text


@pytest.mark.fast
def test_uses_edges(example):
    mermaid, dot = render(example, MERMAID), render(example, DOT)
    for user in ("feature_checkout", "hotfix_login"):
        assert f"env_{user} -. uses .-> env_dev" in mermaid
        assert f'env_{user} -> env_dev [label="uses", style=dashed];' in dot
    assert mermaid.count(" uses ") == dot.count('label="uses"') == 2


@pytest.mark.fast
def test_production_and_staging_are_set_apart(example):
    mermaid, dot = render(example, MERMAID), render(example, DOT)
    styles = dict(re.findall(r"^  style (ou_\w+) (.+)$", mermaid, re.MULTILINE))
    assert set(styles) == {"ou_production", "ou_staging", "ou_development", "ou_developer"}
    assert "stroke-width:3px" in styles["ou_production"] and "stroke-dasharray" in styles["ou_staging"]
    assert len({styles[ou] for ou in styles}) == 4  # every kind looks different
    assert "class env_production production" in mermaid
    assert "class env_preprod,env_qa,env_uat staging" in mermaid
    clusters = re.findall(r"subgraph (cluster_ou_\w+) \{\n    label=.*\n    (.*)\n", dot)
    looks = dict(clusters)
    assert '"filled,bold"' in looks["cluster_ou_production"] and '"filled,dashed"' in looks["cluster_ou_staging"]
    assert len(set(looks.values())) == 4


@pytest.mark.fast
def test_mermaid_blocks_are_balanced(example):
    lines = render(example, MERMAID).splitlines()
    assert lines[0] == "flowchart TB"
    assert sum(1 for line in lines if line.strip().startswith("subgraph ")) == \
        sum(1 for line in lines if line.strip() == "end") == 4 + 7  # units + accounts holding environments


@pytest.mark.fast
def test_deterministic_whatever_the_file_layout(example, tmp_path):
    """One file with every block, in reverse order, draws the same picture as the example's files."""
    project = tmp_path / "project"
    (project / "environments").mkdir(parents=True)
    blocks = [p.read_text() for p in sorted(EXAMPLE_ENVIRONMENTS.glob("*.hcl"), reverse=True)]
    (project / "environments" / "all.hcl").write_text("\n".join(blocks))
    shuffled = load_organization(project / "environments", MODULES)
    for fmt in FORMATS:
        assert render(shuffled, fmt) == render(example, fmt)


@pytest.mark.fast
def test_cross_account_provider_edge(tmp_path):
    project = copy_project(tmp_path / "project")
    preprod = project / "environments" / "preprod.hcl"
    preprod.write_text(preprod.read_text().replace(
        'account = "preprod"\n', 'account = "preprod"\n\n  provider "audit" {\n    region  = "eu-west-1"\n'
                                 '    account = "qa"\n  }\n', 1))
    organization = load_organization(project / "environments", project / "modules")
    assert "env_preprod -. provider audit .-> account_qa" in render(organization, MERMAID)
    assert 'env_preprod -> env_qa [lhead=cluster_account_qa, label="provider audit", style=dotted];' in \
        render(organization, DOT)


@pytest.fixture(scope="module")
def graphviz() -> str:
    dot = shutil.which("dot")
    if dot is None:
        pytest.fail("graphviz's `dot` is not on PATH: the tests render with the real binary "
                    "(Debian: apt-get install graphviz)")
    return dot


def test_graphviz_renders_every_environment(example, graphviz):
    result = subprocess.run([graphviz, "-Tsvg"], input=render(example, DOT), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    # Graphviz writes some characters as entities (a hyphen is &#45;).
    texts = {html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", result.stdout)}
    for environment in example.environments:
        assert environment.name in texts, environment.name
    for account in example.accounts:
        assert account.id in texts
    assert {"OU production", "OU staging", "OU development", "OU developer"} <= texts


def test_cli_prints_and_writes(tmp_path):
    printed = run_cli("graph")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == GOLDEN_FILES[MERMAID].read_text(encoding="utf-8")
    target = tmp_path / "organization.dot"
    written = run_cli("graph", "--format", "dot", "--output", str(target))
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and f"wrote {target}" in written.stderr
    assert target.read_text(encoding="utf-8") == GOLDEN_FILES[DOT].read_text(encoding="utf-8")
    assert run_cli("graph", "--format", "svg").returncode == 2
