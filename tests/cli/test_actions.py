"""Actions: ``start`` (preview, confirmation, live view, exit codes), ``kill``, ``logs``."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, cascade_file, plain

pytestmark = pytest.mark.slow
SLOW_TASKS = """\
  - name: work
    image: IMAGE
    run: |
      echo started
      sleep 60
  - name: after
    image: IMAGE
    depends_on: [work]
    run: echo after
"""
COUNT_TASKS = """\
  - name: count
    image: IMAGE
    run: |
      for i in 1 2 3 4 5; do echo "line $i"; sleep 0.4; done
"""


def _wait_for_state(cli: Cli, cascade: str, task: str, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = json.loads(cli.ok("get", "tasks", task, "-c", cascade, "-o", "json").stdout)
        if doc["state"] == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"{cascade}/{task} did not become {state}")


def test_start_application_deploy_follows_live_on_a_terminal_and_exits_0(admin: Cli):
    code, screen = admin.in_pty("start", "application-deploy", "--yes", "--follow", timeout=150)
    assert code == 0, screen
    text = plain(screen)
    assert "Starting 'application-deploy':" in text and "start now:" in text
    assert "scaffold: wave" in text and "started: deploy_terraform, build_images" in text
    assert re.search(r"task\s+state\s+run\s+reason", text)  # the live table
    assert "✔ success" in text
    assert "create_db_schemas       │ Admin password: ********" in text  # masked log lines
    assert "myCoolAdminPostgresPassword" not in text
    assert "done: application-deploy: 15 success" in text
    assert "\x1b[" in screen  # colour on a terminal


def test_start_follow_in_a_pipe_prints_lines_and_json(admin: Cli):
    result = admin.ok("start", "foobar", "--yes", "--follow")
    lines = result.stdout.splitlines()
    assert "✔ write_file success" in lines and "print_file_and_env │ Hello world" in lines
    assert lines[-1].startswith("done: foobar: 3 success")
    assert "\x1b[" not in result.stdout
    doc = json.loads(admin.ok("start", "foobar", "--yes", "--follow", "-o", "json").stdout)
    assert doc["cascade"] == "foobar" and isinstance(doc["wave"], int)
    assert [(t["name"], t["state"], t["exit_code"]) for t in doc["tasks"]] == [
        ("write_file", "success", 0),
        ("store_env_var", "success", 0),
        ("print_file_and_env", "success", 0),
    ]


def test_a_failing_task_makes_follow_exit_1(admin: Cli):
    admin.ok("inputs", "set", "error-handling", "SIMULATE_FAILURE=yes")
    try:
        result = admin("start", "error-handling", "--yes", "--follow", "-o", "json")
        assert result.returncode == 1, result.stderr
        doc = json.loads(result.stdout)
        deploy = next(t for t in doc["tasks"] if t["name"] == "deploy")
        assert deploy["state"] == "error" and deploy["exit_code"] == 1 and deploy["reason"] == "exit code 1"
        assert "deploy       │ deploy failed: simulated" in result.stderr  # progress on stderr
        assert "failed: error-handling:" in result.stderr
        text = admin("start", "error-handling", "--yes", "--follow")
        assert text.returncode == 1 and "✖ deploy error (exit code 1)" in text.stdout
    finally:
        admin.ok("inputs", "set", "error-handling", "SIMULATE_FAILURE=no")
    assert admin("start", "error-handling", "--yes", "--follow").returncode == 0


def test_start_shows_the_preview_and_asks(admin: Cli):
    preview = admin.ok("start", "foobar", "write_file", "--dry-run").stdout
    assert preview.splitlines() == [
        "Starting task 'write_file' of 'foobar':",
        "  start now:     write_file",
        "  reset:         print_file_and_env",
        "  overwrites:    file myFile.txt (by write_file)",
        "  then expected: print_file_and_env",
    ]
    doc = json.loads(admin.ok("start", "foobar", "write_file", "--dry-run", "-o", "json").stdout)
    assert doc["wave"] is None and doc["preview"]["reset"] == ["print_file_and_env"]
    refused = admin("start", "foobar")
    assert refused.returncode == 2 and "add --yes" in refused.stderr
    code, screen = admin.in_pty("start", "foobar", input="n\n")
    assert code == 1 and "Start? [y/N]" in screen and "nothing was started" in screen
    code, screen = admin.in_pty("start", "foobar", "--follow", input="y\n")
    assert code == 0 and "done: foobar: 3 success" in plain(screen), screen
    started = json.loads(admin.ok("start", "foobar", "--yes", "-o", "json").stdout)
    assert started["wave"]["started_tasks"] == ["write_file", "store_env_var"]
    unknown = admin("start", "no-such-cascade", "--yes")
    assert unknown.returncode == 4
    assert unknown.stderr == "error: cascade 'no-such-cascade' does not exist (or you may not see it)\n"


def test_conflicting_start_read_only_user_and_kill(admin: Cli, tmp_path: Path):
    admin.ok("apply", "-f", str(cascade_file(tmp_path, "cli-slow", SLOW_TASKS)))
    started = admin.ok("start", "cli-slow", "--yes")
    assert re.search(r"^wave \d+ of 'cli-slow' started: work$", started.stdout, re.M)
    _wait_for_state(admin, "cli-slow", "work", "running")
    conflict = admin("start", "cli-slow", "work", "--yes")  # the server's 409
    assert conflict.returncode == 5
    assert conflict.stderr == "error: task 'work' is running; wait for it to finish or kill it first\n"
    previewed = admin("start", "cli-slow", "work")  # the preview already says why
    assert previewed.returncode == 5 and "refused:" in previewed.stdout
    assert previewed.stderr == "error: task 'work' is running; wait for it to finish or kill it first\n"

    reader = Cli(tmp_path / "reader-home", admin.server)
    admin.ok("users", "create", "cli-reader", "--password-stdin", input="reader-password\n")
    assert reader.configure("cli-reader", "reader-password").returncode == 0
    assert json.loads(reader.ok("start", "foobar", "--dry-run", "-o", "json").stdout)["wave"] is None
    refused = reader("start", "foobar", "--yes")
    assert refused.returncode == 3
    assert refused.stderr == "error: your role (read) may not start in 'foobar'\n"
    assert reader("kill", "cli-slow", "work").returncode == 3
    assert reader("users", "list").returncode == 3

    killed = admin.ok("kill", "cli-slow", "work")
    assert killed.stdout.startswith("cli-slow/work: killed")
    again = admin("kill", "cli-slow", "work", "-o", "json")
    assert again.returncode == 5 and "nothing to kill" in again.stderr
    admin.ok("start", "cli-slow", "--yes")
    _wait_for_state(admin, "cli-slow", "work", "running")
    doc = json.loads(admin.ok("kill", "cli-slow", "work", "-o", "json").stdout)
    assert doc["state"] == "killed" and doc["name"] == "work"
    assert admin("kill", "cli-slow", "nope").returncode == 4


def test_logs_range_and_follow(admin: Cli, tmp_path: Path):
    admin.ok("apply", "-f", str(cascade_file(tmp_path, "cli-count", COUNT_TASKS)))
    admin.ok("start", "cli-count", "--yes")
    followed = admin.ok("logs", "cli-count", "count", "-f")  # waits for the run to end
    assert followed.stdout == "".join(f"line {i}\n" for i in range(1, 6))
    assert admin.ok("logs", "cli-count", "count").stdout == followed.stdout
    assert admin.ok("logs", "cli-count", "count", "--run", "1").stdout == followed.stdout
    admin.ok("start", "cli-count", "--yes")
    env = admin.env()
    proc = subprocess.Popen(  # follow from the first line while the run goes on
        [sys.executable, "-m", "scaffold", "logs", "cli-count", "count", "-f", "-r", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=admin.home,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == followed.stdout
    missing = admin("logs", "cli-count", "count", "--run", "99")
    assert missing.returncode == 4 and missing.stderr == "error: task 'count' has no task run 99\n"
    never = admin("logs", "foobar", "print_file_and_env", "--check")
    assert never.returncode == 4 and "has no check runs yet" in never.stderr


def test_ctrl_c_stops_following_and_the_wave_goes_on(admin: Cli, tmp_path: Path):
    admin.ok("apply", "-f", str(cascade_file(tmp_path, "cli-interrupt", SLOW_TASKS)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "start", "cli-interrupt", "--yes", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=admin.env(),
        cwd=admin.home,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the live view in a pipe: one line per change
            if line.startswith("work") and "started" in line:  # the task's first log line
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "goes on on the server" in out and err.endswith("scaffold: interrupted\n")
    assert (
        json.loads(admin.ok("get", "tasks", "work", "-c", "cli-interrupt", "-o", "json").stdout)["state"]
        == "running"
    )
    admin.ok("kill", "cli-interrupt", "work")
