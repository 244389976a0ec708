"""The shell side of a run: the files every executor puts in ``/tmp/run/.scaffold/``.

A run is started as ``<shell> /tmp/run/.scaffold/entry.sh`` (the Docker executor puts ``init.sh`` in
front of it as PID 1, see below). Everything here is POSIX sh and works with dash, busybox ash and
bash; images need no bash and no tool beyond ``od``, ``mv`` and ``rm``.

Files in ``/tmp/run/.scaffold/``:

``env.sh``
    The run's environment: ``load_env`` values first, then ``env`` (so ``env`` wins for a name in
    both; the scheduler leaves out of ``env`` the inputs a datastore value must override, giving the
    SPEC 4 order inputs < load.env < env < SCAFFOLD_*). It holds input values, secrets included, so
    nothing goes into the container's configuration (``docker inspect`` shows no task variable):
    ``entry.sh`` sources it and deletes it before the task's script starts. Plain printable values
    are single-quoted; anything else is written as ``printf`` octal escapes, read back through
    ``$(printf ...; printf x)`` so trailing newlines survive. Shell variables cannot hold NUL bytes:
    they are dropped.
``script.sh``
    The task's script, unchanged. ``entry.sh`` runs it with ``.`` in its own shell, so a plain
    ``MESSAGE="Hello world"`` (no ``export``) is visible to the code that stores variables, and error
    messages name ``script.sh`` with the script's own line numbers.
``entry.sh``
    Merges stderr into stdout (one pipe keeps their order), loads ``env.sh``, sets an ``EXIT`` trap
    and sources ``script.sh``. On exit (``exit n``, ``set -e`` or the end of the script) it writes
    each ``store_env`` variable to ``stored_env`` (see :func:`parse_stored_env`), then the exit code
    to ``exit_code`` (so a finished run can be settled after a restart), and exits with the script's
    code. A script that replaces the ``EXIT`` trap itself and then calls ``exit`` stores nothing.
``init.sh``
    For containers only: PID 1 of a PID namespace ignores SIGTERM unless it handles it, so this
    small supervisor runs ``entry.sh`` as its child, forwards SIGTERM/SIGINT/SIGHUP to it and exits
    with its code. (Docker's ``--init`` would do the same but is not present on every engine.)
``webhook.json``
    The webhook body, when the run was started by a webhook.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterable, Mapping

RUN_MOUNT = "/tmp/run"
CONTROL_DIR = ".scaffold"  # relative to the run directory
CONTROL = f"{RUN_MOUNT}/{CONTROL_DIR}"
ENTRY_PATH = f"{CONTROL}/entry.sh"
INIT_PATH = f"{CONTROL}/init.sh"
ENV_FILE = "env.sh"
SCRIPT_FILE = "script.sh"
ENTRY_FILE = "entry.sh"
INIT_FILE = "init.sh"
STORED_ENV_FILE = "stored_env"
EXIT_CODE_FILE = "exit_code"
WEBHOOK_FILE = "webhook.json"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# bytes that may stand for themselves inside single quotes (printable ASCII, tab and newline)
_PLAIN = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A}
# bytes that may stand for themselves inside a single-quoted printf format
_FORMAT_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("'"), ord("\\"), ord("%")}


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid shell variable name, else raise ``ValueError``."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a valid environment variable name (letters, digits and '_')")
    return name


def shell_argv(shell: str) -> list[str]:
    """The task's ``shell`` setting as an argv prefix (``/bin/sh``, ``bash -e`` ...)."""
    return list(_split_shell(shell))


@functools.lru_cache(maxsize=64)
def _split_shell(shell: str) -> tuple[str, ...]:
    argv = tuple(shlex.split(shell))
    if not argv:
        raise ValueError("the task's shell is empty")
    return argv


def _single_quoted(value: bytes) -> bytes:
    return b"'" + value.replace(b"'", b"'\\''") + b"'"


def _printf_format(value: bytes) -> bytes:
    out = bytearray()
    for byte in value:
        if byte in _FORMAT_PLAIN:
            out.append(byte)
        elif byte == ord("%"):
            out += b"%%"
        else:
            out += b"\\%03o" % byte
    return bytes(out)


def assign(name: str, value: bytes | str) -> bytes:
    """One line of sh that sets and exports ``name`` to exactly ``value`` (minus NUL bytes)."""
    check_name(name)
    raw = value.encode() if isinstance(value, str) else bytes(value)
    raw = raw.replace(b"\0", b"")
    key = name.encode()
    if all(byte in _PLAIN for byte in raw):
        return key + b"=" + _single_quoted(raw) + b"; export " + key + b"\n"
    fmt = _printf_format(raw)
    return b"%s=$(printf '%s'; printf x); %s=${%s%%x}; export %s\n" % (key, fmt, key, key, key)


