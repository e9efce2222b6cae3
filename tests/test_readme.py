"""The README's CLI reference against the CLI itself: every flag it lists exists on that command, every
flag a command has is listed, and the defaults it states are the code's."""

from __future__ import annotations

import re

import click
import pytest

from conftest import ROOT

from generators.cli.main import cli
from generators.run.model import DEFAULT_JOBS, DEFAULT_LOCK_TIMEOUT

pytestmark = pytest.mark.fast

README = (ROOT / "README.md").read_text(encoding="utf-8")
FLAG = re.compile(r"--[a-z][a-z-]*")


def commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    context = click.Context(group)
    for name in group.list_commands(context):  # what --help lists, commands imported when asked for included
        command = group.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from commands(command, prefix + (name,))
        else:
            yield " ".join(prefix + (name,)), command


def flags_of(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")}


def documented() -> dict[str, set[str]]:
    """Each command of the CLI reference table, with the flags its synopsis shows."""
    section = README.split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    found: dict[str, set[str]] = {}
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = row.split(" | ", 1)[0]
        for synopsis in re.findall(r"`([^`]+)`", first_cell):
            words = re.match(r"[a-z][a-z ]*?(?= [A-Z\[-]|$)", synopsis.replace("\\|", "|"))
            assert words, f"cannot read the command of {synopsis!r}"
            found[words.group(0).strip()] = set(FLAG.findall(synopsis))
    return found


def test_every_command_is_in_the_cli_reference():
    assert sorted(documented()) == sorted(name for name, _ in commands())


@pytest.mark.parametrize("name,command", list(commands()), ids=[name for name, _ in commands()])
def test_the_cli_reference_lists_exactly_each_commands_flags(name, command):
    assert documented()[name] == flags_of(command) - {"--help"}


def test_the_global_options_are_the_synopsis():
    synopsis = README.split("## CLI reference", 1)[1].split("```", 2)[1]
    assert set(FLAG.findall(synopsis)) == flags_of(cli) - {"--help"}


def test_the_stated_defaults_are_the_codes():
    assert f"`--jobs` runs {DEFAULT_JOBS} workspaces at a time" in README
    assert f"`--lock-timeout` waits {DEFAULT_LOCK_TIMEOUT} seconds" in README
