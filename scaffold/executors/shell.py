"""Interactive shells in a task's run (SPEC 4): a terminal into a running task's container, or into
a copy of a finished one, for the shell websocket (:mod:`scaffold.web.api_shell`).

:func:`open_shell` picks how, from the executor and the state of the run's container:

* **docker, container running**: ``docker exec`` of the task's shell (the first word of its
  ``shell`` setting) with a TTY, in ``/tmp/run``. Closing a shell that has not exited ends every
  process of its session (SIGHUP, then SIGKILL a second later), found through ``/proc`` by a
  second, detached ``exec``: Docker itself leaves an exec'd process running when its client goes.
* **docker, container exited** (kept for the retention time): the container is committed to a
  temporary image (``scaffold-shell:<instance>-<random>``), and a new container of it runs the
  shell with the same run directory bind-mounted at ``/tmp/run``. Closing the shell removes that
  container and image. Both are labelled ``scaffold.instance``, ``scaffold.run_id`` and
  ``scaffold.shell``, so :func:`remove_shell_leftovers` (called by ``DockerExecutor.cleanup``)
  finds what a stopped server left behind. Changes made in the copy, other than in ``/tmp/run``,
  are thrown away with it.
* **process executor**: the shell as a host process in the run's directory (its working
  directory; ``/tmp/run`` is not mapped), on a pseudo-terminal, as the server's user -- which a
  person who may write cascades run by this executor can do anyway.
* any other executor: refused with :class:`~scaffold.errors.Conflict`.

The Docker SDK and the terminal are blocking: each open shell has one thread reading its output
(at most ``READ_CREDITS`` chunks ahead of the reader, so a slow client slows the shell down
instead of filling memory) and one writing its input; every SDK call runs in a thread of its own.
The event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import pty
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scaffold.errors import Conflict, ExecutorUnavailable
from scaffold.executors import script as sh
from scaffold.executors.docker import LABEL_INSTANCE, LABEL_RUN
from scaffold.executors.docker_io import in_thread
from scaffold.executors.rundir import RunDir

LABEL_SHELL = "scaffold.shell"  # on shell copies and their images: the run id
SHELL_IMAGE = "scaffold-shell"  # repository of the temporary images
TERM = "xterm"
CHUNK = 65536
READ_CREDITS = 32  # output chunks read ahead of the client at most
EXIT_WAIT = 5.0  # seconds to wait for an exec's exit code once its output ended
PID_LINE = re.compile(rb"scaffold-shell-pid (\d+)\r?\n")
# Prints the shell's pid (in the container) first, so that closing can end its session.
EXEC_WRAPPER = 'echo "scaffold-shell-pid $$"; exec "$0"'
# Ends every process of the session $1 (SIGHUP, then SIGKILL): POSIX sh and /proc only.
END_SESSION = """\
sid=$1
signal_session() {
  for f in /proc/[0-9]*/stat; do
    read -r line < "$f" 2>/dev/null || continue
    set -- ${line##*") "}
    if [ "$4" = "$sid" ]; then p=${f%/stat}; kill -"$sig" "${p#/proc/}" 2>/dev/null; fi
  done
}
sig=HUP; signal_session; sleep 1; sig=KILL; signal_session
"""
# Makes the pseudo-terminal on stdin the controlling terminal, then runs the shell (process executor).
CONTROLLING_TTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


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


def removed(target: ShellTarget) -> Conflict:
    return Conflict(
        f"the container of run {target.number} was removed after the retention time; re-run the task"
    )


async def open_shell(executor: Any, target: ShellTarget) -> Shell:
    """Open a shell in ``target``'s run with ``executor`` (see the module docstring)."""
    try:
        target.program  # noqa: B018 - an empty shell setting
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    kind = getattr(executor, "name", type(executor).__name__)
    if kind == "docker":
        return await _open_docker(executor, target)
    if kind == "process":
        return await _open_process(executor, target)
    raise Conflict(f"shells need the docker executor; this server runs its tasks with the {kind} executor")


# ------------------------------------------------------------------------------------ streams


class _Stream:
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
    it ends the shell if it still runs and removes what was made for it."""

    mode = "shell"  # "exec", "copy" or "process": what the audit log records

    def __init__(self, stream: _Stream):
        self.stream = stream
        self.ended_reason: str | None = None  # set by wait() when there is no exit code to give

    async def read(self) -> bytes:
        return await self.stream.read()

    def write(self, data: bytes) -> None:
        self.stream.write(data)

    async def resize(self, cols: int, rows: int) -> None:
        raise NotImplementedError

    async def wait(self) -> int | None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def _window(cols: int, rows: int) -> tuple[int, int]:
    return max(1, min(cols, 1000)), max(1, min(rows, 1000))


# ------------------------------------------------------------------------------------- docker


async def _open_docker(executor: Any, target: ShellTarget) -> Shell:
    from docker.errors import NotFound

    api = await executor._api()
    name = executor.container_name(target.run_id)
    try:
        info = await in_thread(api.inspect_container, name)
    except NotFound:
        if not target.started:
            raise Conflict(f"run {target.number} has not started yet: try again once it runs") from None
        raise removed(target) from None
    except Exception as exc:
        raise _engine_error(exc) from exc
    state = info.get("State") or {}
    if state.get("Paused"):
        raise Conflict(f"the container of run {target.number} is paused: unpause it first")
    try:
        if state.get("Running"):
            return await _DockerExec.open(api, name, target)
        return await _DockerCopy.open(executor, api, name, target)
    except (Conflict, ExecutorUnavailable):
        raise
    except Exception as exc:
        raise _engine_error(exc) from exc


def _engine_error(exc: BaseException) -> ExecutorUnavailable:
    detail = getattr(exc, "explanation", None) or exc
    return ExecutorUnavailable(f"the Docker engine could not open the shell: {detail}")


def _hijacked(sock: Any) -> tuple[Any, bytes]:
    """The raw socket under a hijacked Docker connection (exec start, attach), and whatever the
    HTTP layer already read past the response headers (output that would otherwise be lost)."""
    raw = getattr(sock, "_sock", sock)
    early = b""
    response = getattr(sock, "_response", None)
    buffered = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    if buffered is not None and hasattr(buffered, "peek"):
        raw.setblocking(False)
        try:
            early = buffered.peek()
        except (OSError, ValueError):
            early = b""
        finally:
            raw.setblocking(True)
    raw.settimeout(None)
    return raw, early


def _socket_stream(sock: Any, raw: Any, first: bytes) -> _Stream:
    def shutdown() -> None:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            (getattr(sock, "_response", None) or sock).close()
        with contextlib.suppress(Exception):
            sock.close()

    return _Stream(raw.recv, raw.sendall, shutdown, first)


def _environment(target: ShellTarget) -> dict[str, str]:
    return {"TERM": TERM, **target.env}


class _DockerExec(Shell):
    mode = "exec"

    def __init__(self, stream: _Stream, api: Any, container: str, exec_id: str, pid: int | None, prog: str):
        super().__init__(stream)
        self.api, self.container, self.exec_id, self.pid, self.prog = api, container, exec_id, pid, prog
        self._closed = False

    @classmethod
    async def open(cls, api: Any, container: str, target: ShellTarget) -> Shell:
        prog = target.program
        exec_id = (
            await in_thread(
                api.exec_create,
                container,
                [prog, "-c", EXEC_WRAPPER, prog],
                stdin=True,
                tty=True,
                environment=_environment(target),
                workdir=sh.RUN_MOUNT,
            )
        )["Id"]
        sock = await in_thread(api.exec_start, exec_id, tty=True, socket=True)
        try:
            raw, early = _hijacked(sock)
            if target.cols and target.rows:
                cols, rows = _window(target.cols, target.rows)
                await in_thread(api.exec_resize, exec_id, height=rows, width=cols)
            pid, first = await in_thread(_read_pid, raw, early)
        except BaseException:
            with contextlib.suppress(Exception):
                sock.close()
            raise
        return cls(_socket_stream(sock, raw, first), api, container, exec_id, pid, prog)

    async def resize(self, cols: int, rows: int) -> None:
        cols, rows = _window(cols, rows)
        with contextlib.suppress(Exception):  # the shell may just have ended
            await in_thread(self.api.exec_resize, self.exec_id, height=rows, width=cols)

    async def wait(self) -> int | None:
        info: dict[str, Any] = {}
        for _ in range(int(EXIT_WAIT / 0.1)):
            info = await in_thread(self.api.exec_inspect, self.exec_id)
            if not info.get("Running"):
                break
            await asyncio.sleep(0.1)
        state = (await in_thread(self.api.inspect_container, self.container)).get("State") or {}
        if not state.get("Running"):
            self.ended_reason = (
                "the task ended and its container stopped; open the shell again for a copy of it"
            )
            return None
        code = info.get("ExitCode")
        return code if isinstance(code, int) else None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stream.close()
        with contextlib.suppress(Exception):
            info = await in_thread(self.api.exec_inspect, self.exec_id)
            if info.get("Running") and self.pid is not None:
                await in_thread(self._end_session)

    def _end_session(self) -> None:
        end = self.api.exec_create(
            self.container, [self.prog, "-c", END_SESSION, "scaffold-shell-end", str(self.pid)]
        )
        self.api.exec_start(end["Id"], detach=True)


def _read_pid(raw: Any, early: bytes) -> tuple[int | None, bytes]:
    """Read the wrapper's first line (its pid); returns it and the output that followed."""
    data = early
    raw.settimeout(10)
    try:
        while b"\n" not in data and len(data) < 512:
            chunk = raw.recv(CHUNK)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    finally:
        raw.settimeout(None)
    match = PID_LINE.match(data)
    if match is None:
        return None, data
    return int(match.group(1)), data[match.end() :]


class _DockerCopy(Shell):
    mode = "copy"

    def __init__(self, stream: _Stream, api: Any, container: str, image: str):
        super().__init__(stream)
        self.api, self.container, self.image = api, container, image
        self._closed = False

    @classmethod
    async def open(cls, executor: Any, api: Any, name: str, target: ShellTarget) -> Shell:
        run_dir = RunDir(executor.runs_dir, target.run_id)
        if not await in_thread(run_dir.exists):
            raise removed(target)
        made: dict[str, str] = {}
        sock = None
        try:
            await in_thread(_create_copy, executor, api, name, target, run_dir, made)
            streams = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            sock = await in_thread(api.attach_socket, made["container"], params=streams)
            raw, early = _hijacked(sock)  # attached before the start: no output is missed
            await in_thread(api.start, made["container"])
            if target.cols and target.rows:
                cols, rows = _window(target.cols, target.rows)
                with contextlib.suppress(Exception):
                    await in_thread(api.resize, made["container"], height=rows, width=cols)
        except BaseException:
            if sock is not None:
                with contextlib.suppress(Exception):
                    sock.close()
            await in_thread(_remove_copy, api, made.get("container"), made.get("image"))
            raise
        return cls(_socket_stream(sock, raw, early), api, made["container"], made["image"])

    async def resize(self, cols: int, rows: int) -> None:
        cols, rows = _window(cols, rows)
        with contextlib.suppress(Exception):
            await in_thread(self.api.resize, self.container, height=rows, width=cols)

    async def wait(self) -> int | None:
        status = await in_thread(self.api.wait, self.container)
        code = status.get("StatusCode")
        return code if isinstance(code, int) else None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stream.close()
        await in_thread(_remove_copy, self.api, self.container, self.image)


def _create_copy(
    executor: Any, api: Any, name: str, target: ShellTarget, run_dir: RunDir, made: dict[str, str]
) -> None:
    """Commit the stopped container and create the shell's container from it (blocking). What
    was made is put in ``made`` as it is made, so a failure half-way can be undone."""
    from docker.types import Mount

    token = uuid.uuid4().hex[:10]
    labels = {LABEL_INSTANCE: executor.instance_id, LABEL_RUN: target.run_id, LABEL_SHELL: target.run_id}
    image = api.commit(
        name, repository=SHELL_IMAGE, tag=f"{executor.instance_id}-{token}", conf={"Labels": labels}
    )
    made["image"] = image["Id"]
    mount = Mount(sh.RUN_MOUNT, str(run_dir.path), type="bind")
    created = api.create_container(
        made["image"],
        entrypoint=[target.program],
        command=[],
        name=f"{name}-shell-{token}",
        tty=True,
        stdin_open=True,
        detach=False,
        working_dir=sh.RUN_MOUNT,
        environment=_environment(target),
        labels=labels,
        host_config=api.create_host_config(mounts=[mount], network_mode=executor.network_mode),
    )
    made["container"] = created["Id"]


def _remove_copy(api: Any, container: str | None, image: str | None) -> None:
    if container:
        with contextlib.suppress(Exception):
            api.remove_container(container, v=True, force=True)
    if image:
        with contextlib.suppress(Exception):
            api.remove_image(image, force=True)


def remove_shell_leftovers(api: Any, instance_id: str) -> int:
    """Remove the shell copies (and their images) of this instance that no longer run: what a
    server that stopped while a shell was open left behind. Returns how many were removed."""
    labels = [LABEL_SHELL, f"{LABEL_INSTANCE}={instance_id}"]
    count = 0
    for summary in api.containers(all=True, filters={"label": labels}):
        if summary.get("State") not in ("running", "restarting", "paused"):
            with contextlib.suppress(Exception):
                api.remove_container(summary["Id"], v=True, force=True)
                count += 1
    for image in api.images(filters={"label": labels}):
        with contextlib.suppress(Exception):  # still used by a running copy: kept
            api.remove_image(image["Id"])
            count += 1
    return count


# ------------------------------------------------------------------------------------ process


async def _open_process(executor: Any, target: ShellTarget) -> Shell:
    run_dir = RunDir(executor.runs_dir, target.run_id)
    if not await in_thread(run_dir.exists):
        if not target.started:
            raise Conflict(f"run {target.number} has not started yet: try again once it runs")
        raise Conflict(
            f"the run directory of run {target.number} was removed after the retention time; re-run the task"
        )
    process, master = await in_thread(_spawn_on_pty, run_dir, target)
    stream = _Stream(_pty_reader(master), functools.partial(_write_all, master), lambda: None)
    return _ProcessShell(stream, process, master)


def _spawn_on_pty(run_dir: RunDir, target: ShellTarget) -> tuple[subprocess.Popen[bytes], int]:
    """Start the shell in its own session, with a new pseudo-terminal as its controlling terminal."""
    from scaffold.executors.process import base_env

    master, slave = pty.openpty()
    try:
        if target.cols and target.rows:
            _set_window(master, *_window(target.cols, target.rows))
        process = subprocess.Popen(
            [sys.executable, "-c", CONTROLLING_TTY, target.program],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=run_dir.path,
            env={**base_env(), **_environment(target)},
            start_new_session=True,
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return process, master


class _ProcessShell(Shell):
    mode = "process"

    def __init__(self, stream: _Stream, process: subprocess.Popen[bytes], master: int):
        super().__init__(stream)
        self.process, self.master = process, master
        self._closed = False

    async def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(OSError):
            _set_window(self.master, *_window(cols, rows))

    async def wait(self) -> int | None:
        code = await in_thread(self.process.wait)
        return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stream.close()
        await in_thread(self._end)

    def _end(self) -> None:
        """SIGHUP to the shell's process group, SIGKILL a second later; then free the terminal."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGHUP)
            try:
                self.process.wait(1)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.stream.reader_done.wait(2)
        with contextlib.suppress(OSError):
            os.close(self.master)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _set_window(fd: int, cols: int, rows: int) -> None:
    import fcntl

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _pty_reader(master: int) -> Callable[[int], bytes | None]:
    def recv(size: int) -> bytes | None:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            return None
        try:
            return os.read(master, size)
        except OSError:  # EIO: every process of the terminal closed it
            return b""

    return recv
