"""ProcessExecutor: runs a task's script as a process on this host, without a container.

The run directory ``<runs_dir>/<run_id>/`` is bind-mounted onto ``/tmp/run`` inside a private mount
namespace, so every run sees its own ``/tmp/run`` while the rest of the host filesystem is shared.
The first method that works here is used (checked once, with a real bind mount):

1. as root ("syscall"): the process spawner (:mod:`scaffold.executors.spawner`), a small process
   started once, makes the namespace and the bind mount with system calls
   (:mod:`scaffold.executors.mountns`, no extra program) and starts the script in it with
   ``posix_spawn``, so that the server itself never forks; else
   ``unshare --mount --propagation private``;
2. with unprivileged user namespaces, ``unshare --user --map-root-user --mount`` to bind-mount,
   then a nested ``unshare --user --map-user=<uid>`` so the script runs with Scaffold's own uid
   (where that option is missing, the script runs as the namespace's root);
3. ``bwrap --dev-bind / / --bind <run dir> /tmp/run`` (bubblewrap).

Without any of them ``check_available()`` and ``run()`` refuse with what to do. ``/tmp/run`` is
created on the host as an empty directory if missing (the mount point).

The script runs ``<shell> /tmp/run/.scaffold/entry.sh`` (see :mod:`scaffold.executors.script`) in
``/tmp/run``, in its own process group (a new session with the wrapper commands; with the spawner,
in the spawner's session, which has no terminal), with stdout and stderr on one pipe, stdin from
``/dev/null``, and with a small environment
(``PATH``, ``HOME``, ``USER``, ``LOGNAME``, ``LANG``, ``LC_*``, ``TZ`` from the server) plus the task's
own variables: nothing else of the server's environment leaks in. When the script's shell exits,
whatever it left behind in its process group is killed (as a container would be); a process that
escaped with ``setsid`` is not.

With the spawner, a run costs the server's event loop a few system calls and no fork, no thread
hop and no wait: a pipe for the output, one message to the spawner (the pipe's write end goes
along, and so does the plan of the run directory, which the spawner writes before it makes the
namespace, mostly by renaming into place a directory it made ahead), then the replies "started"
(the pid) and "exited" (the wait status). The spawner writes and removes the pid file. (A run
directory made ahead holds an empty ``.scaffold/exit_code`` from the start, which reads as no exit
code until the script's shell writes it.) A run with large files (over ``PLAN_MAX_BYTES``) or
whose directory is already there has it prepared in one thread hop, which sends the request right
away. What the run left is read in one more thread hop, and only if there is something to read
(variables or files to store, a ``.display``). If the spawner dies, the runs it started are killed
and end with "the process spawner died"; the next run starts a new one. The other methods start
their wrapper command from here, with a thread hop to prepare the run directory and the pid file
written in a thread.

Cancel: SIGTERM to the process group, SIGKILL after the grace period. Adopt: output cannot be
re-attached after a restart (the pipe went with the old server). A run whose ``exit_code`` file was
written is settled from it; a process still alive is killed (its output is lost) and, like a run
with nothing left, gives None.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.engine.ports import LogSink, RunRequest, RunResult
from scaffold.errors import ExecutorUnavailable
from scaffold.executors import mountns, spawner
from scaffold.executors import script as sh
from scaffold.executors.rundir import (
    DISPLAY_FILE,
    DISPLAY_POLL_SECONDS,
    DisplayWatcher,
    RunDir,
    _relative_parts,
    expired_run_dirs,
    remove_path,
)

PID_SUFFIX = ".pid"
DRAIN_SECONDS = 2.0  # how long output is still read after the script's shell exited
HOLD_MAX_BYTES = 1 << 20  # output held until a run is reported started, at most
PLAN_MAX_BYTES = 1 << 20  # run files larger than this in all are written by a thread, not sent
_Step = tuple[bytes, bytes, int, bytes]  # a step of a run directory's plan (spawner.materialize)
_BIND = 'mount --bind "$1" /tmp/run || exit 125; cd /tmp/run || exit 125; shift; exec "$@" ' + sh.ENTRY_PATH
_UNSHARE = ["unshare", "--mount", "--propagation", "private"]
_METHODS: dict[str, list[str]] = {
    "unshare": _UNSHARE,
    # mount(8) wants uid 0: mount as the namespace's root, then map back to our own uid to run
    "unshare-user": [*_UNSHARE[:1], "--user", "--map-root-user", *_UNSHARE[1:]],
    "unshare-root-map": [*_UNSHARE[:1], "--user", "--map-root-user", *_UNSHARE[1:]],
}
_ENV_KEEP = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WHAT_TO_DO = (
    "run Scaffold as root, enable unprivileged user namespaces "
    "(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0) or install bubblewrap; "
    "or use --executor docker"
)


def isolated_argv(method: str, run_dir: Path, shell: list[str]) -> list[str]:
    """The command that runs ``entry.sh`` with ``run_dir`` seen at ``/tmp/run``."""
    if method == "syscall":  # the spawner makes the namespace and the mount (mountns)
        return [*shell, sh.ENTRY_PATH]
    if method == "bwrap":
        mounts = ["--dev-bind", "/", "/", "--bind", str(run_dir), sh.RUN_MOUNT, "--chdir", sh.RUN_MOUNT]
        return ["bwrap", *mounts, "--", *shell, sh.ENTRY_PATH]
    if method == "unshare-user":
        ids = [f"--map-user={os.getuid()}", f"--map-group={os.getgid()}"]
        shell = ["unshare", "--user", *ids, "--", *shell]
    return [*_METHODS[method], "--", "/bin/sh", "-c", _BIND, "scaffold-run", str(run_dir), *shell]


def base_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key in _ENV_KEEP or key.startswith("LC_")}
    env.setdefault("PATH", _DEFAULT_PATH)
    return env


def run_env(request: RunRequest) -> dict[bytes, bytes]:
    """The process environment of a run: a few of the server's variables, then the datastore
    values, then the task's own (later ones win). Given straight to the process -- no env file to
    write and delete -- and readable only by its own user and root (/proc/<pid>/environ)."""
    env = base_env_bytes()
    env.update({key.encode(): value.replace(b"\0", b"") for key, value in request.load_env.items()})
    env.update({key.encode(): value.replace("\0", "").encode() for key, value in request.env.items()})
    return env


def _env_items(env: dict[bytes, bytes]) -> list[bytes]:
    return [key + b"=" + value for key, value in env.items()]


def _node() -> str:
    return os.uname().nodename


# -------------------------------------------------------------------------------- the spawner

SPAWNER_DIED = "the process spawner died"
EXECUTOR_CLOSED = "the executor was closed"
SPAWNER_START_SECONDS = 30.0
SPAWNER_EXIT_SECONDS = 5.0
_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding the scaffold package
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from scaffold.executors.spawner import main; main()"


def _launch_spawner(theirs: socket.socket) -> int:
    """Start the spawner with ``theirs`` as its stdin (blocking: run in a thread). Its first
    process forks the spawner and exits at once: returns that exit code."""
    try:
        # -I -S: no site, no user paths, no PYTHON* variables; no environment: it needs none
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _BOOT, _ROOT],
            stdin=theirs.fileno(),
            stdout=subprocess.DEVNULL,
            env={},
        )
    finally:
        theirs.close()
    return proc.wait()


class _Child:
    """A process asked of the spawner, as the executor sees it."""

    __slots__ = ("exited", "seq", "started")

    def __init__(self, loop: asyncio.AbstractEventLoop, seq: int):
        self.seq = seq
        # its pid (its process group too), or why no process was started for it
        self.started: asyncio.Future[int | str] = loop.create_future()
        # its wait status (or a reason why there is none); None if the spawner died
        self.exited: asyncio.Future[int | str | None] = loop.create_future()


class _SpawnerClient:
    """The executor's end of the spawner's socket. Replies are read by a reader callback on the
    event loop; requests are sent from the loop or from a worker thread (right after it prepared
    the run directory: no hop back to the loop before the spawner has the request), queued under
    a lock while the socket is full."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop):
        self.sock = sock
        self.loop = loop
        self.alive = True
        self.reason = ""  # why it is no longer alive
        self.pid: int | None = None  # the spawner's, from its hello
        self.hello: asyncio.Future[None] = loop.create_future()
        self.gone: asyncio.Future[None] = loop.create_future()  # the socket is closed
        self._closing = False  # aclose() is waiting for the spawner to exit
        self.children: dict[int, _Child] = {}  # by sequence number
        self._seq = 0
        self._buffer = bytearray()
        self._lock = threading.Lock()  # the queue, _writing and alive, between the loop and a thread
        self._queue: collections.deque[list[Any]] = collections.deque()  # [unsent bytes, fd or None]
        self._writing = False
        self._loop_thread = threading.get_ident()
        sock.setblocking(False)
        self._finalizer = weakref.finalize(self, sock.close)  # not left open if never closed
        loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    async def start(cls) -> _SpawnerClient:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            code = await asyncio.to_thread(_launch_spawner, theirs)
        except BaseException:
            ours.close()
            raise
        client = cls(ours, asyncio.get_running_loop())
        try:
            if code != 0:
                raise OSError(f"its first process exited with code {code}")
            async with asyncio.timeout(SPAWNER_START_SECONDS):
                await asyncio.shield(client.hello)
            if not client.alive:
                raise OSError("it exited at once")
        except BaseException:
            client.close()
            raise
        return client

    # requests

    def expect(self) -> _Child:
        """A new child to send the request of (on the loop)."""
        if not self.alive:
            raise OSError(SPAWNER_DIED)
        self._seq += 1
        child = self.children[self._seq] = _Child(self.loop, self._seq)
        return child

    def forget(self, child: _Child) -> None:
        """A child whose request will not be sent (on the loop)."""
        self.children.pop(child.seq, None)

    def send(
        self,
        child: _Child,
        run_dir: Path,
        argv: list[str],
        env: dict[bytes, bytes],
        pid_file: str,
        out: int,
        plan: list[_Step] | tuple[()] = (),
    ) -> None:
        """Send ``child``'s request with ``out`` as its stdout and stderr (on the loop or in a
        worker thread), and the ``plan`` of its run directory if the child is to write it. Takes
        ``out`` over (closed once handed over, or if the spawner is gone), except when the request
        cannot be encoded (ValueError)."""
        frame = spawner.encode_request(
            child.seq,
            os.fsencode(run_dir),
            sh.RUN_MOUNT.encode(),
            os.fsencode(pid_file),
            [os.fsencode(arg) for arg in argv],
            _env_items(env),
            plan,
        )
        with self._lock:
            if not self.alive:
                os.close(out)  # its futures were settled by _shut
                return
            self._queue.append([memoryview(frame), out])
            if self._writing:
                return  # the writer callback sends it in turn
            blocked, broken = self._flush_locked()
        if broken:
            self._on_loop(self._shut, SPAWNER_DIED)
        elif blocked:
            self._on_loop(self._start_writing)

    def _on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        else:
            self.loop.call_soon_threadsafe(callback, *args)

    def _flush_locked(self) -> tuple[bool, bool]:
        """Send what is queued (lock held): (blocked by a full socket, socket broken)."""
        while self._queue:
            item = self._queue[0]
            view, fd = item
            try:
                if fd is not None:
                    fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
                    sent = self.sock.sendmsg([view], fds)
                    os.close(fd)  # the spawner has its own copy now
                    item[1] = None
                else:
                    sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                return True, False
            except OSError:
                return False, True
            if sent < len(view):
                item[0] = view[sent:]
            else:
                self._queue.popleft()
        return False, False

    def _start_writing(self) -> None:
        with self._lock:
            if self._writing or not self.alive or not self._queue:
                return
            self._writing = True
        self.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        with self._lock:
            blocked, broken = self._flush_locked()
            done = not blocked
            if done:
                self._writing = False
        if done:
            self.loop.remove_writer(self.sock.fileno())
        if broken:
            self._shut(SPAWNER_DIED)

    # replies

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._shut(EXECUTOR_CLOSED if self._closing else SPAWNER_DIED)
            return
        self._buffer += data
        for body in spawner.split_frames(self._buffer):
            kind, seq, value, message = spawner.decode_reply(body)
            if kind == spawner.HELLO:
                self.pid = value
                if not self.hello.done():
                    self.hello.set_result(None)
                continue
            child = self.children.get(seq)
            if child is None:
                continue
            if kind == spawner.STARTED:
                if child.started.done():  # its run was cancelled meanwhile
                    _kill(value, signal.SIGKILL)
                else:
                    child.started.set_result(value)
            elif kind == spawner.EXITED:
                del self.children[seq]
                if not child.exited.done():
                    child.exited.set_result(value)
            elif kind == spawner.FAILED:
                del self.children[seq]
                reason = message.decode(errors="replace") or "unknown error"
                if not child.started.done():
                    child.started.set_result(reason)
                elif not child.exited.done():
                    child.exited.set_result(reason)

    def _shut(self, reason: str) -> None:
        with self._lock:
            if not self.alive:
                return
            self.alive = False
            for item in self._queue:
                if item[1] is not None:
                    os.close(item[1])
            self._queue.clear()
            writing, self._writing = self._writing, False
        self.loop.remove_reader(self.sock.fileno())
        if writing:
            self.loop.remove_writer(self.sock.fileno())
        self._finalizer()  # closes the socket: the spawner exits on EOF
        for child in self.children.values():
            if not child.started.done():
                child.started.set_result(reason)
            if not child.exited.done():
                child.exited.set_result(None)
        self.reason = reason
        self.children.clear()
        if not self.hello.done():
            self.hello.set_result(None)
        if not self.gone.done():
            self.gone.set_result(None)

    def close(self) -> None:
        if self.loop.is_closed():
            self.alive = False
            self._finalizer()
            return
        self._shut(EXECUTOR_CLOSED)

    async def aclose(self, timeout: float = SPAWNER_EXIT_SECONDS) -> None:
        """Close, and wait (``timeout`` at most) until the spawner has closed its end: it removes
        its pool of run directories made ahead before it exits, so that whoever closed the
        executor can remove the runs directory right after."""
        if self.alive and not self.loop.is_closed():
            self._closing = True
            try:
                self.sock.shutdown(socket.SHUT_WR)  # EOF for the spawner; its replies still come
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self.gone)
            except (OSError, TimeoutError):
                pass
        self.close()


