"""``scaffold serve``: the API server with the engine and the local executor."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from scaffold.config import DOCS
from scaffold.errors import ScaffoldError

SETTINGS_HELP = "\n".join(f"  SCAFFOLD_{name.upper():<20} {text}" for name, text in DOCS.items())


@click.command(
    "serve",
    epilog="Every setting can also come from <data dir>/config.toml (or $SCAFFOLD_CONFIG) or an "
    "environment variable:\n\n\b\n" + SETTINGS_HELP,
)
@click.option("--host", help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [default: 2997].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where state is kept [default: ~/.local/share/scaffold].",
)
@click.option(
    "--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate: serve HTTPS."
)
@click.option(
    "--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key for --tls-cert."
)
@click.option("--examples", is_flag=True, help="Apply the bundled example cascades on start.")
@click.option(
    "--executor", type=click.Choice(["docker", "process"]), help="Where tasks run [default: docker]."
)
@click.option("--max-running", type=int, help="How many tasks may run at once [default: 8].")
def command(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    tls_cert: str | None,
    tls_key: str | None,
    examples: bool,
    executor: str | None,
    max_running: int | None,
) -> None:
    """Run the Scaffold server: the API, the engine and the local executor in one process.

    On the first start it creates the user 'admin' and prints a one-time password (or uses
    SCAFFOLD_ADMIN_PASSWORD). Ctrl-C stops the server; running tasks keep running in Docker and are
    adopted on the next start.
    """
    from scaffold.config import load_settings
    from scaffold.web.server import serve

    try:
        settings = load_settings(
            {
                "host": host,
                "port": port,
                "data_dir": data_dir,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
                "executor": executor,
                "max_running": max_running,
            }
        )
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise click.UsageError("--tls-cert and --tls-key go together")
        asyncio.run(serve(settings, examples=examples))
    except ScaffoldError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        pass
