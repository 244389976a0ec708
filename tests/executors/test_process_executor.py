"""What only the process executor does: isolation methods, host environment, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from scaffold.engine.ports import RunRequest
from scaffold.errors import ExecutorUnavailable
from scaffold.executors import process, spawner
from scaffold.executors.process import ProcessExecutor
from scaffold.executors.rundir import RunDir
from tests.executors.conftest import RecordingSink, RequestFactory

WAIT_FOR_GO = "i=0; while [ ! -f /tmp/run/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"


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
    if os.geteuid() != 0:
        pytest.skip("the syscall method needs root")
    executor = ProcessExecutor(tmp_path)
    try:
        await executor.check_available()
        assert executor.method == "syscall"
    finally:
        await executor.close()
    assert process.isolated_argv("syscall", tmp_path, ["/bin/sh"]) == [
        "/bin/sh",
        "/tmp/run/.scaffold/entry.sh",
    ]


async def test_the_pid_file_exists_while_the_run_goes_on(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    request = make_request(f"echo ready\n{WAIT_FOR_GO}echo done")
    sink = RecordingSink()
    task = asyncio.create_task(process_executor.run(request, sink))
    await sink.wait_output(b"ready")
    assert sink.info is not None
    pid_file = process_executor.runs_dir / f"{request.run_id}.pid"
    for _ in range(100):  # the spawner writes it as it hands the child its request
        if pid_file.exists():
            break
        await asyncio.sleep(0.01)
    pid, started = pid_file.read_text().split()
    assert pid == sink.info["pid"] and started == process._start_time(int(pid))
    assert os.getpgid(int(pid)) == int(pid)  # its own process group (and session)
    (process_executor.runs_dir / request.run_id / "go").touch()
    result = await task
    assert (result.exit_code, bytes(sink.output)) == (0, b"ready\ndone\n")
    for _ in range(100):  # removed as the run ends (by the spawner: just after it reported it)
        if not pid_file.exists():
            break
        await asyncio.sleep(0.01)
    assert not pid_file.exists()


async def test_the_script_inherits_no_other_file_descriptor(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    request = make_request(f"echo ready\n{WAIT_FOR_GO}")
    sink = RecordingSink()
    task = asyncio.create_task(process_executor.run(request, sink))
    await sink.wait_output(b"ready")
    assert sink.info is not None
    fd_dir = Path(f"/proc/{sink.info['pid']}/fd")
    links = {entry.name: os.readlink(entry) for entry in fd_dir.iterdir()}
    (process_executor.runs_dir / request.run_id / "go").touch()
    assert (await task).ok
    assert links["0"] == "/dev/null" and links["1"] == links["2"] and links["1"].startswith("pipe:")
    others = {fd: target for fd, target in links.items() if fd not in ("0", "1", "2")}
    # the shell's own: entry.sh and script.sh that it reads
    assert all(
        target.startswith(("/tmp/run/", str(process_executor.runs_dir))) for target in others.values()
    ), links


async def test_many_runs_at_once_keep_their_output_apart(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    requests = [make_request(f"echo start {i}; echo err {i} >&2; echo end {i}") for i in range(40)]
    sinks = [RecordingSink() for _ in requests]
    results = await asyncio.gather(
        *(process_executor.run(r, s) for r, s in zip(requests, sinks, strict=True))
    )
    assert [r.exit_code for r in results] == [0] * 40
    for i, sink in enumerate(sinks):
        assert bytes(sink.output) == f"start {i}\nerr {i}\nend {i}\n".encode()


async def test_a_large_environment_reaches_the_script(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    # ~1.2 MB of values: more than a socket buffer holds at once (the spawner gets it in pieces)
    values = {f"BIG{i}": bytes([65 + i]) * 100_000 for i in range(12)}
    script = "".join(f'printf "%s " "${{#BIG{i}}}"; printf %s "$BIG{i}" | cksum\n' for i in range(12))
    sink = RecordingSink()
    result = await process_executor.run(make_request(script, load_env=values), sink)
    assert result.exit_code == 0, sink.output
    lines = sink.output.decode().splitlines()
    assert len(lines) == 12 and all(line.startswith("100000 ") for line in lines)
    assert len(set(lines)) == 12


# ------------------------------------------------------------------------ the spawner (as root)


async def test_a_missing_shell_is_a_reason(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    result = await spawner_executor.run(make_request("true", shell="/nonexistent/sh -e"), RecordingSink())
    assert result.exit_code is None
    assert "could not start" in (result.reason or "") and "/nonexistent/sh" in (result.reason or "")
    result = await spawner_executor.run(make_request("true", shell="no-such-shell-here"), RecordingSink())
    assert result.exit_code is None and "No such file" in (result.reason or "")
    assert (await spawner_executor.run(make_request("true"), RecordingSink())).ok


async def test_when_the_spawner_dies_its_runs_fail_and_the_next_run_starts_a_new_one(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    request = make_request("echo $$ > /tmp/run/pid; echo ready; sleep 300")
    sink = RecordingSink()
    task = asyncio.create_task(spawner_executor.run(request, sink))
    await sink.wait_output(b"ready")
    client = spawner_executor._spawner
    assert client is not None and client.pid is not None
    os.kill(client.pid, signal.SIGKILL)
    result = await asyncio.wait_for(task, 30)
    assert result.exit_code is None and result.reason == "the process spawner died"
    await _gone(int((spawner_executor.runs_dir / request.run_id / "pid").read_text()))  # killed
    assert not (spawner_executor.runs_dir / f"{request.run_id}.pid").exists()
    sink = RecordingSink()
    assert (await spawner_executor.run(make_request("echo again"), sink)).ok
    assert bytes(sink.output) == b"again\n"
    assert spawner_executor._spawner is not client and spawner_executor._spawner.pid != client.pid


async def test_the_spawner_exits_when_the_executor_closes(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    assert (await spawner_executor.run(make_request("true"), RecordingSink())).ok
    client = spawner_executor._spawner
    assert client is not None and client.pid is not None
    status = Path(f"/proc/{client.pid}/status").read_text()
    rss_kib = int(status.split("VmRSS:")[1].split()[0])
    assert rss_kib < 40_000  # a small process: forking it is cheap
    await spawner_executor.close()
    await _gone(client.pid)


async def test_the_spawner_does_not_block_on_a_slow_start(
    spawner_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    # a run that has not finished does not hold back the others (the spawner answers in any order)
    slow = make_request(f"echo ready\n{WAIT_FOR_GO}")
    sink = RecordingSink()
    task = asyncio.create_task(spawner_executor.run(slow, sink))
    await sink.wait_output(b"ready")
    for _ in range(5):
        assert (await spawner_executor.run(make_request("echo quick"), RecordingSink())).ok
    (spawner_executor.runs_dir / slow.run_id / "go").touch()
    assert (await task).ok


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root`` (itself included): its mode, and a file's content."""
    tree = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        tree[str(path.relative_to(root))] = (info.st_mode, path.read_bytes() if path.is_file() else None)
    return tree


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {
            "files": {"a.txt": b"x", "sub/dir/b.bin": b"\0\xff", "sub/c": b"", "./d": b"d"},
            "webhook_body": b'{"ref": "main"}',
            "store_env": ("A", "B"),
            "load_env": {"L": b"v"},
            "env": {"E": "w"},
        },
    ],
)
def test_the_spawner_child_writes_the_run_directory_as_rundir_prepare_does(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    request = RunRequest(run_id="c.t.1", cascade="c", task="t", number=1, script="echo hi\n", **fields)
    expected = RunDir(tmp_path / "a" / "runs", request.run_id)
    expected.prepare(request, env_file=False)
    ours = RunDir(tmp_path / "b" / "runs", request.run_id)
    plan = process._plan(ours, request)
    assert plan is not None
    spawner.materialize(plan)
    (expected.control / "init.sh").unlink()  # for containers only: not written for a process
    assert _tree(ours.path.parent) == _tree(expected.path.parent)
    assert process._plan(ours, request) is None  # there already: replaced by RunDir.prepare instead


def test_the_plan_refuses_what_prepare_refuses(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path, "c.t.1")
    for bad, message in [
        ({"files": {"../x": b""}}, "relative path"),
        ({"env": {"BAD-NAME": "x"}}, "BAD-NAME"),
        ({"load_env": {"1X": b""}}, "1X"),
        ({"store_env": ("no way",)}, "no way"),
        ({"shell": ""}, "shell is empty"),
    ]:
        request = RunRequest(run_id="c.t.1", cascade="c", task="t", number=1, script="true", **bad)
        with pytest.raises(ValueError, match=message):
            process._plan(run_dir, request)


async def test_large_files_and_a_run_directory_to_replace(
    process_executor: ProcessExecutor, make_request: RequestFactory
) -> None:
    big = bytes(range(256)) * (process.PLAN_MAX_BYTES // 256 + 1)  # written here, not sent
    request = make_request("wc -c < /tmp/run/big; ls /tmp/run", files={"big": big})
    sink = RecordingSink()
    assert (await process_executor.run(request, sink)).ok
    assert sink.output.split() == [str(len(big)).encode(), b"big"]
    (process_executor.runs_dir / request.run_id / "leftover").touch()
    sink = RecordingSink()  # the same run again: its old directory is replaced
    assert (await process_executor.run(request, sink)).ok
    assert sink.output.split() == [str(len(big)).encode(), b"big"]
