"""Read every ``*.hcl`` file of an environments directory into located, schema-checked raw blocks.

Nothing here knows the account layout: this stage only guarantees that each block is one we know,
carries the attributes we know with the right shapes, and remembers the file and line it came from.
Problems are returned, not raised, so one run reports all of them.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from generators.config.expressions import Expression, ExpressionSyntaxError, SourceText
from generators.errors import Problem
from generators.synth.cache import SynthCache, cached_map

STRING = "a quoted string"
STRING_LIST = "a list of quoted strings"
MAP = "a map"
BOOL = "true or false"


@dataclass(frozen=True)
class BlockSchema:
    attributes: Mapping[str, str]
    blocks: Mapping[str, "BlockSchema"] = field(default_factory=dict)
    labelled: bool = True


PROVIDER_SCHEMA = BlockSchema(attributes={"region": STRING, "account": STRING})
MODULE_SCHEMA = BlockSchema(attributes={"source": STRING, "version": STRING, "inputs": MAP, "providers": MAP})
# A root variable of the workspace: its value comes from TF_VAR_<name>, or from a secret store read at plan time.
VARIABLE_SCHEMA = BlockSchema(attributes={"sensitive": BOOL, "description": STRING, "ssm_parameter": STRING,
                                          "secretsmanager_secret": STRING})

# The configuration contract. Extend only compatibly: new optional attributes, never renamed ones.
SCHEMA: Mapping[str, BlockSchema] = {
    "organization": BlockSchema(
        attributes={
            "region": STRING,
            "deploy_role": STRING,
            "plan_role": STRING,
            "access_role": STRING,
            "aws_provider_version": STRING,
            "extensions": STRING_LIST,
            "deploy_principals": STRING_LIST,
            "plan_principals": STRING_LIST,
            "github_repository": STRING,
        }
    ),
    "account": BlockSchema(
        attributes={"id": STRING, "email": STRING, "kind": STRING, "owner": STRING, "extensions": STRING_LIST}
    ),
    # Modules and variables stated once for many environments (see generators/config/layouts.py).
    "layout": BlockSchema(attributes={"description": STRING},
                          blocks={"module": MODULE_SCHEMA, "variable": VARIABLE_SCHEMA}),
    "environment": BlockSchema(
        attributes={"account": STRING, "region": STRING, "uses": STRING, "ttl": STRING, "branch": STRING,
                    "owner": STRING, "created": STRING, "layout": STRING},
        blocks={"provider": PROVIDER_SCHEMA, "module": MODULE_SCHEMA, "variable": VARIABLE_SCHEMA},
    ),
}

_META_KEYS = ("__start_line__", "__end_line__")
_EXPRESSION = re.compile(r"^\$\{(.*)\}$", re.DOTALL)


@dataclass(frozen=True)
class RawBlock:
    """One labelled block as written, with where it was written."""

    kind: str
    label: str
    attributes: Mapping[str, Any]
    blocks: tuple["RawBlock", ...]
    file: str
    line: int
    attribute_lines: Mapping[str, int]
    # Module inputs as written (``inputs.<key>``): python-hcl2's values change some expressions' meaning.
    expressions: Mapping[str, Expression] = field(default_factory=lambda: MappingProxyType({}))
    # Attributes written in another file than ``file`` (merged in from a layout): attribute -> file.
    attribute_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def line_of(self, attribute: str) -> int:
        """The line of ``attribute`` (or ``map.key``), falling back to the enclosing attribute, then the block."""
        while attribute not in self.attribute_lines and "." in attribute:
            attribute = attribute.rsplit(".", 1)[0]
        return self.attribute_lines.get(attribute, self.line)

    def file_of(self, attribute: str) -> str:
        """The file ``attribute`` (or ``map.key``) was written in."""
        while attribute not in self.attribute_files and "." in attribute:
            attribute = attribute.rsplit(".", 1)[0]
        return self.attribute_files.get(attribute, self.file)

    def children(self, kind: str) -> tuple["RawBlock", ...]:
        return tuple(b for b in self.blocks if b.kind == kind)


def load_directory(directory: Path, cache: SynthCache | None = None) -> tuple[list[RawBlock], list[Problem]]:
    """Parse all ``*.hcl`` files below ``directory`` (sorted, so results are deterministic). Every path
    that may hold configuration is read or reported: a file that cannot be read must never look like
    an environment that was removed. With a ``cache``, a file read before with the same content is not
    parsed again."""
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        return [], [Problem(str(directory), None, f"environments directory {what}")]
    files, problems = find_configuration_files(directory)
    if not files and not problems:
        return [], [Problem(str(directory), None, "no *.hcl files found")]
    blocks: list[RawBlock] = []
    for file_blocks, file_problems in load_files(files, cache):
        blocks.extend(file_blocks)
        problems.extend(file_problems)
    return blocks, problems


def find_configuration_files(directory: Path) -> tuple[list[Path], list[Problem]]:
    """Every ``*.hcl`` file below ``directory``, following symbolic links; broken links, link loops,
    unreadable folders and ``*.hcl`` entries that are not files are problems, never skipped."""
    files: list[Path] = []
    problems: list[Problem] = []
    _walk(directory, (os.path.realpath(directory),), files, problems)
    return sorted(files, key=str), problems


def _walk(folder: Path, ancestors: tuple[str, ...], files: list[Path], problems: list[Problem]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        problems.append(Problem(str(folder), None, f"cannot read folder: {exc.strerror or exc}"))
        return
    for entry in entries:
        path = Path(entry.path)
        configuration_like = entry.name.endswith(".hcl")
        try:
            status = os.stat(path)  # follows links: a broken link or a loop raises here
        except OSError as exc:
            if entry.is_symlink() and (configuration_like or "." not in entry.name):
                problems.append(Problem(str(path), None, _link_problem(path, exc)))
            elif not entry.is_symlink():
                problems.append(Problem(str(path), None, f"cannot read: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(status.st_mode):
            real = os.path.realpath(path)
            if real in ancestors:
                problems.append(Problem(str(path), None, f"symbolic link loop: it leads back to {real}, a folder "
                                                         "above it"))
                continue
            _walk(path, ancestors + (real,), files, problems)
        elif configuration_like:
            if stat.S_ISREG(status.st_mode):
                files.append(path)
            else:
                problems.append(Problem(str(path), None, "not a regular file (a *.hcl entry must be a file)"))


def _link_problem(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: the link never reaches a file"
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    if exc.errno == errno.ENOENT:
        return f"broken symbolic link: its target {target} does not exist"
    return f"cannot follow symbolic link to {target}: {exc.strerror or exc}"


def load_file(path: Path, cache: SynthCache | None = None) -> tuple[list[RawBlock], list[Problem]]:
    return load_files([path], cache)[0]


def load_files(paths: list[Path], cache: SynthCache | None = None) -> list[tuple[list[RawBlock], list[Problem]]]:
    """Each file's blocks and problems, in order. The files not in the cache are parsed in two processes
    when there are many (see generators/parallel.py): parsing is most of a cold synth's time."""
    read: list[tuple[str | None, tuple[str, bytes]]] = []  # (cache key, (file, content))
    unreadable: dict[int, Problem] = {}
    for index, path in enumerate(paths):
        name = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            unreadable[index] = Problem(name, None, f"cannot read file: {exc.strerror or exc}")
            continue
        read.append((cache.key("environment-file", name, data) if cache is not None else None, (name, data)))
    part = cache.part("environment-files") if cache is not None else None
    parsed = iter(cached_map(part, read, _parse_entry))
    results: list[tuple[list[RawBlock], list[Problem]]] = []
    for index in range(len(paths)):
        if index in unreadable:
            results.append(([], [unreadable[index]]))
        else:
            blocks, problems = next(parsed)
            results.append((list(blocks), list(problems)))  # the cache's lists stay as they are
    return results


