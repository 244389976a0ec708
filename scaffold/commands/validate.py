"""``scaffold validate FILE...``: check cascade files offline and report every problem.

Text output is one line per problem, ``FILE:LINE:COL: PATH: MESSAGE`` (the compiler style that
editors and grep understand), then ``FILE: N problems`` or ``FILE: ok (N tasks)``.
``--output json`` prints one document: ``{"ok": bool, "files": [{"file", "ok", "tasks",
"problems": [{"line", "col", "path", "message"}], "error"}]}``.

Exit status: 0 when every file is valid, 1 when any file has problems, 2 when a file cannot be
read (or the command line is wrong).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scaffold.engine.spec import SpecInvalid, parse_cascade


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def _check(path: str, require_image: bool) -> dict[str, Any]:
    """One file's report: ok, tasks, problems, or error (the file could not be read)."""
    name = "<stdin>" if path == "-" else path
    report: dict[str, Any] = {"file": name, "ok": False, "tasks": None, "problems": [], "error": None}
    try:
        data = _read(path)
    except OSError as exc:
        report["error"] = f"cannot read: {exc.strerror or exc}"
        return report
    try:
        spec = parse_cascade(data, name, require_image=require_image)
    except SpecInvalid as exc:
        report["problems"] = [p.to_dict() for p in exc.problems]
        return report
    report.update(ok=True, tasks=len(spec.tasks))
    return report


def _print_text(report: dict[str, Any]) -> None:
    path = report["file"]
    if report["error"]:
        click.echo(f"{path}: {report['error']}", err=True)
        return
    for p in report["problems"]:
        where = f"{path}:{p['line']}:{p['col']}: "
        click.echo(where + (f"{p['path']}: {p['message']}" if p["path"] else p["message"]))
    if report["ok"]:
        tasks = report["tasks"]
        click.echo(f"{path}: ok ({tasks} task{'s' if tasks != 1 else ''})")
    else:
        count = len(report["problems"])
        click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}")


@click.command(name="validate")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--allow-no-image",
    is_flag=True,
    help="Accept tasks without 'image' (for servers that run tasks on a host executor).",
)
def command(files: tuple[str, ...], output: str, allow_no_image: bool) -> None:
    """Check cascade FILEs (YAML or JSON; '-' reads standard input) and report every problem,
    each with its line, column and field path. Exits 1 if any file is invalid, 2 if one cannot be read."""
    reports = [_check(path, require_image=not allow_no_image) for path in files]
    if output == "json":
        ok = all(r["ok"] for r in reports)
        click.echo(json.dumps({"ok": ok, "files": reports}, indent=2))
    else:
        for report in reports:
            _print_text(report)
    if any(r["error"] for r in reports):
        sys.exit(2)
    if not all(r["ok"] for r in reports):
        sys.exit(1)
