"""The terminal view of ``scaffold run``: a live table of task states with each task's log lines.

On a terminal it redraws a rich table in place and prints log lines above it; elsewhere (pipes,
CI logs, ``--output json`` where progress goes to stderr) it prints one plain line per change.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scaffold.engine.events import Event
from scaffold.engine.model import CascadeSpec
from scaffold.engine.states import Display

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


# Display states whose reason the JSON document carries (errors and why a task did not run).
EXPLAINED = {"error", "killed", "blocked", "skipped", "awaiting_approval"}


class RunView:
    def __init__(self, spec: CascadeSpec, core: Any, *, json_mode: bool = False):
        self.spec = spec
        self.core = core
        self.console = Console(stderr=json_mode, highlight=False)
        self.live_mode = self.console.is_terminal
        self._live: Live | None = None
        self._partial: dict[str, str] = {}
        self._started = time.monotonic()
        self._width = max((len(t.name) for t in spec.tasks), default=4)
        self.verdict = ""
        self._broken = False
        self._displays: dict[str, list[dict[str, Any]]] = {}
        core.bus.listen(self._on_event)

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> RunView:
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

    # -------------------------------------------------------------------------- output

    def _print(self, *objects: Any, **kwargs: Any) -> None:
        """Print, unless the reader of our output went away (then stay quiet, keep running)."""
        if self._broken:
            return
        try:
            self.console.print(*objects, **kwargs)
        except (BrokenPipeError, ValueError):
            self._broken = True

    def note(self, message: str) -> None:
        self._print(f"[dim]scaffold:[/] {escape(message)}")

    def wave_started(self, wave: Any) -> None:
        tasks = ", ".join(wave.started_tasks) or "nothing"
        self.note(f"wave {wave.id} of '{self.spec.name}' started: {tasks}")

    def _on_event(self, event: Event) -> None:
        if event.cascade != self.spec.name:
            return
        if event.kind == "log":
            self._log(event.data)
        elif event.kind == "display" and event.data.get("items"):
            self._displays[event.data["task"]] = event.data["items"]
        elif event.kind == "run" and event.data.get("state") in ("success", "error", "killed"):
            items = self._displays.pop(event.data["task"], None)
            if items:
                self._print_display(event.data["task"], items)
        elif event.kind == "task" and "old" in event.data and not self.live_mode:
            state, reason = event.data["state"], event.data.get("reason")
            icon, style = STYLE.get(state, ("?", ""))
            suffix = f" ({escape(reason)})" if reason and state != "not_started" else ""
            self._print(f"[{style}]{icon} {escape(event.data['task'])} {state}[/]{suffix}")
        if self._live is not None and event.kind in ("task", "run"):
            self._live.update(self._table())

    def _log(self, data: dict[str, Any]) -> None:
        key = data["task"] if data.get("run_kind", "task") == "task" else f"{data['task']} (check)"
        text = self._partial.get(key, "") + data["text"]
        *lines, rest = text.split("\n")
        self._partial[key] = rest
        for line in lines:
            self._print_log(key, line)

    def _print_log(self, key: str, line: str) -> None:
        label = Text(f"{key:<{self._width}} │ ", style="dim")
        self._print(label + Text(line.rstrip("\r")), soft_wrap=True)

    def _print_display(self, task: str, items: list[dict[str, Any]]) -> None:
        """A task's display items: tables as tables, values as name = value, pre blocks as is."""
        for item in items:
            title = f"{task} · {item.get('name', '')}"
            style = item.get("color") or ""
            if item["kind"] == "table":
                table = Table(title=title, title_justify="left", title_style="bold")
                for header in item.get("header", []):
                    table.add_column(header)
                for row in item.get("data", []):
                    table.add_row(*(Text(str(cell)) for cell in row))
                self._print(table)
            elif item["kind"] == "value":
                self._print(Text(f"{title} = ", style="bold") + Text(str(item.get("data", "")), style=style))
            else:
                self._print(Text(title, style="bold"))
                self._print(Text(str(item.get("data", "")), style=style))

    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("task")
        table.add_column("state")
        table.add_column("run", justify="right")
        table.add_column("reason", overflow="fold")
        views = self.core.engine.board(self.spec.name) if self.spec.name in self.core.engine.cascades else []
        for view in views:
            icon, style = STYLE.get(view.display.value, ("?", ""))
            reason = view.reason or ""
            table.add_row(
                view.name,
                Text(f"{icon} {view.display.value}", style=style),
                str(view.run_number or ""),
                Text(reason, style="dim"),
            )
        elapsed = time.monotonic() - self._started
        table.caption = f"{self.spec.name} · {elapsed:.0f}s"
        return table

    # ------------------------------------------------------------------------- summary

    async def summary(self, waves: list[int]) -> dict[str, Any]:
        """The final document of SPEC 10, and whether the run counts as a success."""
        engine, store = self.core.engine, self.core.store
        ran: set[str] = set()
        for wave_id in waves:
            ran |= {r.task for r in await store.list_runs(self.spec.name, wave_id=wave_id)}
        tasks, ok = [], True
        for view in engine.board(self.spec.name):
            ran_since_reset = view.run_number and view.state.value != "not_started"
            run = await store.get_run(self.spec.name, view.name, view.run_number) if ran_since_reset else None
            tasks.append(
                {
                    "name": view.name,
                    "state": view.state.value,
                    "reason": view.reason if view.display.value in EXPLAINED else None,
                    "run": run.number if run else None,
                    "exit_code": run.exit_code if run else None,
                }
            )
            if view.name in ran and view.state.value != "success":
                ok = False
            if view.display is Display.BLOCKED:
                ok = False
        counts: dict[str, int] = {}
        for view in engine.board(self.spec.name):
            counts[view.display.value] = counts.get(view.display.value, 0) + 1
        parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        elapsed = time.monotonic() - self._started
        verdict = "[green]done[/]" if ok else "[bold red]failed[/]"
        self.verdict = f"{verdict}: {escape(self.spec.name)}: {parts} ({elapsed:.1f}s)"
        return {"ok": ok, "document": {"cascade": self.spec.name, "tasks": tasks}}

    def print_verdict(self) -> None:
        """The one closing line, printed below the final table."""
        if self.verdict:
            self._print(self.verdict)
