"""Per-run overhead of the executors against a bare baseline measured in the same run.

Not a test (pytest does not collect it). Run: ``python -m tests.executors.bench_overhead [runs]``.

* DockerExecutor (``echo x``) vs ``docker run --rm IMAGE sh -c 'echo x'`` through the SDK
  (``containers.run(..., remove=True)``), one after the other and 8 at a time;
* ProcessExecutor vs ``asyncio.create_subprocess_exec('sh', '-c', 'echo x')``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from scaffold.engine.ports import RunRequest
from scaffold.executors.docker import DockerExecutor
from scaffold.executors.process import ProcessExecutor
from tests.docker_helpers import TEST_IMAGE


class NullSink:
    def write(self, data: bytes) -> None: ...

    def display(self, raw: bytes) -> None: ...

    def started(self, info: dict[str, str]) -> None: ...


def request(number: int) -> RunRequest:
    fields = {"cascade": "bench", "task": "t", "script": "echo x", "image": TEST_IMAGE}
    return RunRequest(run_id=f"bench.t.{number}", number=number, **fields)


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await action()
    return time.perf_counter() - began


def report(name: str, ours: list[float], base: list[float]) -> None:
    mo, mb = statistics.median(ours), statistics.median(base)
    print(
        f"{name}: ours median {mo * 1000:.1f} ms, baseline median {mb * 1000:.1f} ms, "
        f"ratio {mo / mb:.2f}x (total {sum(ours):.2f}s vs {sum(base):.2f}s = {sum(ours) / sum(base):.2f}x)"
    )


async def bench_docker(runs: int, root: Path) -> None:
    import docker

    client = docker.from_env()
    executor = DockerExecutor(root / "docker", instance_id="bench", retention_seconds=0)
    numbers = iter(range(1, 100_000))

    async def ours() -> None:
        result = await executor.run(request(next(numbers)), NullSink())
        assert result.exit_code == 0, result

    async def raw() -> None:
        out = await asyncio.to_thread(client.containers.run, TEST_IMAGE, ["sh", "-c", "echo x"], remove=True)
        assert out == b"x\n"

    await ours(), await raw()  # warm up both paths
    ours_t, raw_t = [], []
    for _ in range(runs):  # interleaved so that drift hits both alike
        ours_t.append(await timed(ours))
        raw_t.append(await timed(raw))
    report(f"docker, {runs} sequential runs", ours_t, raw_t)

    width = 8
    for _ in range(3):
        ours_t.clear(), raw_t.clear()
        ours_t.append(await timed(lambda: asyncio.gather(*(ours() for _ in range(width)))))
        raw_t.append(await timed(lambda: asyncio.gather(*(raw() for _ in range(width)))))
        report(f"docker, {width} concurrent runs (one DAG level)", ours_t, raw_t)
    await executor.cleanup()
    await executor.close()
    client.close()


async def bench_process(runs: int, root: Path) -> None:
    executor = ProcessExecutor(root / "process", retention_seconds=0)
    await executor.check_available()
    numbers = iter(range(1, 100_000))

    async def ours() -> None:
        result = await executor.run(request(next(numbers)), NullSink())
        assert result.exit_code == 0, result

    async def bare() -> None:
        proc = await asyncio.create_subprocess_exec("sh", "-c", "echo x", stdout=asyncio.subprocess.PIPE)
        await proc.communicate()

    await ours(), await bare()
    ours_t, bare_t = [], []
    for _ in range(runs):
        ours_t.append(await timed(ours))
        bare_t.append(await timed(bare))
    report(f"process ({executor.method}), {runs} sequential runs", ours_t, bare_t)
    await executor.cleanup()
    await executor.close()


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await bench_docker(runs, Path(tmp))
        await bench_process(runs, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
