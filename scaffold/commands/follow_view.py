"""The live view of ``scaffold start --follow``, fed by the server's events.

The same look as ``scaffold run`` (run_view.py): on a terminal a table of task states redrawn in
place, with log lines printed above it; elsewhere (pipes, CI logs, ``--output json`` where progress
goes to stderr) one plain line per state change and per log line.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

STYLE = {
    "not_started": ("·", "dim"),
    "waiting": ("…", "cyan"),
    "running": ("▶", "bold blue"),
    "success": ("✔", "green"),
    "error": ("✖", "bold red"),
    "killed": ("■", "magenta"),
    "blocked": ("⊘", "red"),
    "awaiting_approval": ("⏸", "yellow"),
    "skipped": ("↷", "dim"),
}
ENDED = ("success", "error", "killed")
COLORS = {"green": "green", "red": "red", "yellow": "yellow", "blue": "blue", "orange": "dark_orange"}


class FollowView:
    def __init__(self, cascade: str, board: list[dict[str, Any]], *, to_stderr: bool = False):
        self.cascade = cascade
        self.console = Console(stderr=to_stderr, highlight=False)
        self.live_mode = self.console.is_terminal
        self.rows = {t["name"]: dict(t) for t in board}
        self._width = max((len(name) for name in self.rows), default=4)
        self._partial: dict[str, str] = {}
        self._displays: dict[str, list[dict[str, Any]]] = {}
        self._live: Live | None = None
        self._started = time.monotonic()
        self._broken = False

    def __enter__(self) -> FollowView:
        if self.live_mode:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for key, rest in list(self._partial.items()):
            if rest:
                self._print_log(key, rest)
        self._partial.clear()
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
            self._live = None

    def _print(self, *objects: Any, **kwargs: Any) -> None:
        if self._broken:
            return
        try:
            self.console.print(*objects, **kwargs)
        except (BrokenPipeError, ValueError):
            self._broken = True  # the reader went away: keep following quietly

    def note(self, message: str) -> None:
        self._print(f"[dim]scaffold:[/] {escape(message)}")

    def set_board(self, board: list[dict[str, Any]]) -> None:
        self.rows = {t["name"]: dict(t) for t in board}
        if self._live is not None:
            self._live.update(self._table())

    # ---------------------------------------------------------------------------------- events

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "log":
            self._log(data)
        elif kind == "display" and data.get("items"):
            self._displays[data["task"]] = data["items"]
        elif kind == "run" and data.get("state") in ENDED:
            items = self._displays.pop(data["task"], None)
            if items:
                print_display(data["task"], items, self._print)
        elif kind == "task" and "old" in data:
            self._task(data)

    def _task(self, data: dict[str, Any]) -> None:
        name, new, reason = data["task"], data["state"], data.get("reason")
        row = self.rows.setdefault(name, {"name": name})
        row.update(state=new, display=new, reason=reason, run=data.get("run") or row.get("run"))
        if self._live is not None:
            self._live.update(self._table())
            return
        icon, style = STYLE.get(new, ("?", ""))
        suffix = f" ({escape(reason)})" if reason and new != "not_started" else ""
        self._print(f"[{style}]{icon} {escape(name)} {new}[/]{suffix}")

    def _log(self, data: dict[str, Any]) -> None:
        key = data["task"] if data.get("run_kind", "task") == "task" else f"{data['task']} (check)"
        text = self._partial.get(key, "") + data.get("text", "")
        *lines, rest = text.split("\n")
        self._partial[key] = rest
        for line in lines:
            self._print_log(key, line)

    def _print_log(self, key: str, line: str) -> None:
        label = Text(f"{key:<{self._width}} │ ", style="dim")
        self._print(label + Text(line.rstrip("\r")), soft_wrap=True)

    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("task")
        table.add_column("state")
        table.add_column("run", justify="right")
        table.add_column("reason", overflow="fold")
        for row in self.rows.values():
            shown = row.get("display") or row.get("state") or "not_started"
            icon, style = STYLE.get(shown, ("?", ""))
            table.add_row(
                row["name"],
                Text(f"{icon} {shown}", style=style),
                str(row.get("run") or ""),
                Text(row.get("reason") or "", style="dim"),
            )
        table.caption = f"{self.cascade} · {time.monotonic() - self._started:.0f}s"
        return table

    def verdict(self, ok: bool) -> None:
        shown: dict[str, int] = {}
        for row in self.rows.values():
            name = row.get("display") or row.get("state") or "not_started"
            shown[name] = shown.get(name, 0) + 1
        parts = ", ".join(f"{n} {name}" for name, n in sorted(shown.items()))
        elapsed = time.monotonic() - self._started
        word = "[green]done[/]" if ok else "[bold red]failed[/]"
        self._print(f"{word}: {escape(self.cascade)}: {parts} ({elapsed:.1f}s)")


def print_display(task: str, items: list[dict[str, Any]], out: Any = None) -> None:
    """A run's display items: tables as tables, values as ``name = value``, pre blocks as they are."""
    if out is None:
        from scaffold.commands.output import render

        out = render
    for item in items:
        title = f"{task} · {item.get('name', '')}"
        style = COLORS.get(str(item.get("color")), "")
        if item.get("kind") == "table":
            table = Table(title=title, title_justify="left", title_style="bold")
            for header in item.get("header", []):
                table.add_column(str(header))
            for row in item.get("data", []):
                table.add_row(*(Text(str(c)) for c in row))
            out(table)
        elif item.get("kind") == "value":
            out(Text(f"{title} = ", style="bold") + Text(str(item.get("data", "")), style=style))
        else:
            out(Text(title, style="bold"))
            out(Text(str(item.get("data", "")), style=style))