def env_file(load_env: Mapping[str, bytes], env: Mapping[str, str]) -> bytes:
    """The content of ``env.sh``: ``load_env`` first, then ``env`` (later assignments win)."""
    lines = [b"# Scaffold: the run's environment; entry.sh deletes this file once read.\n"]
    lines += [assign(name, value) for name, value in load_env.items()]
    lines += [assign(name, value) for name, value in env.items()]
    return b"".join(lines)


def _store_env_function(names: Iterable[str], control: str) -> str:
    body = []
    for name in names:
        check_name(name)
        body.append(
            f'    if [ "${{{name}+set}}" = set ]; then command printf "set {name}\\n"; '
            f'command printf %s "${name}" | command od -An -tx1 -v; '
            f'else command printf "unset {name}\\n"; fi\n'
        )
    if not body:
        return "__scaffold_store_env() { :; }\n"
    return (
        "__scaffold_store_env() {\n"
        "  {\n" + "".join(body) + f"  }} > {control}/{STORED_ENV_FILE}.tmp"
        f" && command mv -f {control}/{STORED_ENV_FILE}.tmp {control}/{STORED_ENV_FILE}\n"
        "}\n"
    )


def entry_script(store_env: Iterable[str] = (), run_mount: str = RUN_MOUNT) -> str:
    """The content of ``entry.sh`` (no secrets in it: values come from ``env.sh``). ``run_mount``
    is where the run directory is seen (tests run the script on the host in a temporary one)."""
    return _entry_script(tuple(store_env), run_mount)


@functools.lru_cache(maxsize=256)  # the same for every run of a task: made once
def _entry_script(store_env: tuple[str, ...], run_mount: str) -> str:
    control = shlex.quote(f"{run_mount}/{CONTROL_DIR}")
    return (
        "# Scaffold entry script (generated). The task's script is script.sh next to this file.\n"
        "exec 2>&1\n"
        f"if [ -f {control}/{ENV_FILE} ]; then\n"
        f"  . {control}/{ENV_FILE}; command rm -f {control}/{ENV_FILE}\n"
        "fi\n" + _store_env_function(store_env, control) + "__scaffold_exit() {\n"
        "  __scaffold_rc=$1\n"
        "  set +eux\n"
        "  trap - EXIT\n"
        "  __scaffold_store_env\n"
        f'  command printf "%s\\n" "$__scaffold_rc" > {control}/{EXIT_CODE_FILE}\n'
        '  exit "$__scaffold_rc"\n'
        "}\n"
        "trap '__scaffold_exit \"$?\"' EXIT\n"
        f". {control}/{SCRIPT_FILE}\n"
        '__scaffold_exit "$?"\n'
    )


def init_script(run_mount: str = RUN_MOUNT) -> str:
    """The content of ``init.sh``; its arguments are the task's shell argv."""
    entry = shlex.quote(f"{run_mount}/{CONTROL_DIR}/{ENTRY_FILE}")
    return (
        "# Scaffold container init (generated): PID 1 runs entry.sh as its child, forwards\n"
        "# SIGTERM/SIGINT/SIGHUP to it and exits with its exit code. Arguments: the task's shell.\n"
        "exec 2>&1\n"
        f'"$@" {entry} &\n'
        "__scaffold_child=$!\n"
        "trap 'kill -TERM \"$__scaffold_child\" 2>/dev/null' TERM INT HUP\n"
        "while :; do\n"
        '  wait "$__scaffold_child"; __scaffold_rc=$?\n'
        '  kill -0 "$__scaffold_child" 2>/dev/null || exit "$__scaffold_rc"\n'
        "done\n"
    )


def parse_stored_env(data: bytes) -> dict[str, bytes]:
    """Decode ``stored_env``: ``set NAME`` followed by ``od -An -tx1 -v`` lines of the value's
    bytes, or ``unset NAME``. Unset variables are left out of the result."""
    values: dict[str, bytearray] = {}
    current: bytearray | None = None
    for line in data.decode("ascii", "replace").splitlines():
        if line.startswith("set "):
            current = values.setdefault(line[4:].strip(), bytearray())
        elif line.startswith("unset "):
            current = None
        elif current is not None and line.strip():
            current += bytes.fromhex(line)
    return {name: bytes(value) for name, value in values.items()}


def parse_exit_code(data: bytes | None) -> int | None:
    """Decode ``exit_code`` (None when absent or garbled)."""
    try:
        return int(data.strip()) if data else None
    except ValueError:
        return None
