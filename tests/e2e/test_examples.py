"""Every example in examples/ validates and runs in real containers, so the examples never rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLES, scaffold

pytestmark = pytest.mark.slow
ALL = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def _run(data_dir: Path, example: str, *args: str) -> tuple[int, dict, str]:
    proc = scaffold("run", str(EXAMPLES / example), "--output", "json", *args, data_dir=data_dir, timeout=300)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON document:\n{proc.stdout}\n{proc.stderr}") from None
    return proc.returncode, {t["name"]: t for t in doc["tasks"]}, proc.stderr


def test_examples_are_all_covered():
    assert {"simple.yaml", "application-deploy.yaml"} <= set(ALL)
    assert len(ALL) >= 6


def test_every_example_validates():
    proc = scaffold("validate", *(str(EXAMPLES / name) for name in ALL), data_dir=Path("/nonexistent"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": ok (") == len(ALL)


@pytest.mark.parametrize("example", [n for n in ALL if n not in ("approval-gate.yaml",)])
def test_example_runs_to_success(example: str, docker_data_dir: Path):
    code, tasks, err = _run(docker_data_dir, example)
    assert code == 0, err
    ran = {n: t for n, t in tasks.items() if t["run"]}
    assert ran and all(t["state"] == "success" for t in ran.values()), tasks


def test_error_handling_example_takes_the_error_branch(docker_data_dir: Path):
    code, tasks, err = _run(docker_data_dir, "error-handling.yaml", "--input", "SIMULATE_FAILURE=yes")
    assert code == 1
    assert tasks["deploy"]["state"] == "error" and tasks["deploy"]["exit_code"] == 1
    assert tasks["roll_back"]["state"] == "success"
    assert tasks["release_lock"]["state"] == "success"
    assert tasks["smoke_test"]["state"] == "not_started"
    assert tasks["smoke_test"]["reason"] == "waits for deploy: error"
    assert "deploy failed: simulated" in err
    # the default path: roll_back is skipped, not blocked, and the run succeeds
    code, tasks, err = _run(docker_data_dir, "error-handling.yaml", "--input", "SIMULATE_FAILURE=no")
    assert code == 0, err
    assert tasks["roll_back"]["state"] == "not_started"
    assert tasks["roll_back"]["reason"] == "runs only if deploy ends in error; it succeeded"


def test_approval_gate_stops_at_the_gate_then_runs_when_started_by_hand(docker_data_dir: Path):
    code, tasks, err = _run(docker_data_dir, "approval-gate.yaml")
    assert code == 0, err
    assert tasks["make_plan"]["state"] == "success"
    assert tasks["apply_plan"]["state"] == "not_started"
    assert tasks["apply_plan"]["reason"].startswith("awaiting approval")
    code, tasks, err = _run(docker_data_dir, "approval-gate.yaml", "--task", "apply_plan")
    assert code == 0, err
    assert {t["state"] for t in tasks.values()} == {"success"}
    assert "+ resource.db (new)" in err


def test_report_example_stores_values_and_shows_display_items(docker_data_dir: Path):
    code, _, err = _run(docker_data_dir, "report.yaml")
    assert code == 0, err
    assert "2 hosts in:" in err and "us-east-1" in err
    from tests.e2e.test_run_docker import scaffold_run_row

    run = scaffold_run_row(docker_data_dir, "report", "summarise", 1)
    assert run["display_error"] is None
    kinds = [item["kind"] for item in run["display"]]
    assert kinds == ["table", "value", "pre"]
    assert run["display"][1] == {"kind": "value", "name": "host count", "data": "2", "color": "green"}
