"""Scaffold (real engine, SQLite store, process executor) vs a minimal asyncio baseline.

    python bench/engine_vs_baseline.py [--repeats 7] [--max-running 256] [--tmp DIR] [--profile WORKLOAD]

Scaffold goes through ``open_core`` with a fresh data directory per run of a workload, the SQLite
store and the process executor; ``max_running`` is high enough not to throttle. The baseline spawns
the same processes (``sh -c 'echo x'`` through ``asyncio.create_subprocess_exec``, stdout read to
the end) in topological order with the same concurrency (bench/_common.py:run_dag), nothing else.

A third, informative column, *baseline+ns*, spawns ``sh -c 'echo x'`` through the same
``unshare``/``bwrap`` prefix the process executor uses (its private mount namespace; as root, where
the executor's process spawner makes the namespace itself, the ``unshare`` command), so the cost of
that isolation can be told apart from the engine's own.

The breakdown also times ``ProcessExecutor.run`` alone against the baseline spawn, with how long the
event loop is busy per run (callbacks, and whatever blocks in them: a fork, a wait for an exec).

Workloads: the 15-task shape of examples/application-deploy.yaml, a 1 -> 200 -> 1 fan-out, a 10-task
and a 100-task chain, every task ``echo x``. Figures are medians over ``--repeats`` runs, the two
sides alternating so that load from other jobs hits both alike. The per-task overhead is the slope
((scaffold_100 - scaffold_10) - (baseline_100 - baseline_10)) / 90; target <= 5 ms.
Start-up (``open_core`` + ``apply``, including the executor's namespace probe and the schema
migration of a new database) is reported on its own.

CPU time, a figure that depends much less on the machine's load than wall time: for each run of a
workload, the CPU time used from ``start`` to the wave's end by the Scaffold side -- the server
(this process, all its threads: ``getrusage``), the process spawner (its threads, from
``/proc/<pid>/task/*/schedstat``; its main thread, and the thread that makes run directories
ahead) and the scripts it started (the spawner's reaped children,
``cutime + cstime`` in clock ticks) -- and by the baseline side (this process and its reaped
children, ``getrusage``); the per-task CPU overhead is the chain slope of their difference.

``--tmp DIR``: where the fresh data directories (and so the run directories) are made; by default
the system's temporary directory. Creating files costs what that file system makes it cost: on an
ext4 without a journal, allocating an inode skips every inode of the block group freed in the last
minute (five, while its inode table block is not written back), so next to a shared ``/tmp`` where
files come and go it can cost 50 times as much CPU as elsewhere on the same disk. For that reason the
data directories are all removed at the end, not after each run (a server does not delete hundreds
of files in the middle of a wave; the benchmark's own cleanup would slow the next run down).

``--profile WORKLOAD`` (deploy, fan200, chain10, chain100) runs Scaffold on that workload once under
pyinstrument (if installed, else cProfile) and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    Shape,
    cascade_yaml,
    chain,
    deploy_shape,
    fan_out_in,
    median,
    print_machine,
    run_dag,
    spawn_echo,
    spread,
    verdict,
)

from scaffold.app import open_core
from scaffold.config import Settings
from scaffold.engine.spec import parse_cascade
from scaffold.engine.states import State

TARGET_MS_PER_TASK = 5.0
CPU_KEYS = ("cpu_server", "cpu_spawner", "cpu_ahead", "cpu_scripts")
_TICK = os.sysconf("SC_CLK_TCK")


def own_cpu() -> tuple[float, float]:
    """CPU seconds of this process (all threads) and of its reaped children."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def process_cpu(pid: int | None) -> tuple[float, float, float]:
    """CPU seconds of process ``pid``: its main thread and its other threads (ns precision), and
    its reaped children (clock ticks); zeros without it."""
    if pid is None:
        return 0.0, 0.0, 0.0
    try:
        main = others = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                ns = int(stat.read().split()[0])
            if int(tid) == pid:
                main += ns
            else:
                others += ns
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return main / 1e9, others / 1e9, (int(fields[13]) + int(fields[14])) / _TICK
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0, 0.0


