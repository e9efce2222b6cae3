#!/usr/bin/env python3
"""Move generators/ from one flat package into packages by pipeline stage (issue #12).

Run from the repository root, on a tree with no uncommitted changes and no untracked files in the
folders it rewrites:

    .venv/bin/python scripts/move_to_packages.py

Should it stop half-way, `git reset --hard && git clean -fd generators` restores the committed tree.

It moves the modules with `git mv` (so history follows), rewrites every import of the package in
generators/, tests/, benchmarks/, scripts/ and main.py to an absolute import of the new location,
splits what the command modules share out of cli.py into cli/common.py under public names (so no
command module imports cli/main.py), rewrites path and dotted-module mentions in comments,
docstrings and documentation, and moves scripts/test_architecture.py to tests/. It changes the
work tree and the index and commits nothing; `git diff --cached -M` shows the result.

It refuses (exit 1) a tree that is already moved. A module named in MODULE_MOVES that does not
exist is skipped, said so; a module that exists but is not named stays at the top level, said so.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "generators"

# Old file (relative to generators/) -> new file. Top level stays: __init__, errors, failures,
# naming, terraform_cli (shared by every stage); insights/ stays as it is.
MODULE_MOVES = {
    # config/: load, validate, model
    "hcl_loader.py": "config/hcl_loader.py",
    "layouts.py": "config/layouts.py",
    "expressions.py": "config/expressions.py",
    "config.py": "config/organization.py",
    "models.py": "config/models.py",
    "external_rules.py": "config/external_rules.py",
    "module_catalog.py": "config/module_catalog.py",
    "module_types.py": "config/module_types.py",
    "module_sources.py": "config/module_sources.py",
    "provider_versions.py": "config/provider_versions.py",
    "show.py": "config/show.py",
    "inventory.py": "config/inventory.py",
    "account_ids.py": "config/account_ids.py",
    # synth/: build and write
    "workspace.py": "synth/workspace.py",
    "synth.py": "synth/pipeline.py",
    "output.py": "synth/output.py",
    "provider_lock.py": "synth/provider_lock.py",
    "synth_cache.py": "synth/cache.py",
    # run/: Terraform
    "runner.py": "run/runner.py",
    "run_model.py": "run/model.py",
    "selection.py": "run/selection.py",
    "state_lock.py": "run/state_lock.py",
    "run_lock.py": "run/run_lock.py",
    "interruption.py": "run/interruption.py",
    "terraform_output.py": "run/terraform_output.py",
    # review/
    "review.py": "review/review.py",
    "review_render.py": "review/render.py",
    "orphans.py": "review/orphans.py",
    "plan_changes.py": "review/plan_changes.py",
    "affected.py": "review/affected.py",
    "ci_config.py": "review/ci_config.py",
    # envs/
    "dev_envs.py": "envs/dev_envs.py",
    "env_lifecycle.py": "envs/lifecycle.py",
    # aws/
    "aws.py": "aws/clients.py",
    "bootstrap.py": "aws/bootstrap.py",
    "policies.py": "aws/policies.py",
    "policy_eval.py": "aws/policy_eval.py",
    "sandbox.py": "aws/sandbox.py",
    "demo.py": "aws/demo.py",
    # cli/
    "cli.py": "cli/main.py",
    "cli_demo.py": "cli/demo.py",
    "cli_envs.py": "cli/envs.py",
    "cli_insights.py": "cli/insights.py",
    "cli_modules.py": "cli/modules.py",
    "cli_review.py": "cli/review.py",
    "progress.py": "cli/progress.py",
}
# Folders moved whole (their __init__ keeps its content).
FOLDER_MOVES = {
    "engine": "synth/engine",
    "extensions": "synth/extensions",
    "templates": "review/templates",  # read through review.py's and ci_config.py's own folder
}
STAYS = {"__init__.py", "errors.py", "failures.py", "naming.py", "terraform_cli.py", "insights"}

# Each new package's __init__: what it owns, in two lines.
PACKAGE_DOCSTRINGS = {
    "config": (
        "Load and validate: environments/*.hcl read into located raw blocks (hcl_loader, layouts, expressions),\n"
        "checked by the layout rules into the immutable models every later stage reads (organization, models)."),
    "synth": (
        "Build and write: each environment's Terraform document as plain data (workspace), rendered by an\n"
        "engine (engine/, the only cdktf importer), then planned, written and reported (pipeline, output)."),
    "run": (
        "Run Terraform: requests and reports (model), which environments in which order (selection), and\n"
        "init/plan/apply in parallel (runner), with locks, signals and Terraform's JSON output."),
    "review": (
        "Review before apply: plan summaries, danger flags, orphaned state and change sets (review, render,\n"
        "orphans, plan_changes), what a git change affects (affected), the CI files (ci_config, templates/)."),
    "envs": (
        "Branch environments: the environment file a branch gets, its state and expiry (dev_envs), and its\n"
        "life after creation: destroy, reap, recreate (lifecycle), behind `env create | destroy | list | reap`."),
    "aws": (
        "AWS around the workspaces: sessions and clients (clients), the Organization's accounts, guardrails,\n"
        "state buckets and roles (bootstrap, policies, policy_eval), and the local AWS (sandbox, demo)."),
    "cli": (
        "The command line, the only package that prints or exits: main holds the core commands and imports\n"
        "one module per command group; common holds what they all share (context, console, error boundary)."),
}

TOP_DOCSTRING = '''"""Turns one declarative description of an AWS Organization into per-account Terraform workspaces.

