"""`scaffold serve` end to end: the real server process, real Docker, HTTP and HTTPS, SSE,
SIGKILL mid-run and a restart on the same data directory, and secrets that never leak."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import EXAMPLES, REPO
from tests.tls_helpers import self_signed
from tests.web.conftest import free_port

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "e2e-admin-password"
APP_PASSWORDS = [
    "myCoolArtifactoryPassword",
    "myCoolAdminPostgresPassword",
    "myCoolPortalPostgresPassword",
    "myCoolApiPostgresPassword",
]


class ServeProcess:
    def __init__(self, data_dir: Path, port: int, *extra: str, scheme: str = "http", verify: object = True):
        self.data_dir, self.port, self.extra = data_dir, port, extra
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.verify = verify
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir.parent / f"serve-{port}.log"

    def start(self) -> ServeProcess:
        env = {**os.environ, "SCAFFOLD_ADMIN_PASSWORD": ADMIN_PASSWORD}
        env.pop("SCAFFOLD_CONFIG", None)
        self._out = open(self.log, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scaffold",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.extra,
            ],
            cwd=REPO,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"scaffold serve exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", verify=self.verify, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"scaffold serve did not answer in 30 s:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self._out.close()

    def client(self) -> httpx.Client:
        response = httpx.post(
            f"{self.url}/api/v1/tokens",
            json={"name": "e2e"},
            auth=("admin", ADMIN_PASSWORD),
            verify=self.verify,
        )
        assert response.status_code == 201, response.text
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        return httpx.Client(base_url=self.url, headers=headers, verify=self.verify, timeout=30)


@pytest.fixture
def served(docker_data_dir: Path) -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.stop(signal.SIGKILL)


def events(client: httpx.Client, cascade: str, until: callable, timeout: float = 120) -> list[dict]:
    """Read the SSE stream until ``until(events_so_far)`` is true."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", "/api/v1/events", params={"cascade": cascade}, timeout=timeout) as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                seen.append({"kind": kind, **json.loads(line[6:])})
                if until(seen):
                    return seen
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"the stream ended before the condition held; saw {seen[-5:]}")


def _container_running(instance: str, task: str) -> bool:
    import docker

    client = docker.from_env()
    try:
        labels = [f"scaffold.instance={instance}", f"scaffold.task={task}"]
        return bool(client.api.containers(filters={"label": labels, "status": "running"}))
    finally:
        client.close()


def board(client: httpx.Client, cascade: str) -> dict[str, str]:
    return {t["name"]: t["state"] for t in client.get(f"/api/v1/cascades/{cascade}/tasks").json()}


