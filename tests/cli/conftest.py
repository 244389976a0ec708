"""The client commands end to end: the real ``scaffold`` CLI as subprocesses against a real
``scaffold serve`` process (fresh data directory, free port, Docker executor), with HOME in a
temporary directory so that profiles never touch the real ~/.scaffold.

    def test_x(admin):                      # a HOME configured as the admin
        r = admin("get", "cascades", "-o", "json")
        assert r.returncode == 0, r.stderr
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
ADMIN_PASSWORD = "cli-admin-password"


class Server:
    """``scaffold serve`` in its own process; ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None, scheme: str = "http"):
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log = data_dir.parent / f"serve-{self.port}.log"
        full_env = {**_clean_env(), "SCAFFOLD_ADMIN_PASSWORD": ADMIN_PASSWORD, **(env or {})}
        full_env["SCAFFOLD_INSECURE_FAST_HASHING"] = "1"  # test suite only: cheap argon2 parameters
        self._out = open(self.log, "a")  # noqa: SIM115 - closed in stop()
        argv = ["serve", "--port", str(self.port), "--data-dir", str(data_dir), *extra]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scaffold", *argv],
            cwd=REPO,
            env=full_env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, verify: object = True) -> Server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"scaffold serve exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", verify=verify, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"scaffold serve did not answer in 30 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def token(self, username: str = "admin", password: str = ADMIN_PASSWORD, **body: object) -> str:
        response = httpx.post(
            f"{self.url}/api/v1/tokens", json={"name": "test", **body}, auth=(username, password)
        )
        assert response.status_code == 201, response.text
        return response.json()["token"]


def _clean_env() -> dict[str, str]:
    """The environment without any SCAFFOLD_* setting of the person running the tests."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("SCAFFOLD_") or k == "SCAFFOLD_TEST_IMAGE"
    }


class Cli:
    """Runs ``scaffold`` with HOME pointing at ``home``."""

    def __init__(self, home: Path, server: Server):
        self.home = home
        self.server = server
        home.mkdir(parents=True, exist_ok=True)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**_clean_env(), "HOME": str(self.home), "COLUMNS": "200", **(extra or {})}
        env.pop("NO_COLOR", None)
        return env

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scaffold", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(env),
            cwd=self.home,
        )

    def ok(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        result = self(*args, **kwargs)  # type: ignore[arg-type]
        assert result.returncode == 0, (
            f"scaffold {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
        return result

    def configure(self, username: str, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self(
            "configure",
            "--server",
            self.server.url,
            "--username",
            username,
            "--password-stdin",
            *extra,
            input=password + "\n",
        )

    def in_pty(
        self,
        *args: str,
        input: str = "",
        answers: list[tuple[str, str]] | None = None,
        timeout: float = 120,
        columns: int = 120,
    ) -> tuple[int, str]:
        """Run with a pseudo-terminal as controlling terminal, stdin, stdout and stderr: what a
        person at a terminal sees. ``input`` is typed at once; each ``(prompt, text)`` of
        ``answers`` is typed once ``prompt`` has appeared (password prompts drop earlier input)."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        env = self.env({"TERM": "xterm-256color"})
        env.pop("COLUMNS", None)
        try:  # setsid --ctty: a new session whose controlling terminal is the pty (for /dev/tty)
            proc = subprocess.Popen(
                ["setsid", "--ctty", sys.executable, "-m", "scaffold", *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=self.home,
            )
        finally:
            os.close(slave)
        if input:
            os.write(master, input.encode())
        pending = list(answers or [])
        seen, cursor = b"", 0
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: the terminal's other side is closed
                        break
                    if not data:
                        break
                    seen += data
                elif proc.poll() is not None:
                    break
                found = seen.find(pending[0][0].encode(), cursor) if pending else -1
                if found >= 0:
                    cursor = found + len(pending[0][0])
                    time.sleep(0.1)  # let the prompt turn echo off first
                    os.write(master, pending.pop(0)[1].encode())
        finally:
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
            os.close(master)
        return code, seen.decode("utf-8", "replace")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.docker_helpers import remove_containers, require_docker

    require_docker()
    data_dir = tmp_path_factory.mktemp("cli-server") / "data"
    running = Server(data_dir, "--examples")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
        id_file = data_dir / "instance-id"
        if id_file.exists():
            remove_containers(f"scaffold.instance={id_file.read_text().strip()}")


@pytest.fixture(scope="session")
def admin(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A HOME whose default profile is the admin on ``server``."""
    cli = Cli(tmp_path_factory.mktemp("admin-home"), server)
    result = cli.configure("admin", ADMIN_PASSWORD)
    assert result.returncode == 0, result.stderr
    return cli


@pytest.fixture
def fresh(server: Server, tmp_path: Path) -> Cli:
    """A HOME without any profile."""
    return Cli(tmp_path / "home", server)


def plain(screen: str) -> str:
    """Terminal output without its colour and cursor escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)


def cascade_file(directory: Path, name: str, tasks: str) -> Path:
    """A cascade file whose tasks run in the test image."""
    from tests.docker_helpers import TEST_IMAGE

    path = directory / f"{name}.yaml"
    path.write_text(f"version: v1\nname: {name}\ntasks:\n" + tasks.replace("IMAGE", TEST_IMAGE))
    return path
