"""Scaffold on the Docker executor vs raw Docker SDK calls, on the application-deploy shape.

    python bench/docker_vs_raw.py [--repeats 3] [--image ubuntu:20.04] [--max-running 256]

Scaffold: ``open_core`` on a fresh data directory with the Docker executor and the SQLite store;
the timed part is ``engine.start`` -> the wave ended (start-up is reported on its own). Its
containers are kept after they exit (by design, for ``retention_seconds``): the benchmark removes
them after each run, outside the timed part.

Raw baseline: the same 15 containers (``sh -c 'echo x'`` in the same image) in the same
topological order with the same concurrency (bench/_common.py:run_dag); each is, on a thread of
its own, ``create_container`` + ``start`` + ``wait`` + ``logs`` + ``remove_container`` through the
SDK's low-level client -- nothing else. An informative second baseline leaves the remove out
(Scaffold does not remove either).

Both sides alternate within each repeat; figures are medians. Target: Scaffold <= 1.15x raw.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import Shape, cascade_yaml, deploy_shape, median, print_machine, run_dag, spread, verdict

from scaffold.app import open_core
from scaffold.config import Settings
from scaffold.engine.spec import parse_cascade
from scaffold.engine.states import State

TARGET_RATIO = 1.15


def docker_api():
    import docker

    return docker.from_env(max_pool_size=64, timeout=120).api


def raw_container(api, image: str, remove: bool) -> None:
    """The whole life of one container, blocking (runs on a pool thread)."""
    cid = api.create_container(image=image, command=["sh", "-c", "echo x"], detach=True)["Id"]
    try:
        api.start(cid)
        status = api.wait(cid)
        out = api.logs(cid, stdout=True, stderr=True)
    finally:
        if remove:
            api.remove_container(cid, v=True, force=True)
    if status.get("StatusCode") != 0 or out != b"x\n":
        raise RuntimeError(f"raw container failed: {status}, {out!r}")
    if not remove:
        raw_container.leftovers.append(cid)  # type: ignore[attr-defined]


raw_container.leftovers = []  # type: ignore[attr-defined]


async def run_raw(
    shape: Shape, api, image: str, concurrency: int, pool: ThreadPoolExecutor, remove: bool
) -> float:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    await run_dag(
        shape, lambda _n: loop.run_in_executor(pool, raw_container, api, image, remove), concurrency
    )
    elapsed = time.perf_counter() - start
    if not remove:
        for cid in raw_container.leftovers:  # type: ignore[attr-defined]
            await loop.run_in_executor(pool, lambda c=cid: api.remove_container(c, v=True, force=True))
        raw_container.leftovers.clear()  # type: ignore[attr-defined]
    return elapsed


async def run_scaffold(shape: Shape, api, image: str, max_running: int) -> dict[str, float]:
    name = "deploy-docker"
    text = cascade_yaml(name, shape, image=image)
    data_dir = Path(tempfile.mkdtemp(prefix="scaffold-bench-docker-"))
    core = None
    try:
        settings = Settings(data_dir=data_dir, executor="docker", max_running=max_running)
        spec = parse_cascade(text, name)
        t0 = time.perf_counter()
        core = await open_core(settings)
        await core.engine.apply(spec, text, by="bench")
        t1 = time.perf_counter()
        wave = await core.engine.start(name, by="bench")
        await core.engine.wait_wave(wave.id)
        t2 = time.perf_counter()
        bad = [v for v in core.engine.board(name) if v.state is not State.SUCCESS]
        if bad:
            raise RuntimeError(f"{len(bad)} tasks did not succeed, e.g. {bad[0].name}: {bad[0].reason}")
        return {"startup": t1 - t0, "run": t2 - t1}
    finally:
        if core is not None:
            await core.close()
            close = getattr(core.executor, "close", None)
            if close is not None:
                await close()
        instance = (
            (data_dir / "instance-id").read_text().strip() if (data_dir / "instance-id").exists() else None
        )
        if instance:
            for c in api.containers(all=True, filters={"label": f"scaffold.instance={instance}"}):
                api.remove_container(c["Id"], v=True, force=True)
        shutil.rmtree(data_dir, ignore_errors=True)


class _NullSink:
    def write(self, data: bytes) -> None:
        pass

    def display(self, raw: bytes) -> None:
        pass

    def started(self, info: dict[str, str]) -> None:
        pass


async def executor_alone(api, image: str, count: int, pool: ThreadPoolExecutor) -> tuple[float, float]:
    """Median seconds of one DockerExecutor.run (no engine, no store) and of one raw container
    (create/start/wait/logs/remove), ``count`` sequential runs each, alternating."""
    from scaffold.engine.ports import RunRequest
    from scaffold.executors.docker import DockerExecutor

    runs_dir = Path(tempfile.mkdtemp(prefix="scaffold-bench-dexec-"))
    instance = f"bench{int(time.time())}"
    executor = DockerExecutor(runs_dir / "runs", instance_id=instance)
    loop = asyncio.get_running_loop()
    ex_times, raw_times = [], []
    try:
        await executor.check_available()
        for i in range(count):
            request = RunRequest(
                run_id=f"bench.t.{i}", cascade="bench", task="t", number=i, script="echo x", image=image
            )
            start = time.perf_counter()
            result = await executor.run(request, _NullSink())
            ex_times.append(time.perf_counter() - start)
            if result.exit_code != 0:
                raise RuntimeError(f"executor run failed: {result}")
            start = time.perf_counter()
            await loop.run_in_executor(pool, raw_container, api, image, True)
            raw_times.append(time.perf_counter() - start)
    finally:
        await executor.close()
        for c in api.containers(all=True, filters={"label": f"scaffold.instance={instance}"}):
            api.remove_container(c["Id"], v=True, force=True)
        shutil.rmtree(runs_dir, ignore_errors=True)
    return median(ex_times), median(raw_times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image", default="ubuntu:20.04")
    parser.add_argument("--max-running", type=int, default=256)
    args = parser.parse_args()
    print_machine()
    api = docker_api()
    shape = deploy_shape()
    pool = ThreadPoolExecutor(max_workers=args.max_running, thread_name_prefix="raw-docker")
    # warm up both paths (image cache, SDK imports, connection pool)
    await run_raw(shape[:2], api, args.image, args.max_running, pool, remove=True)
    await run_scaffold(shape[:1], api, args.image, args.max_running)

    samples: dict[str, list[float]] = {"scaffold": [], "raw": [], "raw_keep": [], "startup": []}
    for rep in range(args.repeats):
        sides = ["raw", "scaffold", "raw_keep"]
        if rep % 2:
            sides.reverse()
        for side in sides:
            if side == "scaffold":
                out = await run_scaffold(shape, api, args.image, args.max_running)
                samples["scaffold"].append(out["run"])
                samples["startup"].append(out["startup"])
            else:
                samples[side].append(
                    await run_raw(shape, api, args.image, args.max_running, pool, remove=side == "raw")
                )
        print(
            f"  repeat {rep + 1}/{args.repeats}: scaffold {samples['scaffold'][-1]:.3f} s, "
            f"raw {samples['raw'][-1]:.3f} s, raw without remove {samples['raw_keep'][-1]:.3f} s",
            flush=True,
        )
    alone = await executor_alone(api, args.image, 15, pool)
    pool.shutdown()

    m = {k: median(v) for k, v in samples.items()}
    ratio = m["scaffold"] / m["raw"]
    print()
    print(f"deploy shape ({len(shape)} containers, image {args.image}), median of {args.repeats}, seconds")
    print(f"  scaffold (docker executor)        {m['scaffold']:.3f}  ({spread(samples['scaffold'])})")
    print(f"  raw SDK create/start/wait/logs/rm {m['raw']:.3f}  ({spread(samples['raw'])})")
    print(f"  raw, without remove (informative) {m['raw_keep']:.3f}  ({spread(samples['raw_keep'])})")
    print(f"  ratio scaffold/raw: {ratio:.2f}x (target <= {TARGET_RATIO}x): {verdict(ratio <= TARGET_RATIO)}")
    paired = [s / r for s, r in zip(samples["scaffold"], samples["raw"], strict=True)]
    listed = ", ".join(f"{x:.2f}" for x in paired)
    print(f"  per-repeat ratios scaffold/raw: {listed} (median {median(paired):.2f}x)")
    print(f"  ratio scaffold/raw without remove: {m['scaffold'] / m['raw_keep']:.2f}x")
    print(
        f"  one container, sequential (median of 15): DockerExecutor.run {alone[0] * 1000:.0f} ms, "
        f"raw create/start/wait/logs/remove {alone[1] * 1000:.0f} ms"
    )
    print(f"  start-up (open_core + apply): {m['startup']:.3f} s")


if __name__ == "__main__":
    asyncio.run(main())
