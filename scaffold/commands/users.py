"""``scaffold users list|create|update|delete``: people and their roles (admins)."""

from __future__ import annotations

from typing import Any

import click

from scaffold.commands.client import EXIT_USAGE, CliError, client_command, open_api, seg
from scaffold.commands.configure import read_secret
from scaffold.commands.confirm import confirm, yes_option
from scaffold.commands.output import emit, output_option, print_table

ROLES = click.Choice(["read", "write", "admin"])


@click.group("users")
def command() -> None:
    """Manage users: their role (read < write < admin), groups and password. Admins only."""


def _show(users: list[dict[str, Any]], output: str) -> None:
    from scaffold.commands.resources import USER_COLUMNS

    if output != "table":
        emit(users if len(users) != 1 else users[0], output)
    else:
        print_table(users, USER_COLUMNS, empty="no users")


@command.command("list", short_help="List every user.")
@output_option
@client_command
def list_users(output: str) -> None:
    """List every user."""
    with open_api() as api:
        users = api.get("/users")
    if output != "table":
        emit(users, output)
    else:
        _show(users, output)


@command.command("create", short_help="Create a user.")
@click.argument("username")
@click.option("--role", type=ROLES, default="read", show_default=True, help="What the user may do.")
@click.option(
    "--group", "groups", multiple=True, metavar="GROUP", help="A group the user is in (repeatable)."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="No password: the user cannot log in (tokens only).")
@output_option
@client_command
def create(
    username: str, role: str, groups: tuple[str, ...], password_stdin: bool, no_password: bool, output: str
) -> None:
    """Create the user USERNAME. The password (8 characters or more) is asked twice without echo,
    or read from standard input with --password-stdin."""
    if password_stdin and no_password:
        raise CliError("--password-stdin and --no-password exclude each other", EXIT_USAGE)
    body: dict[str, Any] = {"username": username, "role": role, "groups": list(groups)}
    if not no_password:
        body["password"] = read_secret("Password", password_stdin, confirm=True)
    with open_api() as api:
        user = api.post("/users", json=body)
    _show([user], output)


@command.command("update", short_help="Change a user's role, groups, password or state.")
@click.argument("username")
@click.option("--role", type=ROLES, help="A new role.")
@click.option("--group", "groups", multiple=True, metavar="GROUP", help="Replace the groups (repeatable).")
@click.option("--no-groups", is_flag=True, help="Remove the user from every group.")
@click.option(
    "--disable/--enable",
    "disabled",
    default=None,
    help="Refuse (or allow again) the user's logins and tokens.",
)
@click.option(
    "--password", "new_password", is_flag=True, help="Set a new password (asked twice without echo)."
)
@click.option("--password-stdin", is_flag=True, help="Set a new password read from standard input.")
@output_option
@client_command
def update(
    username: str,
    role: str | None,
    groups: tuple[str, ...],
    no_groups: bool,
    disabled: bool | None,
    new_password: bool,
    password_stdin: bool,
    output: str,
) -> None:
    """Change USERNAME's role, groups, password, or disable the user. Disabling or setting a
    password ends the user's browser sessions; disabling also refuses their tokens."""
    if groups and no_groups:
        raise CliError("--group and --no-groups exclude each other", EXIT_USAGE)
    body: dict[str, Any] = {}
    if role:
        body["role"] = role
    if groups or no_groups:
        body["groups"] = list(groups)
    if disabled is not None:
        body["disabled"] = disabled
    if new_password or password_stdin:
        body["password"] = read_secret("New password", password_stdin, confirm=True)
    if not body:
        raise CliError(
            "nothing to change: give --role, --group, --no-groups, --disable, --enable or --password",
            EXIT_USAGE,
        )
    with open_api() as api:
        user = api.patch(f"/users/{seg(username)}", json=body)
    _show([user], output)


@command.command("delete", short_help="Delete a user with their tokens.")
@click.argument("username")
@yes_option
@output_option
@client_command
def delete(username: str, yes: bool, output: str) -> None:
    """Delete USERNAME with their tokens and sessions (their name stays in run records and the
    audit log). Asks first (--yes for scripts)."""
    with open_api() as api:
        api.get(f"/users/{seg(username)}")
        confirm(f"Delete user '{username}'?", yes, "nothing was deleted")
        api.delete(f"/users/{seg(username)}")
    if output != "table":
        emit({"username": username, "deleted": True}, output)
    else:
        click.echo(f"deleted user '{username}'")