The packages read top to bottom as a pipeline (see ARCHITECTURE.md):

    config/   -> read environments/*.hcl into located raw blocks and validate them into immutable models
    synth/    -> build each environment's Terraform document as plain data, render it through an engine
                 (synth/engine/, the only place that imports cdktf), plan the files, write them, report
    run/      -> run terraform init/plan/apply over the synthesized workspaces
    review/   -> review plans, find what a change affects, write the CI files
    envs/     -> branch environments
    aws/      -> AWS around the workspaces: clients, bootstrap, policies, the local sandbox
    insights/ -> the Organization read live from AWS: limits, costs, access, graph

Only the CLI (cli/) prints or exits.
"""'''

CLI_COMMON_DOCSTRING = '''"""What the command modules share: the click group, the context, the console, the error boundary
and the front end of the Terraform runs. cli/main.py and the command modules import it; it imports neither."""'''

# Shared CLI helpers get public names; `console` itself is the name of many local variables.
PUBLIC_NAMES = {"_console": "make_console"}

# README.md's "How it works", from its heading to the paragraph on a stack's content.
README_SECTION_START = "## How it works\n"
README_SECTION_END = "For environment `E` in account"
README_SECTION = """## How it works

```
environments/*.hcl ──► config/hcl_loader ──► config/organization ──► synth/workspace ──► synth/engine ──► synth/output
   (python-hcl2)       located blocks        frozen models          plain data          (cdktf)          plan, write, report
```

`generators/` has one package per stage; ARCHITECTURE.md describes them and the types between them.

- **load** (`config/`): `hcl_loader.py` reads every file (or reports it) and schema-checks the
  blocks; `layouts.py` merges shared layouts into environments; `expressions.py` cuts each input's
  expression from the source text and checks its references.
- **validate and model** (`config/`): `organization.py` applies the layout rules and builds
  immutable models (`models.py`); `external_rules.py` refuses what AWS or Terraform would refuse
  later; `module_catalog.py`, `module_types.py`, `module_sources.py` and `provider_versions.py` read
  module interfaces, check literal inputs against their types, resolve and fetch sources, and
  intersect provider constraints; `account_ids.py` reads and writes
  `environments/account-ids.generated.json`; `show.py` and `inventory.py` describe environments.
- **build and write** (`synth/`): `workspace.py` builds each environment's Terraform document as
  plain data; `engine/` is the only package that imports cdktf (or cdktn), with `engine/direct.py`
  writing extension-free stacks in the engine's exact layout, and `extensions/` holds the typed
  per-kind customizations; `provider_lock.py` writes the lock files; `pipeline.py` ties these
  together and `output.py` compares, writes all or nothing and reports; `cache.py` remembers parsed
  files and rendered stacks between runs.
- **run** (`run/`): `model.py` (requests, results, reports), `selection.py` (which environments,
  in which waves), `runner.py` (terraform init/plan/apply, with `run_lock.py`, `state_lock.py`,
  `interruption.py` and `terraform_output.py` for locks, signals and Terraform's JSON output).
- **review** (`review/`): `review.py`, `render.py`, `orphans.py` and `plan_changes.py` (plan
  summaries, danger flags, orphaned state, the markdown and JSON reviews, change sets for
  `--expect-review`), `affected.py` and `ci_config.py` (change detection, CI files, from
  `templates/`).
- **branch environments** (`envs/`): `dev_envs.py` (their files, state and expiry) and
  `lifecycle.py` (destroy, reap, recreate).
- **AWS around the workspaces** (`aws/`): `clients.py` (sessions and clients), `bootstrap.py`,
  `policies.py` and `policy_eval.py` (accounts, guardrails, state buckets, roles, and the evaluator
  that tests those documents), `sandbox.py` and `demo.py` (the local AWS); `insights/` (limits,
  costs, access, graph).
- **CLI** (`cli/`): `main.py` plus one module per command group, sharing `common.py`; only they
  print or exit, and `failures.py` (top level, with `errors.py`, `naming.py` and
  `terraform_cli.py`) turns every exception into one message and an exit code.

"""

# Exact replacements the general rules cannot infer: (file as it is after the move, old, new, why).
TEXT_REPLACEMENTS = [
    ("pyproject.toml", 'generators = ["templates/*.j2", "templates/**/*.j2"]',
     'generators = ["review/templates/*.j2", "review/templates/**/*.j2"]', "the templates moved to review/"),
    ("generators/cli/main.py",
     "# Command groups that live in their own CLI modules; imported last so they can use `cli` and\n"
     "# `error_boundary` from this module.\n",
     "# Command groups that live in their own CLI modules, imported to register their commands on `cli`\n"
     "# (they import what they share from cli/common.py, never from this module).\n",
     "the command modules no longer import cli/main.py"),
    ("tests/test_synth_cache.py", '(package / "workspace.py")', '(package / "synth" / "workspace.py")',
     "the test changes a real module of the copied package"),
]

