"""How client commands print: ``--output table`` (rich tables, colour only on a terminal),
``json`` (the API's documents, indented) and ``yaml`` (the same documents as YAML)."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

FORMATS = ("table", "json", "yaml")
Column = tuple[str, Callable[[dict[str, Any]], Any]]


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--output",
        "-o",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people; json or yaml (the API's documents) for scripts.",
    )(func)


_console: Any = None
_err_console: Any = None


def console(err: bool = False) -> Any:
    """A rich console: colour only on a terminal (and never with NO_COLOR); no wrapping in pipes."""
    global _console, _err_console
    from rich.console import Console

    if err:
        if _err_console is None:
            _err_console = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())
        return _err_console
    if _console is None:
        # in a pipe, rows are never wrapped (grep, awk and people reading CI logs prefer it)
        _console = Console(highlight=False, width=None if sys.stdout.isatty() else 4000)
    return _console


def render(renderable: Any) -> None:
    """Print a rich renderable; in a pipe, without the padding rich leaves at the end of lines."""
    out = console()
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def emit(data: Any, output: str) -> None:
    """Print a document as JSON or YAML (for ``table``, callers print their own view)."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif output == "yaml":
        click.echo(to_yaml(data), nl=False)


def to_yaml(data: Any) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def show(data: Any, output: str, table: Callable[[], None]) -> None:
    if output == "table":
        table()
    else:
        emit(data, output)


# -------------------------------------------------------------------------------------- tables


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], empty: str = "nothing") -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    if not rows:
        out.print(Text(f"({empty})", style="dim"))
        return
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    cells = [[cell(fn(row)) for _, fn in columns] for row in rows]
    names = max(len(str(r[0])) for r in cells)
    for index, (header, _) in enumerate(columns):
        last = index == len(columns) - 1  # on a narrow terminal the last column wraps...
        table.add_column(
            header.upper(),
            no_wrap=not last,
            overflow="fold" if last else "ellipsis",  # ...the others are cut short,
            min_width=min(max(names, len(header)), 40) if index == 0 else None,  # but not the names
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    render(table)


def cell(value: Any) -> Any:
    from rich.text import Text

    if isinstance(value, Text):
        return value
    if value is None or value == "" or value == []:
        return Text("-", style="dim")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def print_fields(fields: Sequence[tuple[str, Any]], title: str | None = None) -> None:
    """``Name:  value`` lines, aligned (the top of ``describe``)."""
    from rich.table import Table
    from rich.text import Text

    out = console()
    if title:
        out.print(Text(title, style="bold"))
    table = Table(box=None, show_header=False, pad_edge=False, show_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in fields:
        table.add_row(f"{name}:", cell(value))
    render(table)


def section(title: str) -> None:
    from rich.text import Text

    console().print()
    console().print(Text(title, style="bold"))


STATE_STYLE = {
    "not_started": "dim",
    "waiting": "cyan",
    "running": "bold blue",
    "success": "green",
    "error": "bold red",
    "killed": "magenta",
    "blocked": "red",
    "awaiting_approval": "yellow",
    "skipped": "dim",
}


def state(value: str | None) -> Any:
    from rich.text import Text

    if not value:
        return None
    return Text(value, style=STATE_STYLE.get(value, ""))


# --------------------------------------------------------------------------------- formatting


def when(seconds: float | None) -> str | None:
    """A local time, ``2025-06-01 14:03:22``."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: float | None, end: float | None) -> str | None:
    if start is None or end is None:
        return None
    seconds = max(0.0, end - start)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def size(n: int | None) -> str | None:
    if n is None:
        return None
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return None  # pragma: no cover


def counts(states: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(states.items())) or "no tasks"


def note(message: str) -> None:
    """A line for people that is not the command's result: stderr."""
    click.echo(message, err=True)
