"""The project's exception family and the exit codes the CLI maps them to."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1  # a runtime failure: Terraform failed, AWS refused, a file could not be written
EXIT_INVALID = 2  # invalid configuration or usage; nothing was changed
# `plan --fail-on-danger`: every plan succeeded, but one destroys or replaces a stateful resource. Its
# own code, so CI can tell "needs a careful human review" from "broken".
EXIT_DANGER = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about the configuration, located as precisely as the parser allows."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ToolError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = EXIT_FAILURE


class ConfigError(ToolError):
    """The configuration breaks one or more rules. Carries every problem found, not just the first."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(ToolError):
    """The command line asks for something that cannot be done (an unknown environment, say)."""

    exit_code = EXIT_INVALID


class DangerError(ToolError):
    """Plans succeeded, but the review raised a danger flag and the command was asked to fail on it."""

    exit_code = EXIT_DANGER


class GeneratedFileConflict(ToolError):
    """A file the generator would write exists but was not written by the generator."""

    exit_code = EXIT_INVALID
