"""Read the interface of the plain HCL modules under modules/: variables, outputs, provider aliases.

Modules are read with python-hcl2, never run, so input mistakes are caught before any synthesis.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from generators.config.expressions import ExpressionSyntaxError, SourceText
from generators.config.models import ModuleInterface, ModuleOutput, ModuleVariable, ProviderRequirement
from generators.config.module_types import parse_type
from generators.errors import Problem
from generators.naming import NAME_PREFIX_VARIABLE
from generators.synth.cache import HclParser, hcl_loads

_NAME_PREFIX_LIMIT = re.compile(rf"length\(\s*var\.{NAME_PREFIX_VARIABLE}\s*\)\s*<=\s*(\d+)")


def available_modules(modules_dir: Path) -> list[str]:
    if not modules_dir.is_dir():
        return []
    return sorted(p.name for p in modules_dir.iterdir() if p.is_dir() and any(p.glob("*.tf")))


def read_module(modules_dir: Path, name: str) -> tuple[ModuleInterface | None, list[Problem]]:
    return read_module_folder(modules_dir / name, name)


def unchecked_module(name: str) -> ModuleInterface:
    """A remote module whose source has not been fetched: its variables and outputs are unknown."""
    return ModuleInterface(name=name, path="", variables=MappingProxyType({}), outputs=MappingProxyType({}),
                           checked=False)


def read_module_folder(folder: Path, name: str, parse: HclParser = hcl_loads
                       ) -> tuple[ModuleInterface | None, list[Problem]]:
    """The interface of the module in ``folder``; ``name`` is how messages call it. ``parse`` reads HCL
    text (``hcl_loads``, or the synthesis cache's remembering one)."""
    variables: dict[str, ModuleVariable] = {}
    outputs: dict[str, ModuleOutput] = {}
    aliases: list[str] = []
    limit: int | None = None
    reason: str | None = None
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.tf")):
        try:
            text = path.read_text(encoding="utf-8")
            document = parse(text)
        except Exception as exc:  # a broken module is reported like a broken environment file
            problems.append(Problem(str(path), getattr(exc, "line", None), f"cannot parse module file: {exc}"))
            continue
        readable = SourceText(text)
        source: SourceText | None = readable
        try:
            readable.tokens  # noqa: B018 - types are read from the text; if it cannot be, they are not checked
        except ExpressionSyntaxError:
            source = None
        for var_name, body in _labelled(document, "variable"):
            variables[var_name] = ModuleVariable(var_name, required="default" not in body,
                                                 sensitive=body.get("sensitive") is True,
                                                 type=parse_type(source.attribute_in_block("variable", var_name, "type"))
                                                 if source is not None else None)
            if var_name == NAME_PREFIX_VARIABLE:
                limit, reason = _name_prefix_limit(body)
        for out_name, body in _labelled(document, "output"):
            outputs[out_name] = ModuleOutput(out_name, sensitive=body.get("sensitive") is True)
        aliases.extend(_configuration_aliases(document))
    requirements = _provider_requirements(folder, set(), problems, parse)
    if problems:
        return None, problems
    return ModuleInterface(
        name=name,
        path=str(folder),
        variables=MappingProxyType(variables),
        outputs=MappingProxyType(outputs),
        provider_aliases=tuple(sorted(set(aliases))),
        name_prefix_max_length=limit,
        name_prefix_reason=reason,
        required_providers=MappingProxyType(requirements),
    ), []


def _labelled(document: Mapping[str, Any], kind: str) -> Iterator[tuple[str, Any]]:
    for entry in document.get(kind, []):
        for label, body in entry.items():
            yield label, body


def _name_prefix_limit(body: Mapping[str, Any]) -> tuple[int | None, str | None]:
    limits = []
    for validation in body.get("validation", []):
        match = _NAME_PREFIX_LIMIT.search(str(validation.get("condition", "")))
        if match:
            limits.append((int(match.group(1)), validation.get("error_message")))
    return min(limits) if limits else (None, None)


def _configuration_aliases(document: Mapping[str, Any]) -> list[str]:
    aliases = []
    for terraform in document.get("terraform", []):
        for required in terraform.get("required_providers", []):
            aws = required.get("aws")
            if isinstance(aws, Mapping):
                for alias in aws.get("configuration_aliases", []):
                    aliases.append(str(alias).removeprefix("${").removesuffix("}"))
    return aliases


def _provider_requirements(folder: Path, visited: set[Path], problems: list[Problem],
                           parse: HclParser) -> dict[str, ProviderRequirement]:
    """``required_providers`` of the module in ``folder`` and of the local modules it calls, merged."""
    folder = folder.resolve()
    if folder in visited:
        return {}
    visited.add(folder)
    found: dict[str, ProviderRequirement] = {}

    def add(requirement: ProviderRequirement) -> None:
        known = found.get(requirement.name)
        if known is None:
            found[requirement.name] = requirement
        else:
            found[requirement.name] = ProviderRequirement(known.name, known.source,
                                                          known.constraints + requirement.constraints)

    for path in sorted(folder.glob("*.tf")):
        try:
            document = parse(path.read_text(encoding="utf-8"))
        except Exception as exc:
            problems.append(Problem(str(path), getattr(exc, "line", None), f"cannot parse module file: {exc}"))
            continue
        for terraform in document.get("terraform", []):
            for required in terraform.get("required_providers", []):
                for name, spec in required.items():
                    add(_requirement(name, spec, str(path)))
        for _, call in _labelled(document, "module"):
            source = call.get("source")
            if isinstance(source, str) and source.startswith(("./", "../")):
                for requirement in _provider_requirements(folder / source, visited, problems, parse).values():
                    add(requirement)
    return found


def _requirement(name: str, spec: Any, file: str) -> ProviderRequirement:
    if isinstance(spec, str):  # the legacy form: aws = ">= 5.0"
        return ProviderRequirement(name, f"hashicorp/{name}", ((spec, file),))
    source = spec.get("source") if isinstance(spec, Mapping) else None
    version = spec.get("version") if isinstance(spec, Mapping) else None
    source = source if isinstance(source, str) else f"hashicorp/{name}"
    if source.count("/") == 2 and source.startswith("registry.terraform.io/"):
        source = source.removeprefix("registry.terraform.io/")
    return ProviderRequirement(name, source.lower(), ((version, file),) if isinstance(version, str) else ())