_LEFT: list[Path] = []


def remove_later(path: Path) -> None:
    """Remove ``path`` when the benchmark ends, not now (see the module's docstring: ``--tmp``)."""
    _LEFT.append(path)


def remove_left() -> None:
    while _LEFT:
        shutil.rmtree(_LEFT.pop(), ignore_errors=True)


def spawner_pid(core_or_executor: Any) -> int | None:
    executor = getattr(core_or_executor, "executor", core_or_executor)
    client = getattr(executor, "_spawner", None)
    return client.pid if client is not None else None


def workloads() -> dict[str, Shape]:
    return {"deploy": deploy_shape(), "fan200": fan_out_in(200), "chain10": chain(10), "chain100": chain(100)}


async def run_scaffold(name: str, shape: Shape, max_running: int, *, fake: bool = False) -> dict[str, float]:
    """One fresh data directory: open_core + apply (start-up), then start -> wave ended (run).
    ``fake``: the FakeExecutor instead of the process executor (the engine + SQLite alone)."""
    text = cascade_yaml(name, shape)
    data_dir = Path(tempfile.mkdtemp(prefix="scaffold-bench-"))
    try:
        settings = Settings(
            data_dir=data_dir, executor="fake" if fake else "process", max_running=max_running
        )
        t0 = time.perf_counter()
        spec = parse_cascade(text, name)
        t1 = time.perf_counter()
        core = await open_core(settings)
        t2 = time.perf_counter()
        await core.engine.apply(spec, text, by="bench")
        t3 = time.perf_counter()
        spawner = spawner_pid(core)
        server0, spawner0 = own_cpu()[0], process_cpu(spawner)
        wave = await core.engine.start(name, by="bench")
        await core.engine.wait_wave(wave.id)
        t4 = time.perf_counter()
        server1, spawner1 = own_cpu()[0], process_cpu(spawner)
        bad = [v.name for v in core.engine.board(name) if v.state is not State.SUCCESS]
        if bad:
            raise RuntimeError(
                f"{len(bad)} tasks did not succeed, e.g. {bad[0]}: "
                f"{core.engine.cascade(name).rows[bad[0]].reason}"
            )
        await core.close()
        t5 = time.perf_counter()
        return {
            "parse": t1 - t0,
            "open_core": t2 - t1,
            "apply": t3 - t2,
            "startup": t3 - t1,
            "run": t4 - t3,
            "close": t5 - t4,
            "cpu_server": server1 - server0,
            "cpu_spawner": spawner1[0] - spawner0[0],
            "cpu_ahead": spawner1[1] - spawner0[1],
            "cpu_scripts": spawner1[2] - spawner0[2],
        }
    finally:
        remove_later(data_dir)


async def run_baseline(shape: Shape, concurrency: int, argv: tuple[str, ...]) -> float:
    return (await run_baseline_cpu(shape, concurrency, argv))[0]


async def run_baseline_cpu(
    shape: Shape, concurrency: int, argv: tuple[str, ...]
) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the runner, of the scripts)."""
    cpu0 = own_cpu()
    start = time.perf_counter()
    await run_dag(shape, lambda _name: spawn_echo(argv), concurrency)
    wall = time.perf_counter() - start
    cpu1 = own_cpu()
    return wall, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]


class _NullSink:
    def write(self, data: bytes) -> None:
        pass

    def display(self, raw: bytes) -> None:
        pass

    def started(self, info: dict[str, str]) -> None:
        pass


class _LoopBusy:
    """Time the event loop spends outside its selector's wait (running callbacks, including any
    blocking call they make), by wrapping the selector's ``select``."""

    def __init__(self) -> None:
        self.selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        self.select = self.selector.select
        self.waiting = 0.0
        self.selector.select = self._select

    def _select(self, timeout: float | None = None) -> Any:
        start = time.perf_counter()
        try:
            return self.select(timeout)
        finally:
            self.waiting += time.perf_counter() - start

    def close(self) -> None:
        self.selector.select = self.select


