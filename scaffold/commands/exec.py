"""``scaffold exec CASCADE TASK [--run N]``: an interactive shell in a task's container, through the
server's shell websocket (docs/server.md#shells).

The local terminal is put in raw mode for the session, so every key -- Ctrl-C, Ctrl-D, Ctrl-Z,
arrows -- goes to the remote shell; it is restored when the session ends, however it ends. The
terminal's size is sent at the start and again on every SIGWINCH. Without a terminal on stdin
(``echo ls | scaffold exec ...``) input is forwarded as it is read, and its end is sent as Ctrl-D
(again every second until the shell has ended). The command exits with the shell's exit code;
errors exit with the client codes (docs/cli.md#exit-codes-and-errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import click

from scaffold import __version__
from scaffold.commands.client import (
    EXIT_AUTH,
    EXIT_CONFLICT,
    EXIT_NOT_FOUND,
    EXIT_SERVER,
    EXIT_USAGE,
    Api,
    CliError,
    client_command,
    connection,
    error_from_response,
    seg,
    tls_verify,
    unreachable,
)
from scaffold.commands.profiles import Connection

EXIT_BY_CODE = {
    "invalid": EXIT_USAGE,
    "unauthorized": EXIT_AUTH,
    "forbidden": EXIT_AUTH,
    "not_found": EXIT_NOT_FOUND,
    "conflict": EXIT_CONFLICT,
}
OPEN_TIMEOUT = 300.0  # seconds: copying a large finished container takes a while
EOF_KEY = b"\x04"  # Ctrl-D: what the remote terminal gets when a piped stdin ends
EOF_REPEAT = 1.0  # seconds between two Ctrl-D once stdin has ended


@click.command("exec")
@click.argument("cascade")
@click.argument("task")
@click.option("--run", "-r", "number", type=int, metavar="N", help="The run [default: the latest].")
@client_command
def command(cascade: str, task: str, number: int | None) -> None:
    """Open an interactive shell in TASK's container of CASCADE: its latest run, or run N.

    A running task gets a shell in its container. A finished task gets one in a copy of its
    container (kept for the server's retention time), with the run's /tmp/run; the copy is thrown
    away when the shell exits. Needs the write role. Every key goes to the remote shell (Ctrl-C
    too); leave with `exit` or Ctrl-D. Exits with the shell's exit code.
    """
    conn = connection()
    with Api(conn) as api:  # checks the profile; 404 for a missing cascade, task or run
        run = _run(api, cascade, task, number)
    if run["state"] == "waiting":
        raise CliError(f"run {run['number']} has not started yet: try again once it runs", EXIT_CONFLICT)
    where = "its running container" if run["state"] == "running" else "a copy of its finished container"
    notice = f"scaffold: shell in run {run['number']} of {cascade}/{task}: {where}"
    cols, rows = terminal_size()
    query = urlencode({"run": run["number"], "cols": cols, "rows": rows})
    path = f"/api/v1/cascades/{seg(cascade)}/tasks/{seg(task)}/shell?{query}"
    sys.exit(asyncio.run(_session(conn, path, notice)))


def _run(api: Api, cascade: str, task: str, number: int | None) -> dict[str, Any]:
    base = f"/cascades/{seg(cascade)}/tasks/{seg(task)}/runs"
    if number is not None:
        return api.get(f"{base}/{number}")
    runs = api.get(base)
    if not runs:
        raise CliError(f"task '{task}' of '{cascade}' has no runs yet: start it first", EXIT_NOT_FOUND)
    return runs[0]


# ---------------------------------------------------------------------------------- websocket


async def _session(conn: Connection, path: str, notice: str) -> int:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    assert conn.server is not None  # Api() checked it
    url = "ws" + conn.server.removeprefix("http") + path  # http -> ws, https -> wss
    options: dict[str, Any] = {
        "additional_headers": {"Authorization": f"Bearer {conn.token}"},
        "user_agent_header": f"scaffold-cli/{__version__}",
        "open_timeout": OPEN_TIMEOUT,
        "max_size": None,
    }
    if url.startswith("wss:"):
        options["ssl"] = _ssl_context(conn)
    try:
        websocket = await connect(url, **options)
    except InvalidStatus as exc:
        raise error_from_response(_Refusal(exc.response), token_in_use=conn.token_source) from None
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise unreachable(conn, exc) from None
    async with websocket:
        click.echo(notice, err=True)
        with _Terminal() as terminal:
            end = await _relay(websocket, terminal)
    return _outcome(end)


class _Refusal:
    """A refused handshake, as :func:`error_from_response` reads an httpx response."""

    def __init__(self, response: Any):
        self.status_code = response.status_code
        self.reason_phrase = response.reason_phrase
        self._body = bytes(response.body or b"")

    def json(self) -> Any:
        return json.loads(self._body)


def _ssl_context(conn: Connection) -> Any:
    import ssl

    verify = tls_verify(conn.verify, conn.ca_cert)
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = ssl.create_default_context()
    if not verify:  # the profile was configured with --insecure
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def _relay(websocket: Any, terminal: _Terminal) -> dict[str, Any] | None:
    """Keys and resizes to the server, output to the terminal; the server's last frame (None if
    the connection ended without one)."""
    from websockets.exceptions import ConnectionClosed

    loop = asyncio.get_running_loop()
    sending = asyncio.ensure_future(_send_keys(websocket, terminal.keys(loop)))
    resized = asyncio.Event()
    if terminal.is_tty:
        loop.add_signal_handler(signal.SIGWINCH, resized.set)
    resizing = asyncio.ensure_future(_send_resizes(websocket, resized))
    last: dict[str, Any] | None = None
    try:
        async for message in websocket:
            if isinstance(message, bytes):
                terminal.write(message)
                continue
            with contextlib.suppress(ValueError):
                frame = json.loads(message)
                if isinstance(frame, dict) and frame.get("type") in ("exit", "error"):
                    last = frame
    except ConnectionClosed:
        pass
    finally:
        if terminal.is_tty:
            loop.remove_signal_handler(signal.SIGWINCH)
        for task in (sending, resizing):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    return last


async def _send_keys(websocket: Any, keys: asyncio.Queue[bytes]) -> None:
    while data := await keys.get():
        await websocket.send(data)
    while True:  # the input ended. A Ctrl-D that comes before the shell reads its terminal can be
        await websocket.send(EOF_KEY)  # lost when it sets the terminal up: send it again until it ends
        await asyncio.sleep(EOF_REPEAT)


async def _send_resizes(websocket: Any, resized: asyncio.Event) -> None:
    while True:
        await resized.wait()
        resized.clear()
        cols, rows = terminal_size()
        await websocket.send(json.dumps({"type": "resize", "cols": cols, "rows": rows}))


def _outcome(frame: dict[str, Any] | None) -> int:
    if frame is None:
        raise CliError("the connection to the server ended before the shell did", EXIT_SERVER)
    if frame["type"] == "error":
        code = str(frame.get("code", ""))
        raise CliError(str(frame.get("message", "the shell failed")), EXIT_BY_CODE.get(code, EXIT_SERVER))
    code = frame.get("code")
    return code if isinstance(code, int) and 0 <= code <= 255 else 1


# ----------------------------------------------------------------------------------- terminal


class _Terminal:
    """The local terminal: raw mode while the session lasts (restored on exit, however it ends),
    stdin read by a thread, output written as it comes."""

    def __init__(self) -> None:
        self.stdin = sys.stdin.fileno()
        self.stdout = sys.stdout.fileno()
        self.is_tty = os.isatty(self.stdin)
        self._saved: list[Any] | None = None

    def __enter__(self) -> _Terminal:
        sys.stdout.flush()
        sys.stderr.flush()
        if self.is_tty:
            self._saved = termios.tcgetattr(self.stdin)
            tty.setraw(self.stdin, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.stdin, termios.TCSADRAIN, self._saved)
            self._saved = None

    def keys(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[bytes]:
        """What is typed (or piped), chunk by chunk; b"" at the end of the input."""
        keys: asyncio.Queue[bytes] = asyncio.Queue()

        def read() -> None:
            for chunk in _chunks(self.stdin):
                with contextlib.suppress(RuntimeError):  # the loop has ended
                    loop.call_soon_threadsafe(keys.put_nowait, chunk)
                if not chunk:
                    return

        threading.Thread(target=read, name="scaffold-exec-stdin", daemon=True).start()
        return keys

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.stdout, view) :]


def terminal_size() -> tuple[int, int]:
    """(columns, rows) of the terminal as it is now (not $COLUMNS, which a resize leaves stale);
    without one, $COLUMNS/$LINES or 80x24."""
    for stream in (sys.stdout, sys.stdin, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            size = os.get_terminal_size(stream.fileno())
            if size.columns and size.lines:
                return size.columns, size.lines
    return tuple(shutil.get_terminal_size())  # type: ignore[return-value]


def _chunks(fd: int) -> Iterator[bytes]:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        yield chunk
        if not chunk:
            return
