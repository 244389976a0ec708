"""Pure functions over a cascade's board: readiness, derived display states, and start previews.

``holds`` is rule 3 of the waterfall (which parent states satisfy which dependency kind); the
derived states (blocked, awaiting approval, skipped) are computed here and never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scaffold.engine import graph
from scaffold.engine.model import CascadeSpec, DependencyKind, TaskSpec
from scaffold.engine.records import TaskRow
from scaffold.engine.states import Display, State

SATISFIES: dict[DependencyKind, frozenset[State]] = {
    DependencyKind.SUCCESS: frozenset({State.SUCCESS}),
    DependencyKind.ERROR: frozenset({State.ERROR}),
    DependencyKind.ALWAYS: frozenset({State.SUCCESS, State.ERROR}),
}


def holds(kind: DependencyKind, parent_state: State) -> bool:
    return parent_state in SATISFIES[kind]


def dependencies_hold(task: TaskSpec, rows: Mapping[str, TaskRow]) -> bool:
    return all(holds(d.kind, rows[d.parent].state) for d in task.depends_on)


def ready_to_start(task: TaskSpec, rows: Mapping[str, TaskRow]) -> bool:
    """Rule 3: a child starts on its own when it is not_started, enabled, auto and all deps hold."""
    row = rows[task.name]
    return (
        row.state is State.NOT_STARTED
        and not row.disabled
        and row.auto_execute
        and dependencies_hold(task, rows)
    )


@dataclass(frozen=True)
class TaskView:
    """One task as people see it: stored state, derived display state and the reason."""

    name: str
    state: State
    display: Display
    reason: str | None
    run_number: int
    disabled: bool
    auto_execute: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "display": self.display.value,
            "reason": self.reason,
            "run": self.run_number,
            "disabled": self.disabled,
            "auto_execute": self.auto_execute,
        }


def _dependency_verdict(kind: DependencyKind, parent: TaskView) -> tuple[str, str] | None:
    """None if the dependency may still hold; else ("blocked"|"skipped", reason)."""
    name, state = parent.name, parent.state
    if parent.display is Display.BLOCKED:
        return "blocked", f"waits for {name}: blocked"
    if parent.display is Display.SKIPPED:
        return "skipped", f"{name} will not run"
    if state is State.NOT_STARTED:
        if parent.disabled:
            return "blocked", f"waits for {name}: disabled"
        return None
    if not state.final or holds(kind, state):
        return None
    if kind is DependencyKind.ERROR and state is State.SUCCESS:
        return "skipped", f"runs only if {name} ends in error; it succeeded"
    return "blocked", f"waits for {name}: {state.value}"


def views(spec: CascadeSpec, rows: Mapping[str, TaskRow]) -> list[TaskView]:
    """Every task in file order with its display state. Parents are evaluated before children."""
    by_name: dict[str, TaskView] = {}
    order = graph.topological_order(graph.parents_of(spec))
    for name in order:
        task, row = spec.task(name), rows[name]
        display, reason = Display(row.state.value), row.reason
        if row.state is State.NOT_STARTED:
            display, reason = _derive(task, row, by_name)
        by_name[name] = TaskView(
            name, row.state, display, reason, row.run_number, row.disabled, row.auto_execute
        )
    return [by_name[t.name] for t in spec.tasks]


def _derive(task: TaskSpec, row: TaskRow, parents: Mapping[str, TaskView]) -> tuple[Display, str | None]:
    verdicts = [_dependency_verdict(d.kind, parents[d.parent]) for d in task.depends_on]
    blocked = [v[1] for v in verdicts if v and v[0] == "blocked"]
    if blocked:
        return Display.BLOCKED, "; ".join(blocked)
    skipped = [v[1] for v in verdicts if v and v[0] == "skipped"]
    if skipped:
        return Display.SKIPPED, "; ".join(skipped)
    if row.disabled:
        return Display.NOT_STARTED, "disabled"
    if all(holds(d.kind, parents[d.parent].state) for d in task.depends_on):
        if not row.auto_execute:
            return Display.AWAITING_APPROVAL, "awaiting approval: start it by hand"
        return Display.NOT_STARTED, row.reason
    pending = [d.parent for d in task.depends_on if not holds(d.kind, parents[d.parent].state)]
    waits = f"waits for {', '.join(pending)}"
    return Display.NOT_STARTED, f"{waits} ({row.reason})" if row.reason else waits


@dataclass
class StartPreview:
    """What a start will do (SPEC 3.2), computed before anything happens."""

    cascade: str
    task: str | None
    start: list[str]  # the task(s) that will be started now
    reset: list[str]  # tasks that will be reset to not_started (file order)
    overwrites: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # env/file -> [{name, task}]
    will_run: list[str] = field(default_factory=list)  # tasks that will then run on their own
    refused: str | None = None  # the 409 message if the start would be refused now

    def to_dict(self) -> dict[str, Any]:
        return {
            "cascade": self.cascade,
            "task": self.task,
            "start": self.start,
            "reset": self.reset,
            "overwrites": self.overwrites,
            "will_run": self.will_run,
            "refused": self.refused,
        }


def simulate_runs(
    spec: CascadeSpec, rows: Mapping[str, TaskRow], start: list[str], reset: set[str]
) -> list[str]:
    """Tasks that will run on their own after ``start`` if every run succeeds (file order)."""
    assumed: dict[str, State] = {n: (State.NOT_STARTED if n in reset else r.state) for n, r in rows.items()}
    for name in start:
        assumed[name] = State.SUCCESS
    ran = set(start)
    for name in graph.topological_order(graph.parents_of(spec)):
        if name in ran or name not in reset:
            continue
        task, row = spec.task(name), rows[name]
        if row.disabled or not row.auto_execute or not task.depends_on:
            continue
        if all(holds(d.kind, assumed[d.parent]) for d in task.depends_on):
            assumed[name] = State.SUCCESS
            ran.add(name)
    return [t.name for t in spec.tasks if t.name in ran and t.name not in start]


def overwrites(spec: CascadeSpec, tasks: list[str]) -> dict[str, list[dict[str, str]]]:
    env: list[dict[str, str]] = []
    files: list[dict[str, str]] = []
    for name in tasks:
        store = spec.task(name).store
        env.extend({"name": key, "task": name} for key in store.env)
        files.extend({"name": key, "task": name} for key in store.file)
    return {"env": env, "file": files}
