"""``scaffold exec``: the real CLI in a real terminal (tmux), against a real ``scaffold serve`` with
Docker. What is typed reaches the task's container, Ctrl-C reaches the remote shell (not the local
command), a resized window resizes the remote terminal, the local terminal is restored, and the
command exits with the shell's exit code."""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import ADMIN_PASSWORD, Cli, Server, cascade_file

pytestmark = [pytest.mark.slow, pytest.mark.docker]
TASKS = """\
  - name: sleeper
    image: IMAGE
    run: "echo made-by-the-task > /tmp/run/made.txt; sleep 300"
  - name: finisher
    image: IMAGE
    run: "echo copy-me-42 > /tmp/run/result.txt"
"""
_sessions = itertools.count()


class Tmux:
    """A tmux server of its own running one command in a 120x40 window (no status line)."""

    def __init__(self, command: str, env: dict[str, str]):
        self.socket = f"scaffold-exec-test-{os.getpid()}-{next(_sessions)}"
        self.env = env
        # the command stays on screen after it ended: its exit code and the terminal's mode stay visible
        script = f"{command}; echo EXIT=$?; stty -a | grep -o -e '-*icanon'; sleep 600"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "40", script)
        self.tmux("set-option", "-g", "status", "off")

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env, timeout=30
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, env=self.env)


