"""Terraform expressions as written: found by position in the source text, passed on unchanged.

python-hcl2 7.x reconstructs expressions from its parse tree and changes their meaning on the way
(quotes lost inside function calls, ``true`` becoming ``True``, ``null`` dropped, a heredoc's final
newline lost). So the value of each module input is cut out of the file's own text with a small
HCL tokenizer, and reaches Terraform as that text inside ``"${ }"``. Only plain literals (strings
without template sequences, integers, bools, and lists and objects of them) are written as JSON
values, which Terraform reads with the same meaning.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n")
_OPERATORS = ("...", "::", "==", "!=", "<=", ">=", "&&", "||", "=>")
_OPEN = {"(": ")", "[": "]", "{": "}"}
# Names that are never references: keywords of expressions and of template directives.
_KEYWORDS = {"for", "in", "if", "else", "endif", "endfor", "true", "false", "null"}
# Integers beyond this lose precision in a JSON reader that uses doubles; they are written as expressions.
_SAFE_INTEGER = 2 ** 53


class ExpressionSyntaxError(ValueError):
    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Token:
    kind: str  # ident, number, punct, newline, comment, string, heredoc
    text: str
    start: int
    end: int
    # For strings and heredocs: the tokens of each ${ } and %{ } sequence, and whether there are none.
    templates: tuple[tuple["Token", ...], ...] = ()
    value: str | None = None  # decoded text of a string or heredoc without template sequences


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Top-level tokens of ``text[start:end]``; strings and heredocs are single tokens."""
    tokens, _ = _Scanner(text).code(start, end if end is not None else len(text), until_brace=False)
    return tokens


class _Scanner:
    def __init__(self, text: str):
        self.text = text

    def code(self, pos: int, end: int, until_brace: bool) -> tuple[list[Token], int]:
        """Scan expression code; with ``until_brace``, stop at the ``}`` closing a template sequence."""
        text = self.text
        tokens: list[Token] = []
        depth = 0
        while pos < end:
            char = text[pos]
            if char in " \t\r":
                pos += 1
            elif char == "\n":
                tokens.append(Token("newline", "\n", pos, pos + 1))
                pos += 1
            elif char == "#" or text.startswith("//", pos):
                stop = text.find("\n", pos)
                stop = end if stop == -1 else stop
                tokens.append(Token("comment", text[pos:stop], pos, stop))
                pos = stop
            elif text.startswith("/*", pos):
                stop = text.find("*/", pos + 2)
                if stop == -1:
                    raise ExpressionSyntaxError(pos, "unterminated /* comment")
                tokens.append(Token("comment", text[pos:stop + 2], pos, stop + 2))
                pos = stop + 2
            elif char == '"':
                token = self.quoted(pos, end)
                tokens.append(token)
                pos = token.end
            elif text.startswith("<<", pos) and _HEREDOC.match(text, pos):
                token = self.heredoc(pos, end)
                tokens.append(token)
                pos = token.end
            elif (match := _NUMBER.match(text, pos)) and match.end() > pos:
                tokens.append(Token("number", match.group(0), pos, match.end()))
                pos = match.end()
            elif (match := _IDENT.match(text, pos)):
                tokens.append(Token("ident", match.group(0), pos, match.end()))
                pos = match.end()
            else:
                if until_brace and char == "}" and depth == 0:
                    return tokens, pos + 1
                operator = next((op for op in _OPERATORS if text.startswith(op, pos)), char)
                if operator in ("{", "(", "["):
                    depth += 1
                elif operator in ("}", ")", "]"):
                    depth -= 1
                tokens.append(Token("punct", operator, pos, pos + len(operator)))
                pos += len(operator)
        if until_brace:
            raise ExpressionSyntaxError(pos, "unterminated ${ or %{ sequence")
        return tokens, pos

    def quoted(self, start: int, end: int) -> Token:
        text = self.text
        pos = start + 1
        templates: list[tuple[Token, ...]] = []
        decoded: list[str] = []
        while pos < end:
            char = text[pos]
            if char == '"':
                value = "".join(decoded) if not templates else None
                return Token("string", text[start:pos + 1], start, pos + 1, tuple(templates), value)
            if char == "\n":
                break
            if char == "\\":
                escape, pos = _escape(text, pos, start)
                decoded.append(escape)
            elif (after := self.template_part(pos, end, decoded, templates)) is not None:
                pos = after
            else:
                decoded.append(char)
                pos += 1
        raise ExpressionSyntaxError(start, "unterminated string")

    def template_part(self, pos: int, end: int, literal: list[str],
                      templates: list[tuple[Token, ...]]) -> int | None:
        """At ``pos`` in a string or heredoc: an escaped ``$${``/``%%{`` (its literal text goes to
        ``literal``) or an interpolation or directive (its tokens go to ``templates``); the position
        after it, or None when neither starts there."""
        text = self.text
        if text.startswith(("$${", "%%{"), pos):
            literal.append(text[pos + 1:pos + 3])
            return pos + 3
        if text.startswith(("${", "%{"), pos):
            inner, after = self.code(pos + 2, end, until_brace=True)
            templates.append(tuple(inner))
            return after
        return None

    def heredoc(self, start: int, end: int) -> Token:
        text = self.text
        match = _HEREDOC.match(text, start)
        assert match is not None
        indented, marker = bool(match.group(1)), match.group(2)
        pos = match.end()
        templates: list[tuple[Token, ...]] = []
        lines: list[str] = []
        current: list[str] = []
        line_start = True
        while pos < end:
            if line_start:
                stop = text.find("\n", pos)
                stop = end if stop == -1 else stop
                if text[pos:stop].strip() == marker:
                    value = _heredoc_value(lines, indented) if not templates else None
                    token_end = pos + len(text[pos:stop].rstrip())
                    return Token("heredoc", text[start:token_end], start, token_end, tuple(templates), value)
                line_start = False
            char = text[pos]
            if (after := self.template_part(pos, end, current, templates)) is not None:
                pos = after
            else:
                current.append(char)
                pos += 1
                if char == "\n":
                    lines.append("".join(current))
                    current = []
                    line_start = True
        raise ExpressionSyntaxError(start, f"heredoc <<{marker} is never closed")


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _escape(text: str, pos: int, start: int) -> tuple[str, int]:
    kind = text[pos + 1:pos + 2]
    if kind in _ESCAPES:
        return _ESCAPES[kind], pos + 2
    if kind in ("u", "U"):
        width = 4 if kind == "u" else 8
        digits = text[pos + 2:pos + 2 + width]
        if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
            return chr(int(digits, 16)), pos + 2 + width
    raise ExpressionSyntaxError(start, f"invalid escape sequence \\{kind} in string")


