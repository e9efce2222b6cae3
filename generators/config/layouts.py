"""Layouts: modules and variables stated once, for every environment that names the layout.

    layout "api-stack" {
      module "infra" { source = "infrastructure" }
      module "api"   { source = "api"  inputs = { table_name = module.infra.table_name } }
    }
    environment "qa" { account = "qa"  layout = "api-stack" }

The merge runs on raw blocks, before any rule, so every rule sees the effective definition and
every problem points at the file and line that wrote the value (the layout's or the
environment's). How each part merges is data, in ``MODULE_MERGE``; the environment always wins.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any, Mapping

from generators.config.hcl_loader import RawBlock
from generators.errors import Problem

REPLACE = "replace"  # the environment's value replaces the layout's
MERGE_KEYS = "merge keys"  # key by key; for a key both set, the environment's value replaces the layout's

# A module the environment also declares merges attribute by attribute. An input is one Terraform
# expression, so an input both set is replaced whole, never merged inside.
MODULE_MERGE: Mapping[str, str] = {"source": REPLACE, "version": REPLACE, "inputs": MERGE_KEYS,
                                   "providers": MERGE_KEYS}
# Modules and variables merge by name: a variable both declare is the environment's.


def apply_layouts(blocks: list[RawBlock]) -> tuple[list[RawBlock], list[Problem], dict[str, RawBlock]]:
    """Environments with their layout merged in (layout blocks are consumed), problems, and the layouts."""
    layouts: dict[str, RawBlock] = {}
    problems: list[Problem] = []
    for block in blocks:
        if block.kind != "layout":
            continue
        if block.label in layouts:
            first = layouts[block.label]
            problems.append(Problem(block.file, block.line, f"layout '{block.label}' is already defined at "
                                                            f"{first.file}:{first.line}"))
        else:
            layouts[block.label] = block
    merged: list[RawBlock] = []
    for block in blocks:
        if block.kind == "layout":
            continue
        name = block.attributes.get("layout") if block.kind == "environment" else None
        if name is None:
            merged.append(block)
        elif name not in layouts:
            problems.append(Problem(block.file, block.line_of("layout"),
                                    f"environment '{block.label}' names unknown layout '{name}'; layouts: "
                                    f"{', '.join(sorted(layouts)) or '(none)'}"))
        else:
            merged.append(merge_environment(layouts[name], block))
    return merged, problems, layouts


def merge_environment(layout: RawBlock, environment: RawBlock) -> RawBlock:
    own = {(b.kind, b.label): b for b in environment.blocks if b.kind in ("module", "variable")}
    children: list[RawBlock] = []
    for inherited in layout.blocks:
        mine = own.pop((inherited.kind, inherited.label), None)
        if mine is None:
            children.append(_from_layout(inherited))
        elif inherited.kind == "module":
            children.append(_merge_module(inherited, mine))
        else:
            children.append(mine)
    children += [b for b in environment.blocks if b.kind not in ("module", "variable")]
    children += own.values()
    return replace(environment, blocks=tuple(children))


def _from_layout(block: RawBlock) -> RawBlock:
    """A layout's block as it stands: every attribute is its file's."""
    return replace(block, attribute_files=MappingProxyType({a: block.file for a in block.attribute_lines}))


def _merge_module(layout: RawBlock, environment: RawBlock) -> RawBlock:
    attributes: dict[str, Any] = {}
    lines = dict(environment.attribute_lines)
    files: dict[str, str] = {}
    expressions = dict(environment.expressions)
    for attribute, rule in MODULE_MERGE.items():
        theirs, mine = layout.attributes.get(attribute), environment.attributes.get(attribute)
        if rule == REPLACE or theirs is None:
            if mine is not None:
                attributes[attribute] = mine
            elif theirs is not None:
                attributes[attribute] = theirs
                lines[attribute], files[attribute] = layout.line_of(attribute), layout.file
            continue
        combined = dict(theirs)
        combined.update(mine or {})
        attributes[attribute] = MappingProxyType(combined)
        if mine is None:
            lines[attribute], files[attribute] = layout.line_of(attribute), layout.file
        for key in theirs:
            if mine is None or key not in mine:
                qualified = f"{attribute}.{key}"
                lines[qualified], files[qualified] = layout.line_of(qualified), layout.file
                if qualified in layout.expressions:
                    expressions[qualified] = layout.expressions[qualified]
    return replace(environment, attributes=MappingProxyType(attributes), attribute_lines=MappingProxyType(lines),
                   attribute_files=MappingProxyType(files), expressions=MappingProxyType(expressions))
