"""The one event bus: every accepted transition, run start/end, log chunk and wave change.

Publishing is synchronous and never blocks; each subscriber has its own bounded queue. A short
history is kept so that a reconnecting client can resume from a ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # "task", "run", "log", "wave", "cascade", "input"
    cascade: str
    data: dict[str, Any] = field(default_factory=dict)


class Subscription:
    def __init__(self, bus: EventBus, accept: Callable[[Event], bool], maxsize: int):
        self._bus = bus
        self.accept = accept
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if not self.accept(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the consumer is too slow; it must resync from the store

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, history: int = 10_000, first_id: int | None = None):
        # Ids start from the clock (in ms), so that ids of a restarted server are larger than the
        # ones a client saw before: a stale Last-Event-ID is then recognised and answered with a
        # resync instead of silently skipping events.
        self._ids = itertools.count(first_id if first_id is not None else int(time.time() * 1000))
        self._next_hint = 0
        self._subs: list[Subscription] = []
        self._history: deque[Event] = deque(maxlen=history)
        self._listeners: list[Callable[[Event], None]] = []

    def publish(self, kind: str, cascade: str, **data: Any) -> Event:
        event = Event(next(self._ids), kind, cascade, data)
        self._next_hint = event.id + 1
        self._history.append(event)
        for listener in self._listeners:
            listener(event)
        for sub in self._subs:
            sub.offer(event)
        return event

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` synchronously for every event (e.g. a terminal view)."""
        self._listeners.append(callback)

    def subscribe(
        self, accept: Callable[[Event], bool] = lambda e: True, maxsize: int = 10_000
    ) -> Subscription:
        sub = Subscription(self, accept, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def next_id(self) -> int:
        """The id the next event will have (an upper bound for ids a client may have seen)."""
        return self._next_hint or (self._history[-1].id + 1 if self._history else 0)

    def oldest_id(self) -> int | None:
        return self._history[0].id if self._history else None

    def since(self, last_id: int) -> list[Event]:
        """Events after ``last_id`` still in the history (for Last-Event-ID resumption)."""
        return [e for e in self._history if e.id > last_id]