def _heredoc_value(lines: list[str], indented: bool) -> str:
    if indented:  # <<- removes the smallest indentation of the non-blank lines
        widths = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
        cut = min(widths) if widths else 0
        lines = [line[cut:] if line.strip() else line.lstrip(" \t") for line in lines]
    return "".join(lines)


# -- finding an expression in a file ------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """One expression as written: its exact text, its tokens and where it starts."""

    text: str  # the source, without comments
    tokens: tuple[Token, ...]  # comments and newlines left out
    line: int
    offset: int  # where ``text`` starts in the file

    def __str__(self) -> str:
        return " ".join(self.text.split())

    def line_at(self, offset: int) -> int:
        """The file line of ``offset``, an offset inside this expression."""
        return self.line + self.text.count("\n", 0, max(0, offset - self.offset))


@dataclass
class SourceText:
    """A file's text with its tokens, so expressions can be cut out of it by line."""

    text: str
    _line_starts: list[int] = field(init=False)
    _tokens: list[Token] | None = field(init=False, default=None)
    _significant: list[Token] | None = field(init=False, default=None)  # without comments
    _by_line: dict[int, list[int]] | None = field(init=False, default=None)  # line -> indexes of its identifiers

    def __post_init__(self) -> None:
        self._line_starts = [0] + [i + 1 for i, c in enumerate(self.text) if c == "\n"]

    @property
    def tokens(self) -> list[Token]:
        if self._tokens is None:
            self._tokens = tokenize(self.text)
        return self._tokens

    @property
    def significant(self) -> list[Token]:
        if self._significant is None:
            self._significant = [t for t in self.tokens if t.kind != "comment"]
        return self._significant

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def _identifiers_on(self, line: int) -> list[int]:
        if self._by_line is None:
            self._by_line = {}
            for index, token in enumerate(self.significant):
                if token.kind == "ident":
                    self._by_line.setdefault(self.line_of(token.start), []).append(index)
        return self._by_line.get(line, [])

    def object_attribute(self, name: str, line: int) -> dict[str, Expression] | None:
        """The items of ``name = { key = expr ... }`` written at ``line``; None if it is not an object."""
        tokens = self.significant
        index = next((i for i in self._identifiers_on(line) if tokens[i].text == name), None)
        if index is None or index + 2 >= len(tokens) or tokens[index + 1].text != "=" or tokens[index + 2].text != "{":
            return None
        items: dict[str, Expression] = {}
        position = index + 3
        while position < len(tokens):
            token = tokens[position]
            if token.kind == "newline" or token.text == ",":
                position += 1
                continue
            if token.text == "}":
                return items
            if token.kind == "ident":
                key = token.text
            elif token.kind == "string" and token.value is not None:
                key = token.value
            else:
                return None
            if position + 1 >= len(tokens) or tokens[position + 1].text not in ("=", ":"):
                return None
            value_tokens, position = _value_extent(tokens, position + 2)
            if not value_tokens:
                return None
            items[key] = self._expression(value_tokens)
        return None

    def attribute_in_block(self, block_kind: str, label: str, attribute: str) -> Expression | None:
        """``attribute = expr`` directly inside the top-level block ``block_kind "label" { }``."""
        tokens = self.significant
        for index, token in enumerate(tokens[:-2]):
            if (token.kind == "ident" and token.text == block_kind and tokens[index + 1].kind == "string"
                    and tokens[index + 1].value == label and tokens[index + 2].text == "{"
                    and (index == 0 or tokens[index - 1].kind == "newline")):
                return self._attribute_at_depth_one(tokens, index + 3, attribute)
        return None

    def _attribute_at_depth_one(self, tokens: list[Token], position: int, attribute: str) -> Expression | None:
        depth = 0
        at_line_start = True
        while position < len(tokens):
            token = tokens[position]
            if token.text in _OPEN:
                depth += 1
            elif token.text in ("}", ")", "]"):
                if depth == 0:
                    return None
                depth -= 1
            elif (depth == 0 and at_line_start and token.kind == "ident" and token.text == attribute
                  and position + 1 < len(tokens) and tokens[position + 1].text == "="):
                value_tokens, _ = _value_extent(tokens, position + 2)
                return self._expression(value_tokens) if value_tokens else None
            at_line_start = token.kind == "newline"
            position += 1
        return None

    def _expression(self, value_tokens: list[Token]) -> Expression:
        start, end = value_tokens[0].start, value_tokens[-1].end
        tokens = tokenize(self.text, start, end)
        text = self.text[start:end]
        for comment in (t for t in tokens if t.kind == "comment"):  # blanked in place: offsets stay valid
            blank = re.sub(r"[^\n]", " ", comment.text)
            text = text[:comment.start - start] + blank + text[comment.end - start:]
        significant = tuple(t for t in tokens if t.kind not in ("comment", "newline"))
        return Expression(text, significant, self.line_of(start), start)