class _Output:
    """Reads a pipe on the event loop until EOF (or ``close()``); what comes before ``release()``
    is held, then given to ``write`` (a run's output goes to its sink after ``started``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, write: Callable[[bytes], None]):
        self.loop = loop
        self.fd = fd
        self.write = write
        self._held: list[bytes] | None = []
        self._held_size = 0
        self._paused = False
        self._write_end = -1  # the other end, until it is handed to the spawner (take_write_end)
        self._write_lock = threading.Lock()
        self.eof: asyncio.Future[None] = loop.create_future()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def release(self) -> None:
        held, self._held = self._held, None
        for data in held or ():
            self.write(data)
        if self._paused and self.fd >= 0:
            self._paused = False
            self.loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
        elif self._held is None:
            self.write(data)
        else:
            self._held.append(data)
            self._held_size += len(data)
            if self._held_size >= HOLD_MAX_BYTES:  # the rest waits in the pipe
                self._paused = True
                self.loop.remove_reader(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            if not self._paused:
                self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
        write_end = self.take_write_end()
        if write_end >= 0:
            os.close(write_end)
        if not self.eof.done():
            self.eof.set_result(None)

    def give_write_end(self, fd: int) -> None:
        self._write_end = fd

    def take_write_end(self) -> int:
        """The pipe's write end, once (-1 after): whoever takes it closes or hands it over (a
        worker thread sending the request, or the loop giving up on the run)."""
        with self._write_lock:
            fd, self._write_end = self._write_end, -1
        return fd


class _RunProtocol(asyncio.SubprocessProtocol):
    def __init__(self, sink: LogSink):
        loop = asyncio.get_running_loop()
        self.sink = sink
        self.exited: asyncio.Future[None] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.sink.write(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.eof.done():
            self.eof.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


@dataclass
class _Running:
    cancelled: bool = False
    pgid: int | None = None
    exited: asyncio.Future[Any] | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)


class ProcessExecutor:
    """Runs scripts on this host, each with its own ``/tmp/run`` (see the module docstring)."""

    name = "process"

    def __init__(
        self,
        runs_dir: Path,
        *,
        retention_seconds: float = 86400,
        grace: float = 10.0,
        method: str | None = None,
    ):
        self.runs_dir = Path(runs_dir).absolute()  # bind-mounted from the run's cwd: not relative
        self.retention_seconds = retention_seconds
        self.grace = grace
        self.method = method  # None: the first that works here
        self._running: dict[str, _Running] = {}
        self._spawner: _SpawnerClient | None = None
        self._spawner_lock = asyncio.Lock()

    # ---------------------------------------------------------------------------- availability

    async def check_available(self) -> None:
        if self.method is not None:
            return
        candidates = ["unshare-user", "unshare-root-map", "bwrap"]
        if os.geteuid() == 0:
            candidates[:0] = ["syscall", "unshare"] if mountns.available() else ["unshare"]
        problems = []
        for method in candidates:
            problem = await self._probe(method)
            if problem is None:
                self.method = method
                return
            problems.append(f"{method}: {problem}")
        raise ExecutorUnavailable(
            "the process executor needs a private mount namespace to give each run its own /tmp/run, "
            f"and none works here ({'; '.join(problems)}): {WHAT_TO_DO}"
        )

    async def _probe(self, method: str) -> str | None:
        """None if ``method`` really shows a run directory at /tmp/run, else what went wrong."""
        binary = {"bwrap": "bwrap", "syscall": None}.get(method, "unshare")
        if binary is not None and shutil.which(binary) is None:
            return f"{binary} not found"
        token = secrets.token_hex(8)
        probe = RunDir(self.runs_dir, f"probe-{os.getpid()}-{token}")
        request = RunRequest(run_id=probe.run_id, cascade="-", task="-", number=0, script=f"echo {token}")
        try:
            await asyncio.to_thread(self._prepare, probe, request)
            if method == "syscall":
                output, code = await self._probe_spawned(probe)
            else:
                proc = await asyncio.create_subprocess_exec(
                    *isolated_argv(method, probe.path, ["/bin/sh"]),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=probe.path,
                    env=base_env(),
                )
                output, _ = await asyncio.wait_for(proc.communicate(), 30)
                code = proc.returncode
        except (OSError, TimeoutError, subprocess.SubprocessError) as exc:
            return str(exc) or type(exc).__name__
        finally:
            await asyncio.to_thread(probe.remove)
        if code == 0 and output.strip() == token.encode():
            return None
        lines = output.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {code}"

    async def _probe_spawned(self, probe: RunDir) -> tuple[bytes, int | None]:
        """Run the probe through the spawner: (output, exit code); OSError if it did not start."""
        client = await self._spawner_ready()
        output = bytearray()
        reader, child = self._expect(client, output.extend)
        reader.release()
        pid = None
        try:
            self._send(client, child, probe.path, ["/bin/sh", sh.ENTRY_PATH], base_env_bytes(), "", reader)
            async with asyncio.timeout(30):
                started = await child.started
                if isinstance(started, str):
                    raise OSError(started)
                pid = started
                status = await child.exited
                await reader.eof
        except BaseException:
            if pid is not None:
                _kill(pid, signal.SIGKILL)
            raise
        finally:
            reader.close()
        if not isinstance(status, int):
            raise OSError(status or SPAWNER_DIED)
        return bytes(output), os.waitstatus_to_exitcode(status)

    async def _spawner_ready(self) -> _SpawnerClient:
        """The spawner, started (again) if there is none or it died."""
        client = self._spawner
        if client is not None and client.alive and client.loop is asyncio.get_running_loop():
            return client
        async with self._spawner_lock:
            client = self._spawner
            if client is None or not client.alive or client.loop is not asyncio.get_running_loop():
                if client is not None:
                    client.close()
                self._spawner = None
                self._spawner = client = await _SpawnerClient.start()
        return client

    @staticmethod
    def _expect(client: _SpawnerClient, write: Callable[[bytes], None]) -> tuple[_Output, _Child]:
        """(on the loop) The run's output pipe, read into ``write``, and its child at the
        spawner, whose request is still to be sent (``_send``)."""
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        reader = _Output(asyncio.get_running_loop(), read_end, write)
        reader.give_write_end(write_end)
        try:
            child = client.expect()
        except BaseException:
            reader.close()
            raise
        return reader, child

    @staticmethod
    def _send(
        client: _SpawnerClient,
        child: _Child,
        run_dir: Path,
        argv: list[str],
        env: dict[bytes, bytes],
        pid_file: str,
        reader: _Output,
        plan: list[_Step] | tuple[()] = (),
    ) -> None:
        """(on the loop or in a thread) Send the request, with the pipe's write end; nothing if
        the run was given up already."""
        write_end = reader.take_write_end()
        if write_end < 0:
            return
        try:
            client.send(child, run_dir, argv, env, pid_file, write_end, plan)
        except BaseException:
            os.close(write_end)
            raise

    def _prepare_and_send(
        self,
        client: _SpawnerClient,
        child: _Child,
        reader: _Output,
        run_dir: RunDir,
        request: RunRequest,
        shell: list[str],
        running: _Running,
    ) -> bool:
        """(in a thread) Prepare the run directory, then send the request at once: False if the
        run was cancelled meanwhile (nothing sent)."""
        self._prepare(run_dir, request)
        if running.cancelled:
            return False
        argv = [*shell, sh.ENTRY_PATH]
        pid_file = str(self._pid_file(request.run_id))
        self._send(client, child, run_dir.path, argv, run_env(request), pid_file, reader)
        return True

    @staticmethod
    def _prepare(run_dir: RunDir, request: RunRequest) -> None:
        mount_point = Path(sh.RUN_MOUNT)
        if not mount_point.is_dir():
            mount_point.mkdir(mode=0o755, exist_ok=True)
        run_dir.prepare(request, env_file=False)  # the environment goes to the process directly

    async def close(self) -> None:
        """Stop the spawner (it exits when its socket closes; runs still going are left alone)
        and wait until it has removed its pool of run directories made ahead."""
        client, self._spawner = self._spawner, None
        if client is not None:
            await client.aclose()

    # ------------------------------------------------------------------------------------ runs

    def _pid_file(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}{PID_SUFFIX}"

    async def run(self, request: RunRequest, sink: LogSink) -> RunResult:
        running = self._running[request.run_id] = _Running()
        try:
            try:
                await self.check_available()
                run_dir = RunDir(self.runs_dir, request.run_id)
                shell = sh.shell_argv(request.shell)
                if self.method == "syscall":
                    return await self._run_spawned(request, sink, run_dir, shell, running)
                await asyncio.to_thread(self._prepare, run_dir, request)
            except (ExecutorUnavailable, ValueError, OSError) as exc:
                return RunResult(None, reason=getattr(exc, "message", str(exc)), cancelled=running.cancelled)
            if running.cancelled:
                return RunResult(None, reason="cancelled before the process started", cancelled=True)
            return await self._run_wrapped(request, sink, run_dir, shell, running)
        finally:
            self._running.pop(request.run_id, None)

    async def _run_spawned(
        self, request: RunRequest, sink: LogSink, run_dir: RunDir, shell: list[str], running: _Running
    ) -> RunResult:
        """The "syscall" method: the process is started by the spawner, which writes the run
        directory (``_plan``), or, for large files or a directory to replace, one thread hop
        prepares it and sends the request; raises ValueError/OSError for a run that could not be
        prepared or sent."""
        try:
            client = await self._spawner_ready()
        except OSError as exc:
            return RunResult(None, reason=f"the process spawner did not start: {exc}")
        plan = _plan(run_dir, request)  # ValueError for what RunDir.prepare would refuse
        reader, child = self._expect(client, sink.write)
        try:
            if plan is not None:  # the child writes the run directory: no thread hop at all
                argv = [*shell, sh.ENTRY_PATH]
                pid_file = str(self._pid_file(request.run_id))
                self._send(client, child, run_dir.path, argv, run_env(request), pid_file, reader, plan)
            elif not await asyncio.to_thread(
                self._prepare_and_send, client, child, reader, run_dir, request, shell, running
            ):
                raise _NotSent
            started = await child.started
        except asyncio.CancelledError:
            done = child.started.done() and not child.started.cancelled()
            started = child.started.result() if done else None
            if isinstance(started, int):  # started, but this task was cancelled before it resumed
                _kill(started, signal.SIGKILL)
            child.started.cancel()  # else the client kills the process when it is reported
            reader.close()
            raise
        except BaseException:
            client.forget(child)
            reader.close()
            if running.cancelled:
                return RunResult(None, reason="cancelled before the process started", cancelled=True)
            raise
        if isinstance(started, str):
            reader.close()
            return RunResult(None, reason=_spawn_failure(started), cancelled=running.cancelled)
        pid = started
        running.pgid, running.exited = pid, child.exited
        running.started.set()
        if running.cancelled:
            _kill(pid, signal.SIGKILL)
        sink.started({"node": _node(), "pid": str(pid)})
        reader.release()  # its output after its start
        loop = asyncio.get_running_loop()
        watcher = DisplayWatcher(run_dir, sink.display)
        watching = loop.call_later(DISPLAY_POLL_SECONDS, watcher.start)  # a short run is read at the end
        try:
            status = await child.exited
            _kill(pid, signal.SIGKILL)  # what the script left behind in its group
            if not isinstance(status, int):
                if status is None:  # the spawner is gone: the pid file is left to us
                    self._pid_file(request.run_id).unlink(missing_ok=True)
                reason = _spawn_failure(client.reason if status is None else status)
                return RunResult(None, reason=reason, cancelled=running.cancelled)
            if not reader.eof.done():
                drain = loop.call_later(DRAIN_SECONDS, reader.close)
                try:
                    await reader.eof
                finally:
                    drain.cancel()
        except asyncio.CancelledError:
            _kill(pid, signal.SIGKILL)  # the server stops: its output has nowhere to go
            raise
        finally:
            watching.cancel()
            watcher.stop()
            reader.close()
        code = _exit_status(os.waitstatus_to_exitcode(status))
        return await self._settle(request, sink, run_dir, code, watcher, running, None)

    async def _run_wrapped(
        self, request: RunRequest, sink: LogSink, run_dir: RunDir, shell: list[str], running: _Running
    ) -> RunResult:
        """The other methods: a wrapper command (unshare, bwrap) started from here."""
        assert self.method is not None
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _RunProtocol(sink),
                *isolated_argv(self.method, run_dir.path, shell),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=run_dir.path,
                env=run_env(request),
                start_new_session=True,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            return RunResult(None, reason=f"the script could not start: {exc}", cancelled=running.cancelled)
        pid = transport.get_pid()
        running.pgid, running.exited = pid, protocol.exited
        running.started.set()
        pid_file = self._pid_file(request.run_id)
        pid_written = loop.run_in_executor(None, _write_pid, pid_file, pid)  # off the event loop
        if running.cancelled:
            _kill(pid, signal.SIGKILL)
        sink.started({"node": _node(), "pid": str(pid)})
        watcher = DisplayWatcher(run_dir, sink.display)
        watching = loop.call_later(DISPLAY_POLL_SECONDS, watcher.start)
        try:
            await protocol.exited
            _kill(pid, signal.SIGKILL)  # what the script left behind in its group
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.eof), DRAIN_SECONDS)
            await pid_written
        except asyncio.CancelledError:
            _kill(pid, signal.SIGKILL)  # the server stops: its output has nowhere to go
            pid_written.add_done_callback(lambda _: pid_file.unlink(missing_ok=True))
            raise
        finally:
            transport.close()
            watching.cancel()
            watcher.stop()
        code = _exit_status(transport.get_returncode())
        return await self._settle(request, sink, run_dir, code, watcher, running, pid_file)

    async def _settle(
        self,
        request: RunRequest,
        sink: LogSink,
        run_dir: RunDir,
        code: int | None,
        watcher: DisplayWatcher,
        running: _Running,
        pid_file: Path | None,
    ) -> RunResult:
        """The run's result from what it left, read in one thread hop -- or none when there is
        nothing to read (no variables or files to store, no ``.display``: one ``lstat`` on the
        loop tells); the last ``.display`` is reported if the watcher had not seen it."""
        result = RunResult(code, node=_node())
        collect = not running.cancelled
        wanted = collect and (request.store_env or (code == 0 and request.store_files))
        if pid_file is None and not wanted and not _exists(run_dir.path / DISPLAY_FILE):
            display = None
        else:
            result, display = await asyncio.to_thread(_collect, run_dir, request, result, pid_file, collect)
        if display is not None and display != watcher.last:
            sink.display(display)
        result.display_raw = display if display is not None else watcher.last
        if running.cancelled:
            result.cancelled, result.reason = True, "cancelled"
        return result

    async def cancel(self, run_id: str, grace: float = 10.0) -> None:
        running = self._running.get(run_id)
        if running is None:
            return
        running.cancelled = True
        if not running.started.is_set() or running.pgid is None or running.exited is None:
            return  # run() kills it as soon as it is spawned
        if self.method == "bwrap":  # bwrap would die of it at once: spare it, it ends with its child
            _terminate_members(running.pgid)
        else:
            _kill(running.pgid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(running.exited), max(grace, 0))
        except TimeoutError:
            _kill(running.pgid, signal.SIGKILL)
            await asyncio.shield(running.exited)

    # ------------------------------------------------------------------------------- restarts

    async def adopt(self, request: RunRequest, sink: LogSink) -> RunResult | None:
        run_dir = RunDir(self.runs_dir, request.run_id)
        pid_file = self._pid_file(request.run_id)
        with contextlib.suppress(OSError, ValueError):
            pid, started = pid_file.read_text().split()
            if _start_time(int(pid)) == started:  # still running, but its output went with the old server
                _kill(int(pid), signal.SIGKILL)
                return None
        pid_file.unlink(missing_ok=True)
        code = await asyncio.to_thread(run_dir.exit_code)
        if code is None:
            return None
        display = await asyncio.to_thread(run_dir.display)
        result = RunResult(code, display_raw=display, node=_node())
        return await asyncio.to_thread(run_dir.collect, request, result)

    def _remove_stale_pools(self, expired: set[str]) -> None:
        """(blocking) Remove the pools of run directories made ahead that spawners now gone left
        behind (a spawner that exits removes its own; one that was killed cannot): those whose
        spawner's pid is gone, and those ``expired`` (not touched for the retention time) but our
        own spawner's."""
        client = self._spawner
        own = f"{POOL_PREFIX}{client.pid}" if client is not None and client.alive else None
        try:
            names = [entry.name for entry in os.scandir(self.runs_dir) if entry.name.startswith(POOL_PREFIX)]
        except OSError:
            return
        for name in names:
            pid = _spawner_pid(name)
            if name != own and (pid is None or name in expired or not _exists(Path(f"/proc/{pid}"))):
                remove_path(self.runs_dir / name)

    async def cleanup(self, now: float | None = None) -> list[str]:
        """Remove run directories older than the retention time; returns their run ids. (The
        pools of run directories made ahead by spawners are no runs: never listed, removed once
        their spawner is gone.)"""
        removed = set()
        expired = await asyncio.to_thread(expired_run_dirs, self.runs_dir, self.retention_seconds, now)
        await asyncio.to_thread(self._remove_stale_pools, {path.name for path in expired})
        for path in expired:
            if path.name.startswith(POOL_PREFIX):
                continue
            run_id = path.name.removesuffix(PID_SUFFIX)
            if run_id not in self._running and await asyncio.to_thread(remove_path, path):
                removed.add(run_id)
        return sorted(removed)


