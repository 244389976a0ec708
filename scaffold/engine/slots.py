"""A FIFO limit on concurrently executing runs, whose waiters can be withdrawn (killed)."""

from __future__ import annotations

import asyncio
from collections import deque


class Withdrawn(Exception):
    """The waiter was taken out of the queue before it got a slot."""


class Slots:
    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("the limit of concurrently running tasks must be at least 1")
        self.limit = limit
        self.in_use = 0
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def acquire(self) -> asyncio.Future[None]:
        """A future that resolves when a slot is granted; pass it to :meth:`withdraw` to give up."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.in_use < self.limit and not self._queue:
            self.in_use += 1
            fut.set_result(None)
        else:
            self._queue.append(fut)
        return fut

    def withdraw(self, fut: asyncio.Future[None]) -> None:
        if fut.done():
            if fut.exception() is None:
                self.release()
            return
        self._queue.remove(fut)
        fut.set_exception(Withdrawn())

    def release(self) -> None:
        while self._queue:
            fut = self._queue.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.in_use -= 1
