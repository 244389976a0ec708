"""``scaffold validate``: through click's runner and as a real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaffold.cli import main

REPO = Path(__file__).parents[2]
SIMPLE = str(REPO / "examples" / "simple.yaml")
DEPLOY = str(REPO / "examples" / "application-deploy.yaml")
BROKEN = """\
version: v1
name: broken
tasks:
  - name: deploy_terraform
    image: ubuntu:24.04
    run: terraform apply
  - name: create_db_schemas
    imgae: ubuntu:24.04
    run: psql
    depends_on: [deploy_terafrom]
"""


@pytest.fixture
def broken(tmp_path: Path) -> str:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    return str(path)


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["validate", *args], input=stdin)


def test_valid_files() -> None:
    result = run(SIMPLE, DEPLOY)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{SIMPLE}: ok (3 tasks)\n{DEPLOY}: ok (15 tasks)\n"


def test_an_invalid_file_lists_every_problem_grep_style(broken: str) -> None:
    result = run(SIMPLE, broken)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{SIMPLE}: ok (3 tasks)",
        f"{broken}:7:5: tasks[1]: missing required key 'image' (the container image to run in)",
        f"{broken}:8:5: tasks[1]: unknown key 'imgae' (did you mean 'image'?)",
        f"{broken}:10:18: tasks[1].depends_on: unknown task 'deploy_terafrom'"
        " (did you mean 'deploy_terraform'?)",
        f"{broken}: 3 problems",
    ]


def test_a_missing_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    result = run(missing, SIMPLE)
    assert result.exit_code == 2
    assert result.stderr == f"{missing}: cannot read: No such file or directory\n"
    assert result.stdout == f"{SIMPLE}: ok (3 tasks)\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_no_file_is_a_usage_error() -> None:
    result = run()
    assert result.exit_code == 2
    assert "Missing argument 'FILE...'" in result.output


def test_json_output(broken: str) -> None:
    result = run("--output", "json", SIMPLE, broken)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    ok, bad = report["files"]
    assert ok == {"file": SIMPLE, "ok": True, "tasks": 3, "problems": [], "error": None}
    assert bad["ok"] is False
    assert bad["problems"][2] == {
        "line": 10,
        "col": 18,
        "path": "tasks[1].depends_on",
        "message": "unknown task 'deploy_terafrom' (did you mean 'deploy_terraform'?)",
    }


def test_json_output_for_a_missing_file(tmp_path: Path) -> None:
    result = run("-o", "json", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert json.loads(result.stdout)["files"][0]["error"] == "cannot read: No such file or directory"


def test_standard_input() -> None:
    result = run("-", stdin="name: x\ntasks:\n  - {name: a, image: u, run: r}\n")
    assert (result.exit_code, result.stdout) == (0, "<stdin>: ok (1 task)\n")


def test_allow_no_image() -> None:
    text = "name: x\ntasks:\n  - {name: a, run: uptime}\n"
    assert run("-", stdin=text).exit_code == 1
    assert run("--allow-no-image", "-", stdin=text).exit_code == 0


def test_binary_junk_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(bytes(range(256)) * 4)
    result = run(str(junk))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"{junk}:1:1: this is a binary file, not YAML text (it contains NUL bytes)"
    )


def scaffold_command() -> list[str]:
    script = shutil.which("scaffold") or str(Path(sys.executable).with_name("scaffold"))
    if Path(script).exists():
        return [script]
    return [sys.executable, "-c", "from scaffold.cli import main; main()"]


def test_the_real_command(broken: str, tmp_path: Path) -> None:
    ok = subprocess.run([*scaffold_command(), "validate", SIMPLE], capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, f"{SIMPLE}: ok (3 tasks)\n", "")
    bad = subprocess.run(
        [*scaffold_command(), "validate", broken], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert bad.stdout.endswith(f"{broken}: 3 problems\n")
    missing = str(tmp_path / "nope.yaml")
    gone = subprocess.run(
        [*scaffold_command(), "validate", missing], capture_output=True, text=True, timeout=60
    )
    assert (gone.returncode, gone.stderr) == (2, f"{missing}: cannot read: No such file or directory\n")
    assert "Traceback" not in gone.stderr + bad.stderr
