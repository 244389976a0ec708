"""Diagnostic: where the wall time of one task goes on a chain's critical path (no figure to meet).

    python bench/trace_task_latency.py [--tasks 100] [--executor process|docker|fake] [--store sqlite|memory]

Runs an N-task chain through ``open_core`` with proxies around the store and the executor (nothing
in scaffold/ is changed): every store call and every executor call is timed, and the engine's
event bus gives the state transitions. In a chain exactly one task is active at a time, so the
per-task time splits cleanly into:

* **executor.run**: from the engine's call to the executor until it returns, split further for the
  process executor into thread hops (``asyncio.to_thread`` prepare/collect), spawn, the process's
  own life, and the rest -- or, with the process spawner (as root), the request, the time until
  the spawner reports the process started (its child wrote the run directory by then, or is
  writing it), and until it reports it exited;
* **store awaits**: the time the task's coroutine is blocked on a store call (per method);
* **the rest**: engine code and event-loop scheduling between those.

Prints the median per task of each part.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import cascade_yaml, chain

from scaffold.app import make_executor, make_store, open_core
from scaffold.config import Settings
from scaffold.engine.spec import parse_cascade

now = time.perf_counter


class Timed:
    """Wraps every coroutine method of ``inner``; records (name, start, end) of each call."""

    def __init__(self, inner: Any, log: list[tuple[str, float, float]], prefix: str):
        self._inner, self._log, self._prefix = inner, log, prefix

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            start = now()
            try:
                return await attr(*args, **kwargs)
            finally:
                self._log.append((f"{self._prefix}.{name}", start, now()))

        return call


def patch_thread_hops(log: list[tuple[str, float, float]]) -> None:
    """Time asyncio.to_thread and loop.subprocess_exec as the process executor sees them."""
    import scaffold.executors.process as proc

    real_to_thread = asyncio.to_thread

    async def to_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
        start = now()
        try:
            return await real_to_thread(fn, *args, **kwargs)
        finally:
            log.append((f"to_thread({getattr(fn, '__name__', fn)})", start, now()))

    proc.asyncio.to_thread = to_thread  # type: ignore[attr-defined]  # the module's asyncio is global
    loop = asyncio.get_running_loop()
    real_exec = loop.subprocess_exec

    async def subprocess_exec(*args: Any, **kwargs: Any) -> Any:
        start = now()
        transport, protocol = await real_exec(*args, **kwargs)
        log.append(("spawn (loop.subprocess_exec)", start, now()))
        spawned = now()
        real_exited = protocol.process_exited

        def exited() -> None:
            log.append(("process alive (spawn -> exit seen)", spawned, now()))
            real_exited()

        protocol.process_exited = exited
        return transport, protocol

    loop.subprocess_exec = subprocess_exec  # type: ignore[method-assign]

    # the process spawner (as root): request sent -> "started" -> "exited" replies
    real_send = proc._SpawnerClient.send

    def send(self: Any, child: Any, *args: Any, **kwargs: Any) -> None:
        sent = now()
        real_send(self, child, *args, **kwargs)
        log.append(("spawner: send the request (and its plan)", sent, now()))

        def started(_: Any) -> None:
            log.append(("spawner: request sent -> started reported", sent, now()))
            began = now()
            child.exited.add_done_callback(
                lambda _: log.append(("spawner: started -> exit reported", began, now()))
            )

        child.started.add_done_callback(started)

    proc._SpawnerClient.send = send  # type: ignore[method-assign]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--executor", choices=["process", "docker", "fake"], default="process")
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()
    log: list[tuple[str, float, float]] = []
    if args.executor == "process":
        patch_thread_hops(log)
    data_dir = Path(tempfile.mkdtemp(prefix="scaffold-trace-"))
    try:
        settings = Settings(data_dir=data_dir, executor=args.executor, max_running=256)
        if args.store == "memory":
            from scaffold.store.memory import MemoryStore

            store: Any = MemoryStore()
        else:
            store = make_store(settings)
        executor = make_executor(settings)
        await executor.check_available()
        core = await open_core(
            settings, executor=Timed(executor, log, "executor"), store=Timed(store, log, "store")
        )
        events: list[tuple[float, Any]] = []
        core.bus.listen(lambda e: events.append((now(), e)))
        text = cascade_yaml("trace", chain(args.tasks), image="ubuntu:20.04")
        await core.engine.apply(parse_cascade(text), text)
        log.clear()
        events.clear()
        t0 = now()
        wave = await core.engine.start("trace")
        await core.engine.wait_wave(wave.id)
        total = now() - t0
        await core.close()
        if hasattr(executor, "close"):
            await executor.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.executor == "docker":
            import subprocess

            ids = subprocess.run(
                ["docker", "ps", "-aq", "--filter", "label=scaffold.cascade=trace"],
                capture_output=True,
                text=True,
            ).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)

    n = args.tasks
    print(
        f"{n}-task chain, executor={args.executor}, store={args.store}: {total:.3f} s, "
        f"{total / n * 1000:.2f} ms per task"
    )
    sums: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    for name, start, end in log:
        sums[name] += end - start
        counts[name] += 1
    print(f"\n{'call':<44} {'calls':>6} {'ms/call':>8} {'ms/task':>8}")
    for name in sorted(sums, key=lambda k: -sums[k]):
        print(
            f"{name:<44} {counts[name]:>6} {sums[name] / counts[name] * 1000:>8.3f} "
            f"{sums[name] / n * 1000:>8.3f}"
        )

    # Critical path per task from the bus: waiting -> running -> run ended -> final state -> child waiting
    marks: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for t, e in events:
        task = e.data.get("task")
        if e.kind == "task" and e.data.get("old") != e.data.get("state"):
            marks[task].setdefault(f"task:{e.data['state']}", t)
        elif e.kind == "run" and task:
            marks[task].setdefault(f"run:{e.data['state']}", t)
    phases: dict[str, list[float]] = collections.defaultdict(list)
    for i in range(n):
        m = marks.get(f"t{i}", {})
        nxt = marks.get(f"t{i + 1}", {})
        try:
            phases["waiting -> running (persist waiting, insert_run, slot)"].append(
                m["task:running"] - m["task:waiting"]
            )
            phases["running -> run ended (executor + log flush)"].append(m["run:success"] - m["task:running"])
            phases["run ended -> task success (transition)"].append(m["task:success"] - m["run:success"])
            if nxt:
                phases["task success -> child waiting (persist, propagate)"].append(
                    nxt["task:waiting"] - m["task:success"]
                )
        except KeyError:
            continue
    print("\ncritical path per task (median ms, from bus events):")
    for name, values in phases.items():
        print(f"  {name:<58} {statistics.median(values) * 1000:8.3f}")


if __name__ == "__main__":
    asyncio.run(main())
