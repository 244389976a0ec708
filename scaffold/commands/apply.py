"""``scaffold apply -f FILE``: send a cascade file to the server; print what changed, or every
problem of an invalid file with its line and column."""

from __future__ import annotations

import sys

import click

from scaffold.commands.client import EXIT_USAGE, CliError, client_command, open_api
from scaffold.commands.output import emit, output_option


@click.command("apply")
@click.option(
    "--file",
    "-f",
    "path",
    required=True,
    metavar="FILE",
    help="The cascade file (YAML or JSON); '-' reads standard input.",
)
@output_option
@client_command
def command(path: str, output: str) -> None:
    """Create or update the cascade defined in FILE.

    An update changes the cascade in place: changed tasks and everything downstream of them are
    reset, and the summary lists each change. An invalid file changes nothing: every problem is
    printed on stderr as FILE:LINE:COL: PATH: MESSAGE, and the exit code is 2.
    """
    name = "<stdin>" if path == "-" else path
    data = _read(path)
    content_type = "application/json" if name.endswith(".json") else "application/yaml"
    with open_api() as api:
        try:
            result = api.post("/cascades", content=data, headers={"Content-Type": content_type})
        except CliError as exc:
            if exc.code == "validation_failed":
                _problems(name, exc)
            raise
    if output != "table":
        emit(result, output)
        return
    changes = result["changes"]
    if result["created"]:
        click.echo(f"created cascade '{result['cascade']}' (version {result['version']})")
    elif changes["summary"] == ["no changes"]:
        click.echo(f"cascade '{result['cascade']}' is unchanged (version {result['version']})")
        return
    else:
        click.echo(f"updated cascade '{result['cascade']}' to version {result['version']}")
    for line in changes["summary"]:
        click.echo(f"  {line}")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE) from None


def _problems(name: str, exc: CliError) -> None:
    """Every problem of an invalid file, in the compiler style of `scaffold validate`."""
    count = len(exc.details)
    exc.message = f"{name}: {count} problem{'s' if count != 1 else ''}; nothing was applied"
    for p in exc.details:
        where = f"{name}:{p.get('line')}:{p.get('col')}: "
        click.echo(
            where + (f"{p['path']}: {p['message']}" if p.get("path") else str(p.get("message"))), err=True
        )
