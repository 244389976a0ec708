"""``scaffold delete CASCADE``: delete a cascade with its history, after confirmation."""

from __future__ import annotations

import click

from scaffold.commands.client import client_command, open_api, seg
from scaffold.commands.confirm import confirm, yes_option
from scaffold.commands.output import emit, output_option


@click.command("delete")
@click.argument("cascade")
@yes_option
@output_option
@client_command
def command(cascade: str, yes: bool, output: str) -> None:
    """Delete CASCADE with its runs, logs, datastore and webhooks.

    Asks first (--yes for scripts). A cascade with a waiting or running task cannot be deleted
    (exit code 5): kill its tasks or wait.
    """
    with open_api() as api:
        api.get(f"/cascades/{seg(cascade)}")  # 404 before asking about a cascade that isn't there
        confirm(f"Delete cascade '{cascade}' and all its history?", yes, "nothing was deleted")
        api.delete(f"/cascades/{seg(cascade)}")
    if output != "table":
        emit({"cascade": cascade, "deleted": True}, output)
    else:
        click.echo(f"deleted cascade '{cascade}'")
