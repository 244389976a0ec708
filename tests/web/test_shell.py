"""The shell websocket end to end: a real ``scaffold serve`` process with the Docker executor, real
containers, and a websocket client speaking the protocol of docs/server.md#shells.

A shell in a running task (``docker exec``) and in a copy of a finished one (with its /tmp/run),
resizes, exit codes, what closing the connection leaves behind (nothing), a container removed
after the retention time, the cleanup of copies a crashed server left, and who may open a shell:
tokens (revoked while the shell is open too), roles, groups, and the browser's cookie with its
Origin and CSRF checks. Last, the process executor's host shell, without a server or Docker.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from scaffold.web.api_shell import RECHECK_SECONDS
from tests.cli.conftest import Server
from tests.docker_helpers import TEST_IMAGE, remove_containers, require_docker

pytestmark = [pytest.mark.slow, pytest.mark.docker]
PASSWORD = "shell-test-password"
CASCADE = f"""\
version: v1
name: shells
groups: [ops]
tasks:
  - name: sleeper
    image: {TEST_IMAGE}
    run: "echo made-by-the-task > /tmp/run/made.txt; sleep 300"
  - name: finisher
    image: {TEST_IMAGE}
    run: "echo copy-me-42 > /tmp/run/result.txt; echo kept > /outside.txt"
  - name: gone
    image: {TEST_IMAGE}
    run: "true"
"""
SHELL = "/api/v1/cascades/shells/tasks/{task}/shell"


@dataclass
class Served:
    server: Server
    tokens: dict[str, str]

    @property
    def ws_url(self) -> str:
        return self.server.url.replace("http://", "ws://")

    def api(self, who: str = "admin") -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )

    def instance(self) -> str:
        return (self.server.data_dir / "instance-id").read_text().strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_docker()
    data_dir = tmp_path_factory.mktemp("shell-server") / "data"
    server = Server(data_dir)
    try:
        server.wait_ready()
        tokens = {"admin": server.token()}
        admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['admin']}"})
        with admin:
            for name, role, groups in (
                ("writer", "write", ["ops"]),
                ("reader", "read", ["ops"]),
                ("outsider", "write", ["other"]),
            ):
                body = {"username": name, "password": PASSWORD, "role": role, "groups": groups}
                assert admin.post("/api/v1/users", json=body).status_code == 201
                tokens[name] = server.token(name, PASSWORD)
            r = admin.post("/api/v1/cascades", content=CASCADE, headers={"Content-Type": "application/yaml"})
            assert r.status_code == 201, r.text
            assert admin.post("/api/v1/cascades/shells/start", json={}).status_code == 200
            _wait_states(admin, {"sleeper": "running", "finisher": "success", "gone": "success"})
        yield Served(server, tokens)
    finally:
        server.stop()
        id_file = data_dir / "instance-id"
        if id_file.exists():
            remove_containers(f"scaffold.instance={id_file.read_text().strip()}")


def _wait_states(api: httpx.Client, states: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    board: dict[str, str] = {}
    while time.monotonic() < deadline:
        board = {t["name"]: t["state"] for t in api.get("/api/v1/cascades/shells/tasks").json()}
        if all(board.get(task) == state for task, state in states.items()):
            return
        time.sleep(0.2)
    raise AssertionError(f"the tasks did not reach {states}: {board}")


class Terminal:
    """One shell session: keystrokes in, the screen's text out, the server's last frame."""

    def __init__(self, websocket: ClientConnection):
        self.websocket = websocket
        self.output = b""
        self.last: dict[str, Any] | None = None
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.websocket:
            if isinstance(message, bytes):
                self.output += message
            else:
                self.last = json.loads(message)

    async def type(self, text: str) -> None:
        await self.websocket.send(text.encode())

    async def resize(self, cols: int, rows: int) -> None:
        await self.websocket.send(json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    async def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output.decode("utf-8", "replace"))
            if match:
                return match
            if self._reader.done():
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"{pattern!r} never appeared; the terminal showed:\n{self.output!r}")

    async def end(self, timeout: float = 20) -> dict[str, Any]:
        """The server's last frame, once it closed the connection."""
        await asyncio.wait_for(self._reader, timeout)
        assert self.last is not None, self.output
        return self.last


def shell(served: Served, task: str, who: str | None = "writer", query: str = "", **headers: str) -> Any:
    if who is not None:
        headers = {"Authorization": f"Bearer {served.tokens[who]}", **headers}
    url = served.ws_url + SHELL.format(task=task) + query
    return connect(url, additional_headers={k.replace("_", "-"): v for k, v in headers.items()})


async def refused(served: Served, task: str, who: str | None, query: str = "", **headers: str) -> int:
    with pytest.raises(InvalidStatus) as caught:
        async with shell(served, task, who, query, **headers):
            pass
    response = caught.value.response
    error = json.loads(response.body)["error"]
    assert error["code"] and error["message"]
    return response.status_code


