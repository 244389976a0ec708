"""``scaffold context [CASCADE]``: the default cascade of the profile, for commands that take one."""

from __future__ import annotations

import click

from scaffold.commands.client import Api, client_command, connection, seg
from scaffold.commands.output import emit, output_option
from scaffold.commands.profiles import update_profile


@click.command("context")
@click.argument("cascade", required=False)
@click.option("--unset", is_flag=True, help="Forget the default cascade.")
@output_option
@client_command
def command(cascade: str | None, unset: bool, output: str) -> None:
    """Show the profile's default cascade, or set it to CASCADE (which must exist on the server).

    `get`, `describe` and `start` use it when no cascade is named.
    """
    conn = connection()
    if unset:
        update_profile(conn.profile, cascade=None)
        conn.cascade = None
    elif cascade:
        with Api(conn) as api:
            api.get(f"/cascades/{seg(cascade)}")  # 404 for a cascade that does not exist
        update_profile(conn.profile, cascade=cascade)
        conn.cascade = cascade
    if output != "table":
        emit({"profile": conn.profile, "server": conn.server, "cascade": conn.cascade}, output)
    elif conn.cascade:
        click.echo(f"profile '{conn.profile}': default cascade '{conn.cascade}'")
    else:
        click.echo(f"profile '{conn.profile}': no default cascade")
