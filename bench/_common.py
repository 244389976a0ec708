"""Helpers shared by the benchmarks: DAG shapes, cascade YAML, the asyncio DAG baseline, statistics.

A *shape* is a list of ``(task, [parents])`` in topological order. Every benchmark builds the same
shape twice: as a cascade file for Scaffold and as a plain dict for its baseline.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Shape = list[tuple[str, list[str]]]

# ------------------------------------------------------------------------------------- shapes


def deploy_shape() -> Shape:
    """The 15 tasks of examples/application-deploy.yaml with their dependencies (read from the file)."""
    from scaffold.engine.spec import parse_cascade

    spec = parse_cascade((EXAMPLES / "application-deploy.yaml").read_text(), "application-deploy.yaml")
    return [(t.name, list(t.parents)) for t in spec.tasks]


def chain(n: int) -> Shape:
    return [(f"t{i}", [f"t{i - 1}"] if i else []) for i in range(n)]


def fan_out_in(width: int) -> Shape:
    """1 -> ``width`` -> 1."""
    middle = [(f"m{i}", ["root"]) for i in range(width)]
    return [("root", []), *middle, ("sink", [name for name, _ in middle])]


def fan_out(width: int) -> Shape:
    """1 -> ``width`` (no join)."""
    return [("root", []), *((f"m{i}", ["root"]) for i in range(width))]


def layered(layers: int, width: int, seed: int = 1) -> Shape:
    """``layers`` x ``width`` tasks; every task after the first layer depends on 1 or 2 tasks of the
    layer above (random, fixed seed)."""
    rng = random.Random(seed)
    shape: Shape = []
    for layer in range(layers):
        for i in range(width):
            parents: list[str] = []
            if layer:
                picks = rng.sample(range(width), rng.choice((1, 2)))
                parents = [f"l{layer - 1}_{p}" for p in picks]
            shape.append((f"l{layer}_{i}", parents))
    return shape


def cascade_yaml(name: str, shape: Shape, *, run: str = "echo x", image: str | None = "ubuntu:20.04") -> str:
    lines = ["version: v1", f"name: {name}", "tasks:"]
    for task, parents in shape:
        lines.append(f"  - name: {task}")
        if image:
            lines.append(f"    image: {image}")
        lines.append(f"    run: {run}")
        if parents:
            lines.append(f"    depends_on: [{', '.join(parents)}]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ the baseline


async def run_dag(shape: Shape, run_one: Callable[[str], Awaitable[None]], concurrency: int) -> None:
    """Run every task of ``shape`` as soon as all its parents finished, at most ``concurrency`` at
    once: the minimal scheduler the benchmarks compare Scaffold with."""
    children: dict[str, list[str]] = {name: [] for name, _ in shape}
    waiting: dict[str, int] = {}
    for name, parents in shape:
        waiting[name] = len(parents)
        for parent in parents:
            children[parent].append(name)
    limit = asyncio.Semaphore(concurrency)

    async def one(name: str, group: asyncio.TaskGroup) -> None:
        async with limit:
            await run_one(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                group.create_task(one(child, group))

    async with asyncio.TaskGroup() as group:
        for name, parents in shape:
            if not parents:
                group.create_task(one(name, group))


async def spawn_echo(argv: Sequence[str] = ("sh", "-c", "echo x")) -> None:
    """One process, its stdout read to the end, its exit awaited."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = await proc.stdout.read()  # type: ignore[union-attr]
    code = await proc.wait()
    if code != 0 or out != b"x\n":
        raise RuntimeError(f"baseline process failed: exit {code}, output {out!r}")


# -------------------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Sequence[float]) -> str:
    """``min-max`` of a series, for the reader to judge the noise."""
    return f"{min(values):.3f}-{max(values):.3f}"


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ----------------------------------------------------------------------------------- machine


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "cpu": cpu,
        "python": platform.python_version(),
        "docker": _run(["docker", "version", "--format", "{{.Server.Version}}"]) or "?",
        "kernel": platform.release(),
        "loadavg": load,
    }


def print_machine() -> None:
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
