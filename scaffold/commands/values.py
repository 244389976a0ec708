"""``scaffold values get|set CASCADE KEY``: the datastore's env values (not for secrets: they are
stored as they are)."""

from __future__ import annotations

import base64
import sys

import click

from scaffold.commands.client import client_command, open_api, seg
from scaffold.commands.output import emit, output_option


@click.group("values")
def command() -> None:
    """Read or write a cascade's datastore values (list them with `scaffold get values`)."""


@command.command("get", short_help="Print a value, byte for byte.")
@click.argument("cascade")
@click.argument("key")
@output_option
@client_command
def get_value(cascade: str, key: str, output: str) -> None:
    """Print the current value of KEY, byte for byte (no newline is added)."""
    with open_api() as api:
        value = api.get(f"/cascades/{seg(cascade)}/values/{seg(key)}")
    if output != "table":
        emit(value, output)
        return
    sys.stdout.buffer.write(base64.b64decode(value["base64"]))
    sys.stdout.flush()


@command.command("set", short_help="Set a value from an argument or standard input.")
@click.argument("cascade")
@click.argument("key")
@click.argument("value", required=False)
@output_option
@client_command
def set_value(cascade: str, key: str, value: str | None, output: str) -> None:
    """Set KEY to VALUE, or to all of standard input without VALUE (binary is fine). The previous
    value is kept as an older version."""
    if value is None:
        body = {"base64": base64.b64encode(sys.stdin.buffer.read()).decode("ascii")}
    else:
        body = {"text": value}
    with open_api() as api:
        result = api.put(f"/cascades/{seg(cascade)}/values/{seg(key)}", json=body)
    if output != "table":
        emit(result, output)
    else:
        click.echo(f"{cascade}: {key} = version {result['version']} ({result['size']} bytes)")
