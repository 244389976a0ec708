"""What the engine holds in memory for each cascade and each wave in progress."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from scaffold.engine import graph
from scaffold.engine.model import CascadeSpec
from scaffold.engine.records import CascadeRecord, TaskRow, WaveRow


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

    def __post_init__(self) -> None:
        self.parents = graph.parents_of(self.spec)
        self.children = graph.children_of(self.spec)

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
