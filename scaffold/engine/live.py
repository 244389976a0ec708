"""What the engine holds in memory for each cascade and each wave in progress."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from scaffold.engine import graph
from scaffold.engine.model import CascadeSpec
from scaffold.engine.records import CascadeRecord, TaskRow, WaveRow
from scaffold.engine.states import State


@dataclass
class LiveCascade:
    """A cascade as the engine holds it: definition, board rows and input values."""

    spec: CascadeSpec
    rows: dict[str, TaskRow]
    inputs: dict[str, str]
    record: CascadeRecord
    parents: dict[str, list[str]] = field(init=False)
    children: dict[str, list[str]] = field(init=False)
    check_numbers: dict[str, int] = field(default_factory=dict)
    # Position of each task in a topological order, and the positions of the tasks that are not
    # in not_started, kept sorted: a start then finds what it must reset by looking only at tasks
    # after it in that order (a descendant always comes later), not by walking its whole subtree.
    order: dict[str, int] = field(init=False)
    _by_position: list[str] = field(init=False)
    _touched: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.parents = graph.parents_of(self.spec)
        self.children = graph.children_of(self.spec)
        self._by_position = graph.topological_order(self.parents)
        self.order = {name: i for i, name in enumerate(self._by_position)}
        self._touched = sorted(
            self.order[n] for n, row in self.rows.items() if row.state is not State.NOT_STARTED
        )

    def state_changed(self, name: str, old: State, new: State) -> None:
        """Keep the index of touched tasks in step with a transition."""
        position = self.order[name]
        if old is State.NOT_STARTED and new is not State.NOT_STARTED:
            bisect.insort(self._touched, position)
        elif new is State.NOT_STARTED and old is not State.NOT_STARTED:
            index = bisect.bisect_left(self._touched, position)
            if index < len(self._touched) and self._touched[index] == position:
                del self._touched[index]

    def touched_descendants(self, name: str) -> list[str]:
        """Descendants of ``name`` that are not in not_started (what starting it must reset)."""
        start = self.order[name]
        later = self._touched[bisect.bisect_right(self._touched, start) :]
        return [self._by_position[p] for p in later if self.is_descendant(self._by_position[p], name)]

    def is_descendant(self, task: str, ancestor: str) -> bool:
        """Walk up from ``task``, never above ``ancestor``'s position (nothing there can lead to it)."""
        floor = self.order[ancestor]
        seen, stack = {task}, [task]
        while stack:
            for parent in self.parents[stack.pop()]:
                if parent == ancestor:
                    return True
                if parent not in seen and self.order[parent] > floor:
                    seen.add(parent)
                    stack.append(parent)
        return False

    def secrets(self) -> list[str]:
        return [self.inputs[i.name] for i in self.spec.inputs if i.secret and self.inputs.get(i.name)]

    def descendants(self, tasks: Iterable[str]) -> list[str]:
        return graph.descendants(self.children, tasks)

    def ancestors(self, tasks: Iterable[str]) -> list[str]:
        return graph.ancestors(self.parents, tasks)


@dataclass
class LiveWave:
    row: WaveRow
    active: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