async def executor_alone(count: int) -> dict[str, float]:
    """Per run of ProcessExecutor.run (``echo x``, no engine, no store) and of the baseline
    spawn, ``count`` sequential runs each, alternating: median seconds of the executor
    (``executor``) and of the baseline (``spawn``); mean seconds the event loop was busy per
    executor run and per baseline spawn (``executor_busy``, ``spawn_busy``); mean CPU seconds per
    run of this process, the spawner and the script (``executor_cpu``), of this process and the
    script for the baseline (``spawn_cpu``)."""
    from scaffold.engine.ports import RunRequest
    from scaffold.executors.process import ProcessExecutor

    runs_dir = Path(tempfile.mkdtemp(prefix="scaffold-bench-exec-"))
    executor = ProcessExecutor(runs_dir / "runs")
    busy = _LoopBusy()
    try:
        await executor.check_available()
        ex_times, base_times = [], []
        ex_busy = base_busy = ex_cpu = base_cpu = 0.0
        for i in range(count):
            request = RunRequest(run_id=f"bench.t.{i}", cascade="bench", task="t", number=i, script="echo x")
            pid = spawner_pid(executor)
            cpu0, spawner0 = sum(own_cpu()), sum(process_cpu(pid))
            waited, start = busy.waiting, time.perf_counter()
            result = await executor.run(request, _NullSink())
            ex_times.append(time.perf_counter() - start)
            ex_busy += ex_times[-1] - (busy.waiting - waited)
            ex_cpu += sum(own_cpu()) - cpu0 + sum(process_cpu(spawner_pid(executor))) - spawner0
            if result.exit_code != 0:
                raise RuntimeError(f"executor run failed: {result}")
            cpu0 = sum(own_cpu())
            waited, start = busy.waiting, time.perf_counter()
            await spawn_echo()
            base_times.append(time.perf_counter() - start)
            base_busy += base_times[-1] - (busy.waiting - waited)
            base_cpu += sum(own_cpu()) - cpu0
        return {
            "executor": median(ex_times),
            "spawn": median(base_times),
            "executor_busy": ex_busy / count,
            "spawn_busy": base_busy / count,
            "executor_cpu": ex_cpu / count,
            "spawn_cpu": base_cpu / count,
        }
    finally:
        busy.close()
        await executor.close()
        remove_later(runs_dir)


async def isolation_prefix() -> tuple[str, ...]:
    """The mount-namespace prefix the process executor picked on this host."""
    from scaffold.executors.process import _METHODS, ProcessExecutor

    probe_dir = Path(tempfile.mkdtemp(prefix="scaffold-bench-probe-"))
    executor = ProcessExecutor(probe_dir)
    try:
        await executor.check_available()
        method = executor.method
    finally:
        await executor.close()  # its spawner, before the directory goes
        shutil.rmtree(probe_dir, ignore_errors=True)
    if method == "bwrap":
        return ("bwrap", "--dev-bind", "/", "/", "--")
    if method == "syscall":  # the executor makes the namespace itself; compare with the command form
        return (*_METHODS["unshare"], "--")
    return (*_METHODS[method], "--")  # type: ignore[index]