PYTHON_ROOTS = ("generators", "tests", "benchmarks", "scripts", "main.py")
TEXT_FILES = ("README.md", "Makefile", "pyproject.toml", ".ci/run")
TEXT_GLOBS = ("docs/**/*.md", "generators/templates/**/*.j2")
NOT_REWRITTEN = {"scripts/move_to_packages.py", "scripts/test_architecture.py"}  # written for the new layout
ARCHITECTURE_TEST = ("scripts/test_architecture.py", "tests/test_architecture.py")
LINE_LENGTH = 120


class Refused(Exception):
    pass


# -- the map of modules ------------------------------------------------------------------------------


def module_name(path: str) -> str:
    """generators/config/models.py -> generators.config.models; a package's __init__ -> the package."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass
class Layout:
    files: dict[str, str] = field(default_factory=dict)  # old path -> new path, every .py in generators/
    moves: list[tuple[str, str]] = field(default_factory=list)  # what `git mv` moves (files and folders)
    modules: dict[str, str] = field(default_factory=dict)  # old dotted name -> new dotted name

    def new_module(self, old: str) -> str | None:
        return self.modules.get(old)


def plan_layout(root: Path, notes: list[str]) -> Layout:
    layout = Layout()
    package = root / PACKAGE
    for name, target in MODULE_MOVES.items():
        if (package / name).is_file():
            layout.moves.append((f"{PACKAGE}/{name}", f"{PACKAGE}/{target}"))
        else:
            notes.append(f"skipped {PACKAGE}/{name}: no such file (mapped to {PACKAGE}/{target})")
    for name, target in FOLDER_MOVES.items():
        if (package / name).is_dir():
            layout.moves.append((f"{PACKAGE}/{name}", f"{PACKAGE}/{target}"))
        else:
            notes.append(f"skipped {PACKAGE}/{name}/: no such folder (mapped to {PACKAGE}/{target}/)")
    for entry in sorted(package.iterdir()):
        if entry.name in MODULE_MOVES or entry.name in FOLDER_MOVES or entry.name in STAYS:
            continue
        if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists()):
            notes.append(f"left at the top level: {PACKAGE}/{entry.name} is not in the mapping; add it to MODULE_MOVES")
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        old = path.relative_to(root).as_posix()
        layout.files[old] = moved_path(old, layout.moves)
    layout.modules = {module_name(old): module_name(new) for old, new in layout.files.items()}
    return layout


def moved_path(path: str, moves: list[tuple[str, str]]) -> str:
    for old, new in moves:
        if path == old:
            return new
        if path.startswith(old + "/"):
            return new + path[len(old):]
    return path


# -- edits by offset ---------------------------------------------------------------------------------


class Source:
    """A file's text with its line offsets, for turning ast's (line, byte column) into string offsets."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1] if line - 1 < len(self.lines) else ""
        return self.starts[line - 1] + len(text.encode("utf-8")[:byte_col].decode("utf-8"))

    def char_offset(self, line: int, col: int) -> int:  # tokenize counts characters
        return self.starts[line - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)


def apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    edits = sorted(edits)
    for (_, end, _), (start, _, _) in zip(edits, edits[1:]):
        if start < end:
            raise AssertionError("overlapping edits")
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text


# -- imports ------------------------------------------------------------------------------------------