# ----------------------------------------------------------------------------------- sessions


async def test_a_shell_in_a_running_task(served: Served):
    async with shell(served, "sleeper", query="?cols=100&rows=30") as websocket:
        terminal = Terminal(websocket)
        await terminal.type("echo hi-$((1+2))\n")
        await terminal.expect(r"hi-3")
        await terminal.type("pwd; cat made.txt; echo run=$SCAFFOLD_RUN\n")
        await terminal.expect(r"/tmp/run\r\nmade-by-the-task\r\nrun=1")
        await terminal.type("stty size\n")
        await terminal.expect(r"\n30 100\r")
        await terminal.resize(132, 43)
        await terminal.type("stty size\n")
        await terminal.expect(r"\n43 132\r")
        await terminal.type("exit 7\n")
        assert await terminal.end() == {"type": "exit", "code": 7}
    with served.api() as api:
        assert api.get("/api/v1/cascades/shells/tasks/sleeper").json()["state"] == "running"  # goes on


async def test_a_shell_in_a_copy_of_a_finished_task(served: Served):
    async with shell(served, "finisher", query="?run=1") as websocket:
        terminal = Terminal(websocket)
        await terminal.type("cat /tmp/run/result.txt /outside.txt\n")
        await terminal.expect(r"copy-me-42\r\nkept\r\n")
        await terminal.type("echo changed > /outside.txt; echo changed > /tmp/run/note.txt; exit\n")
        assert await terminal.end() == {"type": "exit", "code": 0}
    _wait_no_copies(served)
    # The copy was thrown away, with what changed in it; /tmp/run is the run's own directory.
    async with shell(served, "finisher") as websocket:
        terminal = Terminal(websocket)
        await terminal.type("cat /outside.txt /tmp/run/note.txt; exit 2\n")
        await terminal.expect(r"kept\r\nchanged\r\n")
        assert await terminal.end() == {"type": "exit", "code": 2}
    _wait_no_copies(served)


def _docker() -> Any:
    import docker

    return docker.from_env(timeout=30)


def _wait_no_copies(served: Served, timeout: float = 15) -> None:
    client = _docker()
    label = ["scaffold.shell", f"scaffold.instance={served.instance()}"]
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = client.api.containers(all=True, filters={"label": label})
            images = client.api.images(filters={"label": label})
            if not left and not images:
                return
            time.sleep(0.2)
        raise AssertionError(f"shell copies left behind: {left} {images}")
    finally:
        client.close()


