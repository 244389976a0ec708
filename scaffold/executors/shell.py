"""Interactive shells in a task's run (SPEC 4): a terminal into a running task's container, or into
a copy of a finished one, for the shell websocket (:mod:`scaffold.web.api_shell`).

:func:`open_shell` picks how, from the executor and the state of the run's container:

* **docker, container running**: ``docker exec`` of the task's shell in its container; **docker,
  container exited** (kept for the retention time): the shell in a temporary copy of the container
  (both in :mod:`scaffold.executors.shell_docker`).
* **process executor**: the shell as a host process on a pseudo-terminal
  (:mod:`scaffold.executors.shell_pty`).
* any other executor: refused with :class:`~scaffold.errors.Conflict`.

This module holds what they share: the :class:`ShellTarget` to open, the :class:`Shell` every kind
of shell is, and the :class:`TerminalStream` that carries a terminal's bytes. The Docker SDK and the
terminal are blocking: each open shell has one thread reading its output (at most ``READ_CREDITS``
chunks ahead of the reader, so a slow client slows the shell down instead of filling memory) and
one writing its input; every SDK call runs in a thread of its own. The event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scaffold.errors import Conflict
from scaffold.executors import script as sh

TERM = "xterm"
CHUNK = 65536
READ_CREDITS = 32  # output chunks read ahead of the client at most


@dataclass(frozen=True)
class ShellTarget:
    """The run to open a shell in."""

    run_id: str  # cascade:task:N
    number: int
    shell: str = "/bin/sh"  # the task's ``shell`` setting: its first word is started
    started: bool = True  # False while the run waits for a slot (there is no container yet)
    env: dict[str, str] = field(default_factory=dict)  # added to the shell's environment
    cols: int | None = None  # the terminal's size at the start, when known
    rows: int | None = None

    @property
    def program(self) -> str:
        return sh.shell_argv(self.shell)[0]


async def open_shell(executor: Any, target: ShellTarget) -> Shell:
    """Open a shell in ``target``'s run with ``executor`` (see the module docstring)."""
    try:
        target.program  # noqa: B018 - an empty shell setting
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    kind = getattr(executor, "name", type(executor).__name__)
    if kind == "docker":
        from scaffold.executors.shell_docker import open_docker

        return await open_docker(executor, target)
    if kind == "process":
        from scaffold.executors.shell_pty import open_process

        return await open_process(executor, target)
    raise Conflict(f"shells need the docker executor; this server runs its tasks with the {kind} executor")


def __getattr__(name: str) -> Any:
    """``remove_shell_leftovers`` (called by ``DockerExecutor.cleanup``) lives with the Docker
    shells, which import this module: it is looked up on first use to avoid an import cycle."""
    if name == "remove_shell_leftovers":
        from scaffold.executors.shell_docker import remove_shell_leftovers

        return remove_shell_leftovers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def not_started(target: ShellTarget) -> Conflict:
    return Conflict(f"run {target.number} has not started yet: try again once it runs")


def environment(target: ShellTarget) -> dict[str, str]:
    """The variables the shell gets on top of its base environment."""
    return {"TERM": TERM, **target.env}


def window(cols: int, rows: int) -> tuple[int, int]:
    """A terminal size within sane bounds."""
    return max(1, min(cols, 1000)), max(1, min(rows, 1000))


def exit_code(value: Any) -> int | None:
    """An exit code as the Docker engine reports it: an int, or None when there is none."""
    return value if isinstance(value, int) else None


# ------------------------------------------------------------------------------------ streams


class TerminalStream:
    """A terminal's bytes both ways, served by two threads. ``recv(n)`` returns b"" at the end and
    None when nothing came yet (it may time out so the thread can notice ``close``)."""

    def __init__(
        self,
        recv: Callable[[int], bytes | None],
        send: Callable[[bytes], Any],
        shutdown: Callable[[], None],
        first: bytes = b"",
    ):
        self._recv, self._send, self._shutdown = recv, send, shutdown
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._credits = threading.Semaphore(READ_CREDITS)
        self._outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._ended = False
        self.reader_done = threading.Event()
        if first:
            self._credits.acquire()
            self._chunks.put_nowait(first)
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_loop, args=(loop,), name="scaffold-shell-out", daemon=True).start()
        threading.Thread(target=self._write_loop, name="scaffold-shell-in", daemon=True).start()

    def _read_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while not self._closed.is_set():
                if not self._credits.acquire(timeout=0.5):
                    continue
                data = self._recv(CHUNK)
                if data is None:
                    self._credits.release()
                    continue
                if not data:
                    break
                loop.call_soon_threadsafe(self._chunks.put_nowait, data)
        except (OSError, ValueError):
            pass  # closed under us, or the other side went away
        finally:
            self.reader_done.set()
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(self._chunks.put_nowait, b"")

    def _write_loop(self) -> None:
        while (data := self._outgoing.get()) is not None:
            try:
                self._send(data)
            except (OSError, ValueError):
                return

    async def read(self) -> bytes:
        if self._ended:
            return b""
        data = await self._chunks.get()
        if data:
            self._credits.release()
        else:
            self._ended = True
        return data

    def write(self, data: bytes) -> None:
        if data and not self._closed.is_set():
            self._outgoing.put(data)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._outgoing.put(None)
        with contextlib.suppress(OSError, ValueError):
            self._shutdown()


class Shell:
    """One open shell: :meth:`write` keystrokes, :meth:`read` the terminal's output (b"" once it
    ended), :meth:`resize`, then :meth:`wait` for the exit code. :meth:`close` always, at the end:
    it ends the shell if it still runs and removes what was made for it.

    A kind of shell implements :meth:`resize`, :meth:`wait` and :meth:`_release`."""

    mode = "shell"  # "exec", "copy" or "process": what the audit log records

    def __init__(self, stream: TerminalStream):
        self.stream = stream
        self.ended_reason: str | None = None  # set by wait() when there is no exit code to give
        self._closed = False

    async def read(self) -> bytes:
        return await self.stream.read()

    def write(self, data: bytes) -> None:
        self.stream.write(data)

    async def resize(self, cols: int, rows: int) -> None:
        raise NotImplementedError

    async def wait(self) -> int | None:
        raise NotImplementedError

    async def close(self) -> None:
        """Close the stream, then :meth:`_release` the shell; once, however often it is called."""
        if self._closed:
            return
        self._closed = True
        self.stream.close()
        await self._release()

    async def _release(self) -> None:
        """End the shell if it still runs and remove what was made for it (the stream is closed)."""
        raise NotImplementedError