def _parse_entry(entry: tuple[str, bytes]) -> tuple[list[RawBlock], list[Problem]]:
    return _parse_file(*entry)


def _parse_file(name: str, data: bytes) -> tuple[list[RawBlock], list[Problem]]:
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is valid UTF-8 (Terraform accepts it)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return [], [Problem(name, line, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                                        "(save the file as UTF-8)")]
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        return [], [Problem(name, line, "not a text file: it contains a NUL byte")]
    import hcl2  # with lark, 65 ms to import: only when a file is not in the cache
    from lark.exceptions import UnexpectedInput

    try:
        document = hcl2.loads(text, with_meta=True)
    except UnexpectedInput as exc:
        return [], [Problem(name, getattr(exc, "line", None), f"HCL syntax error: {_first_line(exc)}")]
    except Exception as exc:  # python-hcl2 raises bare exceptions for some malformed input
        return [], [Problem(name, None, f"HCL syntax error: {_first_line(exc)}")]
    return _Reader(name, text.splitlines(), SourceText(text)).top_level(document)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Reader:
    def __init__(self, file: str, lines: list[str], source: SourceText | None = None):
        self.file = file
        self.lines = lines
        self.source = source
        self.problems: list[Problem] = []

    def top_level(self, document: Mapping[str, Any]) -> tuple[list[RawBlock], list[Problem]]:
        blocks = self._blocks(document, SCHEMA, parent_line=1, parent_end=len(self.lines), where="at top level")
        return blocks, self.problems

    def _blocks(self, body: Mapping[str, Any], schema: Mapping[str, BlockSchema], parent_line: int,
                parent_end: int, where: str) -> list[RawBlock]:
        found: list[RawBlock] = []
        for key, value in body.items():
            if key in _META_KEYS:
                continue
            if key not in schema:
                kind = "block" if _is_block_list(value) else "attribute"
                self._problem(self._find_line(key, parent_line, parent_end),
                              f"unknown {kind} '{key}' {where}; valid blocks: {', '.join(schema)}")
                continue
            if not _is_block_list(value):
                self._problem(self._find_line(key, parent_line, parent_end),
                              f"'{key}' must be a labelled block, like {key} \"name\" {{ ... }}")
                continue
            for entry in value:
                block = self._block(key, entry, schema[key])
                if block is not None:
                    found.append(block)
        return found

    def _block(self, kind: str, entry: Mapping[str, Any], schema: BlockSchema) -> RawBlock | None:
        if "__start_line__" in entry or len(entry) != 1:
            self._problem(entry.get("__start_line__"), f"{kind} block needs exactly one label, like {kind} \"name\" {{ ... }}")
            return None
        label, body = next(iter(entry.items()))
        if not isinstance(body, Mapping) or "__start_line__" not in body:
            line = _deep_line(body)
            self._problem(line, f"{kind} \"{label}\" block needs exactly one label")
            return None
        start, end = body["__start_line__"], body["__end_line__"]
        attributes: dict[str, Any] = {}
        attribute_lines: dict[str, int] = {}
        nested_blocks: list[RawBlock] = []
        expressions: dict[str, Expression] = {}
        where = f"in {kind} \"{label}\""
        for key, value in body.items():
            if key in _META_KEYS:
                continue
            if key in schema.blocks and _is_block_list(value):
                nested_blocks.extend(self._blocks({key: value}, schema.blocks, start, end, where))
                continue
            line = self._find_line(key, start, end)
            if _is_block_list(value) or key not in schema.attributes:
                valid = sorted(schema.attributes) + sorted(f"{b} {{}}" for b in schema.blocks)
                kind_word = "block" if _is_block_list(value) else "attribute"
                self._problem(line, f"unknown {kind_word} '{key}' {where}; valid: {', '.join(valid)}")
                continue
            shape_problem = _shape_problem(value, schema.attributes[key])
            if shape_problem:
                self._problem(line, f"{where}: '{key}' must be {schema.attributes[key]}, {shape_problem}")
                continue
            attributes[key] = value
            attribute_lines[key] = line
            if schema.attributes[key] == MAP:  # so a problem with one input points at its own line
                for inner in value:
                    attribute_lines[f"{key}.{inner}"] = self._find_line(inner, line, end)
            if kind == "module" and key == "inputs":
                expressions.update(self._input_expressions(label, value, line))
                attribute_lines.update({name: e.line for name, e in expressions.items()})
        return RawBlock(kind, label, MappingProxyType(attributes), tuple(nested_blocks), self.file, start,
                        MappingProxyType(attribute_lines), MappingProxyType(expressions))

    def _input_expressions(self, module: str, value: Mapping[str, Any], line: int) -> dict[str, Expression]:
        """Each input's expression cut from the source text, keyed ``inputs.<name>``."""
        if self.source is None:
            return {}
        try:
            items = self.source.object_attribute("inputs", line)
        except ExpressionSyntaxError as exc:
            self._problem(self.source.line_of(exc.offset), f"in module \"{module}\": {exc}")
            return {}
        if items is None or set(items) != {k for k in value if k not in _META_KEYS}:
            self._problem(line, f"in module \"{module}\": inputs must be an object written as "
                                "inputs = { name = expression ... }")
            return {}
        return {f"inputs.{name}": expression for name, expression in items.items()}

    def _find_line(self, name: str, start: int, end: int) -> int:
        """python-hcl2 locates blocks only; find an attribute's line by its ``name =`` within its block."""
        pattern = re.compile(rf'^\s*"?{re.escape(name)}"?\s*[={{"]')
        for number in range(start, min(end, len(self.lines)) + 1):
            if pattern.match(self.lines[number - 1]):
                return number
        return start

    def _problem(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))


