"""Shells for the process executor (SPEC 4), opened by :func:`scaffold.executors.shell.open_shell`:
the task's shell as a host process in the run's directory (its working directory; ``/tmp/run`` is
not mapped), on a pseudo-terminal, as the server's user -- which a person who may write cascades
run by this executor can do anyway. Closing a shell that still runs sends SIGHUP to its process
group, then SIGKILL a second later.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from typing import Any

from scaffold.errors import Conflict
from scaffold.executors.docker_io import in_thread
from scaffold.executors.rundir import RunDir
from scaffold.executors.shell import Shell, ShellTarget, TerminalStream, environment, not_started, window

# Makes the pseudo-terminal on stdin the controlling terminal, then runs the shell.
CONTROLLING_TTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


async def open_process(executor: Any, target: ShellTarget) -> Shell:
    """A shell on a new pseudo-terminal in the run's directory."""
    run_dir = RunDir(executor.runs_dir, target.run_id)
    if not await in_thread(run_dir.exists):
        if not target.started:
            raise not_started(target)
        raise Conflict(
            f"the run directory of run {target.number} was removed after the retention time; re-run the task"
        )
    process, master = await in_thread(_spawn_on_pty, run_dir, target)
    stream = TerminalStream(_pty_reader(master), functools.partial(_write_all, master), lambda: None)
    return _ProcessShell(stream, process, master)


def _spawn_on_pty(run_dir: RunDir, target: ShellTarget) -> tuple[subprocess.Popen[bytes], int]:
    """Start the shell in its own session, with a new pseudo-terminal as its controlling terminal."""
    from scaffold.executors.process import base_env

    master, slave = pty.openpty()
    try:
        if target.cols and target.rows:
            _set_window(master, *window(target.cols, target.rows))
        process = subprocess.Popen(
            [sys.executable, "-c", CONTROLLING_TTY, target.program],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=run_dir.path,
            env={**base_env(), **environment(target)},
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

    def __init__(self, stream: TerminalStream, process: subprocess.Popen[bytes], master: int):
        super().__init__(stream)
        self.process, self.master = process, master

    async def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(OSError):
            _set_window(self.master, *window(cols, rows))

    async def wait(self) -> int | None:
        code = await in_thread(self.process.wait)
        return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say

    async def _release(self) -> None:
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
