"""docs/cli.md shows the real ``--help`` of every command (as a terminal 80 columns wide shows it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaffold.cli import COMMANDS, main

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"```text\n\$ scaffold ((?:[a-z]+ )*)--help\n(.*?)```", re.S)


def _blocks() -> dict[str, str]:
    return {m.group(1).strip(): m.group(2) for m in BLOCK.finditer(DOC.read_text())}


def _help(command: str) -> str:
    # click wraps at the terminal's width minus 2, at most 78: COLUMNS=80 in a real terminal
    result = CliRunner().invoke(main, [*command.split(), "--help"], terminal_width=78, prog_name="scaffold")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", sorted(_blocks()))
def test_documented_help_matches(command: str):
    assert _blocks()[command] == _help(command)


def test_every_command_and_subcommand_is_documented():
    expected = {""} | set(COMMANDS)
    for name in COMMANDS:
        command = main.get_command(None, name)  # type: ignore[arg-type]
        for sub in getattr(command, "commands", {}):
            expected.add(f"{name} {sub}")
    missing = sorted(expected - set(_blocks()))
    assert missing == []
