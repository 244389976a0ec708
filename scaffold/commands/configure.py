"""``scaffold configure``: log in once with a password, keep an API token for the next commands."""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path

import click

from scaffold.commands.client import (
    EXIT_USAGE,
    Api,
    CliError,
    client_command,
    profile_option_value,
)
from scaffold.commands.output import emit, note, output_option
from scaffold.commands.profiles import (
    Connection,
    config_path,
    creds_path,
    normalize_server,
    profile_name,
    read_file,
    save_token,
    update_profile,
)


def read_secret(prompt: str, from_stdin: bool, *, confirm: bool = False) -> str:
    """A secret from standard input (a script) or asked on the terminal without echo."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, prompt_suffix=": ")
    else:
        raise CliError(
            f"no terminal to ask for the {prompt.lower()}: pipe it in with --password-stdin", EXIT_USAGE
        )
    if not value:
        raise CliError(f"the {prompt.lower()} is empty", EXIT_USAGE)
    return value


@click.command("configure")
@click.option(
    "--server",
    "-s",
    metavar="URL",
    prompt="Server URL",
    help="The server, e.g. https://scaffold.example.com.",
)
@click.option("--username", "-u", metavar="NAME", prompt="Username", help="Your username on that server.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (scripts).")
@click.option(
    "--insecure", is_flag=True, help="Do not check the server's TLS certificate (self-signed test servers)."
)
@click.option(
    "--ca-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust the server's certificate through this PEM CA bundle.",
)
@click.option(
    "--token-name",
    metavar="NAME",
    help="The name of the API token to create [default: scaffold-cli@HOSTNAME].",
)
@click.option("--expires-in-days", type=click.FloatRange(min=0, min_open=True), help="Let the token expire.")
@output_option
@client_command
def command(
    server: str,
    username: str,
    password_stdin: bool,
    insecure: bool,
    ca_cert: Path | None,
    token_name: str | None,
    expires_in_days: float | None,
    output: str,
) -> None:
    """Log in to a Scaffold server and save the profile.

    Asks for the password (without echo; --password-stdin reads it from standard input), creates
    an API token with it, and saves the server in ~/.scaffold/config and the token in
    ~/.scaffold/creds (mode 0600). The password itself is not stored. Configuring a profile again
    replaces its token and revokes the old one.
    """
    if insecure and ca_cert:
        raise CliError("--insecure and --ca-cert exclude each other", EXIT_USAGE)
    name = profile_name(profile_option_value())
    url = normalize_server(server)
    previous_server = read_file(config_path()).get(name, {}).get("server")
    password = read_secret("Password", password_stdin)
    ca = str(ca_cert.resolve()) if ca_cert else None
    conn = Connection(name, url, None, "none", not insecure, ca, None, username)
    body: dict[str, object] = {"name": (token_name or f"scaffold-cli@{socket.gethostname()}")[:100]}
    if expires_in_days:
        body["expires_in_days"] = expires_in_days
    with Api(conn, need_token=False) as api:
        created = api.post("/tokens", json=body, auth=(username, password))
    conn.token, conn.token_source = created["token"], "creds"
    with Api(conn) as api:
        me = api.get("/me")
        revoked = _revoke_previous(api, name, previous_server, created["id"])
    update_profile(
        name,
        server=url,
        username=me["username"],
        verify=not insecure,
        ca_cert=ca,
        **({"cascade": None} if previous_server and previous_server != url else {}),
    )
    save_token(name, created["token"], created["id"])
    result = {
        "profile": name,
        "server": url,
        "username": me["username"],
        "role": me["role"],
        "token_id": created["id"],
        "token_name": created["name"],
        "expires_at": created["expires_at"],
        "revoked_previous": revoked,
    }
    if output != "table":
        emit(result, output)
        return
    click.echo(f"profile '{name}': {me['username']} (role {me['role']}) at {url}")
    note(f"saved API token '{created['name']}' (id {created['id']}) in {creds_path()}")
    if revoked:
        note(f"revoked the profile's previous token {revoked}")


def _revoke_previous(api: Api, name: str, old_server: str | None, new_id: str) -> str | None:
    """Revoke the token this profile had before, when it was for the same server (best effort)."""
    old_id = read_file(creds_path()).get(name, {}).get("token_id")
    if not old_id or old_id == new_id or old_server is None:
        return None
    if normalize_server(old_server) != api.conn.server:
        return None
    with contextlib.suppress(CliError):
        api.delete(f"/tokens/{old_id}")
        return str(old_id)
    return None