def apply(client: httpx.Client, path: Path) -> dict:
    response = client.post(
        "/api/v1/cascades", content=path.read_bytes(), headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_serve_applies_runs_follows_sse_survives_sigkill(docker_data_dir: Path, served: list[ServeProcess]):
    server = ServeProcess(docker_data_dir, free_port()).start()
    served.append(server)
    client = server.client()
    result = apply(client, EXAMPLES / "application-deploy.yaml")
    assert result["created"] and result["version"] == 1
    wave = client.post("/api/v1/cascades/application-deploy/start", json={}).json()["wave"]
    finished = events(
        client,
        "application-deploy",
        lambda seen: any(e["kind"] == "wave" and e.get("state") == "ended" for e in seen),
    )
    succeeded = {e["task"] for e in finished if e["kind"] == "task" and e.get("state") == "success"}
    assert len(succeeded) == 15
    assert set(board(client, "application-deploy").values()) == {"success"}
    assert client.get(f"/api/v1/cascades/application-deploy/waves/{wave['id']}").json()["ended_at"]

    # a second wave from the middle; kill the server while tasks run in their containers
    client.post("/api/v1/cascades/application-deploy/start", json={"task": "create_db_users"})
    # SIGKILL once deploy_application's container really runs (between "running" being recorded and
    # the container starting there is nothing to adopt: such a run would rightly end as lost)
    instance = (docker_data_dir / "instance-id").read_text().strip()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _container_running(instance, "deploy_application"):
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    client.close()

    restarted = ServeProcess(docker_data_dir, server.port).start()
    served.append(restarted)
    client = restarted.client()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = board(client, "application-deploy")
        if not {"waiting", "running"} & set(states.values()):
            break
        time.sleep(0.5)
    assert set(states.values()) == {"success"}, states  # adopted and carried on down the waterfall
    runs = client.get("/api/v1/cascades/application-deploy/tasks/destroy_old_traefik/runs").json()
    assert [r["number"] for r in runs] == [2, 1]
    client.close()


def test_serve_over_https_with_a_self_signed_certificate(
    docker_data_dir: Path, served: list[ServeProcess], tmp_path: Path
):
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(cafile=str(cert))
    server = ServeProcess(
        docker_data_dir,
        free_port(),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        scheme="https",
        verify=context,
    ).start()
    served.append(server)
    import socket

    with (  # a client that does not trust our certificate refuses it
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    client = server.client()
    apply(client, EXAMPLES / "simple.yaml")
    client.post("/api/v1/cascades/foobar/start", json={})
    events(
        client, "foobar", lambda seen: any(e["kind"] == "wave" and e.get("state") == "ended" for e in seen)
    )
    assert set(board(client, "foobar").values()) == {"success"}
    login = httpx.post(
        f"{server.url}/api/v1/login", json={"username": "admin", "password": ADMIN_PASSWORD}, verify=context
    )
    cookie = login.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    client.close()


def test_password_values_never_leave_the_server(docker_data_dir: Path, served: list[ServeProcess]):
    server = ServeProcess(docker_data_dir, free_port()).start()
    served.append(server)
    client = server.client()
    bodies: list[str] = [json.dumps(apply(client, EXAMPLES / "application-deploy.yaml"))]
    bodies.append(client.post("/api/v1/cascades/application-deploy/start", json={}).text)
    stream = events(
        client,
        "application-deploy",
        lambda seen: any(e["kind"] == "wave" and e.get("state") == "ended" for e in seen),
    )
    bodies.append(json.dumps(stream))
    base = "/api/v1/cascades/application-deploy"
    for path in [
        "/api/v1/cascades",
        base,
        f"{base}/versions",
        f"{base}/inputs",
        f"{base}/tasks",
        f"{base}/values",
        f"{base}/files",
        f"{base}/waves",
        "/api/v1/audit",
    ]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        bodies.append(response.text)
    for task in board(client, "application-deploy"):
        runs = client.get(f"{base}/tasks/{task}/runs")
        bodies.append(runs.text)
        for run in runs.json():
            bodies.append(client.get(f"{base}/tasks/{task}/runs/{run['number']}").text)
            bodies.append(client.get(f"{base}/tasks/{task}/runs/{run['number']}/logs").text)
    logs = client.get(f"{base}/tasks/create_db_schemas/runs/1/logs").json()["text"]
    assert "Admin password: ********" in logs
    inputs = {i["name"]: i for i in client.get(f"{base}/inputs").json()}
    assert inputs["POSTGRES_ADMIN_PASSWORD"]["value"] == "********"
    changed = client.put(
        f"{base}/inputs", json={"values": {"ARTIFACTORY_PASSWORD": "n3w-artifactory-secret"}}
    )
    bodies.append(changed.text)
    bodies.append(client.get(f"{base}/inputs").text)
    bodies.append(client.get("/api/v1/audit").text)
    everything = "\n".join(bodies)
    for secret in [*APP_PASSWORDS, "n3w-artifactory-secret"]:
        assert secret not in everything
    client.close()
    server.stop()
    for path in docker_data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in [*APP_PASSWORDS, "n3w-artifactory-secret"]:
                assert secret.encode() not in data, f"{secret} in clear in {path}"


def test_sigterm_stops_gracefully_and_running_tasks_are_adopted(
    docker_data_dir: Path, served: list[ServeProcess], tmp_path: Path
):
    from tests.docker_helpers import TEST_IMAGE

    cascade = tmp_path / "nap.yaml"
    cascade.write_text(
        f"version: v1\nname: nap\ntasks:\n"
        f"  - {{name: nap, image: '{TEST_IMAGE}', run: 'sleep 4; echo rested'}}\n"
        f"  - {{name: after, image: '{TEST_IMAGE}', run: 'echo after', depends_on: [nap]}}\n"
    )
    server = ServeProcess(docker_data_dir, free_port()).start()
    served.append(server)
    client = server.client()
    apply(client, cascade)
    client.post("/api/v1/cascades/nap/start", json={})
    events(client, "nap", lambda seen: any(e["kind"] == "task" and e.get("state") == "running" for e in seen))
    client.close()
    server.stop(signal.SIGTERM)
    assert server.proc is not None and server.proc.returncode == 0
    assert "running tasks keep running" in server.log.read_text()
    restarted = ServeProcess(docker_data_dir, server.port).start()
    served.append(restarted)
    client = restarted.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and board(client, "nap") != {"nap": "success", "after": "success"}:
        time.sleep(0.3)
    assert board(client, "nap") == {"nap": "success", "after": "success"}
    assert "rested" in client.get("/api/v1/cascades/nap/tasks/nap/runs/1/logs").json()["text"]
    client.close()


def test_without_a_docker_engine_serve_says_so_and_how_to_fix_it(tmp_path: Path):
    env = {**os.environ, "SCAFFOLD_DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scaffold",
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            "--port",
            str(free_port()),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 6
    assert "nonexistent/docker.sock" in proc.stderr and "--executor process" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_port_in_use_is_refused_before_anything_is_created(tmp_path: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "scaffold",
                "serve",
                "--data-dir",
                str(tmp_path / "d"),
                "--port",
                str(port),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 7 and "Address already in use" in proc.stderr
    assert not (tmp_path / "d").exists()  # no admin was created whose password nobody saw
