"""Store micro benchmark: compare-and-swap updates and whole task lifecycles per second.

    python bench/store_bench.py [--ops 10000] [--tasks 5000] [--concurrency 200]

Figures for MemoryStore (the in-process ceiling), SqliteStore (group commit), and, as the baseline
measured in the same run, the naive way: one aiosqlite ``execute`` + ``commit`` per write.
A "lifecycle" is what the engine does per task: insert_run, 3 update_task CAS, update_run and a
log append (6 writes). The engine needs >= 2,000 lifecycles/s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiosqlite

from scaffold.engine.records import RunRow, TaskRow
from scaffold.engine.states import State
from scaffold.store.crypto import SecretBox
from scaffold.store.memory import MemoryStore
from scaffold.store.sqlite import SqliteStore

ROWS = 100
FLIP = {State.NOT_STARTED: State.WAITING, State.WAITING: State.NOT_STARTED}


async def cas_sequential(store, ops: int) -> float:
    states = [State.NOT_STARTED] * ROWS
    start = time.perf_counter()
    for i in range(ops):
        row = i % ROWS
        new = FLIP[states[row]]
        assert await store.update_task(TaskRow("bench", f"t{row}", new, i), states[row])
        states[row] = new
    return ops / (time.perf_counter() - start)


async def cas_concurrent(store, ops: int, concurrency: int) -> float:
    async def worker(w: int) -> None:
        for i in range(w, ops, concurrency):  # each worker owns its rows: every CAS wins
            row = f"c{w}"
            old = State.NOT_STARTED if (i // concurrency) % 2 == 0 else State.WAITING
            assert await store.update_task(TaskRow("bench", row, FLIP[old], i), old)

    await store.put_tasks([TaskRow("bench", f"c{w}") for w in range(concurrency)])
    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return ops / (time.perf_counter() - start)


async def lifecycles(store, tasks: int, concurrency: int) -> float:
    await store.put_tasks([TaskRow("life", f"t{i}") for i in range(tasks)])
    queue = list(range(tasks))

    async def one(i: int) -> None:
        name = f"t{i}"
        run = RunRow("life", name, 1)
        await store.insert_run(run)
        assert await store.update_task(TaskRow("life", name, State.WAITING, 1), State.NOT_STARTED)
        assert await store.update_task(TaskRow("life", name, State.RUNNING, 1), State.WAITING)
        await store.append_log(run.run_id, f"hello from {name}\n")
        assert await store.update_task(TaskRow("life", name, State.SUCCESS, 1), State.RUNNING)
        run.state, run.exit_code = State.SUCCESS, 0
        await store.update_run(run)

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tasks / (time.perf_counter() - start)


async def naive_aiosqlite(path: Path, ops: int, concurrency: int) -> tuple[float, float]:
    """The baseline: every CAS is its own execute + commit on one aiosqlite connection."""
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("CREATE TABLE t (name TEXT PRIMARY KEY, state TEXT, n INTEGER)")
        await db.executemany("INSERT INTO t VALUES (?, 'a', 0)", [(f"t{i}",) for i in range(concurrency)])
        await db.commit()
        lock = asyncio.Lock()

        async def cas(name: str, i: int) -> None:
            async with lock:  # one connection: a write and its commit must not interleave with others
                cursor = await db.execute("UPDATE t SET n = ? WHERE name = ? AND state = 'a'", (i, name))
                assert cursor.rowcount == 1
                await cursor.close()
                await db.commit()

        start = time.perf_counter()
        for i in range(ops):
            await cas(f"t{i % concurrency}", i)
        sequential = ops / (time.perf_counter() - start)

        async def worker(w: int) -> None:
            for i in range(w, ops, concurrency):
                await cas(f"t{w}", i)

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        return sequential, ops / (time.perf_counter() - start)


async def bench_store(name: str, make, ops: int, tasks: int, concurrency: int) -> None:
    store = make()
    await store.open()
    try:
        await store.put_tasks([TaskRow("bench", f"t{i}") for i in range(ROWS)])
        seq = await cas_sequential(store, ops)
        conc = await cas_concurrent(store, ops, concurrency)
        commits_before = getattr(store, "commits", 0)
        life = await lifecycles(store, tasks, concurrency)
        commits = getattr(store, "commits", 0) - commits_before
    finally:
        await store.close()
    extra = f"  ({commits} commits for {tasks * 6} lifecycle writes)" if commits else ""
    print(f"{name:<22} {seq:>12,.0f} {conc:>12,.0f} {life:>14,.0f}{extra}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        print(f"{'store':<22} {'CAS seq/s':>12} {'CAS conc/s':>12} {'lifecycles/s':>14}")
        await bench_store("MemoryStore", MemoryStore, args.ops, args.tasks, args.concurrency)
        await bench_store(
            "SqliteStore",
            lambda: SqliteStore(tmp_path / "bench.db", SecretBox(tmp_path)),
            args.ops,
            args.tasks,
            args.concurrency,
        )
        seq, conc = await naive_aiosqlite(tmp_path / "naive.db", args.ops, args.concurrency)
        print(f"{'naive aiosqlite':<22} {seq:>12,.0f} {conc:>12,.0f} {'-':>14}  (baseline: commit per write)")


if __name__ == "__main__":
    asyncio.run(main())
