"""What only the process executor does: isolation methods, host environment, restarts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from scaffold.errors import ExecutorUnavailable
from scaffold.executors import process
from scaffold.executors.process import ProcessExecutor
from tests.executors.conftest import RecordingSink, RequestFactory


async def test_refuses_without_a_private_mount_namespace(
    tmp_path: Path, make_request: RequestFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process.shutil, "which", lambda name: None)
    monkeypatch.setattr(process.mountns, "available", lambda: False)
    executor = ProcessExecutor(tmp_path)
    with pytest.raises(ExecutorUnavailable) as caught:
        await executor.check_available()
    assert "unshare not found" in caught.value.message
    assert "bubblewrap" in caught.value.message and "--executor docker" in caught.value.message
    result = await executor.run(make_request("true"), RecordingSink())
    assert result.exit_code is None and "private mount namespace" in (result.reason or "")


async def test_server_environment_does_not_leak(
    process_executor: ProcessExecutor, make_request: RequestFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCAFFOLD_ADMIN_PASSWORD", "do-not-leak")
    sink = RecordingSink()
    result = await process_executor.run(make_request("env; pwd"), sink)
    assert result.exit_code == 0
    assert b"do-not-leak" not in sink.output
    assert b"PATH=" in sink.output
    assert sink.output.endswith(b"/tmp/run\n")


async def test_leftover_background_processes_are_killed(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    request = make_request("sleep 300 &\necho $! > /tmp/run/bg\necho done")
    sink = RecordingSink()
    result = await asyncio.wait_for(process_executor.run(request, sink), 30)  # not held by the pipe
    assert (result.exit_code, bytes(sink.output)) == (0, b"done\n")
    await _gone(int((process_executor.runs_dir / request.run_id / "bg").read_text()))


async def _gone(pid: int) -> None:
    """Wait until ``pid`` no longer exists (a killed orphan may stay a zombie for a moment)."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"process {pid} is still alive")


async def test_adopt_settles_a_finished_run_from_its_exit_code(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    request = make_request("V=kept; echo out > /tmp/run/f; exit 0", store_env=("V",), store_files=("f",))
    assert (await process_executor.run(request, RecordingSink())).ok
    adopted = await ProcessExecutor(process_executor.runs_dir).adopt(request, RecordingSink())
    assert adopted is not None
    assert (adopted.exit_code, adopted.stored_env) == (0, {"V": b"kept"})
    assert adopted.stored_files == {"f": b"out\n"}


async def test_adopt_of_nothing_gives_none(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    assert await process_executor.adopt(make_request("true"), RecordingSink()) is None


async def test_stopping_the_server_kills_the_run_and_adopt_gives_none(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    request = make_request("echo $$ > /tmp/run/pid; echo ready; sleep 300")
    sink = RecordingSink()
    task = asyncio.create_task(process_executor.run(request, sink))
    await sink.wait_output(b"ready")
    pid = int((process_executor.runs_dir / request.run_id / "pid").read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _gone(pid)
    assert await ProcessExecutor(process_executor.runs_dir).adopt(request, RecordingSink()) is None


@pytest.mark.parametrize("method", ["unshare", "unshare-user", "unshare-root-map", "bwrap"])
def test_isolated_argv_shows_the_run_directory_at_tmp_run(method: str) -> None:
    argv: list[Any] = process.isolated_argv(method, Path("/data/runs/c.t.1"), ["/bin/sh", "-e"])
    assert "/data/runs/c.t.1" in argv
    if method == "bwrap":
        assert argv[-3:] == ["/bin/sh", "-e", "/tmp/run/.scaffold/entry.sh"]
    else:  # the wrapper appends the entry script to its arguments
        assert argv[-2:] == ["/bin/sh", "-e"] and argv[argv.index("-c") + 1].endswith("entry.sh")
    if method == "unshare-user":
        assert f"--map-user={os.getuid()}" in argv


async def test_as_root_the_namespace_is_made_without_extra_programs(tmp_path: Path) -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("the syscall method needs root")
    executor = ProcessExecutor(tmp_path)
    await executor.check_available()
    assert executor.method == "syscall"
    assert process.isolated_argv("syscall", tmp_path, ["/bin/sh"]) == [
        "/bin/sh",
        "/tmp/run/.scaffold/entry.sh",
    ]
