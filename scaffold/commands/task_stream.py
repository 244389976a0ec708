"""What ``scaffold run`` and ``scaffold start --follow`` show while a wave goes on.

On a terminal a table of task states redrawn in place, with log lines and display items printed
above it; elsewhere (pipes, CI logs, ``--output json`` where progress goes to stderr) one plain line
per state change and per log line. Subclasses say where the board comes from (``_table``).
"""

from __future__ import annotations

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


class TaskStream:
    def __init__(self, console: Console, task_names: list[str]):
        self.console = console
        self.live_mode = console.is_terminal
        self._width = max((len(name) for name in task_names), default=4)
        self._partial: dict[str, str] = {}
        self._displays: dict[str, list[dict[str, Any]]] = {}
        self._live: Live | None = None
        self._broken = False

    def _table(self) -> Table:
        raise NotImplementedError

    def __enter__(self) -> TaskStream:
        if self.live_mode:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)
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
        """Print, unless the reader of our output went away (then stay quiet, keep going)."""
        if self._broken:
            return
        try:
            self.console.print(*objects, **kwargs)
        except (BrokenPipeError, ValueError):
            self._broken = True

    def note(self, message: str) -> None:
        self._print(f"[dim]scaffold:[/] {escape(message)}")

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
            self._task_changed(data)
        if self._live is not None and kind in ("task", "run"):
            self._live.update(self._table())

    def _task_changed(self, data: dict[str, Any]) -> None:
        if self._live is not None:
            return  # the table shows it
        state, reason = data["state"], data.get("reason")
        icon, style = STYLE.get(state, ("?", ""))
        suffix = f" ({escape(reason)})" if reason and state != "not_started" else ""
        self._print(f"[{style}]{icon} {escape(data['task'])} {state}[/]{suffix}")

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
