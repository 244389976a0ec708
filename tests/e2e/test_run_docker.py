"""`scaffold run` end to end: the real command, a real data directory, real Docker containers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLES, REPO, scaffold

pytestmark = pytest.mark.slow

APP_PASSWORDS = [
    "myCoolArtifactoryPassword",
    "myCoolAdminPostgresPassword",
    "myCoolPortalPostgresPassword",
    "myCoolApiPostgresPassword",
]


def _doc(proc: subprocess.CompletedProcess[str]) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"stdout is not JSON:\n{proc.stdout}\nstderr:\n{proc.stderr}") from None


def _states(doc: dict) -> dict[str, str]:
    return {t["name"]: t["state"] for t in doc["tasks"]}


def test_simple_seed_runs_to_success_and_prints_file_and_value(docker_data_dir: Path):
    proc = scaffold("run", str(EXAMPLES / "simple.yaml"), data_dir=docker_data_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [
        line.split("│", 1)[1].strip()
        for line in proc.stdout.splitlines()
        if line.startswith("print_file_and_env")
    ]
    assert "FOOBAR" in lines and "Hello world" in lines
    assert "done: foobar: 3 success" in proc.stdout


def test_application_deploy_runs_and_passwords_only_appear_masked(docker_data_dir: Path):
    proc = scaffold(
        "run",
        str(EXAMPLES / "application-deploy.yaml"),
        "--output",
        "json",
        data_dir=docker_data_dir,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = _doc(proc)
    assert doc["cascade"] == "application-deploy"
    assert [t["name"] for t in doc["tasks"]][:3] == [
        "deploy_terraform",
        "create_db_schemas",
        "create_db_users",
    ]
    assert set(_states(doc).values()) == {"success"}
    assert all(t["run"] == 1 and t["exit_code"] == 0 and t["reason"] is None for t in doc["tasks"])
    # printed logs (stderr in json mode) show the mask, never the value
    assert "create_db_schemas" in proc.stderr and "Admin password: ********" in proc.stderr
    for secret in APP_PASSWORDS:
        assert secret not in proc.stdout and secret not in proc.stderr
    # stored logs and everything else in the data directory: never in clear
    for path in docker_data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in APP_PASSWORDS:
                assert secret.encode() not in data, f"{secret} found in clear in {path}"
    logs = scaffold_log(docker_data_dir, "application-deploy", "create_db_schemas", 1)
    assert "Admin password: ********" in logs


def scaffold_log(data_dir: Path, cascade: str, task: str, number: int) -> str:
    """Read a stored log through the store, the way the server will."""
    code = (
        "import asyncio,sys\n"
        "from scaffold.config import load_settings\n"
        "from scaffold.app import make_store\n"
        "from scaffold.engine.records import RunRow\n"
        "async def main():\n"
        f"    store = make_store(load_settings({{'data_dir': {str(data_dir)!r}}}))\n"
        "    await store.open()\n"
        f"    run_id = RunRow({cascade!r}, {task!r}, {number}).run_id\n"
        "    text, _, _ = await store.read_log(run_id)\n"
        "    await store.close()\n"
        "    sys.stdout.write(text)\n"
        "asyncio.run(main())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout


def test_rerun_of_a_middle_task_resets_exactly_its_descendants(docker_data_dir: Path):
    deploy = str(EXAMPLES / "application-deploy.yaml")
    first = scaffold("run", deploy, "--output", "json", data_dir=docker_data_dir, timeout=300)
    assert first.returncode == 0, first.stderr
    preview = _preview(docker_data_dir, "application-deploy", "create_db_users")
    second = scaffold(
        "run", deploy, "--task", "create_db_users", "--output", "json", data_dir=docker_data_dir, timeout=300
    )
    assert second.returncode == 0, second.stderr
    runs = {t["name"]: t["run"] for t in _doc(second)["tasks"]}
    rerun = {name for name, number in runs.items() if number == 2}
    expected_descendants = {
        "deploy_application",
        "deploy_traefik",
        "run_tests",
        "register_new",
        "east_coast_check",
        "midwest_check",
        "west_coast_check",
        "deregister_old",
        "destroy_old_application",
        "destroy_old_traefik",
    }
    assert rerun == {"create_db_users"} | expected_descendants
    assert set(preview["reset"]) == expected_descendants
    assert preview["start"] == ["create_db_users"]
    assert set(preview["will_run"]) == expected_descendants
    assert {name for name, number in runs.items() if number == 1} == {
        "deploy_terraform",
        "create_db_schemas",
        "build_images",
        "push_images",
    }


def scaffold_run_row(data_dir: Path, cascade: str, task: str, number: int) -> dict:
    """One stored run record, read through the store."""
    code = (
        "import asyncio,dataclasses,json,sys\n"
        "from scaffold.config import load_settings\n"
        "from scaffold.app import make_store\n"
        "async def main():\n"
        f"    store = make_store(load_settings({{'data_dir': {str(data_dir)!r}}}))\n"
        "    await store.open()\n"
        f"    run = await store.get_run({cascade!r}, {task!r}, {number})\n"
        "    await store.close()\n"
        "    print(json.dumps(dataclasses.asdict(run), default=str))\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _preview(data_dir: Path, cascade: str, task: str) -> dict:
    code = (
        "import asyncio,json,sys\n"
        "from scaffold.config import load_settings\n"
        "from scaffold.app import open_core\n"
        "async def main():\n"
        f"    core = await open_core(load_settings({{'data_dir': {str(data_dir)!r}}}))\n"
        f"    print(json.dumps(core.engine.preview({cascade!r}, {task!r}).to_dict()))\n"
        "    await core.close()\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


CRASH = """\
version: v1
name: crash
tasks:
  - name: long
    image: {image}
    run: sleep 6; echo long-done
  - name: after_long
    image: {image}
    depends_on: [long]
    run: echo after
  - name: quick
    image: {image}
    run: sleep 1; echo quick-exits; exit 3
  - name: gone
    image: {image}
    run: sleep 60
  - name: never
    image: {image}
    depends_on: [gone]
    run: echo never
