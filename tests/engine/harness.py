"""A test harness: the real engine with the memory store, the fake executor and a fake clock."""

from __future__ import annotations

import asyncio
import textwrap

from scaffold.engine.clock import FakeClock
from scaffold.engine.records import RunKind
from scaffold.engine.scheduler import Engine
from scaffold.engine.spec import parse_cascade
from scaffold.executors.fake import FakeExecutor
from scaffold.store.memory import MemoryStore


def cascade_yaml(name: str, tasks: str, inputs: str = "") -> str:
    body = f"version: v1\nname: {name}\n"
    if inputs:
        body += "inputs:\n" + textwrap.indent(textwrap.dedent(inputs).strip("\n"), "  ") + "\n"
    body += "tasks:\n" + textwrap.indent(textwrap.dedent(tasks).strip("\n"), "  ") + "\n"
    return body


class Harness:
    def __init__(self, text: str, *, max_running: int = 8):
        self.text = text
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock.now)
        self.executor = FakeExecutor(self.clock)
        self.engine = Engine(
            self.store, self.executor, clock=self.clock, max_running=max_running, kill_grace=1
        )
        self.events: list = []
        self.engine.bus.listen(self.events.append)
        self.name = parse_cascade(text).name

    async def __aenter__(self) -> Harness:
        await self.store.open()
        await self.engine.open()
        await self.apply(self.text)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.close()
        await self.store.close()

    async def apply(self, text: str):
        return await self.engine.apply(parse_cascade(text), text, by="tester")

    async def settle(self, rounds: int = 300) -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()

    async def start(self, task: str | None = None, **kw):
        wave = await self.engine.start(self.name, task, by="tester", **kw)
        await self.settle()
        return wave

    def state(self, task: str) -> str:
        return self.engine.cascades[self.name].rows[task].state.value

    def states(self) -> dict[str, str]:
        return {n: r.state.value for n, r in self.engine.cascades[self.name].rows.items()}

    def view(self, task: str):
        return next(v for v in self.engine.board(self.name) if v.name == task)

    async def runs(self, task: str, kind=RunKind.TASK):
        return await self.store.list_runs(self.name, task, kind=kind)

    def started_order(self) -> list[str]:
        return [e.data["task"] for e in self.events if e.kind == "task" and e.data.get("state") == "running"]
