"""Engine throughput on 10,000-task cascades with the FakeExecutor (no process is started).

    python bench/engine_throughput.py [--repeats 3] [--max-running 256] [--profile layered|fanout]

Two generated shapes of 10,000 tasks: *layered*, 100 layers x 100 tasks, each task depending on 1
or 2 random tasks of the layer above (fixed seed), and *fanout*, one root and 9,999 children.

For each: ``parse_cascade`` of the generated YAML (target < 1 s), then a full run through the real
engine via ``open_core`` with the FakeExecutor and the SQLite store (target >= 2,000 tasks/s from
``start`` to the wave's end), and the same with the MemoryStore (the ceiling without I/O). The
baseline, measured in the same run, is a minimal asyncio scheduler (bench/_common.py:run_dag) that
walks the same DAG with an ``asyncio.sleep(0)`` per task. ``apply`` (loading 10,000 new tasks) is
reported on its own. Medians of ``--repeats``.

``--profile SHAPE`` runs the SQLite variant once under pyinstrument and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Shape, cascade_yaml, fan_out, layered, median, print_machine, run_dag, spread, verdict

from scaffold.app import open_core
from scaffold.config import Settings
from scaffold.engine.spec import parse_cascade
from scaffold.engine.states import State
from scaffold.executors.fake import FakeExecutor
from scaffold.store.memory import MemoryStore


class GcTimer:
    """Time spent in the cyclic garbage collector while active (through gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.full += info["generation"] == 2

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


TARGET_PARSE_S = 1.0
TARGET_TASKS_PER_S = 2000


def shapes() -> dict[str, Shape]:
    return {"layered": layered(100, 100), "fanout": fan_out(9_999)}


async def engine_run(name: str, text: str, store_kind: str, max_running: int) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="scaffold-bench-tp-"))
    try:
        settings = Settings(data_dir=data_dir, executor="fake", max_running=max_running)
        spec = parse_cascade(text, name)
        store: Any = MemoryStore() if store_kind == "memory" else None
        t0 = time.perf_counter()
        core = await open_core(settings, executor=FakeExecutor(), store=store)
        await core.engine.apply(spec, text, by="bench")
        t1 = time.perf_counter()
        with GcTimer() as collector:
            wave = await core.engine.start(name, by="bench")
            await core.engine.wait_wave(wave.id)
        t2 = time.perf_counter()
        done = sum(1 for row in core.engine.cascade(name).rows.values() if row.state is State.SUCCESS)
        if done != len(spec.tasks):
            raise RuntimeError(f"only {done} of {len(spec.tasks)} tasks succeeded")
        await core.close()
        t3 = time.perf_counter()
        return {
            "apply": t1 - t0,
            "run": t2 - t1,
            "close": t3 - t2,
            "tasks": len(spec.tasks),
            "gc": collector.seconds,
            "gc_full": collector.full,
        }
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def baseline_run(shape: Shape, max_running: int) -> float:
    start = time.perf_counter()
    await run_dag(shape, lambda _n: asyncio.sleep(0), max_running)
    return time.perf_counter() - start


def time_parse(text: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        parse_cascade(text, "bench")
        times.append(time.perf_counter() - start)
    return times


async def profile(name: str, text: str, max_running: int) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:  # cProfile: the standard library's, coarser for asyncio
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        result = await engine_run(name, text, "sqlite", max_running)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    else:
        profiler = Profiler(async_mode="disabled")
        profiler.start()
        result = await engine_run(name, text, "sqlite", max_running)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    print({k: round(v, 3) for k, v in result.items()})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-running", type=int, default=256)
    parser.add_argument("--profile", choices=["layered", "fanout"])
    args = parser.parse_args()
    texts = {name: cascade_yaml(name, shape) for name, shape in shapes().items()}
    if args.profile:
        await profile(args.profile, texts[args.profile], args.max_running)
        return
    print_machine()
    results: dict[str, dict[str, list[float]]] = {}
    for name, shape in shapes().items():
        text = texts[name]
        r: dict[str, list[float]] = {
            "parse": time_parse(text, max(5, args.repeats)),
            "sqlite": [],
            "memory": [],
            "baseline": [],
            "apply_sqlite": [],
            "apply_memory": [],
            "gc_sqlite": [],
            "gc_memory": [],
        }
        for rep in range(args.repeats):
            order = ["sqlite", "memory", "baseline"]
            if rep % 2:
                order.reverse()
            for side in order:
                if side == "baseline":
                    r["baseline"].append(await baseline_run(shape, args.max_running))
                else:
                    out = await engine_run(name, text, side, args.max_running)
                    r[side].append(out["run"])
                    r[f"apply_{side}"].append(out["apply"])
                    r[f"gc_{side}"].append(out["gc"] / out["run"])
        results[name] = r
        print(f"  {name}: done", flush=True)

    print()
    print(
        f"{'shape':<8} {'tasks':>6} {'YAML KB':>8} {'parse s':>8} "
        f"{'sqlite tasks/s':>15} {'memory tasks/s':>15} "
        f"{'baseline tasks/s':>17} {'apply sqlite s':>15} {'apply memory s':>15}"
    )
    for name, shape in shapes().items():
        r = results[name]
        n = len(shape)
        print(
            f"{name:<8} {n:>6} {len(texts[name]) / 1024:>8.0f} {median(r['parse']):>8.3f} "
            f"{n / median(r['sqlite']):>15,.0f} {n / median(r['memory']):>15,.0f} "
            f"{n / median(r['baseline']):>17,.0f} {median(r['apply_sqlite']):>15.3f} "
            f"{median(r['apply_memory']):>15.3f}"
        )
    print()
    for name in results:
        r = results[name]
        n = len(shapes()[name])
        parse = median(r["parse"])
        rate = n / median(r["sqlite"])
        print(
            f"{name}: parse_cascade {parse:.3f} s (runs {spread(r['parse'])}; "
            f"target < {TARGET_PARSE_S:.0f} s): "
            f"{verdict(parse < TARGET_PARSE_S)}"
        )
        print(
            f"{name}: engine + SQLite {rate:,.0f} tasks/s (run {median(r['sqlite']):.2f} s, "
            f"runs {spread(r['sqlite'])}; target >= {TARGET_TASKS_PER_S:,}): "
            f"{verdict(rate >= TARGET_TASKS_PER_S)}"
        )
        print(
            f"{name}:   cyclic GC share of the run: {median(r['gc_sqlite']):.0%} with SQLite, "
            f"{median(r['gc_memory']):.0%} with the MemoryStore"
        )


if __name__ == "__main__":
    asyncio.run(main())