async def test_closing_the_connection_ends_the_shell_and_what_it_started(served: Served):
    async with shell(served, "sleeper") as websocket:
        terminal = Terminal(websocket)
        await terminal.type("sleep 777 & sleep 888\n")
        await asyncio.sleep(0.5)
    client = _docker()
    try:
        name = next(
            c["Id"]
            for c in client.api.containers(filters={"label": f"scaffold.instance={served.instance()}"})
            if c["Labels"].get("scaffold.task") == "sleeper"
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            commands = [p[-1] for p in client.api.top(name)["Processes"]]
            if not any("sleep 777" in c or "sleep 888" in c for c in commands):
                break
            await asyncio.sleep(0.2)
        assert not any("sleep 777" in c or "sleep 888" in c for c in commands), commands
        assert "sleep 300" in commands  # the task's own process is untouched
    finally:
        client.close()


async def test_a_container_removed_after_the_retention_time_is_explained(served: Served):
    from scaffold.executors.docker import DockerExecutor

    executor = DockerExecutor(served.server.data_dir / "runs", instance_id=served.instance())
    client = _docker()
    try:
        client.api.remove_container(executor.container_name("shells:gone:1"), force=True)
    finally:
        client.close()
    async with shell(served, "gone") as websocket:
        frames = [frame async for frame in websocket]
    last = json.loads(frames[-1])
    assert last["type"] == "error" and last["code"] == "conflict"
    assert last["message"] == "the container of run 1 was removed after the retention time; re-run the task"


async def test_cleanup_removes_the_copies_a_crashed_server_left(served: Served):
    from scaffold.executors.docker import DockerExecutor

    instance = served.instance()
    executor = DockerExecutor(served.server.data_dir / "runs", instance_id=instance)
    labels = {"scaffold.instance": instance, "scaffold.run_id": "shells:finisher:1", "scaffold.shell": "x"}
    client = _docker()
    try:  # what a copy looks like between its creation and its removal
        name = executor.container_name("shells:finisher:1")
        image = client.api.commit(name, repository="scaffold-shell", tag="leftover", conf={"Labels": labels})
        client.api.create_container(image["Id"], command=["true"], labels=labels)
        await executor.cleanup()
        await executor.close()
        _wait_no_copies(served, timeout=1)
        assert client.api.inspect_container(name)["State"]["Status"] == "exited"  # the run's own: kept
    finally:
        client.close()


# ---------------------------------------------------------------------------------- who may


async def test_only_writers_inside_the_groups_may_open_a_shell(served: Served):
    assert await refused(served, "sleeper", None) == 401
    assert await refused(served, "sleeper", None, Authorization="Bearer scf_nope_nope") == 401
    assert await refused(served, "sleeper", "reader") == 403
    assert await refused(served, "sleeper", "outsider") == 404  # as for a cascade that does not exist
    assert await refused(served, "nope", "writer") == 404
    assert await refused(served, "sleeper", "writer", "?run=42") == 404
    assert await refused(served, "sleeper", "writer", "?cols=0") == 400
    async with shell(served, "sleeper", "admin") as websocket:
        terminal = Terminal(websocket)
        await terminal.type("exit 0\n")
        assert await terminal.end() == {"type": "exit", "code": 0}


async def test_revoking_the_token_ends_an_open_shell(served: Served):
    with served.api("writer") as api:
        created = api.post("/api/v1/tokens", json={"name": "short-lived"}).json()
    served.tokens["short-lived"] = created["token"]
    async with shell(served, "sleeper", "short-lived") as websocket:
        terminal = Terminal(websocket)
        await terminal.type("echo before-$((1+1))\n")
        await terminal.expect("before-2")
        with served.api("writer") as api:
            assert api.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
        last = await terminal.end(timeout=RECHECK_SECONDS + 10)
    assert last["type"] == "error" and last["code"] == "forbidden"
    assert "credentials ended" in last["message"]


async def test_a_browser_session_needs_its_own_origin_and_the_csrf_token(served: Served):
    r = httpx.post(f"{served.server.url}/api/v1/login", json={"username": "writer", "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = f"scaffold_session={r.cookies['scaffold_session']}"
    csrf = r.json()["csrf_token"]
    origin = served.server.url

    async def refused_with(query: str, **headers: str) -> int:
        return await refused(served, "sleeper", None, query, Cookie=cookie, **headers)

    assert await refused_with(f"?csrf={csrf}") == 403  # no Origin
    assert await refused_with(f"?csrf={csrf}", Origin="http://evil.example") == 403
    assert await refused_with(f"?csrf={csrf}", Origin=origin.replace("127.0.0.1", "localhost")) == 403
    assert await refused_with("", Origin=origin) == 403  # no CSRF token
    assert await refused_with("?csrf=forged", Origin=origin) == 403
    async with shell(served, "sleeper", None, f"?csrf={csrf}", Cookie=cookie, Origin=origin) as websocket:
        terminal = Terminal(websocket)
        await terminal.type("exit 5\n")
        assert await terminal.end() == {"type": "exit", "code": 5}


async def test_a_plain_get_says_it_is_a_websocket(served: Served):
    with served.api("writer") as api:
        r = api.get(SHELL.format(task="sleeper"))
    assert r.status_code == 400 and "is a websocket" in r.json()["error"]["message"]
    document = httpx.get(f"{served.server.url}/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/cascades/{cascade}/tasks/{task}/shell"]["get"]
    assert "101" in operation["responses"] and "resize" in operation["description"]


# ---------------------------------------------------------------------- the process executor


async def test_the_process_executor_gives_a_host_shell_in_the_run_directory(tmp_path):
    """No Docker here: the shell module directly, with a run directory of the process executor."""
    from scaffold.errors import Conflict
    from scaffold.executors.process import ProcessExecutor
    from scaffold.executors.shell import ShellTarget, open_shell

    (tmp_path / "c:t:1").mkdir()
    (tmp_path / "c:t:1" / "left.txt").write_text("left-by-the-run\n")
    executor = ProcessExecutor(tmp_path)
    target = ShellTarget("c:t:1", 1, "/bin/sh -e", env={"SCAFFOLD_RUN": "1"}, cols=90, rows=20)
    shell_ = await open_shell(executor, target)
    output = b""

    async def read_all() -> None:
        nonlocal output
        while chunk := await shell_.read():
            output += chunk

    reading = asyncio.ensure_future(read_all())
    try:
        shell_.write(b"cat left.txt; echo run=$SCAFFOLD_RUN; stty size\n")
        await shell_.resize(50, 10)
        shell_.write(b"stty size; false; echo survived; exit 6\n")  # interactive: no -e
        await asyncio.wait_for(reading, 10)
        assert await shell_.wait() == 6
    finally:
        await shell_.close()
    text = output.decode()
    assert "left-by-the-run\r\nrun=1\r\n" in text and "10 50\r\nsurvived" in text, text

    # a run directory removed after the retention time
    missing = ShellTarget("c:t:2", 2)
    with pytest.raises(Conflict, match="run 2 was removed after the retention time"):
        await open_shell(executor, missing)
