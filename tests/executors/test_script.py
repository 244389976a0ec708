"""The generated entry script, run on the host with every shell we can find (no Docker)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scaffold.engine.ports import RunRequest
from scaffold.executors import script as sh
from scaffold.executors.rundir import RunDir
from tests.executors.nasty import NASTY


def _shells() -> list[list[str]]:
    found = []
    for candidate in (["/bin/sh"], ["dash"], ["busybox", "sh"], ["bash"]):
        path = shutil.which(candidate[0])
        if path:
            found.append([path, *candidate[1:]])
    return found


SHELLS = _shells()


def run_here(tmp_path: Path, shell: list[str], request: RunRequest) -> tuple[int, bytes, RunDir]:
    """Prepare a run directory in ``tmp_path`` and run entry.sh there, seen at its host path."""
    run_dir = RunDir(tmp_path, "r1")
    run_dir.prepare(request, run_mount=str(tmp_path / "r1"))
    proc = subprocess.run(
        [*shell, str(run_dir.control / sh.ENTRY_FILE)],
        cwd=run_dir.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
        check=False,
    )
    return proc.returncode, proc.stdout, run_dir


def request(script: str, **kwargs) -> RunRequest:
    return RunRequest(run_id="r1", cascade="c", task="t", number=1, script=script, **kwargs)


@pytest.fixture(params=SHELLS, ids=lambda argv: " ".join(Path(a).name for a in argv))
def shell(request: pytest.FixtureRequest) -> list[str]:
    return request.param


def test_load_env_values_round_trip(tmp_path: Path, shell: list[str]) -> None:
    names = sorted(NASTY)
    check = "".join(f'printf %s "${name}" > out.{name}\n' for name in names)
    code, output, run_dir = run_here(tmp_path, shell, request(check, load_env=NASTY))
    assert (code, output) == (0, b"")
    for name in names:
        assert (run_dir.path / f"out.{name}").read_bytes() == NASTY[name], name


def test_values_are_exported_and_env_wins_over_load_env(tmp_path: Path, shell: list[str]) -> None:
    req = request(
        'sh -c \'printf "%s|%s|%s" "$A" "$B" "$C"\'',
        load_env={"A": b"loaded", "B": b"loaded"},
        env={"B": "literal", "C": "it's\nnew"},
    )
    code, output, _ = run_here(tmp_path, shell, req)
    assert (code, output) == (0, b"loaded|literal|it's\nnew")


def test_nul_bytes_are_dropped(tmp_path: Path, shell: list[str]) -> None:
    code, _, run_dir = run_here(tmp_path, shell, request('printf %s "$V" > out', load_env={"V": b"a\0b\0"}))
    assert code == 0
    assert (run_dir.path / "out").read_bytes() == b"ab"


def test_env_file_is_deleted_before_the_script(tmp_path: Path, shell: list[str]) -> None:
    code, output, run_dir = run_here(tmp_path, shell, request("ls -a .scaffold", env={"SECRET": "s3cr3t"}))
    assert code == 0
    assert b"env.sh" not in output
    assert not (run_dir.control / sh.ENV_FILE).exists()
    assert b"s3cr3t" not in b"".join(p.read_bytes() for p in run_dir.control.iterdir())


def test_store_env_plain_assignments_round_trip(tmp_path: Path, shell: list[str]) -> None:
    names = sorted(NASTY)
    script = 'MESSAGE="Hello world"\n' + "".join(f'{name}="$IN_{name}"\n' for name in names)
    req = request(
        script,
        load_env={f"IN_{name}": value for name, value in NASTY.items()},
        store_env=("MESSAGE", "NEVER_SET", *names),
    )
    code, output, run_dir = run_here(tmp_path, shell, req)
    assert (code, output) == (0, b"")
    stored = run_dir.stored_env()
    assert stored.pop("MESSAGE") == b"Hello world"
    assert "NEVER_SET" not in stored
    assert stored == {name: value.replace(b"\0", b"") for name, value in NASTY.items()}
    assert run_dir.exit_code() == 0


@pytest.mark.parametrize(
    ("script", "code"),
    [("true", 0), ("false", 1), ("exit 7", 7), ("set -e\nV=x\nfalse\necho no", 1), ("V=x; (exit 3)", 3)],
)
def test_exit_code_is_kept_and_env_stored_on_every_exit(
    tmp_path: Path, shell: list[str], script: str, code: int
) -> None:
    req = request(f"V=before\n{script}", store_env=("V",))
    result, _, run_dir = run_here(tmp_path, shell, req)
    assert result == code
    assert run_dir.exit_code() == code
    assert run_dir.stored_env()["V"] in (b"before", b"x")


def test_set_x_and_set_u_do_not_leak_or_break_storing(tmp_path: Path, shell: list[str]) -> None:
    req = request("set -xu\nTOKEN=hunter2\n", store_env=("TOKEN", "UNSET"))
    code, output, run_dir = run_here(tmp_path, shell, req)
    assert code == 0
    assert output.count(b"hunter2") == 1  # the assignment traced by the script itself, not the trap
    assert run_dir.stored_env() == {"TOKEN": b"hunter2"}


def test_stderr_is_merged_into_stdout_in_order(tmp_path: Path, shell: list[str]) -> None:
    req = request("echo one; echo two >&2; echo three; echo four 1>&2")
    code, output, _ = run_here(tmp_path, shell, req)
    assert (code, output) == (0, b"one\ntwo\nthree\nfour\n")


def test_script_errors_name_script_sh(tmp_path: Path, shell: list[str]) -> None:
    code, output, _ = run_here(tmp_path, shell, request("true\nno-such-command-xyz\n"))
    assert code == 127
    assert b"no-such-command-xyz" in output


def test_init_forwards_sigterm_and_returns_the_exit_code(tmp_path: Path, shell: list[str]) -> None:
    run_dir = RunDir(tmp_path, "r1")
    mount = str(tmp_path / "r1")
    script = "trap 'echo got term; exit 9' TERM\necho ready\nwhile :; do sleep 0.1; done"
    run_dir.prepare(request(script), mount)
    proc = subprocess.Popen(
        [*shell, str(run_dir.control / sh.INIT_FILE), *shell], stdout=subprocess.PIPE, cwd=run_dir.path
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.terminate()
    assert proc.wait(timeout=10) == 9
    assert b"got term" in proc.stdout.read()
    proc.stdout.close()


def test_invalid_names_are_refused() -> None:
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        sh.env_file({}, {"BAD-NAME": "x"})
    with pytest.raises(ValueError):
        sh.entry_script(("A;rm",))


def test_parse_stored_env() -> None:
    data = b"set A\n 61 0a\n 62\nunset B\nset C\nset D\n ff\n"
    assert sh.parse_stored_env(data) == {"A": b"a\nb", "C": b"", "D": b"\xff"}
    assert sh.parse_exit_code(b"3\n") == 3
    assert sh.parse_exit_code(b"") is None
    assert sh.parse_exit_code(b"x") is None


def test_assign_uses_quotes_for_plain_values_and_octal_otherwise() -> None:
    assert sh.assign("A", "it's") == b"A='it'\\''s'; export A\n"
    assert sh.assign("B", b"\xff%") == b"B=$(printf '\\377%%'; printf x); B=${B%x}; export B\n"