POOL_PREFIX = spawner.POOL_PREFIX.decode()


def _spawner_pid(name: str) -> int | None:
    try:
        return int(name.removeprefix(POOL_PREFIX))
    except ValueError:
        return None


def _plan(run_dir: RunDir, request: RunRequest) -> list[_Step] | None:
    """What ``RunDir.prepare(request, env_file=False)`` writes, as steps for the spawner
    (``spawner.materialize``), but ``init.sh``, which only containers run; None when it is better
    done here (files over PLAN_MAX_BYTES, or a run directory already there to remove). Raises
    ValueError for what ``prepare`` refuses. (tests/executors check that both write the same tree.)"""
    files = {name: _relative_parts(name) for name in request.files}  # validated before writing
    for name in (*request.load_env, *request.env):
        sh.check_name(name)  # as sh.env_file does
    entry = sh.entry_script(request.store_env, sh.RUN_MOUNT)
    sh.shell_argv(request.shell)
    script = request.script.encode()
    size = len(script) + sum(map(len, request.files.values())) + len(request.webhook_body or b"")
    if size > PLAN_MAX_BYTES or os.path.lexists(run_dir.path):
        return None
    root, control = os.fsencode(run_dir.path), os.fsencode(run_dir.control)
    plan: list[_Step] = [
        (b"p", os.fsencode(run_dir.path.parent), 0o700, b""),
        (b"d", root, 0o777, b""),
        (b"d", control, 0o777, b""),
        (b"f", control + b"/" + sh.SCRIPT_FILE.encode(), 0o644, script),
        (b"f", control + b"/" + sh.ENTRY_FILE.encode(), 0o644, entry.encode()),
    ]
    if request.webhook_body is not None:
        plan.append((b"f", control + b"/" + sh.WEBHOOK_FILE.encode(), 0o644, request.webhook_body))
    for name, parts in files.items():
        for depth in range(1, len(parts)):
            plan.append((b"m", os.fsencode(os.path.join(run_dir.path, *parts[:depth])), 0o777, b""))
        plan.append((b"f", os.fsencode(os.path.join(run_dir.path, *parts)), 0o666, request.files[name]))
    return plan


