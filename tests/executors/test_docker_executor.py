"""What only the Docker executor does: images, the engine, containers, labels, adopt after restart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import docker
import pytest

from scaffold.errors import ExecutorUnavailable
from scaffold.executors.docker import DockerExecutor
from tests.docker_helpers import TEST_IMAGE
from tests.executors.conftest import RecordingSink, RequestFactory

pytestmark = pytest.mark.docker

WAIT_FOR_GO = "i=0; while [ ! -f /tmp/run/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"


@pytest.fixture
def api() -> Any:
    client = docker.from_env()
    yield client.api
    client.close()


async def test_scaffold_engine_does_not_import_docker() -> None:
    import subprocess
    import sys

    code = "import sys, scaffold.engine.ports, scaffold.executors.docker; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_unreachable_engine_message(tmp_path: Any, make_request: RequestFactory) -> None:
    executor = DockerExecutor(tmp_path, instance_id="x", docker_url="unix:///nonexistent.sock")
    with pytest.raises(ExecutorUnavailable) as caught:
        await executor.check_available()
    assert "unix:///nonexistent.sock" in caught.value.message
    assert "systemctl start docker" in caught.value.message
    assert "--executor process" in caught.value.message
    result = await executor.run(make_request("true"), RecordingSink())
    assert result.exit_code is None
    assert "unix:///nonexistent.sock" in (result.reason or "")
    await executor.close()


async def test_missing_image_message(docker_factory: Any, make_request: RequestFactory) -> None:
    executor = docker_factory()
    image = "scaffold-test/no-such-image:never"
    result = await executor.run(make_request("true", image=image), RecordingSink())
    assert result.exit_code is None
    assert result.reason is not None
    assert result.reason.startswith(f"image '{image}' is not available locally and could not be pulled: ")
    assert result.reason.endswith("; build or pull it first")


async def test_missing_shell_is_a_reason(docker_factory: Any, make_request: RequestFactory) -> None:
    result = await docker_factory().run(make_request("true", shell="/bin/no-such-shell"), RecordingSink())
    assert result.exit_code is None
    assert "did not start" in (result.reason or "")


async def test_container_has_labels_and_no_task_variables(
    docker_factory: Any, make_request: RequestFactory, api: Any
) -> None:
    executor = docker_factory()
    request = make_request(
        "echo $PASSWORD | wc -c", env={"PASSWORD": "hunter2-secret"}, load_env={"TOKEN": b"tok-secret"}
    )
    sink = RecordingSink()
    result = await executor.run(request, sink)
    assert (result.exit_code, bytes(sink.output).strip()) == (0, b"15")
    info = api.inspect_container(executor.container_name(request.run_id))
    assert (
        info["Config"]["Labels"].items()
        >= {
            "scaffold.instance": executor.instance_id,
            "scaffold.run_id": request.run_id,
            "scaffold.cascade": request.cascade,
            "scaffold.task": request.task,
        }.items()
    )
    dump = json.dumps(info)
    assert "hunter2-secret" not in dump and "tok-secret" not in dump
    assert not any(v.startswith(("PASSWORD=", "TOKEN=")) for v in info["Config"]["Env"] or [])
    assert info["State"]["Status"] == "exited"  # kept for inspection until cleanup
    assert sink.info == {
        "container": executor.container_name(request.run_id),
        "node": result.node,
        "image_digest": result.image_digest,
    }
    assert result.image_digest == api.inspect_image(TEST_IMAGE)["Id"]


async def test_adopt_a_running_container(docker_factory: Any, make_request: RequestFactory) -> None:
    request = make_request(f"echo before\n{WAIT_FOR_GO}echo after\nRESULT=done", store_env=("RESULT",))
    first = docker_factory()
    sink = RecordingSink()
    task = asyncio.create_task(first.run(request, sink))
    await sink.wait_output(b"before\n")
    task.cancel()  # the server goes away; the container keeps running
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.close()

    second = docker_factory()
    adopted = RecordingSink()
    adopting = asyncio.create_task(second.adopt(request, adopted))
    await adopted.wait_until(lambda s: s.info is not None)
    (second.runs_dir / request.run_id / "go").touch()
    result = await asyncio.wait_for(adopting, 60)
    assert result is not None
    assert result.ok
    assert result.stored_env == {"RESULT": b"done"}
    assert bytes(adopted.output) == b"after\n"  # only what the first server had not delivered


async def test_adopt_a_container_that_exited_meanwhile(
    docker_factory: Any, make_request: RequestFactory, api: Any
) -> None:
    script = f"echo before\n{WAIT_FOR_GO}echo after\necho ok > /tmp/run/out\nexit 0"
    request = make_request(script, store_files=("out",))
    first = docker_factory()
    sink = RecordingSink()
    task = asyncio.create_task(first.run(request, sink))
    await sink.wait_output(b"before\n")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.close()
    (first.runs_dir / request.run_id / "go").touch()
    await asyncio.to_thread(api.wait, first.container_name(request.run_id))

    adopted = RecordingSink()
    result = await docker_factory().adopt(request, adopted)
    assert result is not None
    assert (result.exit_code, result.stored_files) == (0, {"out": b"ok\n"})
    assert bytes(adopted.output) == b"after\n"


async def test_adopt_after_a_finished_run_replays_nothing(
    docker_factory: Any, make_request: RequestFactory
) -> None:
    request = make_request("echo one; echo two; exit 4")
    executor = docker_factory()
    result = await executor.run(request, RecordingSink())
    adopted = RecordingSink()
    again = await docker_factory().adopt(request, adopted)
    assert again is not None
    assert (result.exit_code, again.exit_code, bytes(adopted.output)) == (4, 4, b"")


async def test_adopt_a_gone_container_gives_none(docker_factory: Any, make_request: RequestFactory) -> None:
    assert await docker_factory().adopt(make_request("true"), RecordingSink()) is None


async def test_cleanup_removes_old_containers(
    docker_factory: Any, make_request: RequestFactory, api: Any
) -> None:
    executor = docker_factory(retention_seconds=0)
    request = make_request("true")
    running = make_request(f"echo up\n{WAIT_FOR_GO}")
    assert (await executor.run(request, RecordingSink())).exit_code == 0
    sink = RecordingSink()
    task = asyncio.create_task(executor.run(running, sink))
    await sink.wait_output(b"up")
    assert await executor.cleanup() == [request.run_id]
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(executor.container_name(request.run_id))
    assert not (executor.runs_dir / request.run_id).exists()
    assert (executor.runs_dir / running.run_id).is_dir()  # a running run keeps everything
    (executor.runs_dir / running.run_id / "go").touch()
    assert (await task).exit_code == 0


async def test_container_removed_under_a_run_is_a_result_not_an_exception(
    docker_factory: Any, make_request: RequestFactory, api: Any
) -> None:
    executor = docker_factory()
    request = make_request("echo ready; sleep 300")
    sink = RecordingSink()
    task = asyncio.create_task(executor.run(request, sink))
    await sink.wait_output(b"ready")
    await asyncio.to_thread(api.remove_container, executor.container_name(request.run_id), force=True)
    result = await asyncio.wait_for(task, 30)
    assert not result.ok
    assert result.exit_code == 137 or "lost the container" in (result.reason or "")


async def test_env_file_with_secrets_is_removed_when_the_container_never_starts(tmp_path):
    """A failed image pull must not leave env.sh (which holds secret values) in the run dir."""
    from scaffold.engine.ports import RunRequest
    from scaffold.executors.docker import DockerExecutor
    from tests.docker_helpers import require_docker

    require_docker()
    executor = DockerExecutor(tmp_path, instance_id="envleak")
    request = RunRequest(
        run_id="c:t:1",
        cascade="c",
        task="t",
        number=1,
        script="true",
        image="scaffold-test/does-not-exist:never",
        env={"PW": "s3cret-in-env"},
        secrets=("s3cret-in-env",),
    )

    class Sink:
        def write(self, data):
            pass

        def display(self, raw):
            pass

        def started(self, info):
            pass

    result = await executor.run(request, Sink())
    await executor.close()
    assert result.exit_code is None and "not available locally" in (result.reason or "")
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and b"s3cret-in-env" in p.read_bytes()]
    assert leftovers == []
