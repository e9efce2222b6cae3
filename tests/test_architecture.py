"""The layout of the package holds (issue #12, ARCHITECTURE.md): every module imports, the modules
import each other without a circle when they load, the command modules share helpers through
cli/common.py only, and nothing outside cli/ prints or exits.

Reads the source with `ast`; no subprocess. (scripts/move_to_packages.py moves this file into tests/.)
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "generators"
CLI = f"{PACKAGE}.cli"


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name; a package by its own name (its __init__)."""
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = package_modules()


def load_time_imports(body: list[ast.stmt]):
    """The import statements that run when a module loads: not those inside functions or classes'
    methods, nor those under `if TYPE_CHECKING:`."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                yield from load_time_imports(node.body)
            yield from load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from load_time_imports(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            yield from load_time_imports(node.body)


def imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
                     modules: dict[str, Path]) -> set[str]:
    """The package's modules an import statement loads: the named one, its parent packages, and
    submodules imported by name (`from generators.synth import cache`)."""
    if isinstance(node, ast.Import):
        named = [alias.name for alias in node.names]
    else:
        source = node.module or ""
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            source = ".".join(base[:len(base) - node.level + 1] + ([source] if source else []))
        named = [source] + [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules]
    loaded = set()
    for name in named:
        parts = name.split(".")
        loaded |= {".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules}
    return loaded


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in load_time_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            edges |= imported_modules(node, module, is_package, modules)
        # A module's own packages are loaded before it: importing them is no circle.
        graph[module] = {m for m in edges if m != module and not module.startswith(m + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


# What prints or ends the process; only the CLI may (its error boundary turns failures into exit codes).
OUTPUT_CALLS = {"print", "exit", "quit", "sys.exit", "os._exit", "click.echo", "click.secho", "sys.stdout.write",
                "sys.stderr.write"}
OUTPUT_MODULES = {"click", "rich.console"}


def output_uses(source: str) -> list[str]:
    """Where ``source`` prints or exits: calls, `raise SystemExit`, imports of click or rich's console."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in OUTPUT_CALLS:
            found.append(f"line {node.lineno}: {ast.unparse(node.func)}(...)")
        elif isinstance(node, ast.Raise) and node.exc is not None and "SystemExit" in ast.unparse(node.exc):
            found.append(f"line {node.lineno}: raise SystemExit")
        elif isinstance(node, ast.Import):
            found.extend(f"line {node.lineno}: import {a.name}" for a in node.names if a.name in OUTPUT_MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module in OUTPUT_MODULES:
            found.append(f"line {node.lineno}: from {node.module} import ...")
    return sorted(found, key=lambda line: int(line.split()[1].rstrip(":")))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_the_package_has_its_stage_packages():
    for package in ("config", "synth", "synth.engine", "synth.extensions", "run", "review", "envs", "aws",
                    "insights", "cli"):
        assert f"{PACKAGE}.{package}" in MODULES, package
        docstring = ast.get_docstring(ast.parse(MODULES[f"{PACKAGE}.{package}"].read_text(encoding="utf-8")))
        assert docstring, f"{PACKAGE}/{package.replace('.', '/')}/__init__.py says what it owns"


def test_no_import_circle_among_the_package_modules():
    graph = import_graph(MODULES)
    assert f"{CLI}.common" in graph[f"{CLI}.main"]  # the graph sees absolute imports
    assert f"{PACKAGE}.synth.engine.direct" in graph[f"{PACKAGE}.synth.engine.cdktf_engine"]  # and submodules
    assert cycles(graph) == []


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e", "f"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_leaves_out_lazy_and_type_checking_imports_only():
    source = ("from typing import TYPE_CHECKING\nimport generators.errors\nif TYPE_CHECKING:\n"
              "    from generators.naming import x\ntry:\n    from generators import failures\nexcept ImportError:\n"
              "    pass\ndef f():\n    from generators.cli import main\nfrom ..cli import VALUE\n")
    modules = {"generators": Path(), "generators.errors": Path(), "generators.naming": Path(),
               "generators.failures": Path(), "generators.cli": Path(), "generators.cli.main": Path()}
    loaded = set()
    for node in load_time_imports(ast.parse(source).body):
        loaded |= imported_modules(node, "generators.x.y", False, modules)
    assert loaded == {"generators", "generators.errors", "generators.failures", "generators.cli"}


def test_command_modules_share_through_common_never_main():
    """The command modules register their commands on the group in cli/common.py; they import what they share from
    cli/common.py, not from main (not even inside a function), and no private names."""
    for module, path in MODULES.items():
        if not module.startswith(CLI + ".") or module == f"{CLI}.main":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                assert node.module != f"{CLI}.main", f"{module} imports {CLI}.main at line {node.lineno}"
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{module} imports private names {private} from {node.module}"


# A forked worker ends itself with os._exit, so it never runs its parent's exit handlers nor flushes the
# parent's buffers: that ends the copy, never the tool.
CHILD_EXITS = {f"{PACKAGE}.parallel": "os._exit(...)"}


def test_only_the_cli_prints_or_exits():
    offenders = {module: found for module, path in MODULES.items()
                 if module != CLI and not module.startswith(CLI + ".")
                 and (found := [use for use in output_uses(path.read_text(encoding="utf-8"))
                                if not use.endswith(f": {CHILD_EXITS.get(module)}")])}
    assert offenders == {}


def test_the_output_finder_finds_output():
    source = ("import sys\nimport click\nfrom rich.console import Console\ndef f():\n    print('x')\n"
              "    sys.exit(1)\n    click.echo('y')\n    raise SystemExit(2)\n    console.print('fine')\n")
    assert output_uses(source) == ["line 2: import click", "line 3: from rich.console import ...",
                                   "line 5: print(...)", "line 6: sys.exit(...)", "line 7: click.echo(...)",
                                   "line 8: raise SystemExit"]


def test_the_command_modules_are_imported_when_their_commands_are_asked_for():
    """cli/common.py names the module of every command defined outside cli/main.py; loading the CLI
    imports none of them, asking for a command imports its module, and each module defines exactly the
    commands named for it."""
    probe = (
        "import importlib, sys, click\n"
        "from generators.cli.main import cli\n"
        "lazy = type(cli).DEFINED_IN\n"
        "assert not [m for m in set(lazy.values()) if m in sys.modules], 'imported before asked for'\n"
        "own = set(cli.commands)\n"
        "for module in sorted(set(lazy.values())):\n"
        "    before = set(cli.commands)\n"
        "    importlib.import_module(module)\n"
        "    named = {n for n, m in lazy.items() if m == module}\n"
        "    assert set(cli.commands) - before == named, (module, sorted(set(cli.commands) - before), sorted(named))\n"
        "assert not own & set(lazy)\n"
        "ctx = click.Context(cli)\n"
        "assert all(cli.get_command(ctx, name).name == name for name in lazy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_loading_the_pipeline_leaves_out_the_libraries_only_some_runs_need():
    """Every run loads the configuration and most synthesize, but only `modules fetch` downloads (the
    network and archive libraries, about 35 ms to import: config/module_fetch.py), and only a run with a
    file the cache does not hold parses HCL (python-hcl2 and lark, 65 ms: synth/cache.hcl_loads)."""
    left_out = ["generators.config.module_fetch", "urllib.request", "http.client", "ssl", "tarfile", "hcl2", "lark"]
    probe = (
        "import sys\n"
        "import generators.cli.main, generators.config.organization, generators.synth.pipeline\n"
        f"imported = [m for m in {left_out!r} if m in sys.modules]\n"
        "assert not imported, imported\n"
        "import generators.config.module_fetch\n"
        "from generators.synth.cache import hcl_loads\n"
        "assert hcl_loads('a = 1') == {'a': 1}\n"
        "assert {'urllib.request', 'hcl2', 'lark'} <= set(sys.modules)\n"  # the probe can see an import
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
