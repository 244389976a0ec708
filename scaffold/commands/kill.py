"""``scaffold kill CASCADE TASK``: stop a waiting or running task."""

from __future__ import annotations

import click

from scaffold.commands.client import client_command, open_api, seg
from scaffold.commands.output import emit, output_option


@click.command("kill")
@click.argument("cascade")
@click.argument("task")
@output_option
@client_command
def command(cascade: str, task: str, output: str) -> None:
    """Kill TASK of CASCADE: a waiting task is taken off the queue, a running one gets SIGTERM,
    then SIGKILL after the server's grace period. Answers once it has stopped. Exits 5 when the
    task is neither waiting nor running."""
    with open_api() as api:
        result = api.post(f"/cascades/{seg(cascade)}/tasks/{seg(task)}/kill", timeout=300)
    if output != "table":
        emit(result, output)
    else:
        reason = f" ({result['reason']})" if result.get("reason") else ""
        click.echo(f"{cascade}/{task}: {result['display']}{reason}")
