"""``scaffold version``: this client's version and, when a server is configured, the server's."""

from __future__ import annotations

import platform

import click

from scaffold import __version__
from scaffold.commands.client import Api, CliError, client_command, connection, fail
from scaffold.commands.output import emit, output_option


@click.command("version")
@output_option
@client_command
def command(output: str) -> None:
    """Print the client's version and, when a server is configured, the server's (GET
    /api/v1/version needs no token). Exits 6 if the configured server cannot be reached."""
    conn = connection()
    result: dict[str, object] = {
        "client": {"version": __version__, "python": platform.python_version()},
        "server": None,
    }
    problem = None
    if conn.server:
        try:
            with Api(conn, need_token=False) as api:
                result["server"] = {"url": conn.server, **api.get("/version")}
        except CliError as exc:
            problem = exc
    if output != "table":
        emit(result, output)
    else:
        click.echo(f"client: scaffold {__version__} (python {platform.python_version()})")
        server = result["server"]
        if isinstance(server, dict):
            click.echo(f"server: scaffold {server['version']} at {conn.server} (python {server['python']})")
        elif not conn.server:
            click.echo("server: not configured (run `scaffold configure`)")
    if problem is not None:
        fail(problem)