class _NotSent(Exception):
    """The run was cancelled before its request was sent."""


def _spawn_failure(reason: str) -> str:
    if reason in (SPAWNER_DIED, EXECUTOR_CLOSED):
        return reason
    return f"the script could not start: {reason}"


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


_ENV_KEEP_BYTES = frozenset(key.encode() for key in _ENV_KEEP)


def base_env_bytes() -> dict[bytes, bytes]:
    """``base_env()`` as bytes, read from the bytes behind ``os.environ`` (no decoding and encoding
    of every variable of the server on every run)."""
    data = getattr(os.environb, "_data", None)
    items = data.items() if isinstance(data, dict) else os.environb.items()
    env = {key: value for key, value in items if key in _ENV_KEEP_BYTES or key.startswith(b"LC_")}
    env.setdefault(b"PATH", _DEFAULT_PATH.encode())
    return env


def _collect(
    run_dir: RunDir, request: RunRequest, result: RunResult, pid_file: Path | None, collect: bool
) -> tuple[RunResult, bytes | None]:
    """What a finished run left (blocking I/O): its last ``.display`` and, unless it was
    cancelled, its stored variables and files; removes the pid file if given."""
    if pid_file is not None:
        pid_file.unlink(missing_ok=True)
    display = run_dir.display()
    if collect:
        run_dir.collect(request, result)
    return result, display


def _write_pid(pid_file: Path, pid: int) -> None:
    with contextlib.suppress(OSError):
        pid_file.write_text(f"{pid} {_start_time(pid)}\n")


def _kill(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _terminate_members(pgid: int) -> None:
    """SIGTERM every process of the group but its leader."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                os.kill(int(entry.name), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue


def _exit_status(returncode: int | None) -> int | None:
    """Like a shell: a process killed by signal N ends with 128 + N."""
    if returncode is not None and returncode < 0:
        return 128 - returncode
    return returncode


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' if it does not exist)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]
