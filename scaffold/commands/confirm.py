"""Asking before a change: a terminal prompt, ``--yes`` for scripts, and a clear refusal when
there is nobody to ask."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from scaffold.commands.client import EXIT_DECLINED, EXIT_USAGE, CliError


def confirm(question: str, yes: bool, declined: str) -> None:
    """Return if the change may go ahead; raise otherwise (exit 1 when declined, 2 without a terminal)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{declined}: there is no terminal to ask for confirmation; add --yes", EXIT_USAGE)
    if not click.confirm(question, default=False, err=True):
        raise CliError(declined, EXIT_DECLINED)


def yes_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (scripts).")(func)