def resolve(node: ast.ImportFrom, old_module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = old_module.split(".") if is_package else old_module.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def order_key(name: str) -> tuple[int, str]:
    """isort's case-sensitive order: CONSTANTS, Classes, functions and modules."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def from_import(module: str, names: list[str], indent: str) -> str:
    """`from module import a, b as c`, wrapped in parentheses past the line length."""
    head = f"{indent}from {module} import "
    line = head + ", ".join(names)
    if len(line) <= LINE_LENGTH:
        return line
    continuation = " " * (len(head) + 1)
    lines, current = [], head + "("
    for i, name in enumerate(names):
        piece = name + ("," if i < len(names) - 1 else ")")
        if current.endswith("("):
            current += piece
        elif len(current) + 1 + len(piece) > LINE_LENGTH:
            lines.append(current)
            current = continuation + piece
        else:
            current += " " + piece
    lines.append(current)
    return "\n".join(lines)


def import_statements(node: ast.AST, old_module: str, is_package: bool,
                      layout: Layout) -> list[tuple[str, str, list[str]]] | None:
    """The absolute imports of the new locations that bind the same names, as (``import`` or ``from``,
    module, names); None when ``node`` does not import from the package."""
    if isinstance(node, ast.Import):
        if not any(a.name == PACKAGE or a.name.startswith(PACKAGE + ".") for a in node.names):
            return None
        statements = []
        for alias in node.names:
            new = longest_module(alias.name, layout)
            if new != alias.name and not alias.asname:
                raise Refused(f"`import {alias.name}` at line {node.lineno} is used through its old dotted path; "
                              f"rewrite it as `from ... import ...` first")
            statements.append(("import", new, [f"{new} as {alias.asname}" if alias.asname else new]))
        return statements
    assert isinstance(node, ast.ImportFrom)
    source = resolve(node, old_module, is_package)
    if source != PACKAGE and not source.startswith(PACKAGE + "."):
        return None
    groups: dict[str, list[str]] = {}
    for alias in node.names:
        bound = alias.asname or alias.name
        submodule = f"{source}.{alias.name}"
        if submodule in layout.modules:
            parent, _, leaf = layout.modules[submodule].rpartition(".")
            groups.setdefault(parent, []).append(leaf if leaf == bound else f"{leaf} as {bound}")
        else:
            new_source = layout.modules.get(source, source)
            groups.setdefault(new_source, []).append(alias.name if alias.name == bound else f"{alias.name} as {bound}")
    statements = []
    for module, names in groups.items():  # as isort: `x as y` on a line of its own, names in its order
        plain = sorted((n for n in names if " as " not in n), key=order_key)
        lines = ([plain] if plain else []) + [[n] for n in names if " as " in n]
        statements.extend(("from", module, line) for line in sorted(lines, key=lambda line: order_key(line[0])))
    return statements


def render_imports(statements: list[tuple[str, str, list[str]]], indent: str, comment: str) -> list[str]:
    """One line per statement (wrapped past the line length); with a trailing comment (``# noqa: ...``,
    which only counts on a statement's first line) one line per name instead of wrapping."""
    lines = []
    for kind, module, names in statements:
        if kind == "import":
            lines.extend(f"{indent}import {name}{comment}" for name in names)
            continue
        line = from_import(module, names, indent)
        if comment and "\n" in line:
            lines.extend(f"{indent}from {module} import {name}{comment}" for name in names)
        else:
            lines.append(line + comment)
    return lines


def longest_module(dotted: str, layout: Layout) -> str:
    """``dotted`` with its longest prefix that names an old module replaced by the module's new name."""
    parts = dotted.split(".")
    for i in range(len(parts), 1, -1):
        prefix = ".".join(parts[:i])
        if prefix in layout.modules:
            return ".".join([layout.modules[prefix], *parts[i:]])
    return dotted


# -- text: paths and dotted names in comments, docstrings and documents ------------------------------

DOTTED = re.compile(r"(?<![\w.])" + PACKAGE + r"(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w.-])" + PACKAGE + r"/((?:[A-Za-z_]\w*/)*[A-Za-z_]\w*(?:\.py)?)")


def rewrite_dotted(text: str, layout: Layout) -> str:
    return DOTTED.sub(lambda m: longest_module(m.group(0), layout), text)


def rewrite_paths(text: str, layout: Layout) -> str:
    def moved(match: re.Match) -> str:
        path = f"{PACKAGE}/{match.group(1)}"
        if path in layout.files:
            return layout.files[path]
        return moved_path(path, layout.moves)

    return PATH.sub(moved, text)


def rewrite_python(path: str, text: str, layout: Layout) -> tuple[str, list[str]]:
    """Imports to absolute imports of the new locations (each run of adjacent imports of the package
    sorted again, as isort would); dotted names in strings and comments; file paths in comments and
    docstrings. Returns the new text and what was done."""
    old_module = module_name(path) if path.startswith(PACKAGE + "/") else ""
    is_package = path.endswith("__init__.py")
    source = Source(text)
    tree = ast.parse(text, path)
    edits: list[tuple[int, int, str]] = []
    import_spans: list[tuple[int, int]] = []
    done: list[str] = []
    statements: dict[int, list[tuple[str, str, list[str]]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found = import_statements(node, old_module, is_package, layout)
            if found is not None:
                statements[id(node)] = found

    def trailing_comment(node: ast.stmt) -> tuple[int, str]:
        """Where the statement's line ends, and its comment (with the spaces before it)."""
        _, end = source.span(node)
        line_end = source.starts[node.end_lineno]
        rest = text[end:line_end].rstrip("\n")
        return (end + len(rest), rest) if rest.strip().startswith("#") else (end, "")

    def replace_run(run: list[ast.stmt]) -> None:
        start = source.span(run[0])[0]
        end = trailing_comment(run[-1])[0]
        indent = text[source.starts[run[0].lineno - 1]:start]
        if indent.strip():
            return  # after `;` or `:` on the same line: left as it is
        items = []
        for node in run:
            comment = trailing_comment(node)[1]
            for statement in statements[id(node)]:
                items.append((statement[0] == "from", statement[1].lower(), statement, comment))
            if "#" in text[slice(*source.span(node))]:
                done.append(f"warning: the comments inside the import at line {node.lineno} are dropped")
        items.sort(key=lambda item: item[:2])
        lines = [line for *_, statement, comment in items for line in render_imports([statement], indent, comment)]
        new = "\n".join(lines)[len(indent):]
        import_spans.append((start, end))
        if new != text[start:end]:
            edits.append((start, end, new))
            done.append(f"import at line {run[0].lineno}")

    for parent in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(parent, name, None)
            if not isinstance(body, list):
                continue
            run: list[ast.stmt] = []
            for statement in body:
                if id(statement) in statements and run and statement.lineno == run[-1].end_lineno + 1 \
                        and statement.col_offset == run[0].col_offset:
                    run.append(statement)
                    continue
                if run:
                    replace_run(run)
                run = [statement] if id(statement) in statements else []
            if run:
                replace_run(run)

    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            docstrings.add(source.span(node)[0])
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        start, end = source.char_offset(*token.start), source.char_offset(*token.end)
        if any(s <= start < e for s, e in import_spans):
            continue
        old = text[start:end]
        new = old
        if token.type == tokenize.COMMENT or start in docstrings:
            new = rewrite_bare_files(rewrite_paths(new, layout), layout)
        new = rewrite_dotted(new, layout)
        if token.type == tokenize.COMMENT and len(new) > len(old) and old.endswith("----"):
            new = new[:len(old) - len(new)]  # a ruler keeps its length
        if new != old:
            edits.append((start, end, new))
            done.append(f"{'comment' if token.type == tokenize.COMMENT else 'string'} at line {token.start[0]}")
    return apply_edits(text, edits), done


def rewrite_bare_files(text: str, layout: Layout) -> str:
    """``cli.py`` -> ``cli/main.py``: a moved top-level module named by its file alone, as the package's
    own comments do, by its path inside the package."""
    moved = {old.split("/", 1)[1]: new.split("/", 1)[1] for old, new in layout.files.items()
             if old.count("/") == 1 and old != new}
    if not moved:
        return text
    pattern = re.compile(r"(?<![\w/.-])(" + "|".join(re.escape(name) for name in sorted(moved)) + r")(?![\w])")
    return pattern.sub(lambda m: moved[m.group(1)], text)


FILE_ANCHOR = re.compile(r"Path\(__file__\)\.resolve\(\)((?:\.parent)+)(\s*/\s*\"templates\")?")


def keep_file_anchors(text: str, old: str, new: str) -> tuple[str, list[str]]:
    """``Path(__file__).resolve().parent...`` names the same folder as before from the new depth,
    except the templates folder, which moved along with the modules that read it."""
    depth = len(Path(new).parts) - len(Path(old).parts)
    done = []

    def fix(match: re.Match) -> str:
        if match.group(2):
            if Path(moved_path(f"{PACKAGE}/templates", list(FOLDER_MOVES_AS_PATHS))).parent != Path(new).parent:
                raise Refused(f"{new} reads templates/ beside it, but templates/ moves elsewhere")
            return match.group(0)
        done.append(f"Path(__file__) anchor: {match.group(1).count('.parent')} -> "
                    f"{match.group(1).count('.parent') + depth} parents")
        return f"Path(__file__).resolve(){match.group(1)}{'.parent' * depth}"

    if depth:
        text = FILE_ANCHOR.sub(fix, text)
    return text, done


FOLDER_MOVES_AS_PATHS = [(f"{PACKAGE}/{old}", f"{PACKAGE}/{new}") for old, new in FOLDER_MOVES.items()]


# -- the command line: shared helpers out of cli/main.py ---------------------------------------------


def top_level_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def used_names(nodes) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def imported_names(text: str, module: str) -> set[str]:
    """Names a file imports (anywhere in it) from ``module``."""
    return {a.name for node in ast.walk(ast.parse(text)) if isinstance(node, ast.ImportFrom) and node.module == module
            for a in node.names}


def segments(text: str, tree: ast.Module) -> list[tuple[ast.stmt, str]]:
    """Each top-level statement with its text, the comments and blank lines above it included."""
    lines = text.splitlines(keepends=True)
    result, previous_end = [], 0
    for node in tree.body:
        result.append((node, "".join(lines[previous_end:node.end_lineno])))
        previous_end = node.end_lineno
    return result


def is_definition(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def join_segments(parts: list[tuple[ast.stmt, str]]) -> str:
    out = ""
    previous = None
    for node, text in parts:
        text = text.strip("\n")
        imports = (ast.Import, ast.ImportFrom)
        if previous is not None and isinstance(node, imports) and isinstance(previous, imports):
            out += "\n"
        elif previous is not None:
            out += "\n\n\n" if is_definition(node) or is_definition(previous) else "\n\n"
        out += text
        previous = node
    return out + "\n"


def pruned_imports(imports: list[tuple[ast.stmt, str]], used: set[str]) -> list[str]:
    """The import statements, each cut to the names ``used`` (``from __future__`` always kept)."""
    kept = []
    for node, _ in imports:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            kept.append(ast.unparse(node))
            continue
        names = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
        if not names:
            continue
        if isinstance(node, ast.Import):
            kept.extend(f"import {a.name}" + (f" as {a.asname}" if a.asname else "") for a in names)
        else:
            kept.append(from_import(node.module, [a.name + (f" as {a.asname}" if a.asname else "")
                                                  for a in names], ""))
    return kept


def import_block(lines: list[str]) -> str:
    """Imports grouped as isort does: __future__, standard library, third party, the package."""
    groups: list[list[str]] = [[], [], [], []]
    for line in lines:
        module = line.split()[1]
        top = module.split(".")[0]
        index = 0 if top == "__future__" else 3 if top == PACKAGE else 1 if top in sys.stdlib_module_names else 2
        groups[index].append(line)
    return "\n\n".join("\n".join(sorted(g, key=lambda s: (s.startswith("from"), s))) for g in groups if g) + "\n"


def split_cli(texts: dict[str, str], notes: list[str]) -> None:
    """Move what the command modules import from cli/main.py (and what that needs) to cli/common.py,
    and give the shared names that are private a public name, in every module of cli/."""
    main_path, common_path = f"{PACKAGE}/cli/main.py", f"{PACKAGE}/cli/common.py"
    main_module, common_module = module_name(main_path), module_name(common_path)
    if main_path not in texts:
        notes.append(f"skipped the CLI split: no {main_path}")
        return
    commands = sorted(p for p in texts if p.startswith(f"{PACKAGE}/cli/") and p != main_path)
    text = texts[main_path]
    parts = segments(text, ast.parse(text))
    docstring, *body = parts
    if not (isinstance(docstring[0], ast.Expr) and isinstance(docstring[0].value, ast.Constant)):
        raise Refused(f"{main_path} does not start with a docstring")
    first_statement = next(i for i, (node, _) in enumerate(body) if not isinstance(node, (ast.Import, ast.ImportFrom)))
    imports, body = body[:first_statement], body[first_statement:]
    definitions = {name: node for node, _ in body for name in top_level_names(node)}
    wanted = set()
    for path in commands:
        wanted |= imported_names(texts[path], main_module)
    if wanted - set(definitions):
        raise Refused(f"command modules import {', '.join(sorted(wanted - set(definitions)))} from {main_path}, "
                      "which does not define them at the top level")
    moved: set[str] = set()
    queue = sorted(wanted)
    while queue:
        name = queue.pop()
        if name not in moved:
            moved.add(name)
            queue.extend(sorted(n for n in used_names([definitions[name]]) if n in definitions and n not in moved))
    to_common = [(n, s) for n, s in body if set(top_level_names(n)) & moved]
    to_main = [(n, s) for n, s in body if not set(top_level_names(n)) & moved]
    for node, _ in to_common:
        if not set(top_level_names(node)) <= moved:
            raise Refused(f"line {node.lineno} of {main_path} defines shared and unshared names at once")
    main_used = used_names([n for n, _ in to_main])

    # Public names for what crosses a module boundary inside cli/: the shared helpers main or a command
    # module uses, and private names one command module imports from another.
    crossing = {n for n in moved if n.startswith("_") and (n in main_used or n in wanted)}
    for path in commands:
        for node in ast.walk(ast.parse(texts[path])):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{PACKAGE}.cli."):
                crossing |= {a.name for a in node.names if a.name.startswith("_")}
    renames = {name: PUBLIC_NAMES.get(name, name.lstrip("_")) for name in sorted(crossing)}
    for old, new in renames.items():
        for path in [main_path, *commands]:
            if new in bound_names(texts[path]):
                raise Refused(f"cannot rename {old} to {new}: {path} already uses the name {new}")

    common_text = (CLI_COMMON_DOCSTRING + "\n\n" + import_block(pruned_imports(imports, used_names(
        [n for n, _ in to_common]))) + after_imports(to_common) + join_segments(to_common))
    from_common = sorted((renames.get(n, n) for n in main_used & moved), key=order_key)
    main_imports = pruned_imports(imports, main_used) + [from_import(common_module, from_common, "")]
    main_text = (docstring[1].strip("\n") + "\n\n" + import_block(main_imports) + after_imports(to_main)
                 + join_segments(to_main))
    texts[main_path], texts[common_path] = main_text, common_text
    notes.append(f"{common_path}: {', '.join(sorted(moved, key=order_key))} (from {main_path})")
    for path, text in texts.items():
        if not path.startswith(f"{PACKAGE}/cli/"):
            stranded = imported_names(text, main_module) & moved - set(main_used)
            if stranded:
                notes.append(f"{path} imports {', '.join(sorted(stranded))} from {main_module}: now in {common_module}")
    # The command modules import the shared names from cli/common.py, never from cli/main.py.
    for path in commands:
        texts[path] = texts[path].replace(f"from {main_module} import ", f"from {common_module} import ")
        if main_module in texts[path]:
            raise Refused(f"{path} still names {main_module} after the split")
    cli_paths = [main_path, common_path, *commands]
    # Docstrings that say `cli.error_boundary` now mean common's.
    named = re.compile(r"(?<![\w.])cli\.(" + "|".join(sorted(re.escape(n) for n in moved if n != "cli")) + r")\b")
    for path in cli_paths:
        text = sort_names_imported_from(rename_tokens(texts[path], renames), f"{PACKAGE}.cli.")
        texts[path] = named.sub(lambda m: f"common.{renames.get(m.group(1), m.group(1))}", text)
    notes.append("public names in cli/: " + ", ".join(f"{o} -> {n}" for o, n in renames.items()))


def after_imports(parts: list[tuple[ast.stmt, str]]) -> str:
    return "\n\n" if parts and is_definition(parts[0][0]) else "\n"


def sort_names_imported_from(text: str, prefix: str) -> str:
    """The names of each `from <prefix>... import` in isort's order again (after a rename)."""
    source = Source(text)
    edits = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix) and not node.level:
            start, end = source.span(node)
            indent = text[source.starts[node.lineno - 1]:start]
            names = sorted((a.name + (f" as {a.asname}" if a.asname else "") for a in node.names), key=order_key)
            new = from_import(node.module, names, indent if not indent.strip() else "")[len(indent):]
            if new != text[start:end]:
                edits.append((start, end, new))
    return apply_edits(text, edits)


def bound_names(text: str) -> set[str]:
    """Names a file binds or reads as variables (not attributes or keyword arguments)."""
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    return names


def rename_tokens(text: str, renames: dict[str, str]) -> str:
    """Rename NAME tokens; continuation lines aligned after a renamed name move with it."""
    source = Source(text)
    edits = []
    renamed: list[tuple[int, int, int]] = []  # (row, column, length change) in the current logical line
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME and token.string in renames:
            new = renames[token.string]
            edits.append((source.char_offset(*token.start), source.char_offset(*token.end), new))
            renamed.append((token.start[0], token.start[1], len(new) - len(token.string)))
        elif token.type == tokenize.NEWLINE:
            for row in range(renamed[0][0] + 1, token.start[0] + 1) if renamed else ():
                line = source.lines[row - 1]
                indent = len(line) - len(line.lstrip(" "))
                shift = sum(delta for r, column, delta in renamed if r < row and column < indent)
                if shift and line.strip():
                    start = source.starts[row - 1]
                    edits.append((start, start + indent, " " * max(indent + shift, 0)))
            renamed = []
    return apply_edits(text, edits)


def replace_docstring(text: str, docstring: str) -> str:
    tree = ast.parse(text)
    first = tree.body[0] if tree.body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
        return docstring + "\n" + text
    source = Source(text)
    start, end = source.span(first)
    return text[:start] + docstring + text[end:]


# -- the move ------------------------------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def python_files(root: Path) -> list[str]:
    found = []
    for entry in PYTHON_ROOTS:
        path = root / entry
        if path.is_file():
            found.append(entry)
        elif path.is_dir():
            found.extend(p.relative_to(root).as_posix() for p in sorted(path.rglob("*.py"))
                         if "__pycache__" not in p.parts and "node_modules" not in p.parts)
    tracked = set(git(root, "ls-files", "--", *PYTHON_ROOTS).splitlines())
    return [p for p in found if p in tracked and p not in NOT_REWRITTEN]


def check_not_moved(root: Path) -> None:
    package = root / PACKAGE
    if not package.is_dir():
        raise Refused(f"no {PACKAGE}/ here: run from the repository root")
    already = [name for name in PACKAGE_DOCSTRINGS if (package / name).exists()]
    if already or not (package / "cli.py").is_file():
        raise Refused(f"{PACKAGE}/ is already moved ({', '.join(f'{PACKAGE}/{n}/' for n in already) or 'no cli.py'} "
                      "exist): nothing to do")
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "--", PACKAGE, *PYTHON_ROOTS).split()
    if untracked:
        raise Refused(f"untracked files would be left out of the move ({', '.join(untracked[:5])}"
                      f"{', ...' if len(untracked) > 5 else ''}): commit or remove them first")
    if git(root, "status", "--porcelain", "--untracked-files=no").strip():
        raise Refused("tracked files have uncommitted changes: commit or stash them first, so the move is a "
                      "change of its own")


def move(root: Path) -> list[str]:
    report: list[str] = []
    notes: list[str] = []
    check_not_moved(root)
    layout = plan_layout(root, notes)

    # 1. Every Python file rewritten in memory, by its old path (relative imports resolve there).
    texts: dict[str, str] = {}
    for path in python_files(root):
        text = (root / path).read_text(encoding="utf-8")
        new_text, done = rewrite_python(path, text, layout)
        new_path = layout.files.get(path, path)
        new_text, anchors = keep_file_anchors(new_text, path, new_path)
        texts[new_path] = new_text
        if done or anchors:
            report.append(f"rewrote {new_path}: {len(done)} edits ({summary(done + anchors)})")

    # 2. The CLI's shared helpers to cli/common.py, under public names.
    split_cli(texts, notes)

    # 3. The package docstrings.
    texts[f"{PACKAGE}/__init__.py"] = replace_docstring(texts[f"{PACKAGE}/__init__.py"], TOP_DOCSTRING)
    for name, docstring in PACKAGE_DOCSTRINGS.items():
        texts[f"{PACKAGE}/{name}/__init__.py"] = f'"""{docstring}"""\n'
        (root / PACKAGE / name).mkdir(exist_ok=True)

    # 4. Move, then write.
    for old, new in layout.moves:
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        git(root, "mv", old, new)
        report.append(f"moved {old} -> {new}")
    old_test, new_test = ARCHITECTURE_TEST
    if (root / old_test).is_file():
        git(root, "mv", old_test, new_test)
        report.append(f"moved {old_test} -> {new_test}")
    else:
        notes.append(f"no {old_test} to move to {new_test}")
    for path, text in sorted(texts.items()):
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    git(root, "add", "--", *sorted(texts))

    # 5. Documents: paths and dotted names; README's "How it works".
    documents = [p for p in TEXT_FILES if (root / p).is_file()]
    for pattern in TEXT_GLOBS:
        documents.extend(p.relative_to(root).as_posix() for p in sorted(root.glob(moved_glob(pattern))))
    for path in documents:
        text = (root / path).read_text(encoding="utf-8")
        new = text
        if path == "README.md":
            new = replace_readme_section(new, notes)
        new = rewrite_dotted(rewrite_paths(new, layout), layout)
        if new != text:
            (root / path).write_text(new, encoding="utf-8")
            report.append(f"rewrote {path}")
    for path, old, new, why in TEXT_REPLACEMENTS:
        target = root / path
        text = target.read_text(encoding="utf-8") if target.is_file() else ""
        if old in text:
            target.write_text(text.replace(old, new), encoding="utf-8")
            report.append(f"rewrote {path}: {why}")
        else:
            notes.append(f"not found in {path} (so not replaced): {old.splitlines()[0]!r}")
    git(root, "add", "-u")
    return report + [f"note: {n}" for n in notes]


def moved_glob(pattern: str) -> str:
    return moved_path(pattern, FOLDER_MOVES_AS_PATHS) if pattern.startswith(PACKAGE + "/") else pattern


def replace_readme_section(text: str, notes: list[str]) -> str:
    start = text.find(README_SECTION_START)
    end = text.find(README_SECTION_END, start)
    if start < 0 or end < 0:
        notes.append("README.md: the \"How it works\" section was not found; its module list is not rewritten")
        return text
    return text[:start] + README_SECTION + text[end:]


def summary(done: list[str]) -> str:
    kinds: dict[str, int] = {}
    for item in done:
        kind = item.split(" at line")[0].split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{kind} x{count}" for kind, count in kinds.items())


def main() -> int:
    if sys.argv[1:]:
        print(__doc__.strip())
        return 0 if sys.argv[1:] in (["-h"], ["--help"]) else 2
    root = Path.cwd()
    try:
        lines = move(root)
    except Refused as exc:
        print(f"move_to_packages: refused: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    print("done: review with `git diff --cached -M --stat`, then run `make lint` and the tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
