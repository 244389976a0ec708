"""Fixtures for the executor tests: one executor of each kind, a recording sink, request builders."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from scaffold.engine.ports import RunRequest
from scaffold.errors import ExecutorUnavailable
from scaffold.executors.docker import DockerExecutor
from scaffold.executors.process import ProcessExecutor
from tests.docker_helpers import TEST_IMAGE, remove_containers, require_docker


class RecordingSink:
    """A LogSink that keeps everything and lets a test wait for what it expects."""

    def __init__(self) -> None:
        self.output = bytearray()
        self.displays: list[bytes] = []
        self.info: dict[str, str] | None = None
        self._changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.output += data
        self._changed.set()

    def display(self, raw: bytes) -> None:
        self.displays.append(raw)
        self._changed.set()

    def started(self, info: dict[str, str]) -> None:
        self.info = info
        self._changed.set()

    async def wait_until(self, predicate: Callable[[RecordingSink], bool], timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def wait_output(self, needle: bytes, timeout: float = 60) -> None:
        await self.wait_until(lambda sink: needle in sink.output, timeout)


RequestFactory = Callable[..., RunRequest]


@pytest.fixture
def make_request() -> RequestFactory:
    """``make_request(script, **fields)``: a RunRequest with a fresh run id and the test image."""
    numbers = itertools.count(1)
    prefix = secrets.token_hex(3)

    def build(script: str, **fields: Any) -> RunRequest:
        number = next(numbers)
        task = fields.pop("task", f"t{number}")
        values: dict[str, Any] = {
            "run_id": f"contract-{prefix}.{task}.{number}",
            "cascade": f"contract-{prefix}",
            "task": task,
            "number": number,
            "script": script,
            "image": TEST_IMAGE,
        }
        values.update(fields)
        return RunRequest(**values)

    return build


@pytest.fixture
def docker_factory(tmp_path: Path) -> Any:
    """Builds DockerExecutors sharing one runs directory and instance id (as a restarted server
    would); closes them and removes their containers afterwards."""
    require_docker()
    instance = f"test{secrets.token_hex(4)}"
    made: list[DockerExecutor] = []

    def build(**options: Any) -> DockerExecutor:
        options.setdefault("instance_id", instance)
        executor = DockerExecutor(tmp_path / "runs", **options)
        made.append(executor)
        return executor

    yield build
    for executor in made:
        client, executor._client = executor._client, None
        if client is not None:
            client.close()
    remove_containers(f"scaffold.instance={instance}")


async def _process_executor(tmp_path: Path, method: str | None = None) -> ProcessExecutor:
    """The process executor with the isolation it picks here (or ``method``); skips if none works."""
    executor = ProcessExecutor(tmp_path / "runs")
    if method is not None:
        problem = await executor._probe(method)
        if problem is not None:
            await executor.close()
            pytest.skip(f"process isolation {method} does not work here: {problem}")
        executor.method = method
        return executor
    try:
        await executor.check_available()
    except ExecutorUnavailable as exc:
        await executor.close()
        pytest.skip(f"the process executor cannot run here: {exc.message}")
    return executor


# every isolation the process executor knows is checked where it works (the default one always;
# as root that is "syscall", the process spawner)
_PROCESS_VARIANTS = ["process", "process:unshare", "process:unshare-user", "process:bwrap"]


@pytest.fixture(params=[pytest.param("docker", marks=pytest.mark.docker), *_PROCESS_VARIANTS])
async def executor(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """Each executor in turn (the contract suite runs against all of them)."""
    if request.param.startswith("process"):
        method = request.param.partition(":")[2] or None
        process = await _process_executor(tmp_path, method)
        yield process
        await process.close()  # its spawner, if it started one
        return
    yield request.getfixturevalue("docker_factory")()


@pytest.fixture
async def process_executor(tmp_path: Path) -> AsyncIterator[ProcessExecutor]:
    executor = await _process_executor(tmp_path)
    yield executor
    await executor.close()


@pytest.fixture
async def spawner_executor(tmp_path: Path) -> AsyncIterator[ProcessExecutor]:
    """A process executor using the process spawner (root, syscall method); skips elsewhere."""
    if os.geteuid() != 0:
        pytest.skip("the process spawner is used as root only")
    executor = ProcessExecutor(tmp_path / "runs")
    await executor.check_available()
    if executor.method != "syscall":
        await executor.close()
        pytest.skip(f"the syscall method does not work here (method {executor.method})")
    yield executor
    await executor.close()
