"""Objects: ``apply``, ``get`` of every kind, ``describe``, ``delete`` -- in table, JSON and YAML."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Cli, cascade_file

pytestmark = pytest.mark.slow
SECRETS = ["myCoolArtifactoryPassword", "myCoolAdminPostgresPassword", "hello world"]


def test_apply_creates_updates_and_reports_unchanged(admin: Cli, tmp_path: Path):
    path = cascade_file(tmp_path, "cli-apply", "  - {name: one, image: IMAGE, run: echo one}\n")
    created = admin.ok("apply", "-f", str(path))
    assert created.stdout == "created cascade 'cli-apply' (version 1)\n  added task one\n"
    assert admin.ok("apply", "-f", str(path)).stdout == "cascade 'cli-apply' is unchanged (version 1)\n"
    path.write_text(
        path.read_text().replace("echo one", "echo uno") + "  - {name: two, image: x, run: 'true'}\n"
    )
    updated = admin.ok("apply", "-f", str(path))
    assert updated.stdout.splitlines()[0] == "updated cascade 'cli-apply' to version 2"
    assert "  added task two" in updated.stdout and "  changed task one: run" in updated.stdout
    doc = json.loads(admin.ok("apply", "-f", "-", "-o", "json", input=path.read_text()).stdout)
    assert (
        doc["cascade"] == "cli-apply" and doc["version"] == 2 and doc["changes"]["summary"] == ["no changes"]
    )
    assert "cascade: cli-apply" in admin.ok("apply", "-f", str(path), "-o", "yaml").stdout


def test_apply_reports_every_validation_error_with_lines(admin: Cli, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v2\nname: bad name\ntasks:\n  - name: a\n    run: true\n")
    result = admin("apply", "-f", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{bad}:1:10: version: expected v1 (the only version), got the string 'v2'",
        f"{bad}:2:7: name: bad cascade name 'bad name': use only letters, digits, '-', '_' and '.'",
        f"{bad}:4:5: tasks[0]: missing required key 'image' (the container image to run in)",
        f"{bad}:5:10: tasks[0].run: expected a string, got the boolean true",
        f"error: {bad}: 4 problems; nothing was applied",
    ]
    missing = admin("apply", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: cannot read")


def test_get_cascades_tasks_inputs_nodes(admin: Cli):
    table = admin.ok("get", "cascades").stdout
    assert table.splitlines()[0].split()[:4] == ["NAME", "TASKS", "STATES", "ACTIVE"]
    assert "application-deploy" in table and "\x1b[" not in table  # no colour in a pipe
    cascades = json.loads(admin.ok("get", "cascades", "-o", "json").stdout)
    assert {"application-deploy", "foobar", "error-handling"} <= {c["name"] for c in cascades}
    one = json.loads(admin.ok("get", "cascades", "foobar", "-o", "json").stdout)
    assert one["name"] == "foobar" and one["board"][0]["name"] == "write_file"
    tasks = admin.ok("get", "tasks", "-c", "foobar").stdout
    assert "print_file_and_env" in tasks and "STATE" in tasks.splitlines()[0]
    task = json.loads(admin.ok("get", "tasks", "write_file", "-c", "foobar", "-o", "json").stdout)
    assert task["name"] == "write_file" and task["image"] == "ubuntu:20.04"
    assert "name: write_file" in admin.ok("get", "tasks", "write_file", "-c", "foobar", "-o", "yaml").stdout
    nodes = json.loads(admin.ok("get", "nodes", "-o", "json").stdout)
    assert nodes[0]["state"] == "up" and nodes[0]["executor"] == "docker"
    assert "docker" in admin.ok("get", "nodes").stdout


def test_password_inputs_always_show_stars(admin: Cli):
    for output in ("table", "json", "yaml"):
        text = admin.ok("get", "inputs", "-c", "application-deploy", "-o", output).stdout
        assert "********" in text and not any(secret in text for secret in SECRETS), output
        described = admin.ok("describe", "cascade", "application-deploy", "-o", output).stdout
        assert "********" in described and not any(secret in described for secret in SECRETS), output
    one = json.loads(
        admin.ok("get", "inputs", "ARTIFACTORY_PASSWORD", "-c", "application-deploy", "-o", "json").stdout
    )
    assert one["value"] == one["default"] == "********"


def test_get_users_tokens_webhooks_and_missing_names(admin: Cli):
    users = json.loads(admin.ok("get", "users", "-o", "json").stdout)
    assert "admin" in [u["username"] for u in users]
    assert admin.ok("get", "users", "admin").stdout.split("\n")[1].split()[:2] == ["admin", "admin"]
    tokens = json.loads(admin.ok("get", "tokens", "-o", "json").stdout)
    assert tokens and all("token" not in t for t in tokens)  # secrets are never listed
    assert " * " in admin.ok("get", "tokens").stdout
    assert admin.ok("get", "webhooks", "-c", "foobar").stdout == "(no webhooks)\n"
    token = admin.server.token()
    response = httpx.post(
        f"{admin.server.url}/api/v1/cascades/foobar/webhooks",
        json={"task": "write_file"},
        headers={"Authorization": f"Bearer {token}"},
    )
    hook = response.json()
    hooks = json.loads(admin.ok("get", "webhooks", "-c", "foobar", "-o", "json").stdout)
    assert [h["id"] for h in hooks] == [hook["id"]] and "secret" not in hooks[0]
    assert hook["id"] in admin.ok("get", "webhooks", hook["id"], "-c", "foobar").stdout
    missing = admin("get", "webhooks", "nope", "-c", "foobar")
    assert missing.returncode == 4 and missing.stderr == "error: no webhook 'nope'\n"
    unknown = admin("get", "tasks", "-c", "no-such-cascade")
    assert unknown.returncode == 4
    assert unknown.stderr == "error: cascade 'no-such-cascade' does not exist (or you may not see it)\n"
    no_task = admin("get", "tasks", "nope", "-c", "foobar")
    assert no_task.returncode == 4 and no_task.stderr == "error: cascade 'foobar' has no task 'nope'\n"


def test_runs_waves_values_files_after_a_run(admin: Cli):
    admin.ok("start", "foobar", "--yes", "--follow")
    runs = json.loads(admin.ok("get", "runs", "-c", "foobar", "-o", "json").stdout)
    assert {r["task"] for r in runs} == {"write_file", "store_env_var", "print_file_and_env"}
    history = json.loads(admin.ok("get", "runs", "write_file", "-c", "foobar", "-o", "json").stdout)
    assert history[0]["task"] == "write_file" and history[0]["state"] == "success"
    assert "success" in admin.ok("get", "runs", "write_file", "-c", "foobar").stdout
    waves = json.loads(admin.ok("get", "waves", "-c", "foobar", "-o", "json").stdout)
    assert waves[0]["started_tasks"] == ["write_file", "store_env_var"]
    values = admin.ok("get", "values", "-c", "foobar").stdout
    assert "MESSAGE" in values and "Hello world" in values
    value = json.loads(admin.ok("get", "values", "MESSAGE", "-c", "foobar", "-o", "json").stdout)
    assert value["text"] == "Hello world"
    files = json.loads(admin.ok("get", "files", "-c", "foobar", "-o", "json").stdout)
    assert "myFile.txt" in [f["name"] for f in files]
    assert "myFile.txt" in admin.ok("get", "files", "myFile.txt", "-c", "foobar").stdout


def test_describe_cascade_task_run(admin: Cli):
    admin.ok("start", "foobar", "--yes", "--follow")
    cascade = admin.ok("describe", "cascade", "foobar").stdout
    for heading in ("Name:", "Version:", "Tasks", "Inputs", "Recent waves"):
        assert heading in cascade
    doc = json.loads(admin.ok("describe", "cascade", "foobar", "-o", "json").stdout)
    assert doc["name"] == "foobar" and doc["board"] and doc["waves"]
    task = admin.ok("describe", "task", "print_file_and_env", "-c", "foobar").stdout
    assert "Depends on:" in task and "write_file (success)" in task and "Recent runs" in task
    task_doc = json.loads(
        admin.ok("describe", "task", "print_file_and_env", "-c", "foobar", "-o", "json").stdout
    )
    assert task_doc["runs"][0]["task"] == "print_file_and_env"
    run = admin.ok("describe", "run", "print_file_and_env", "-c", "foobar").stdout
    assert "Exit code:" in run and "Loaded:" in run and "env: MESSAGE; file: myFile.txt" in run
    run_doc = json.loads(
        admin.ok("describe", "run", "print_file_and_env", "-c", "foobar", "-r", "1", "-o", "json").stdout
    )
    assert run_doc["number"] == 1 and run_doc["exit_code"] == 0
    assert (
        "exit_code: 0"
        in admin.ok("describe", "run", "print_file_and_env", "-c", "foobar", "-r", "1", "-o", "yaml").stdout
    )
    missing = admin("describe", "run", "print_file_and_env", "-c", "foobar", "-r", "999")
    assert (
        missing.returncode == 4 and missing.stderr == "error: task 'print_file_and_env' has no task run 999\n"
    )


def test_describe_run_shows_display_items(admin: Cli, tmp_path: Path):
    path = cascade_file(
        tmp_path,
        "cli-display",
        "  - name: report\n    image: IMAGE\n    run: |\n"
        '      echo \'[{"kind": "value", "name": "version", "data": "1.2.3"}]\' > /tmp/run/.display\n',
    )
    admin.ok("apply", "-f", str(path))
    follow = admin.ok("start", "cli-display", "--yes", "--follow")
    assert "report · version = 1.2.3" in follow.stdout
    assert "report · version = 1.2.3" in admin.ok("describe", "run", "report", "-c", "cli-display").stdout


def test_delete_asks_and_refuses_without_a_terminal(admin: Cli, tmp_path: Path):
    path = cascade_file(tmp_path, "cli-delete", "  - {name: one, image: IMAGE, run: 'true'}\n")
    admin.ok("apply", "-f", str(path))
    refused = admin("delete", "cli-delete")
    assert refused.returncode == 2
    assert (
        refused.stderr
        == "error: nothing was deleted: there is no terminal to ask for confirmation; add --yes\n"
    )
    code, screen = admin.in_pty("delete", "cli-delete", input="n\n")
    assert code == 1, screen
    assert "Delete cascade 'cli-delete' and all its history? [y/N]" in screen
    assert "error: nothing was deleted" in screen
    code, screen = admin.in_pty("delete", "cli-delete", input="\n")  # the default is no
    assert code == 1, screen
    assert "cli-delete" in admin.ok("get", "cascades").stdout
    assert admin.ok("delete", "cli-delete", "--yes").stdout == "deleted cascade 'cli-delete'\n"
    gone = admin("delete", "cli-delete", "--yes")
    assert gone.returncode == 4
    admin.ok("apply", "-f", str(path))
    assert json.loads(admin.ok("delete", "cli-delete", "--yes", "-o", "json").stdout) == {
        "cascade": "cli-delete",
        "deleted": True,
    }
