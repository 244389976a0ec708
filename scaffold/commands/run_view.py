"""The terminal view of ``scaffold run``: a live table of task states with each task's log lines.

On a terminal it redraws a rich table in place and prints log lines above it; elsewhere (pipes,
CI logs, ``--output json`` where progress goes to stderr) it prints one plain line per change.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scaffold.commands.task_stream import STYLE, TaskStream
from scaffold.engine.events import Event
from scaffold.engine.model import CascadeSpec
from scaffold.engine.states import Display

# Display states whose reason the JSON document carries (errors and why a task did not run).
EXPLAINED = {"error", "killed", "blocked", "skipped", "awaiting_approval"}


class RunView(TaskStream):
    def __init__(self, spec: CascadeSpec, core: Any, *, json_mode: bool = False):
        self.spec = spec
        self.core = core
        self._started = time.monotonic()
        self.verdict = ""
        super().__init__(Console(stderr=json_mode, highlight=False), spec.task_names)
        core.bus.listen(self._on_event)

    def wave_started(self, wave: Any) -> None:
        tasks = ", ".join(wave.started_tasks) or "nothing"
        self.note(f"wave {wave.id} of '{self.spec.name}' started: {tasks}")

    def _on_event(self, event: Event) -> None:
        if event.cascade == self.spec.name:
            self.on_event(event.kind, event.data)

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