async def profile(name: str, shape: Shape, max_running: int) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
    if Profiler is not None:
        profiler = Profiler(async_mode="disabled", interval=0.0005)
        profiler.start()
        result = await run_scaffold(name, shape, max_running)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    else:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        result = await run_scaffold(name, shape, max_running)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    print({k: round(v, 4) for k, v in result.items()})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-running", type=int, default=256)
    parser.add_argument("--profile", choices=["deploy", "fan200", "chain10", "chain100"])
    parser.add_argument("--tmp", help="where the data directories go (default: the temporary directory)")
    args = parser.parse_args()
    if args.tmp:
        tempfile.tempdir = os.path.abspath(args.tmp)
    shapes = workloads()
    if args.profile:
        await run_scaffold("warmup", chain(3), args.max_running)
        await profile(args.profile, shapes[args.profile], args.max_running)
        return

    print_machine()
    print(f"data directories in {tempfile.gettempdir()}")
    prefix = await isolation_prefix()
    ns_argv = (*prefix, "sh", "-c", "echo x")
    plain = ("sh", "-c", "echo x")
    # warm up: imports, page cache, the first SQLite database
    await run_scaffold("warmup", chain(3), args.max_running)
    await run_baseline(chain(3), args.max_running, plain)

    samples: dict[str, dict[str, list[float]]] = {
        w: {
            "scaffold": [],
            "baseline": [],
            "baseline_ns": [],
            "startup": [],
            "open_core": [],
            "apply": [],
            "fake": [],
            "fake_cpu": [],
            "cpu_server": [],
            "cpu_spawner": [],
            "cpu_ahead": [],
            "cpu_scripts": [],
            "cpu_runner": [],
            "cpu_base_scripts": [],
        }
        for w in shapes
    }
    alone: dict[str, list[float]] = {}  # executor_alone's figures, in ms, one per repeat
    for rep in range(args.repeats):
        for wname, shape in shapes.items():
            runs: list[Any] = [
                ("baseline", lambda s=shape: run_baseline_cpu(s, args.max_running, plain)),
                ("scaffold", lambda s=shape, n=wname: run_scaffold(n, s, args.max_running)),
                ("baseline_ns", lambda s=shape: run_baseline(s, args.max_running, ns_argv)),
            ]
            if rep % 2:
                runs.reverse()
            for side, fn in runs:
                out = await fn()
                if side == "scaffold":
                    samples[wname]["scaffold"].append(out["run"])
                    for key in ("startup", "open_core", "apply", *CPU_KEYS):
                        samples[wname][key].append(out[key])
                elif side == "baseline":
                    wall, runner, scripts = out
                    samples[wname]["baseline"].append(wall)
                    samples[wname]["cpu_runner"].append(runner)
                    samples[wname]["cpu_base_scripts"].append(scripts)
                else:
                    samples[wname][side].append(out)
            if wname.startswith("chain"):  # the engine + SQLite alone, for the breakdown
                fake = await run_scaffold(wname, shape, args.max_running, fake=True)
                samples[wname]["fake"].append(fake["run"])
                samples[wname]["fake_cpu"].append(fake["cpu_server"])
        for key, value in (await executor_alone(50)).items():
            alone.setdefault(key, []).append(value * 1000)
        ex, base = alone["executor"][-1], alone["spawn"][-1]
        print(
            f"  repeat {rep + 1}/{args.repeats} done (ProcessExecutor.run alone {ex:.2f} ms, "
            f"baseline spawn {base:.2f} ms; load average {os.getloadavg()[0]:.2f})",
            flush=True,
        )

    med = {w: {k: median(v) for k, v in s.items() if v} for w, s in samples.items()}
    print()
    print(
        f"Wall time of one run (start -> wave ended), median of {args.repeats}, seconds "
        f"(max_running={args.max_running}, {os.cpu_count()} cores)"
    )
    print(
        f"{'workload':<10} {'tasks':>6} {'scaffold':>9} {'baseline':>9} {'base+ns':>9} "
        f"{'ratio':>6} {'ms/task over base':>18}   {'scaffold min-max':>16} {'baseline min-max':>16}"
    )
    for wname, shape in shapes.items():
        m = med[wname]
        per_task = (m["scaffold"] - m["baseline"]) / len(shape) * 1000
        print(
            f"{wname:<10} {len(shape):>6} {m['scaffold']:>9.3f} {m['baseline']:>9.3f} "
            f"{m['baseline_ns']:>9.3f} "
            f"{m['scaffold'] / m['baseline']:>6.1f} {per_task:>18.2f}   "
            f"{spread(samples[wname]['scaffold']):>16} {spread(samples[wname]['baseline']):>16}"
        )

    slope = (
        (
            (med["chain100"]["scaffold"] - med["chain10"]["scaffold"])
            - (med["chain100"]["baseline"] - med["chain10"]["baseline"])
        )
        / 90
        * 1000
    )
    slope_ns = (
        (
            (med["chain100"]["baseline_ns"] - med["chain10"]["baseline_ns"])
            - (med["chain100"]["baseline"] - med["chain10"]["baseline"])
        )
        / 90
        * 1000
    )
    # the same slope from every repeat's own pairs, to show its spread
    per_rep = [
        (
            (samples["chain100"]["scaffold"][i] - samples["chain10"]["scaffold"][i])
            - (samples["chain100"]["baseline"][i] - samples["chain10"]["baseline"][i])
        )
        / 90
        * 1000
        for i in range(args.repeats)
    ]
    print()
    print(
        f"per-task overhead (chain slope, medians): {slope:.2f} ms/task over the baseline "
        f"(target <= {TARGET_MS_PER_TASK:.0f} ms): {verdict(slope <= TARGET_MS_PER_TASK)}"
    )
    print(f"  per-repeat slopes: {', '.join(f'{x:.2f}' for x in per_rep)} ms (median {median(per_rep):.2f})")

    def cpu_slope(keys: tuple[str, ...], i: int | None = None) -> float:
        def total(w: str) -> float:
            if i is None:
                return sum(med[w][k] for k in keys)
            return sum(samples[w][k][i] for k in keys)

        return (total("chain100") - total("chain10")) / 90 * 1000

    ours, theirs = CPU_KEYS, ("cpu_runner", "cpu_base_scripts")
    cpu_over = [cpu_slope(ours, i) - cpu_slope(theirs, i) for i in range(args.repeats)]
    print(
        f"CPU time per task (chain slope, medians): Scaffold {cpu_slope(ours):.2f} ms "
        f"(server {cpu_slope(ours[:1]):.2f}, process spawner {cpu_slope(ours[1:2]):.2f} "
        f"+ its thread making run directories ahead {cpu_slope(ours[2:3]):.2f}, "
        f"scripts {cpu_slope(ours[3:]):.2f}), baseline {cpu_slope(theirs):.2f} ms "
        f"(runner {cpu_slope(theirs[:1]):.2f}, scripts {cpu_slope(theirs[1:]):.2f})"
    )
    print(
        f"  CPU overhead over the baseline: {cpu_slope(ours) - cpu_slope(theirs):.2f} ms/task "
        f"(per repeat: {', '.join(f'{x:.2f}' for x in cpu_over)}; median {median(cpu_over):.2f})"
    )
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    engine_slope = (med["chain100"]["fake"] - med["chain10"]["fake"]) / 90 * 1000
    print()
    print("where the per-task overhead goes (medians):")
    print(
        f"  engine + SQLite store, FakeExecutor (chain slope):          {engine_slope:6.2f} ms/task"
        f"  (CPU {cpu_slope(('fake_cpu',)):.2f} ms/task)"
    )
    print(
        f"  ProcessExecutor.run alone vs the baseline spawn:           "
        f"{median(alone['executor']) - median(alone['spawn']):6.2f} ms/task"
        f"  ({median(alone['executor']):.2f} vs {median(alone['spawn']):.2f} ms per run, 50 sequential runs)"
    )
    m = {key: median(values) for key, values in alone.items()}
    print(
        f"    event loop busy per run (callbacks and what blocks in them): "
        f"{m['executor_busy']:.2f} ms vs {m['spawn_busy']:.2f} ms for the baseline spawn"
    )
    print(
        f"    CPU per run (this process, the spawner and its threads, the script): "
        f"{m['executor_cpu']:.2f} ms vs {m['spawn_cpu']:.2f} ms for the baseline spawn"
    )
    print(f"    of which the mount-namespace prefix ({' '.join(prefix[:-1])}): {slope_ns:6.2f} ms/task")
    print()
    print("start-up (open_core + apply on a fresh data directory), median seconds:")
    for wname in shapes:
        m = med[wname]
        print(f"  {wname:<10} {m['startup']:.3f}  (open_core {m['open_core']:.3f}, apply {m['apply']:.3f})")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    finally:
        remove_left()
