"""Terraform type constraints of module variables, and whether a literal value converts to them.

A variable's ``type`` is read from its source text (``list(object({ name = string, port =
optional(number, 80) }))``) and a literal input is checked with Terraform's own conversion rules:
numbers and bools convert to strings, strings holding a number or a bool convert back, objects
convert to maps and tuples to lists, missing optional attributes are fine and extra object
attributes are dropped. So a wrong literal is reported at its ``.hcl`` line, at ``validate``,
instead of by ``terraform validate`` inside the generated JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from generators.config.expressions import Expression, Token, parse_number

PRIMITIVES = ("string", "number", "bool", "any")
COLLECTIONS = ("list", "set", "map")


@dataclass(frozen=True)
class TfType:
    """``kind`` is a primitive, a collection (with ``element``), ``tuple`` (``elements``) or ``object``
    (``attributes``: name -> (type, optional))."""

    kind: str
    element: "TfType | None" = None
    elements: tuple["TfType", ...] = ()
    attributes: tuple[tuple[str, "TfType", bool], ...] = ()

    def __str__(self) -> str:
        if self.kind in PRIMITIVES:
            return self.kind
        if self.kind in COLLECTIONS:
            return f"{self.kind}({self.element})"
        if self.kind == "tuple":
            return f"tuple([{', '.join(str(e) for e in self.elements)}])"
        attributes = ", ".join(f"{name} = optional({t})" if optional else f"{name} = {t}"
                               for name, t, optional in self.attributes)
        return f"object({{{attributes}}})"


class _Unreadable(Exception):
    pass


def parse_type(expression: Expression | None) -> TfType | None:
    """The type constraint written in ``expression``; None when absent or not understood (no check)."""
    if expression is None:
        return None
    tokens = list(expression.tokens)
    try:
        parsed, position = _type(tokens, 0)
    except (_Unreadable, IndexError):
        return None
    return parsed if position == len(tokens) else None


def _expect(tokens: list[Token], position: int, text: str) -> int:
    if tokens[position].text != text:
        raise _Unreadable()
    return position + 1


def _type(tokens: list[Token], position: int) -> tuple[TfType, int]:
    token = tokens[position]
    if token.kind != "ident":
        raise _Unreadable()
    if token.text in PRIMITIVES:
        return TfType(token.text), position + 1
    position = _expect(tokens, position + 1, "(")
    if token.text in COLLECTIONS:
        element, position = _type(tokens, position)
        return TfType(token.text, element=element), _expect(tokens, position, ")")
    if token.text == "tuple":
        position = _expect(tokens, position, "[")
        elements = []
        while tokens[position].text != "]":
            element, position = _type(tokens, position)
            elements.append(element)
            if tokens[position].text == ",":
                position += 1
        return TfType("tuple", elements=tuple(elements)), _expect(tokens, position + 1, ")")
    if token.text == "object":
        position = _expect(tokens, position, "{")
        attributes = []
        while tokens[position].text != "}":
            name_token = tokens[position]
            name = name_token.value if name_token.kind == "string" else name_token.text
            if name is None or tokens[position + 1].text not in ("=", ":"):
                raise _Unreadable()
            position += 2
            optional = tokens[position].text == "optional" and tokens[position + 1].text == "("
            if optional:
                attribute, position = _type(tokens, position + 2)
                position = _skip_to_close(tokens, position)  # optional(type, default): the default is not checked
            else:
                attribute, position = _type(tokens, position)
            attributes.append((name, attribute, optional))
            if tokens[position].text == ",":
                position += 1
        return TfType("object", attributes=tuple(attributes)), _expect(tokens, position + 1, ")")
    raise _Unreadable()


def _skip_to_close(tokens: list[Token], position: int) -> int:
    depth = 0
    while True:
        text = tokens[position].text
        if text in ("(", "[", "{"):
            depth += 1
        elif text in (")", "]", "}"):
            if depth == 0:
                return position + 1
            depth -= 1
        position += 1


def conversion_problem(constraint: TfType, value: Any, where: str = "") -> str | None:
    """Why Terraform would refuse ``value`` (a literal: str, Decimal, bool, None, list, dict) for
    ``constraint``, or None when it converts."""
    if value is None or constraint.kind == "any":
        return None  # null is accepted by every nullable variable; `any` takes everything
    kind = constraint.kind
    if kind == "string":
        if isinstance(value, (str, Decimal, bool)):
            return None
        return _refused(value, "string", where)
    if kind == "number":
        if isinstance(value, Decimal) or (isinstance(value, str) and _number_string(value)):
            return None
        return _refused(value, "number", where)
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false", "1", "0")):
            return None
        return _refused(value, "bool", where)
    if kind in ("list", "set", "tuple"):
        if not isinstance(value, list):
            return _refused(value, str(constraint), where)
        if kind == "tuple":
            if len(value) != len(constraint.elements):
                return (f"{where or 'the value'} has {len(value)} elements; {constraint} needs "
                        f"{len(constraint.elements)}")
            pairs = list(zip(constraint.elements, value))
        else:
            assert constraint.element is not None
            pairs = [(constraint.element, item) for item in value]
        for index, (element_type, item) in enumerate(pairs):
            problem = conversion_problem(element_type, item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if not isinstance(value, Mapping):
        return _refused(value, str(constraint), where)
    if kind == "map":
        assert constraint.element is not None
        for key, item in value.items():
            problem = conversion_problem(constraint.element, item, f'{where}["{key}"]')
            if problem:
                return problem
        return None
    for name, attribute, optional in constraint.attributes:
        if name not in value:
            if not optional:
                return f"{where or 'the value'} lacks attribute '{name}', required by {constraint}"
            continue
        problem = conversion_problem(attribute, value[name], f"{where}.{name}")
        if problem:
            return problem
    return None


def _number_string(text: str) -> bool:
    # Terraform parses with Go's big.ParseFloat: no surrounding space, no digit separators.
    if text != text.strip() or "_" in text:
        return False
    return parse_number(text) is not None or text.lstrip("+-").lower() in ("inf", "infinity")


def _refused(value: Any, expected: str, where: str) -> str:
    subject = f"{where}: " if where else ""
    return f"{subject}{_describe(value)} cannot be converted to {expected}"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the bool {str(value).lower()}"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, Decimal):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    return "an object"
