"""ProcessExecutor: runs a task's script as a process on this host, without a container.

The run directory ``<runs_dir>/<run_id>/`` is bind-mounted onto ``/tmp/run`` inside a private mount
namespace, so every run sees its own ``/tmp/run`` while the rest of the host filesystem is shared.
The first method that works here is used (checked once, with a real bind mount):

1. as root: the namespace and bind mount made by the child itself between fork and exec
   (:mod:`scaffold.executors.mountns`, no extra program), else ``unshare --mount --propagation private``;
2. with unprivileged user namespaces, ``unshare --user --map-root-user --mount`` to bind-mount,
   then a nested ``unshare --user --map-user=<uid>`` so the script runs with Scaffold's own uid
   (where that option is missing, the script runs as the namespace's root);
3. ``bwrap --dev-bind / / --bind <run dir> /tmp/run`` (bubblewrap).

Without any of them ``check_available()`` and ``run()`` refuse with what to do. ``/tmp/run`` is
created on the host as an empty directory if missing (the mount point).

The script runs ``<shell> /tmp/run/.scaffold/entry.sh`` (see :mod:`scaffold.executors.script`) in
``/tmp/run``, in a new session, with stdout and stderr on one pipe, and with a small environment
(``PATH``, ``HOME``, ``USER``, ``LOGNAME``, ``LANG``, ``LC_*``, ``TZ`` from the server) plus the task's
own variables: nothing else of the server's environment leaks in. When the script's shell exits,
whatever it left behind in its process group is killed (as a container would be); a process that
escaped with ``setsid`` is not.

Cancel: SIGTERM to the process group, SIGKILL after the grace period. Adopt: output cannot be
re-attached after a restart (the pipe went with the old server). A run whose ``exit_code`` file was
written is settled from it; a process still alive is killed (its output is lost) and, like a run
with nothing left, gives None.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scaffold.engine.ports import LogSink, RunRequest, RunResult
from scaffold.errors import ExecutorUnavailable
from scaffold.executors import mountns
from scaffold.executors import script as sh
from scaffold.executors.rundir import DisplayWatcher, RunDir, discard_env, expired_run_dirs, remove_path

PID_SUFFIX = ".pid"
DRAIN_SECONDS = 2.0  # how long output is still read after the script's shell exited
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
    if method == "syscall":  # the namespace and the mount are made by preexec_fn (mountns)
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
    env = {key.encode(): value.encode() for key, value in base_env().items()}
    env.update({key.encode(): value.replace(b"\0", b"") for key, value in request.load_env.items()})
    env.update({key.encode(): value.replace("\0", "").encode() for key, value in request.env.items()})
    return env


def _preexec(method: str, run_dir: Path) -> Callable[[], None] | None:
    return mountns.bind_run_dir(str(run_dir), sh.RUN_MOUNT) if method == "syscall" else None


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
    exited: asyncio.Future[None] | None = None
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
            proc = await asyncio.create_subprocess_exec(
                *isolated_argv(method, probe.path, ["/bin/sh"]),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=probe.path,
                env=base_env(),
                preexec_fn=_preexec(method, probe.path),
            )
            output, _ = await asyncio.wait_for(proc.communicate(), 30)
        except (OSError, TimeoutError, subprocess.SubprocessError) as exc:
            return str(exc)
        finally:
            await asyncio.to_thread(probe.remove)
        if proc.returncode == 0 and output.strip() == token.encode():
            return None
        lines = output.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {proc.returncode}"

    @staticmethod
    def _prepare(run_dir: RunDir, request: RunRequest) -> None:
        mount_point = Path(sh.RUN_MOUNT)
        if not mount_point.is_dir():
            mount_point.mkdir(mode=0o755, exist_ok=True)
        run_dir.prepare(request, env_file=False)  # the environment goes to the process directly

    # ------------------------------------------------------------------------------------ runs

    async def run(self, request: RunRequest, sink: LogSink) -> RunResult:
        running = self._running[request.run_id] = _Running()
        try:
            try:
                await self.check_available()
                run_dir = RunDir(self.runs_dir, request.run_id)
                shell = sh.shell_argv(request.shell)
                await asyncio.to_thread(self._prepare, run_dir, request)
            except (ExecutorUnavailable, ValueError, OSError) as exc:
                return RunResult(None, reason=getattr(exc, "message", str(exc)), cancelled=running.cancelled)
            if running.cancelled:
                return RunResult(None, reason="cancelled before the process started", cancelled=True)
            return await self._run(request, sink, run_dir, shell, running)
        finally:
            self._running.pop(request.run_id, None)
            await asyncio.to_thread(discard_env, self.runs_dir, request.run_id)
            Path(self.runs_dir / f"{request.run_id}{PID_SUFFIX}").unlink(missing_ok=True)

    async def _run(
        self, request: RunRequest, sink: LogSink, run_dir: RunDir, shell: list[str], running: _Running
    ) -> RunResult:
        assert self.method is not None
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: _RunProtocol(sink),
            *isolated_argv(self.method, run_dir.path, shell),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=run_dir.path,
            env=run_env(request),
            start_new_session=True,
            preexec_fn=_preexec(self.method, run_dir.path),
        )
        running.pgid, running.exited = transport.get_pid(), protocol.exited
        running.started.set()
        self._write_pid(request.run_id, running.pgid)
        if running.cancelled:
            _kill(running.pgid, signal.SIGKILL)
        sink.started({"node": os.uname().nodename, "pid": str(running.pgid)})
        watcher = DisplayWatcher(run_dir, sink.display)
        watcher.start()
        try:
            await protocol.exited
            _kill(running.pgid, signal.SIGKILL)  # what the script left behind in its group
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.eof), DRAIN_SECONDS)
        except asyncio.CancelledError:
            _kill(running.pgid, signal.SIGKILL)  # the server stops: its output has nowhere to go
            raise
        finally:
            transport.close()
            watcher.stop()
        display = await watcher.finish()
        code = _exit_status(transport.get_returncode())
        result = RunResult(code, display_raw=display, node=os.uname().nodename)
        if running.cancelled:
            result.cancelled, result.reason = True, "cancelled"
            return result
        return await asyncio.to_thread(run_dir.collect, request, result)

    def _write_pid(self, run_id: str, pid: int) -> None:
        with contextlib.suppress(OSError):
            (self.runs_dir / f"{run_id}{PID_SUFFIX}").write_text(f"{pid} {_start_time(pid)}\n")

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
        pid_file = self.runs_dir / f"{request.run_id}{PID_SUFFIX}"
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
        result = RunResult(code, display_raw=display, node=os.uname().nodename)
        return await asyncio.to_thread(run_dir.collect, request, result)

    async def cleanup(self, now: float | None = None) -> list[str]:
        """Remove run directories older than the retention time; returns their run ids."""
        removed = set()
        for path in expired_run_dirs(self.runs_dir, self.retention_seconds, now):
            run_id = path.name.removesuffix(PID_SUFFIX)
            if run_id not in self._running and await asyncio.to_thread(remove_path, path):
                removed.add(run_id)
        return sorted(removed)


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