def _is_block_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, Mapping) and ("__start_line__" in item or _deep_line(item) is not None) for item in value)


def _deep_line(value: Any) -> int | None:
    if isinstance(value, Mapping):
        if "__start_line__" in value:
            start: int = value["__start_line__"]
            return start
        for inner in value.values():
            line = _deep_line(inner)
            if line is not None:
                return line
    return None


def expression_of(value: Any) -> str | None:
    """The expression text of a bare HCL expression (``module.x.y`` is read as ``"${module.x.y}"``)."""
    if isinstance(value, str):
        match = _EXPRESSION.match(value)
        if match and "${" not in match.group(1):
            return match.group(1)
    return None


def _shape_problem(value: Any, shape: str) -> str | None:
    if shape == STRING:
        if not isinstance(value, str):
            return f"got {type(value).__name__} {value!r}"
        if expression_of(value) is not None:
            return f"got the expression {expression_of(value)} (add quotes)"
    elif shape == STRING_LIST:
        if not isinstance(value, list) or not all(isinstance(v, str) and expression_of(v) is None for v in value):
            return f"got {value!r}"
    elif shape == MAP:
        if not isinstance(value, Mapping):
            return f"got {value!r}"
    elif shape == BOOL:
        if not isinstance(value, bool):
            return f"got {value!r}"
    return None
