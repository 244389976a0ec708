"""The ``scaffold`` command. Sub-commands live in ``scaffold.commands.<name>`` and are imported only
when invoked, so that ``scaffold --help`` and ``scaffold validate`` answer fast (no SQLAlchemy or
Docker SDK import on those paths)."""

from __future__ import annotations

import importlib

import click

from scaffold import __version__

# name -> (module, short help). Each module defines ``command``, a click.Command.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("scaffold.commands.validate", "Check cascade files and report every error."),
    "run": ("scaffold.commands.run", "Run a cascade standalone, without a server."),
    "serve": ("scaffold.commands.serve", "Run the server: API, engine and local executor."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scaffold")
def main() -> None:
    """Scaffold runs infrastructure changes as cascades: DAGs of tasks in containers whose state
    flows down like a waterfall."""
