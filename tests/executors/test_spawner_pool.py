"""The process spawner's own machinery (as root): run directories made ahead, the namespace it
goes back to after each run, what it leaves behind."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from scaffold.engine.ports import RunRequest
from scaffold.executors import process, spawner
from scaffold.executors.process import ProcessExecutor
from scaffold.executors.rundir import RunDir
from tests.executors.conftest import RecordingSink, RequestFactory
from tests.executors.test_process_executor import WAIT_FOR_GO, _gone, _tree


def _pool_dir(executor: ProcessExecutor) -> Path:
    client = executor._spawner
    assert client is not None and client.pid is not None
    return executor.runs_dir / f"{spawner.POOL_PREFIX.decode()}{client.pid}"


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {
            "files": {"a.txt": b"x", "sub/dir/b.bin": b"\0\xff", ".scaffold/exit_code": b"7\n"},
            "webhook_body": b'{"ref": "main"}',
            "store_env": ("A",),
        },
    ],
)
async def test_a_run_directory_made_ahead_ends_as_prepare_writes_it(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    request = RunRequest(run_id="c.t.1", cascade="c", task="t", number=1, script="echo hi\n", **fields)
    expected = RunDir(tmp_path / "a" / "runs", request.run_id)
    expected.prepare(request, env_file=False)
    (expected.control / "init.sh").unlink()  # for containers only
    ours = RunDir(tmp_path / "b" / "runs", request.run_id)
    ours.path.parent.mkdir(parents=True, mode=0o700)
    pool = spawner.Pool(size=1)
    pool.attach(os.fsencode(ours.path.parent))
    try:
        await _until(lambda: pool.dirs)
        plan = process._plan(ours, request)
        assert plan is not None
        spawner.materialize(plan, pool)
    finally:
        pool.close()
    assert pool.path is not None and not os.path.exists(pool.path)  # removed, with what it held
    if ".scaffold/exit_code" not in request.files:  # the one file it has more: empty until the end
        assert (ours.control / "exit_code").read_bytes() == b""
        (ours.control / "exit_code").unlink()
    assert _tree(ours.path) == _tree(expected.path)
    assert ours.path.stat().st_mtime > time.time() - 60  # the run's start, not the pool's


async def test_a_run_directory_made_ahead_is_never_put_over_an_existing_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o700)
    (runs / "c.t.1").mkdir()
    pool = spawner.Pool(size=1)
    pool.attach(os.fsencode(runs))
    try:
        await _until(lambda: pool.dirs)
        with pytest.raises(FileExistsError):
            spawner.materialize([(b"d", os.fsencode(runs / "c.t.1"), 0o777, b"")], pool)
        assert len(pool.dirs) == 1  # still there for the next run
    finally:
        pool.close()


async def test_the_pool_is_no_run_and_goes_with_the_spawner(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    request = make_request("echo hi")
    assert (await spawner_executor.run(request, RecordingSink())).ok
    pool = _pool_dir(spawner_executor)
    await _until(pool.is_dir)
    later = time.time() + spawner_executor.retention_seconds + 60
    assert await spawner_executor.cleanup(now=later) == [request.run_id]
    assert pool.is_dir()  # its spawner is alive
    await spawner_executor.close()
    assert not pool.exists()  # removed before close() returned


async def test_a_pool_left_by_a_killed_spawner_is_removed_by_cleanup(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    assert (await spawner_executor.run(make_request("true"), RecordingSink())).ok
    pool = _pool_dir(spawner_executor)
    await _until(pool.is_dir)
    client = spawner_executor._spawner
    assert client is not None and client.pid is not None
    os.kill(client.pid, signal.SIGKILL)
    await _gone(client.pid)
    assert pool.is_dir()
    assert await spawner_executor.cleanup() == []
    assert not pool.exists()


async def test_the_pid_file_of_an_ended_run_is_the_next_ones(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    assert (await spawner_executor.run(make_request("true"), RecordingSink())).ok
    pool = _pool_dir(spawner_executor)
    await _until(lambda: len(list(pool.glob("*.pid"))) == 1)  # taken back
    (taken_back,) = [path.stat().st_ino for path in pool.glob("*.pid")]
    request = make_request(f"echo ready\n{WAIT_FOR_GO}")
    sink = RecordingSink()
    task = asyncio.create_task(spawner_executor.run(request, sink))
    await sink.wait_output(b"ready")
    pid_file = spawner_executor.runs_dir / f"{request.run_id}.pid"
    await _until(pid_file.exists)
    assert pid_file.stat().st_ino == taken_back and not list(pool.glob("*.pid"))
    pid, started = pid_file.read_text().split()  # written whole, then renamed into place
    assert pid == (sink.info or {}).get("pid") and started == process._start_time(int(pid))
    (spawner_executor.runs_dir / request.run_id / "go").touch()
    assert (await task).ok
    await _until(lambda: not pid_file.exists())
    assert [path.stat().st_ino for path in pool.glob("*.pid")] == [taken_back]


async def test_a_failed_namespace_leaves_the_spawner_in_the_host_namespace(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    client = await spawner_executor._spawner_ready()
    output = bytearray()
    reader, child = spawner_executor._expect(client, output.extend)
    missing = spawner_executor.runs_dir / "no-such-run-directory"
    env = process.base_env_bytes()
    spawner_executor._send(client, child, missing, ["/bin/sh", "-c", "echo no"], env, "", reader)
    started = await asyncio.wait_for(child.started, 30)
    reader.close()
    assert isinstance(started, str) and "mount namespace" in started, started
    assert client.pid is not None
    assert os.readlink(f"/proc/{client.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    sink = RecordingSink()
    assert (await spawner_executor.run(make_request("echo yes > /tmp/run/f; cat /tmp/run/f"), sink)).ok
    assert bytes(sink.output) == b"yes\n"
    assert os.readlink(f"/proc/{client.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert not Path("/tmp/run/f").exists()


async def test_runs_at_once_each_see_their_own_tmp_run_and_nothing_is_left_open(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    assert (await spawner_executor.run(make_request("true"), RecordingSink())).ok
    client = spawner_executor._spawner
    assert client is not None and client.pid is not None
    fds_before = len(os.listdir(f"/proc/{client.pid}/fd"))
    requests = [make_request(f"echo {i} > /tmp/run/me; sleep 0.2; cat /tmp/run/me") for i in range(12)]
    sinks = [RecordingSink() for _ in requests]
    results = await asyncio.gather(
        *(spawner_executor.run(r, s) for r, s in zip(requests, sinks, strict=True))
    )
    assert [r.exit_code for r in results] == [0] * 12
    assert [bytes(s.output) for s in sinks] == [f"{i}\n".encode() for i in range(12)]
    # the namespaces kept until each exit was reported, the output pipes: all closed again
    await _until(lambda: len(os.listdir(f"/proc/{client.pid}/fd")) <= fds_before)
