"""Group commit: one writer connection turns many concurrent writes into one transaction.

Callers ``await writer.submit(fn, *args)``; the writer loop takes every write queued so far, runs
them all on the connection's thread inside one ``BEGIN IMMEDIATE ... COMMIT``, and only then
resolves each caller's future. So each write is durable when its call returns, yet 200 concurrent
callers pay for one commit (and one thread hop) instead of 200.

A write that raises (a refused insert, a missing row) fails alone: writes marked ``atomic`` (more
than one statement) run inside a SAVEPOINT that is rolled back, the others are single statements
that SQLite already undoes by themselves. If the transaction itself is lost or the commit fails,
every write of the batch fails with that error. A caller cancelled before its batch starts is
skipped; one cancelled later may still have been written.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable
from typing import Any

import aiosqlite

from scaffold.errors import ScaffoldError


class StoreClosed(ScaffoldError):
    status = 503
    code = "store_closed"


async def in_thread(conn: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(sqlite3_connection, *args)`` on the aiosqlite connection's own thread, in one hop.

    This uses ``Connection._execute``, the call aiosqlite's own cursors use to do the same; going
    through ``await conn.execute()`` per statement costs one thread round trip per statement and
    measured ~50x slower for a batch (bench/store_bench.py). tests/store/test_sqlite.py pins it."""
    return await conn._execute(fn, conn._conn, *args)


class _Write:
    __slots__ = ("args", "atomic", "fn", "future")

    def __init__(self, fn: Callable[..., Any], args: tuple, atomic: bool, future: asyncio.Future):
        self.fn, self.args, self.atomic, self.future = fn, args, atomic, future


def _run_batch(db: sqlite3.Connection, batch: list[_Write]) -> list[tuple[bool, Any]]:
    """Runs on the connection's thread: all writes in one transaction; (ok, result or error) each."""
    outcomes: list[tuple[bool, Any]] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for write in batch:
            if write.atomic:
                db.execute("SAVEPOINT write")
            try:
                result = write.fn(db, *write.args)
            except Exception as exc:
                if not db.in_transaction:
                    raise  # SQLite rolled the whole transaction back: the batch fails
                if write.atomic:
                    db.execute("ROLLBACK TO write")
                    db.execute("RELEASE write")
                outcomes.append((False, exc))
                continue
            if write.atomic:
                db.execute("RELEASE write")
            outcomes.append((True, result))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return outcomes


class GroupCommitWriter:
    """Owns the write connection; see the module docstring."""

    def __init__(self, conn: aiosqlite.Connection, max_batch: int = 2000):
        self._conn = conn
        self._max_batch = max_batch
        self._queue: deque[_Write] = deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None
        self.batches = 0  # how many transactions were committed (for tests and benchmarks)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="scaffold-store-writer")

    async def submit(self, fn: Callable[..., Any], *args: Any, atomic: bool = False) -> Any:
        if self._closing or self._task is None:
            raise StoreClosed("the store is closed; no more writes are accepted")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Write(fn, args, atomic, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Finish every write already submitted, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._commit_next_batch()
        finally:
            for write in self._queue:  # only left if the loop itself failed
                if not write.future.done():
                    write.future.set_exception(StoreClosed("the store's writer stopped"))

    async def _commit_next_batch(self) -> None:
        batch: list[_Write] = []
        while self._queue and len(batch) < self._max_batch:
            write = self._queue.popleft()
            if not write.future.cancelled():
                batch.append(write)
        if not batch:
            return
        try:
            outcomes = await in_thread(self._conn, _run_batch, batch)
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else StoreClosed("the store's writer was stopped")
            for write in batch:
                if not write.future.done():
                    write.future.set_exception(failure)
            if failure is not exc:
                raise
            return
        self.batches += 1
        for write, (ok, value) in zip(batch, outcomes, strict=True):
            if write.future.done():
                continue
            if ok:
                write.future.set_result(value)
            else:
                write.future.set_exception(value)
