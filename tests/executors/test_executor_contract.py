"""One contract for every executor: the Docker and process executors must behave the same.

The scripts synchronise with the test through files in /tmp/run (the test creates ``go`` in the run
directory once it saw what it waits for), never through sleeps in the test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.executors.conftest import RecordingSink, RequestFactory
from tests.executors.nasty import NASTY

WAIT_FOR_GO = "i=0; while [ ! -f /tmp/run/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"


def run_dir(executor: Any, run_id: str) -> Path:
    return executor.runs_dir / run_id


async def run(executor: Any, request: Any) -> tuple[Any, RecordingSink]:
    sink = RecordingSink()
    result = await executor.run(request, sink)
    return result, sink


@pytest.mark.parametrize(
    ("script", "code"),
    [("true", 0), ("exit 3\necho not reached", 3), ("false", 1), ("kill -9 $$\necho not reached", 137)],
)
async def test_exit_code(executor: Any, make_request: RequestFactory, script: str, code: int) -> None:
    result, sink = await run(executor, make_request(f"echo start\n{script}\n"))
    assert result.exit_code == code
    assert result.reason is None
    assert result.ok is (code == 0)
    assert sink.output.startswith(b"start\n")
    assert b"not reached" not in sink.output
    assert sink.info is not None and sink.info["node"]


async def test_stdout_and_stderr_interleave_in_order(executor: Any, make_request: RequestFactory) -> None:
    script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf 'no newline' >&2"
    result, sink = await run(executor, make_request(script))
    expected = b"".join(b"out%d\nerr%d\n" % (i, i) for i in range(1, 6)) + b"no newline"
    assert (result.exit_code, bytes(sink.output)) == (0, expected)


async def test_environment_precedence(executor: Any, make_request: RequestFactory) -> None:
    # the scheduler merges inputs < load.env < env < SCAFFOLD_* and passes str values in `env`,
    # datastore bytes in `load_env`; for a name in both, `env` wins
    request = make_request(
        'echo "$FROM_INPUT|$LOADED|$BOTH|$SCAFFOLD_TASK"; sh -c \'echo "child sees $LOADED"\'',
        env={"FROM_INPUT": "input", "BOTH": "env wins", "SCAFFOLD_TASK": "t"},
        load_env={"LOADED": b"datastore", "BOTH": b"loses"},
    )
    result, sink = await run(executor, request)
    assert result.exit_code == 0
    assert bytes(sink.output) == b"input|datastore|env wins|t\nchild sees datastore\n"


async def test_load_env_values_and_files(executor: Any, make_request: RequestFactory) -> None:
    check = "".join(f'printf %s "${name}" > /tmp/run/out.{name}\n' for name in NASTY)
    request = make_request(
        check + "cat /tmp/run/input.txt /tmp/run/sub/dir/nested.bin > /tmp/run/out.files",
        load_env=NASTY,
        files={"input.txt": b"first\n", "sub/dir/nested.bin": b"\x00\xff second"},
    )
    result, sink = await run(executor, request)
    assert (result.exit_code, bytes(sink.output)) == (0, b"")
    where = run_dir(executor, request.run_id)
    for name, value in NASTY.items():
        assert (where / f"out.{name}").read_bytes() == value, name
    assert (where / "out.files").read_bytes() == b"first\n\x00\xff second"


async def test_store_env_round_trips_plain_assignments(executor: Any, make_request: RequestFactory) -> None:
    script = 'MESSAGE="Hello world"\n' + "".join(f'{name}="$IN_{name}"\n' for name in NASTY)
    request = make_request(
        script,
        load_env={f"IN_{name}": value for name, value in NASTY.items()},
        store_env=("MESSAGE", "NOT_SET", *NASTY),
    )
    result, _ = await run(executor, request)
    assert result.ok
    assert result.stored_env == {"MESSAGE": b"Hello world", **NASTY}


async def test_store_env_after_exit_and_set_e(executor: Any, make_request: RequestFactory) -> None:
    result, _ = await run(executor, make_request("set -e\nA=1\nfalse\nA=2", store_env=("A",)))
    assert (result.exit_code, result.stored_env) == (1, {"A": b"1"})
    result, _ = await run(executor, make_request("B='x y'; exit 0; B=no", store_env=("B",)))
    assert (result.exit_code, result.stored_env) == (0, {"B": b"x y"})


async def test_store_files_present_and_missing(executor: Any, make_request: RequestFactory) -> None:
    script = "printf 'state\\n' > /tmp/run/tfstate; mkdir -p /tmp/run/out; printf '\\377' > /tmp/run/out/bin"
    request = make_request(script, store_files=("tfstate", "out/bin", "absent"))
    result, _ = await run(executor, request)
    assert result.exit_code == 0
    assert result.stored_files == {"tfstate": b"state\n", "out/bin": b"\xff"}
    assert result.missing_files == ("absent",)
    assert not result.ok


async def test_store_file_symlink_is_not_followed(executor: Any, make_request: RequestFactory) -> None:
    request = make_request("ln -s /etc/passwd /tmp/run/leak", store_files=("leak",))
    result, _ = await run(executor, request)
    assert (result.exit_code, result.stored_files, result.missing_files) == (0, {}, ("leak",))


async def test_display_is_seen_while_running_and_at_the_end(
    executor: Any, make_request: RequestFactory
) -> None:
    first = b'[{"kind": "value", "name": "step", "data": "1"}]'
    last = b'[{"kind": "value", "name": "step", "data": "2"}]'
    script = (
        f"printf '%s' '{first.decode()}' > /tmp/run/.display\necho shown\n{WAIT_FOR_GO}"
        f"printf '%s' '{last.decode()}' > /tmp/run/.display.new; mv /tmp/run/.display.new /tmp/run/.display\n"
    )
    request = make_request(script)
    sink = RecordingSink()
    task = asyncio.create_task(executor.run(request, sink))
    await sink.wait_until(lambda s: first in s.displays)
    (run_dir(executor, request.run_id) / "go").touch()
    result = await task
    assert result.exit_code == 0
    assert sink.displays == [first, last]
    assert result.display_raw == last


async def test_cancel_sends_sigterm(executor: Any, make_request: RequestFactory) -> None:
    request = make_request("echo ready; sleep 120; echo not reached")
    sink = RecordingSink()
    task = asyncio.create_task(executor.run(request, sink))
    await sink.wait_output(b"ready")
    began = time.monotonic()
    await executor.cancel(request.run_id, grace=60)
    result = await asyncio.wait_for(task, 30)
    assert time.monotonic() - began < 30  # SIGTERM was enough: the 60 s grace was not used
    assert result.cancelled and not result.ok
    assert b"not reached" not in sink.output
    await executor.cancel(request.run_id, grace=60)  # idempotent, also once it ended


async def test_cancel_kills_a_script_that_traps_sigterm(executor: Any, make_request: RequestFactory) -> None:
    script = "trap 'echo got TERM' TERM\necho ready\nwhile :; do sleep 0.1; done"
    request = make_request(script)
    sink = RecordingSink()
    task = asyncio.create_task(executor.run(request, sink))
    await sink.wait_output(b"ready")
    began = time.monotonic()
    await executor.cancel(request.run_id, grace=1)
    result = await asyncio.wait_for(task, 30)
    assert 0.9 <= time.monotonic() - began < 20
    assert result.cancelled
    assert b"got TERM" in sink.output


async def test_cancel_before_the_run_starts(executor: Any, make_request: RequestFactory) -> None:
    request = make_request("echo should not run")
    sink = RecordingSink()
    task = asyncio.create_task(executor.run(request, sink))
    await asyncio.sleep(0)  # let run() begin
    await executor.cancel(request.run_id, grace=1)
    result = await asyncio.wait_for(task, 30)
    assert result.cancelled
    assert not result.ok


async def test_each_run_has_its_own_tmp_run(executor: Any, make_request: RequestFactory) -> None:
    script = f"touch /tmp/run/mine-$SCAFFOLD_TASK\necho ready\n{WAIT_FOR_GO}ls /tmp/run"
    requests = [make_request(script, task=name, env={"SCAFFOLD_TASK": name}) for name in ("a", "b")]
    sinks = [RecordingSink(), RecordingSink()]
    tasks = [asyncio.create_task(executor.run(r, s)) for r, s in zip(requests, sinks, strict=True)]
    for sink in sinks:
        await sink.wait_output(b"ready")
    for request in requests:
        (run_dir(executor, request.run_id) / "go").touch()
    results = await asyncio.gather(*tasks)
    assert [r.exit_code for r in results] == [0, 0]
    assert sinks[0].output.split(b"\n")[1:-1] == [b"go", b"mine-a"]
    assert sinks[1].output.split(b"\n")[1:-1] == [b"go", b"mine-b"]


async def test_shell_override(executor: Any, make_request: RequestFactory) -> None:
    result, sink = await run(executor, make_request("false\necho not reached", shell="/bin/sh -e"))
    assert (result.exit_code, bytes(sink.output)) == (1, b"")
    if executor.name == "process" and not shutil.which("busybox"):
        return
    result, sink = await run(executor, make_request("readlink /proc/$$/exe", shell="busybox sh"))
    assert result.exit_code == 0
    assert sink.output.strip().endswith(b"busybox")


async def test_webhook_body_file(executor: Any, make_request: RequestFactory) -> None:
    body = json.dumps({"ref": "refs/heads/main", "quote": "it's"}).encode()
    result, sink = await run(executor, make_request("cat /tmp/run/.scaffold/webhook.json", webhook_body=body))
    assert (result.exit_code, bytes(sink.output)) == (0, body)
    result, sink = await run(executor, make_request("test -e /tmp/run/.scaffold/webhook.json"))
    assert result.exit_code == 1


async def test_secrets_are_not_left_in_the_run_directory(executor: Any, make_request: RequestFactory) -> None:
    request = make_request("ls -a /tmp/run/.scaffold", env={"PASSWORD": "hunter2-secret"})
    result, sink = await run(executor, request)
    assert result.exit_code == 0
    assert b"env.sh" not in sink.output
    leftovers = [p.read_bytes() for p in run_dir(executor, request.run_id).rglob("*") if p.is_file()]
    assert not any(b"hunter2-secret" in data for data in leftovers)


async def test_invalid_requests_come_back_as_reasons(executor: Any, make_request: RequestFactory) -> None:
    result, _ = await run(executor, make_request("true", files={"../escape": b"x"}))
    assert result.exit_code is None and "relative path" in (result.reason or "")
    result, _ = await run(executor, make_request("true", env={"BAD-NAME": "x"}))
    assert result.exit_code is None and "BAD-NAME" in (result.reason or "")


async def test_cleanup_removes_old_runs_only(executor: Any, make_request: RequestFactory) -> None:
    request = make_request("echo hi > /tmp/run/file")
    result, _ = await run(executor, request)
    assert result.exit_code == 0
    where = run_dir(executor, request.run_id)
    assert await executor.cleanup() == []
    assert where.is_dir()
    assert await executor.cleanup(now=time.time() + executor.retention_seconds + 60) == [request.run_id]
    assert not where.exists()