@pytest.fixture(scope="module")
def cascade(server: Server, admin: Cli, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = cascade_file(tmp_path_factory.mktemp("exec"), "exec-demo", TASKS)
    admin.ok("apply", "-f", str(path))
    admin.ok("start", "exec-demo", "--yes")
    token = server.token()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            board = {t["name"]: t["state"] for t in api.get("/api/v1/cascades/exec-demo/tasks").json()}
            if board == {"sleeper": "running", "finisher": "success"}:
                return "exec-demo"
            time.sleep(0.2)
    raise AssertionError(f"the tasks did not start: {board}")


@pytest.fixture
def terminal(admin: Cli) -> Iterator[callable]:
    opened: list[Tmux] = []

    def open_exec(*args: str) -> Tmux:
        command = shlex.join([sys.executable, "-m", "scaffold", "exec", *args])
        session = Tmux(f"cd {shlex.quote(str(admin.home))} && {command}", admin.env({"TERM": "xterm"}))
        opened.append(session)
        return session

    yield open_exec
    for session in opened:
        session.close()


def test_exec_types_into_the_running_container_and_ctrl_c_reaches_the_remote_shell(cascade, terminal):
    tmux = terminal(cascade, "sleeper")
    tmux.wait_for("/tmp/run #")
    assert "shell in run 1 of exec-demo/sleeper: its running container" in tmux.screen()
    tmux.keys("echo hi-$((1+2)); cat made.txt", "Enter")
    tmux.wait_for("hi-3\nmade-by-the-task")
    tmux.keys("stty size", "Enter")
    tmux.wait_for("\n40 120\n")

    tmux.keys("sleep 100", "Enter")
    time.sleep(1)
    tmux.keys("C-c")  # raw mode: a byte for the remote terminal, not SIGINT for scaffold
    tmux.keys("echo alive-$((2+3))", "Enter")
    screen = tmux.wait_for("alive-5", timeout=15)
    assert "EXIT=" not in screen and "interrupted" not in screen

    tmux.tmux("resize-window", "-t", "t", "-x", "100", "-y", "30")  # SIGWINCH -> a resize frame
    for _ in range(10):  # the signal and the keys typed next race to the server: ask until it shows
        tmux.keys("clear; stty size", "Enter")
        time.sleep(0.5)
        if "30 100" in tmux.screen().splitlines():
            break
    assert "30 100" in tmux.screen().splitlines(), tmux.screen()

    tmux.keys("exit 3", "Enter")
    tmux.wait_for("EXIT=3")
    screen = tmux.wait_for("icanon")  # what `stty -a` says of the local terminal afterwards
    assert "\nicanon" in screen and "-icanon" not in screen, screen  # the local terminal is restored


def test_exec_into_a_finished_task_gets_a_copy_with_its_run_directory(cascade, terminal):
    tmux = terminal(cascade, "finisher", "--run", "1")
    tmux.wait_for("/tmp/run #")
    assert "a copy of its finished container" in tmux.screen()
    tmux.keys("cat /tmp/run/result.txt", "Enter")
    tmux.wait_for("copy-me-42")
    tmux.keys("C-d")  # Ctrl-D ends the remote shell: exit code 0
    tmux.wait_for("EXIT=0")


def test_exec_forwards_piped_input_and_exits_with_the_shell_code(cascade, admin: Cli):
    result = admin("exec", cascade, "sleeper", input="echo piped-$((4+4))\nexit 5\n")
    assert result.returncode == 5, result.stderr
    assert "piped-8" in result.stdout
    result = admin("exec", cascade, "sleeper", input="echo no-exit\n")  # the end of input is a Ctrl-D
    assert result.returncode == 0, result.stderr
    assert "no-exit" in result.stdout


def test_exec_errors_exit_with_the_client_codes(cascade, admin: Cli, server: Server, tmp_path: Path):
    result = admin("exec", "no-such-cascade", "sleeper")
    assert result.returncode == 4 and "does not exist" in result.stderr
    result = admin("exec", cascade, "sleeper", "--run", "9")
    assert result.returncode == 4 and "has no task run 9" in result.stderr

    token = server.token()
    body = {"username": "exec-reader", "password": ADMIN_PASSWORD, "role": "read", "groups": []}
    r = httpx.post(f"{server.url}/api/v1/users", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    reader = Cli(tmp_path / "reader-home", server)
    assert reader.configure("exec-reader", ADMIN_PASSWORD).returncode == 0
    result = reader("exec", cascade, "sleeper")
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == "error: your role (read) may not open shell in 'exec-demo'"


def test_exec_over_https_honours_the_profile_tls_settings(tmp_path: Path):
    import ssl
    import tomllib

    from tests.docker_helpers import remove_containers
    from tests.tls_helpers import self_signed

    cert, key = self_signed(tmp_path)
    tls = Server(tmp_path / "tls-data", "--tls-cert", str(cert), "--tls-key", str(key), scheme="https")
    try:
        tls.wait_ready(verify=ssl.create_default_context(cafile=str(cert)))
        cli = Cli(tmp_path / "home", tls)
        assert cli.configure("admin", ADMIN_PASSWORD, "--insecure").returncode == 0
        path = cascade_file(tmp_path, "tls-demo", TASKS)
        cli.ok("apply", "-f", str(path))
        cli.ok("start", "tls-demo", "finisher", "--yes", "--follow")
        piped = "cat /tmp/run/result.txt; exit 4\n"
        result = cli("exec", "tls-demo", "finisher", input=piped)
        assert result.returncode == 4 and "copy-me-42" in result.stdout, result.stderr
        assert cli.configure("admin", ADMIN_PASSWORD, "--ca-cert", str(cert), "-p", "ca").returncode == 0
        result = cli("exec", "-p", "ca", "tls-demo", "finisher", input=piped)
        assert result.returncode == 4 and "copy-me-42" in result.stdout, result.stderr

        config = cli.home / ".scaffold" / "config"  # the insecure profile, made to check again
        data = tomllib.loads(config.read_text())
        config.write_text(config.read_text().replace("verify = false", "verify = true"))
        assert tomllib.loads(config.read_text())["default"]["verify"] is True, data
        result = cli("exec", "tls-demo", "finisher", input=piped)
        assert result.returncode == 6 and "is not trusted" in result.stderr, result.stderr
    finally:
        tls.stop()
        id_file = tmp_path / "tls-data" / "instance-id"
        if id_file.exists():
            remove_containers(f"scaffold.instance={id_file.read_text().strip()}")