def _value_extent(tokens: list[Token], position: int) -> tuple[list[Token], int]:
    """The tokens of one value: up to a newline or comma outside brackets, or the enclosing ``}``."""
    value: list[Token] = []
    depth = 0
    while position < len(tokens):
        token = tokens[position]
        if depth == 0 and (token.kind == "newline" or token.text in (",", "}")):
            break
        if token.text in _OPEN:
            depth += 1
        elif token.text in ("}", ")", "]"):
            depth -= 1
        value.append(token)
        position += 1
    while value and value[-1].kind == "newline":
        value.pop()
    return value, position


# -- what an expression refers to -----------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A traversal like ``module.api.role_arn``: its root name and the attribute names after it."""

    root: str
    names: tuple[str, ...]
    start: int
    end: int

    def __str__(self) -> str:
        return ".".join((self.root,) + self.names)


def references(expression: Expression) -> list[Reference]:
    """Every reference the expression makes, in strings' ``${ }`` too; function names, object keys,
    keywords and ``for`` variables are not references."""
    found: list[Reference] = []
    locals_: set[str] = set()
    token_lists = list(_token_lists(expression.tokens))
    for tokens in token_lists:
        locals_.update(_for_variables(tokens))
    for tokens in token_lists:
        found.extend(_references_in(tokens, locals_))
    return sorted(found, key=lambda r: r.start)


def _token_lists(tokens: tuple[Token, ...]) -> Iterator[list[Token]]:
    yield [t for t in tokens if t.kind not in ("comment", "newline")]
    for token in tokens:
        for inner in token.templates:
            yield from _token_lists(inner)


def _for_variables(tokens: list[Token]) -> set[str]:
    names = set()
    for index, token in enumerate(tokens):
        if token.kind == "ident" and token.text == "for" and index + 1 < len(tokens):
            names.add(tokens[index + 1].text)
            if index + 3 < len(tokens) and tokens[index + 2].text == ",":
                names.add(tokens[index + 3].text)
    return names


