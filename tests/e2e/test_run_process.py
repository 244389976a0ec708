"""`scaffold run --executor process`: the same cascades on the host, in a private /tmp/run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLES, scaffold

pytestmark = pytest.mark.slow


def test_simple_and_application_deploy_on_the_process_executor(data_dir: Path):
    proc = scaffold("run", str(EXAMPLES / "simple.yaml"), "--executor", "process", data_dir=data_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FOOBAR" in proc.stdout and "Hello world" in proc.stdout
    proc = scaffold(
        "run",
        str(EXAMPLES / "application-deploy.yaml"),
        "--executor",
        "process",
        "--output",
        "json",
        data_dir=data_dir,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {t["state"] for t in doc["tasks"]} == {"success"}
    assert "Admin password: ********" in proc.stderr
    assert "myCoolAdminPostgresPassword" not in proc.stderr
    assert not Path("/tmp/run/myFile.txt").exists()  # the run directory stayed private


def test_input_flag_sets_a_value_and_bad_flags_are_usage_errors(data_dir: Path, tmp_path: Path):
    cascade = tmp_path / "hello.yaml"
    cascade.write_text(
        "version: v1\nname: hello\ninputs:\n  - {name: WHO, default: world}\n"
        "tasks:\n  - {name: greet, run: 'echo hello $WHO', inputs: [WHO], image: none}\n"
    )
    proc = scaffold("run", str(cascade), "--executor", "process", "-i", "WHO=team", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    assert "hello team" in proc.stdout
    proc = scaffold("run", str(cascade), "--executor", "process", "-i", "NOPE=x", data_dir=data_dir)
    assert proc.returncode == 2 and "has no input 'NOPE' (inputs: WHO)" in proc.stderr
    proc = scaffold("run", str(cascade), "-i", "novalue", data_dir=data_dir)
    assert proc.returncode == 2 and "NAME=VALUE" in proc.stderr


def test_names_starting_with_underscore_or_dash_run(data_dir: Path, tmp_path: Path):
    cascade = tmp_path / "odd.yaml"
    cascade.write_text(
        "version: v1\nname: _odd.names\ntasks:\n  - {name: -first, run: 'echo ok', image: x}\n"
        "  - {name: _second, run: 'echo fine', image: x, depends_on: [-first]}\n"
    )
    proc = scaffold("run", str(cascade), "--executor", "process", "-o", "json", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    assert {t["state"] for t in json.loads(proc.stdout)["tasks"]} == {"success"}


def test_json_document_has_no_run_for_tasks_reset_since(data_dir: Path, tmp_path: Path):
    cascade = tmp_path / "two.yaml"
    cascade.write_text(
        "version: v1\nname: two\ntasks:\n  - {name: a, run: 'echo a', image: x}\n"
        "  - {name: b, run: 'exit 3', image: x, depends_on: [a]}\n"
    )
    first = scaffold("run", str(cascade), "--executor", "process", "-o", "json", data_dir=data_dir)
    assert first.returncode == 1
    cascade.write_text(cascade.read_text().replace("echo a", "echo changed"))
    second = scaffold(
        "run", str(cascade), "--executor", "process", "-o", "json", "--task", "a", data_dir=data_dir
    )
    tasks = {t["name"]: t for t in json.loads(second.stdout)["tasks"]}
    assert tasks["a"]["run"] == 2 and tasks["a"]["state"] == "success"
    assert tasks["b"]["state"] == "error" and tasks["b"]["run"] == 2 and tasks["b"]["exit_code"] == 3
