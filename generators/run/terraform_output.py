"""Terraform's machine-readable output: the JSON UI stream of ``init``/``plan``/``apply -json``.

Summaries, diagnostics and state-lock holders are read from the typed messages Terraform emits
(``change_summary``, ``diagnostic``, ``apply_complete``...), never from its human wording, which may
change between releases. Each message also carries ``@message``, Terraform's own human line: that is
what the readable ``terraform.log`` holds (see ``human_lines``).
Reference: https://developer.hashicorp.com/terraform/internals/machine-readable-ui
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

LOCK_ERROR_SUMMARY = "Error acquiring the state lock"
# The lock diagnostic's detail is the one place Terraform's JSON carries the holder: a "Lock Info:"
# block of "Field: value" lines (the .tflock object's fields).
_LOCK_FIELD = re.compile(r"^\s+(ID|Path|Operation|Who|Version|Created|Info):[ \t]*(.*)$")
_MISSING_BUCKET = re.compile(r"S3 bucket \"[^\"]+\" does not exist|NoSuchBucket")
_ALREADY_EXISTS = re.compile(r"AlreadyExists|already exists|AlreadyOwnedByYou", re.I)


@dataclass(frozen=True)
class Changes:
    add: int = 0
    change: int = 0
    destroy: int = 0

    def __str__(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state lock, as Terraform records it (the ``.tflock`` object or the lock diagnostic)."""

    id: str
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""
    path: str = ""

    def __str__(self) -> str:
        return f"held by {self.who or 'unknown'} ({self.operation or 'unknown operation'}, since " \
               f"{self.created or 'unknown'}, lock ID {self.id})"


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # error | warning
    summary: str
    detail: str = ""
    address: str = ""  # the resource instance it is about, when Terraform says

    @property
    def is_lock_error(self) -> bool:
        return self.summary.startswith(LOCK_ERROR_SUMMARY)

    @property
    def is_missing_bucket(self) -> bool:
        return bool(_MISSING_BUCKET.search(f"{self.summary}\n{self.detail}"))

    @property
    def is_already_exists(self) -> bool:
        return bool(_ALREADY_EXISTS.search(f"{self.summary}\n{self.detail}"))


@dataclass
class StreamSummary:
    """What one terraform command's JSON stream said, accumulated message by message."""

    changes: Changes | None = None  # the last change_summary: planned (plan) or done (apply, destroy)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # addresses whose apply completed
    errored: list[str] = field(default_factory=list)  # addresses whose apply failed
    interrupted: bool = False  # Terraform reported the stop request it received

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def lock(self) -> LockInfo | None:
        for diagnostic in self.errors:
            if diagnostic.is_lock_error:
                return parse_lock_info(diagnostic.detail)
        return None

    def add(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "change_summary":
            counts = message.get("changes") or {}
            self.changes = Changes(int(counts.get("add", 0)), int(counts.get("change", 0)),
                                   int(counts.get("remove", 0)))
        elif kind == "diagnostic":
            body = message.get("diagnostic") or {}
            self.diagnostics.append(Diagnostic(str(body.get("severity", message.get("@level", ""))),
                                               str(body.get("summary", "")), str(body.get("detail", "")),
                                               str(body.get("address", ""))))
        elif kind in ("apply_complete", "apply_errored"):
            address = str(((message.get("hook") or {}).get("resource") or {}).get("addr", ""))
            (self.applied if kind == "apply_complete" else self.errored).append(address)
        elif kind == "log" and "Interrupt received" in str(message.get("@message", "")):
            self.interrupted = True


def parse_line(line: str) -> dict[str, Any] | None:
    """One JSON UI message, or None for a line that is not one (a crash, a provider's stray print)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def human_lines(message: dict[str, Any]) -> list[str]:
    """Terraform's own human line for a message; a diagnostic's detail and location too, as the human UI
    prints them, so the log stays enough to debug from."""
    lines = [str(message.get("@message", ""))]
    if message.get("type") == "diagnostic":
        body = message.get("diagnostic") or {}
        if body.get("address"):
            lines.append(f"  with {body['address']}")
        span = body.get("range") or {}
        if span.get("filename"):
            lines.append(f"  on {span['filename']} line {(span.get('start') or {}).get('line', '?')}")
        lines += [f"  {text}" for text in str(body.get("detail", "")).splitlines()]
    return lines


def summarize(lines: Iterable[str]) -> StreamSummary:
    summary = StreamSummary()
    for line in lines:
        message = parse_line(line)
        if message is not None:
            summary.add(message)
    return summary


def parse_lock_info(text: str) -> LockInfo | None:
    """The "Lock Info:" block of the lock diagnostic's detail."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() != "Lock Info:":
            continue
        fields: dict[str, str] = {}
        for following in lines[index + 1:]:
            match = _LOCK_FIELD.match(following)
            if not match:
                break
            fields[match.group(1)] = match.group(2).strip()
        if fields.get("ID"):
            return lock_from_fields(fields)
    return None


def lock_from_fields(fields: dict[str, str]) -> LockInfo:
    return LockInfo(id=fields.get("ID", ""), operation=fields.get("Operation", ""), who=fields.get("Who", ""),
                    version=fields.get("Version", ""), created=fields.get("Created", ""), path=fields.get("Path", ""))