def _references_in(tokens: list[Token], locals_: set[str]) -> Iterator[Reference]:
    brackets: list[str] = []
    for index, token in enumerate(tokens):
        previous = tokens[index - 1] if index else None
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.text in _OPEN:
            brackets.append(token.text)
        elif token.text in ("}", ")", "]") and brackets:
            brackets.pop()
        if token.kind != "ident" or token.text in _KEYWORDS or token.text in locals_:
            continue
        if previous is not None and previous.text in (".", "::"):
            continue  # an attribute name, or part of a provider function's name
        if following is not None and following.text in ("(", "::"):
            continue  # a function call
        in_object = bool(brackets) and brackets[-1] == "{"
        if in_object and following is not None and (
                following.text == "=" or (following.text == ":" and (previous is None or previous.text not in ("?", "in")))):
            continue  # an object key
        names: list[str] = []
        position, end = index + 1, token.end
        while (position + 1 < len(tokens) and tokens[position].text == "." and tokens[position].start == end
               and tokens[position + 1].kind == "ident"):
            names.append(tokens[position + 1].text)
            end = tokens[position + 1].end
            position += 2
        yield Reference(token.text, tuple(names), token.start, end)


def rewritten(expression: Expression, replacements: dict[tuple[int, int], str]) -> str:
    """The expression's text with the ``(start, end)`` file ranges replaced."""
    text = expression.text
    for (start, end), replacement in sorted(replacements.items(), reverse=True):
        text = text[:start - expression.offset] + replacement + text[end - expression.offset:]
    return text


# -- literals ---------------------------------------------------------------------------------------


class NotLiteral(Exception):
    pass


def literal_value(expression: Expression) -> Any:
    """The value of a literal expression (strings, numbers as Decimal, bools, null as None, lists,
    objects); raises ``NotLiteral`` for anything computed."""
    tokens = list(expression.tokens)
    value, position = _literal(tokens, 0)
    if position != len(tokens):
        raise NotLiteral()
    return value


def _literal(tokens: list[Token], position: int) -> tuple[Any, int]:
    if position >= len(tokens):
        raise NotLiteral()
    token = tokens[position]
    if token.kind in ("string", "heredoc"):
        if token.value is None:
            raise NotLiteral()
        return token.value, position + 1
    if token.kind == "number":
        return Decimal(token.text), position + 1
    if token.text == "-" and position + 1 < len(tokens) and tokens[position + 1].kind == "number":
        return -Decimal(tokens[position + 1].text), position + 2
    if token.kind == "ident" and token.text in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[token.text], position + 1
    if token.text == "[":
        items: list[Any] = []
        position += 1
        while position < len(tokens) and tokens[position].text != "]":
            item, position = _literal(tokens, position)
            items.append(item)
            if position < len(tokens) and tokens[position].text == ",":
                position += 1
            elif position < len(tokens) and tokens[position].text != "]":
                raise NotLiteral()
        return items, position + 1
    if token.text == "{":
        entries: dict[str, Any] = {}
        position += 1
        while position < len(tokens) and tokens[position].text != "}":
            key_token = tokens[position]
            if key_token.kind == "ident" and key_token.text not in ("for",):
                key = key_token.text
            elif key_token.kind == "string" and key_token.value is not None:
                key = key_token.value
            else:
                raise NotLiteral()
            if position + 1 >= len(tokens) or tokens[position + 1].text not in ("=", ":"):
                raise NotLiteral()
            entries[key], position = _literal(tokens, position + 2)
            if position < len(tokens) and tokens[position].text == ",":
                position += 1
        return entries, position + 1
    raise NotLiteral()


def to_terraform_json(expression: Expression, text: str | None = None) -> Any:
    """What to write in Terraform JSON so Terraform reads the same value: a JSON literal for plain
    literals, otherwise the expression's text as a ``"${ }"`` template."""
    if text is None:
        try:
            value = literal_value(expression)
            if _json_safe(value):
                return _json_literal(value)
        except NotLiteral:
            pass
        text = expression.text
    ends_with_heredoc = bool(expression.tokens) and expression.tokens[-1].kind == "heredoc"
    return "${" + text + ("\n" if ends_with_heredoc else "") + "}"


def _json_safe(value: Any) -> bool:
    if value is None:
        return False  # cdktf drops JSON nulls; null is written as the expression ${null}
    if isinstance(value, Decimal):
        return value == value.to_integral_value() and abs(value) < _SAFE_INTEGER and "E" not in str(value).upper()
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(_json_safe(v) for v in value.values())
    return True


def _json_literal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, str):  # Terraform reads JSON strings as templates
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list):
        return [_json_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_literal(v) for k, v in value.items()}
    return value


def parse_number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
