"""``scaffold tokens create|list|revoke``: API tokens for scripts, CI and other machines."""

from __future__ import annotations

import click

from scaffold.commands.client import client_command, open_api, seg
from scaffold.commands.output import emit, note, output_option, print_table, when


@click.group("tokens")
def command() -> None:
    """Create, list and revoke API tokens. A token is shown once, when it is created."""


@command.command("create", short_help="Create a token and print it (only this once).")
@click.argument("name")
@click.option(
    "--expires-in-days", type=click.FloatRange(min=0, min_open=True, max=3650), help="Let it expire."
)
@click.option("--user", metavar="USERNAME", help="Admins: create it for this user [default: yourself].")
@output_option
@client_command
def create(name: str, expires_in_days: float | None, user: str | None, output: str) -> None:
    """Create an API token called NAME and print it (only now: the server keeps a hash).

    The token alone goes to stdout, so that `TOKEN=$(scaffold tokens create ci)` works; the rest
    goes to stderr.
    """
    body: dict[str, object] = {"name": name}
    if expires_in_days:
        body["expires_in_days"] = expires_in_days
    if user:
        body["username"] = user
    with open_api() as api:
        token = api.post("/tokens", json=body)
    if output != "table":
        emit(token, output)
        return
    expires = "never expires" if token["expires_at"] is None else f"expires {when(token['expires_at'])}"
    note(f"created token '{token['name']}' (id {token['id']}) for {token['username']}; it {expires}")
    note("copy it now: it cannot be shown again")
    click.echo(token["token"])


@command.command("list", short_help="List tokens; * marks the one in use.")
@click.option("--all", "everyone", is_flag=True, help="Admins: every user's tokens.")
@click.option("--user", metavar="USERNAME", help="Admins: this user's tokens.")
@output_option
@client_command
def list_tokens(everyone: bool, user: str | None, output: str) -> None:
    """List your API tokens (newest first), including revoked and expired ones. The token this
    client uses is marked with *."""
    from scaffold.commands.resources import token_columns

    params: dict[str, object] = {"all": "true"} if everyone else {}
    if user:
        params["username"] = user
    with open_api() as api:
        tokens = api.get("/tokens", params=params)
        current = api.conn.token_id
    if output != "table":
        emit(tokens, output)
    else:
        print_table(tokens, token_columns(current), empty="no tokens")


@command.command("revoke", short_help="Revoke tokens by id.")
@click.argument("token_ids", nargs=-1, required=True, metavar="ID...")
@output_option
@client_command
def revoke(token_ids: tuple[str, ...], output: str) -> None:
    """Revoke tokens by id (see `scaffold tokens list`). They stop working at once. Admins may
    revoke anyone's."""
    with open_api() as api:
        for token_id in token_ids:
            api.delete(f"/tokens/{seg(token_id)}")
            if output == "table":
                click.echo(f"revoked token {token_id}")
    if output != "table":
        emit({"revoked": list(token_ids)}, output)