"""


def _containers(instance: str) -> dict[str, dict]:
    import docker

    client = docker.from_env()
    try:
        return {
            c["Labels"]["scaffold.task"]: c
            for c in client.api.containers(all=True, filters={"label": f"scaffold.instance={instance}"})
        }
    finally:
        client.close()


def test_sigkill_mid_run_then_restart_settles_every_task(docker_data_dir: Path, tmp_path: Path):
    from tests.docker_helpers import TEST_IMAGE

    cascade = tmp_path / "crash.yaml"
    cascade.write_text(CRASH.format(image=TEST_IMAGE))
    env = {**os.environ, "SCAFFOLD_DATA_DIR": str(docker_data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "run", str(cascade)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        instance = None
        while time.monotonic() < deadline:
            id_file = docker_data_dir / "instance-id"
            if id_file.exists():
                instance = id_file.read_text().strip()
                running = {t for t, c in _containers(instance).items() if c["State"] == "running"}
                if {"long", "quick", "gone"} <= running:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("the three tasks never ran at once")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert instance is not None
    time.sleep(2)  # `quick` exits (code 3) while nobody watches
    import docker

    client = docker.from_env()
    try:
        client.api.remove_container(_containers(instance)["gone"]["Id"], force=True)
    finally:
        client.close()
    assert _containers(instance)["long"]["State"] == "running"  # still running: will be adopted

    again = scaffold("run", str(cascade), "--output", "json", data_dir=docker_data_dir)
    assert again.returncode == 1, again.stderr  # quick failed, gone was lost
    assert "resuming" in again.stderr
    doc = {t["name"]: t for t in _doc(again)["tasks"]}
    assert doc["long"]["state"] == "success" and doc["long"]["exit_code"] == 0
    assert doc["after_long"]["state"] == "success"
    assert doc["quick"]["state"] == "error" and doc["quick"]["exit_code"] == 3
    assert doc["quick"]["reason"] == "exit code 3"
    assert doc["gone"]["state"] == "error"
    assert doc["gone"]["reason"] == "lost: the server restarted and the container is gone"
    assert doc["never"]["state"] == "not_started" and doc["never"]["reason"] == "waits for gone: error"
    assert not any(t["state"] in ("waiting", "running") for t in doc.values())
    assert "long-done" in scaffold_log(docker_data_dir, "crash", "long", 1)


def test_ctrl_c_kills_running_tasks_and_exits_130(docker_data_dir: Path, tmp_path: Path):
    from tests.docker_helpers import TEST_IMAGE

    cascade = tmp_path / "slow.yaml"
    cascade.write_text(
        f"version: v1\nname: slow\ntasks:\n  - name: nap\n    image: {TEST_IMAGE}\n"
        "    run: echo napping; sleep 120\n"
    )
    env = {**os.environ, "SCAFFOLD_DATA_DIR": str(docker_data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "run", str(cascade), "--output", "json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (docker_data_dir / "instance-id").exists():
            state = _containers((docker_data_dir / "instance-id").read_text().strip()).get("nap")
            if state and state["State"] == "running":
                break
        time.sleep(0.2)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 30
    doc = json.loads(out)
    assert doc["tasks"][0]["state"] == "killed"
    assert "interrupted" in err
    container = _containers((docker_data_dir / "instance-id").read_text().strip())["nap"]
    assert container["State"] != "running"


def test_invalid_file_exits_2_with_the_problems(tmp_path: Path, data_dir: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: v1\nname: bad\ntasks:\n  - name: a\n    image: x\n    run: 'true'\n    depends_on: [b]\n"
    )
    proc = scaffold("run", str(bad), data_dir=data_dir)
    assert proc.returncode == 2
    assert "line 7" in proc.stderr and "unknown task 'b'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not data_dir.exists()  # nothing half-written
