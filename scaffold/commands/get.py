"""``scaffold get KIND [NAME]``: list objects of one kind, or show one, as a table, JSON or YAML."""

from __future__ import annotations

import click

from scaffold.commands.client import cascade_or_context, client_command, open_api
from scaffold.commands.output import output_option, print_table, show

KIND_NAMES = [
    "cascades",
    "tasks",
    "runs",
    "waves",
    "inputs",
    "values",
    "files",
    "users",
    "tokens",
    "nodes",
    "webhooks",
]


@click.command("get")
@click.argument("kind", type=click.Choice(KIND_NAMES), metavar="KIND")
@click.argument("name", required=False)
@click.option(
    "--cascade",
    "-c",
    metavar="CASCADE",
    help="The cascade of tasks, runs, waves, inputs, values, files and webhooks "
    "[default: the one set with `scaffold context`].",
)
@output_option
@client_command
def command(kind: str, name: str | None, cascade: str | None, output: str) -> None:
    """List the objects of KIND, or show the one called NAME.

    KIND is one of: cascades, tasks, runs, waves, inputs, values, files, users, tokens, nodes,
    webhooks. For runs, NAME is a task: its run history (without NAME: the runs of the latest
    wave). Values show their text; inputs of type password always show ********.
    """
    from scaffold.commands.resources import KINDS, fetch, token_columns

    spec = KINDS[kind]
    with open_api() as api:
        where = cascade_or_context(cascade, api.conn) if spec.per_cascade else None
        data = fetch(spec, api, where, name)
        columns = token_columns(api.conn.token_id) if kind == "tokens" else spec.columns
    rows = data if isinstance(data, list) else [data]
    show(data, output, lambda: print_table(rows, columns, empty=f"no {kind}"))
