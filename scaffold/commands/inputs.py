"""``scaffold inputs set CASCADE NAME=VALUE...``: set input values; password inputs are asked
without echo when no value is given, and never printed."""

from __future__ import annotations

import sys

import click

from scaffold.commands.client import EXIT_NOT_FOUND, EXIT_USAGE, CliError, client_command, open_api, seg
from scaffold.commands.output import emit, output_option, print_table


@click.group("inputs")
def command() -> None:
    """Set a cascade's input values (list them with `scaffold get inputs`)."""


@command.command("set", short_help="Set input values (password inputs asked without echo).")
@click.argument("cascade")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME[=VALUE]...")
@output_option
@client_command
def set_inputs(cascade: str, assignments: tuple[str, ...], output: str) -> None:
    """Set inputs of CASCADE. Tasks that read a changed input, and everything downstream of them,
    are reset (nothing starts).

    A NAME without =VALUE is asked for on the terminal -- without echo for password inputs -- or
    read as one line from standard input when it is not a terminal. Password values are never
    printed: they read back as ********.
    """
    with open_api() as api:
        base = f"/cascades/{seg(cascade)}/inputs"
        declared = {i["name"]: i for i in api.get(base)}
        values: dict[str, str] = {}
        for item in assignments:
            name, sep, value = item.partition("=")
            if name not in declared:
                known = ", ".join(declared) or "none"
                raise CliError(f"'{cascade}' has no input '{name}' (inputs: {known})", EXIT_NOT_FOUND)
            values[name] = value if sep else _ask(name, declared[name]["type"] == "password")
        result = api.put(base, json={"values": values})
    if output != "table":
        emit(result, output)
        return
    click.echo(
        f"set {len(values)} input{'s' if len(values) != 1 else ''} of '{cascade}': {', '.join(values)}"
    )
    click.echo(f"reset: {', '.join(result['reset']) or 'nothing'}")
    from scaffold.commands.resources import INPUT_COLUMNS

    print_table([i for i in result["inputs"] if i["name"] in values], INPUT_COLUMNS)


def _ask(name: str, secret: bool) -> str:
    if sys.stdin.isatty():
        return click.prompt(name, hide_input=secret, prompt_suffix=": ", default="", show_default=False)
    line = sys.stdin.readline()
    if not line:
        raise CliError(f"no value for {name}: give NAME=VALUE, or a line on standard input", EXIT_USAGE)
    return line.rstrip("\r\n")
