"""The live view of ``scaffold start --follow``, fed by the server's events (task_stream.py has
the look shared with ``scaffold run``)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scaffold.commands.task_stream import STYLE, TaskStream, print_display

__all__ = ["FollowView", "print_display"]


class FollowView(TaskStream):
    def __init__(self, cascade: str, board: list[dict[str, Any]], *, to_stderr: bool = False):
        self.cascade = cascade
        self.rows = {t["name"]: dict(t) for t in board}
        self._started = time.monotonic()
        super().__init__(Console(stderr=to_stderr, highlight=False), list(self.rows))

    def set_board(self, board: list[dict[str, Any]]) -> None:
        self.rows = {t["name"]: dict(t) for t in board}
        if self._live is not None:
            self._live.update(self._table())

    def _task_changed(self, data: dict[str, Any]) -> None:
        name, new = data["task"], data["state"]
        row = self.rows.setdefault(name, {"name": name})
        row.update(state=new, display=new, reason=data.get("reason"), run=data.get("run") or row.get("run"))
        super()._task_changed(data)

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
