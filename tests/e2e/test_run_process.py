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
    proc = scaffold("run", str(EXAMPLES / "application-deploy.yaml"), "--executor", "process",
                    "--output", "json", data_dir=data_dir)
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
