"""The ``scaffold`` command. Sub-commands live in ``scaffold.commands.<name>`` and are imported only
when invoked, so that ``scaffold --help`` and ``scaffold validate`` answer fast (no SQLAlchemy or
Docker SDK import on those paths)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click

from scaffold import __version__

# name -> (module, short help). Each module defines ``command``, a click.Command.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("scaffold.commands.validate", "Check cascade files and report every error."),
    "run": ("scaffold.commands.run", "Run a cascade standalone, without a server."),
    "serve": ("scaffold.commands.serve", "Run the server: API, engine and local executor."),
    # client commands: they talk to a server over its API (docs/cli.md#client-commands)
    "configure": ("scaffold.commands.configure", "Log in to a server and save the profile."),
    "context": ("scaffold.commands.context", "Show or set the default cascade of the profile."),
    "version": ("scaffold.commands.version", "Print the client's and the server's version."),
    "apply": ("scaffold.commands.apply", "Create or update a cascade from its file."),
    "delete": ("scaffold.commands.delete", "Delete a cascade and its history."),
    "get": ("scaffold.commands.get", "List cascades, tasks, runs, inputs, users... or show one."),
    "describe": ("scaffold.commands.describe", "Show a cascade, task or run in detail."),
    "start": ("scaffold.commands.start", "Start a cascade or one task (preview, confirm, follow)."),
    "kill": ("scaffold.commands.kill", "Kill a waiting or running task."),
    "logs": ("scaffold.commands.logs", "Print a run's log; follow it with -f."),
    "exec": ("scaffold.commands.exec", "Open a shell in a task's container."),
    "inputs": ("scaffold.commands.inputs", "Set a cascade's input values."),
    "values": ("scaffold.commands.values", "Read or write datastore values."),
    "files": ("scaffold.commands.files", "Upload, download or delete datastore files."),
    "tokens": ("scaffold.commands.tokens", "Create, list and revoke API tokens."),
    "users": ("scaffold.commands.users", "Manage users (admins)."),
}
LOCAL = {"validate", "run", "serve"}  # the commands that need no server


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        local = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx) if name in LOCAL]
        client = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx) if name not in LOCAL]
        with formatter.section("Commands"):
            formatter.write_dl(local)
        with formatter.section("Client commands (they talk to a server: see `scaffold configure`)"):
            formatter.write_dl(client)


def _remember(key: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    """Keep a group option for the client commands (they read ``ctx.meta``)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.meta[key] = value

    return callback


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scaffold")
@click.option(
    "--profile",
    "-p",
    metavar="NAME",
    expose_value=False,
    callback=_remember("scaffold.profile"),
    help="Client commands: the profile to use [env: SCAFFOLD_PROFILE].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    metavar="LEVEL",
    expose_value=False,
    callback=_remember("scaffold.log_level"),
    help="Client commands: debug, info, warning or error diagnostics on stderr [env: SCAFFOLD_LOG_LEVEL].",
)
def main() -> None:
    """Scaffold runs infrastructure changes as cascades: DAGs of tasks in containers whose state
    flows down like a waterfall."""
