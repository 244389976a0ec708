"""``scaffold files upload|download|delete CASCADE NAME [PATH]``: the datastore's files."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from scaffold.commands.client import EXIT_USAGE, CliError, client_command, open_api, seg
from scaffold.commands.confirm import confirm, yes_option
from scaffold.commands.output import emit, output_option, size


@click.group("files")
def command() -> None:
    """Upload, download or delete a cascade's datastore files (list them with `scaffold get files`)."""


@command.command("upload", short_help="Upload a file (a new version).")
@click.argument("cascade")
@click.argument("name")
@click.argument("path", required=False, metavar="[PATH]")
@click.option("--content-type", metavar="TYPE", help="Record this type [default: guessed from NAME].")
@output_option
@client_command
def upload(cascade: str, name: str, path: str | None, content_type: str | None, output: str) -> None:
    """Upload PATH (default: ./NAME; '-' reads standard input) as the file NAME of CASCADE. The
    previous content is kept as an older version."""
    source = path or name
    kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {"Content-Type": kind}
    try:
        if source == "-":
            body: Any = sys.stdin.buffer.read()
        else:  # streamed from the file, never read whole into memory
            body = open(source, "rb")  # noqa: SIM115 - closed below
            headers["Content-Length"] = str(os.fstat(body.fileno()).st_size)
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        with open_api() as api:
            result = api.put(f"/cascades/{seg(cascade)}/files/{seg(name)}", content=body, headers=headers)
    finally:
        if hasattr(body, "close"):
            body.close()
    if output != "table":
        emit(result, output)
    else:
        click.echo(
            f"{cascade}: uploaded {name}, version {result['version']} ({size(result['size'])}, {kind})"
        )


@command.command("download", short_help="Download a file's current version.")
@click.argument("cascade")
@click.argument("name")
@click.argument("path", required=False, metavar="[PATH]")
@client_command
def download(cascade: str, name: str, path: str | None) -> None:
    """Download the current version of the file NAME of CASCADE to PATH (default: ./NAME; '-'
    writes to standard output). An existing PATH is replaced."""
    target = path or name
    with open_api() as api, api.stream("GET", f"/cascades/{seg(cascade)}/files/{seg(name)}") as response:
        if target == "-":
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return
        destination = Path(target) / name if Path(target).is_dir() else Path(target)
        written = _save(destination, response.iter_bytes())
    click.echo(
        f"{cascade}: downloaded {name}, version {response.headers.get('x-scaffold-version')} "
        f"({size(written)}) to {destination}",
        err=True,
    )


def _save(target: Path, chunks: Iterable[bytes]) -> int:
    """Write to a temporary file next to ``target``, then rename: no half-written file is left."""
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    written = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@command.command("delete", short_help="Delete a file (its versions stay).")
@click.argument("cascade")
@click.argument("name")
@yes_option
@output_option
@client_command
def delete(cascade: str, name: str, yes: bool, output: str) -> None:
    """Delete the file NAME of CASCADE (its versions stay). Asks first (--yes for scripts)."""
    with open_api() as api:
        confirm(f"Delete file '{name}' of '{cascade}'?", yes, "nothing was deleted")
        api.delete(f"/cascades/{seg(cascade)}/files/{seg(name)}")
    if output != "table":
        emit({"cascade": cascade, "file": name, "deleted": True}, output)
    else:
        click.echo(f"{cascade}: deleted {name}")
