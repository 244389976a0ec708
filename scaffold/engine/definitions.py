"""Changes to a cascade's definition and inputs: apply (SPEC 1, re-apply) and rule 5 (inputs)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from scaffold.engine.changes import FLAG_FIELDS, CascadeChanges, diff_cascades
from scaffold.engine.live import LiveCascade
from scaffold.engine.model import CascadeSpec
from scaffold.engine.records import CascadeRecord, TaskRow
from scaffold.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from scaffold.engine.scheduler import Engine


@dataclass
class ApplyResult:
    cascade: str
    version: int
    changes: CascadeChanges

    def to_dict(self) -> dict[str, Any]:
        return {"cascade": self.cascade, "version": self.version, "changes": self.changes.to_dict()}


async def apply_cascade(engine: Engine, spec: CascadeSpec, source: str, by: str | None) -> ApplyResult:
    """Apply a definition: new version stored, board updated in place, changed tasks reset."""
    old = engine.cascades.get(spec.name)
    changes = diff_cascades(old.spec if old else None, spec)
    if old is not None:
        busy = [n for n in [*changes.reset, *changes.removed] if old.rows[n].state.active] if old else []
        if busy:
            raise Conflict(
                f"task '{busy[0]}' is {old.rows[busy[0]].state.value}; wait for it or kill it "
                "before applying a change that resets or removes it"
            )
    if old is not None and not changes and source == old.record.source:
        return ApplyResult(spec.name, old.record.version, changes)  # the same file again: no new version
    version = await engine.store.save_cascade(spec, source, by)
    record = CascadeRecord(spec.name, version, source, engine.clock.now(), by)
    rows = dict(old.rows) if old else {}
    new_rows: list[TaskRow] = []
    added = set(changes.added)
    for task in spec.tasks:
        if task.name in added:
            # a task removed earlier and added again continues its numbering (its history stayed);
            # a cascade applied for the first time has no history (deleting one drops it all)
            number = await engine.store.last_run_number(spec.name, task.name) if old else 0
            row = TaskRow(
                spec.name,
                task.name,
                run_number=number,
                disabled=task.disabled,
                auto_execute=task.auto_execute,
                updated_at=engine.clock.now(),
            )
            rows[task.name] = row
            new_rows.append(replace(row))
    inputs = dict(old.inputs) if old else {}
    live = LiveCascade(spec, {t.name: rows[t.name] for t in spec.tasks}, inputs, record)
    writes = []
    for name in changes.reset:
        writes += engine._reset(
            live,
            [name],
            f"definition {changes.reset_reasons[name]}"
            if name in changes.changed
            else f"reset: {changes.reset_reasons[name]}",
        )
    for name in changes.changed:
        flags = set(changes.changed_fields[name]) & FLAG_FIELDS
        if flags:
            task, row = spec.task(name), live.rows[name]
            row.disabled, row.auto_execute = task.disabled, task.auto_execute
            new_rows.append(replace(row))
    engine.cascades[spec.name] = live
    await engine._persist(live, writes)
    if new_rows:
        await engine.store.put_tasks(new_rows)
    if changes.removed:
        await engine.store.remove_tasks(spec.name, list(changes.removed))
        for name in changes.removed:
            engine._cancel_check(spec.name, name)
    await _apply_inputs(engine, live, changes, by)
    engine.bus.publish("cascade", spec.name, action="applied", version=version)
    return ApplyResult(spec.name, version, changes)


async def _apply_inputs(engine: Engine, c: LiveCascade, changes: CascadeChanges, by: str | None) -> None:
    updates: dict[str, str | None] = {name: None for name in changes.inputs_removed}
    for name in [*changes.inputs_added, *changes.inputs_reset]:
        updates[name] = c.spec.input(name).default  # type: ignore[union-attr]
    for name, value in updates.items():
        if value is None:
            c.inputs.pop(name, None)
        else:
            c.inputs[name] = value
    if updates:
        secret = {i.name for i in c.spec.inputs if i.secret}
        await engine.store.set_inputs(c.spec.name, updates, secret, by)


async def set_inputs(engine: Engine, cascade: str, values: dict[str, str], by: str | None) -> list[str]:
    """Rule 5: changed inputs reset every task that maps them and all their descendants.
    Returns the tasks that were reset."""
    c = engine.cascade(cascade)
    for name in values:
        if c.spec.input(name) is None:
            known = ", ".join(i.name for i in c.spec.inputs) or "none"
            raise NotFound(f"cascade '{cascade}' has no input '{name}' (inputs: {known})")
        if not isinstance(values[name], str):
            raise InvalidInput(f"input '{name}' must be a string")
    changed = {n for n, v in values.items() if c.inputs.get(n) != v}
    if not changed:
        return []
    users = [t.name for t in c.spec.tasks if t.input_names() & changed]
    affected = [n for n in c.spec.task_names if n in set(users) | set(c.descendants(users))]
    busy = [n for n in affected if c.rows[n].state.active]
    if busy:
        raise Conflict(
            f"task '{busy[0]}' uses this input (or is downstream of one that does) and is "
            f"{c.rows[busy[0]].state.value}; wait for it or kill it first"
        )
    c.inputs.update({n: values[n] for n in changed})
    reason = f"input {', '.join(sorted(changed))} changed"
    writes = engine._reset(c, affected, reason)
    secret = {i.name for i in c.spec.inputs if i.secret}
    await engine.store.set_inputs(cascade, {n: values[n] for n in changed}, secret, by)
    await engine._persist(c, writes)
    engine.bus.publish("input", cascade, names=sorted(changed), reset=affected, by=by)
    return affected
