"""What re-applying a cascade changes (SPEC 1, last paragraph), as a pure function of two specs.

- Tasks are matched by name. A task whose definition differs in any field but ``line`` is
  *changed*; changed tasks and all their descendants (in the new graph) are *reset* to
  ``not_started``. Added tasks are new (``not_started`` anyway) and not listed as reset; removed
  tasks leave the board (their history stays readable).
- An input is *changed* when any field of its definition differs. Only a change of ``type`` or
  ``default`` puts its value back to the (new) default -- those inputs are in ``inputs_reset`` and
  every task that reads them (``inputs`` or ``check.inputs``) is reset with its descendants, like an
  input value change (SPEC 3.5). A description-only change resets nothing.
- Cascade-level fields (description, groups, links) never reset anything; they are listed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from scaffold.engine import graph
from scaffold.engine.model import CascadeSpec, InputSpec, TaskSpec

_TASK_FIELDS = tuple(f.name for f in fields(TaskSpec) if f.name != "line")
# Switches that change how a task may start, not what it does: changing them in the file updates
# the task in place (like PATCHing them) instead of resetting it and everything downstream.
FLAG_FIELDS = frozenset({"disabled", "auto_execute"})
_INPUT_FIELDS = tuple(f.name for f in fields(InputSpec))
_INPUT_RESET_FIELDS = ("type", "default")  # changes that put the value back to the default
_CASCADE_FIELDS = ("version", "description", "groups", "links")


@dataclass(frozen=True)
class CascadeChanges:
    added: tuple[str, ...] = ()  # new tasks, new file order
    removed: tuple[str, ...] = ()  # old file order
    changed: tuple[str, ...] = ()  # new file order
    changed_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)  # task -> fields
    reset: tuple[str, ...] = ()  # existing tasks going back to not_started, new file order
    reset_reasons: dict[str, str] = field(default_factory=dict)  # task -> why
    unchanged: tuple[str, ...] = ()  # same definition (may still be reset as a descendant)
    inputs_added: tuple[str, ...] = ()
    inputs_removed: tuple[str, ...] = ()
    inputs_changed: tuple[str, ...] = ()
    inputs_changed_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    inputs_reset: tuple[str, ...] = ()  # value goes back to the new default
    cascade_changed: tuple[str, ...] = ()  # description, groups, links, version

    def __bool__(self) -> bool:
        """True when anything at all differs."""
        return any(
            (
                self.added,
                self.removed,
                self.changed,
                self.inputs_added,
                self.inputs_removed,
                self.inputs_changed,
            )
        ) or bool(self.cascade_changed)

    def summary(self) -> list[str]:
        """One human line per change, e.g. ``changed task y: image, run``."""
        lines = [f"added task {name}" for name in self.added]
        lines += [f"removed task {name}" for name in self.removed]
        lines += [f"changed task {name}: {', '.join(self.changed_fields[name])}" for name in self.changed]
        lines += [
            f"reset {name} ({self.reset_reasons[name]})" for name in self.reset if name not in self.changed
        ]
        lines += [f"added input {name}" for name in self.inputs_added]
        lines += [f"removed input {name}" for name in self.inputs_removed]
        for name in self.inputs_changed:
            what = ", ".join(self.inputs_changed_fields[name])
            tail = " (value reset to the default)" if name in self.inputs_reset else ""
            lines.append(f"changed input {name}: {what}{tail}")
        if self.cascade_changed:
            lines.append(f"changed cascade: {', '.join(self.cascade_changed)}")
        return lines or ["no changes"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [{"task": n, "fields": list(self.changed_fields[n])} for n in self.changed],
            "reset": [{"task": n, "reason": self.reset_reasons[n]} for n in self.reset],
            "unchanged": list(self.unchanged),
            "inputs_added": list(self.inputs_added),
            "inputs_removed": list(self.inputs_removed),
            "inputs_changed": [
                {
                    "input": n,
                    "fields": list(self.inputs_changed_fields[n]),
                    "value_reset": n in self.inputs_reset,
                }
                for n in self.inputs_changed
            ],
            "cascade_changed": list(self.cascade_changed),
            "summary": self.summary(),
        }


def diff_cascades(old: CascadeSpec | None, new: CascadeSpec) -> CascadeChanges:
    """Compare the stored definition ``old`` (None on a first apply) with the applied ``new``."""
    if old is None:
        return CascadeChanges(added=tuple(new.task_names), inputs_added=tuple(i.name for i in new.inputs))
    old_tasks = {t.name: t for t in old.tasks}
    new_names = set(new.task_names)
    changed_fields = {
        t.name: diff
        for t in new.tasks
        if t.name in old_tasks and (diff := _differs(old_tasks[t.name], t, _TASK_FIELDS))
    }
    old_inputs = {i.name: i for i in old.inputs}
    new_inputs = {i.name: i for i in new.inputs}
    inputs_changed = {
        name: diff
        for name, i in new_inputs.items()
        if name in old_inputs and (diff := _differs(old_inputs[name], i, _INPUT_FIELDS))
    }
    inputs_reset = [n for n, diff in inputs_changed.items() if any(f in _INPUT_RESET_FIELDS for f in diff)]
    # Inputs whose value may differ from what a task last ran with: reset values, and inputs that
    # appear or vanish under a task that was not itself changed (cannot happen in valid files).
    touched_inputs = set(inputs_reset) | (set(new_inputs) ^ set(old_inputs))
    reasons = _reset_reasons(new, old_tasks, changed_fields, touched_inputs, inputs_changed)
    return CascadeChanges(
        added=tuple(n for n in new.task_names if n not in old_tasks),
        removed=tuple(n for n in old.task_names if n not in new_names),
        changed=tuple(changed_fields),
        changed_fields=changed_fields,
        reset=tuple(n for n in new.task_names if n in reasons),
        reset_reasons=reasons,
        unchanged=tuple(n for n in new.task_names if n in old_tasks and n not in changed_fields),
        inputs_added=tuple(n for n in new_inputs if n not in old_inputs),
        inputs_removed=tuple(n for n in old_inputs if n not in new_inputs),
        inputs_changed=tuple(inputs_changed),
        inputs_changed_fields=inputs_changed,
        inputs_reset=tuple(inputs_reset),
        cascade_changed=_differs(old, new, _CASCADE_FIELDS),
    )


def _differs(old: Any, new: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if getattr(old, name) != getattr(new, name))


def _reset_reasons(
    new: CascadeSpec,
    old_tasks: dict[str, TaskSpec],
    changed_fields: dict[str, tuple[str, ...]],
    touched_inputs: set[str],
    inputs_changed: dict[str, tuple[str, ...]],
) -> dict[str, str]:
    """Existing task -> why it is reset; a breadth-first walk down from every reset source."""
    reasons: dict[str, str] = {}
    for task in new.tasks:
        if task.name not in old_tasks:
            continue
        if set(changed_fields.get(task.name, ())) - FLAG_FIELDS:
            reasons[task.name] = "changed: " + ", ".join(changed_fields[task.name])
        elif read := sorted(task.input_names() & touched_inputs):
            name = read[0]
            what = " and ".join(f for f in inputs_changed.get(name, ()) if f in ("type", "default"))
            reasons[task.name] = f"reads input {name}" + (f", whose {what} changed" if what else "")
    children = graph.children_of(new)
    visited = set(reasons)
    queue = deque((name, name) for name in reasons)
    while queue:
        node, source = queue.popleft()
        for child in children.get(node, ()):
            if child in visited:
                continue
            visited.add(child)
            if child in old_tasks:  # an added task is new, not reset; its existing children are
                reasons[child] = f"downstream of {source}"
            queue.append((child, source))
    return reasons
