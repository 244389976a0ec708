"""Shells in a task's Docker container (SPEC 4), opened by :func:`scaffold.executors.shell.open_shell`:

* **container running**: ``docker exec`` of the task's shell (the first word of its ``shell``
  setting) with a TTY, in ``/tmp/run``. Closing a shell that has not exited ends every process of
  its session (SIGHUP, then SIGKILL a second later), found through ``/proc`` by a second, detached
  ``exec``: Docker itself leaves an exec'd process running when its client goes.
* **container exited** (kept for the retention time): the container is committed to a temporary
  image (``scaffold-shell:<instance>-<random>``), and a new container of it runs the shell with the
  same run directory bind-mounted at ``/tmp/run``. Closing the shell removes that container and
  image. Both are labelled ``scaffold.instance``, ``scaffold.run_id`` and ``scaffold.shell``, so
  :func:`remove_shell_leftovers` (called by ``DockerExecutor.cleanup``) finds what a stopped server
  left behind. Changes made in the copy, other than in ``/tmp/run``, are thrown away with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import uuid
from typing import Any

from scaffold.errors import Conflict, ExecutorUnavailable
from scaffold.executors import script as sh
from scaffold.executors.docker import LABEL_INSTANCE, LABEL_RUN
from scaffold.executors.docker_io import in_thread
from scaffold.executors.rundir import RunDir
from scaffold.executors.shell import (
    CHUNK,
    Shell,
    ShellTarget,
    TerminalStream,
    environment,
    exit_code,
    not_started,
    window,
)

LABEL_SHELL = "scaffold.shell"  # on shell copies and their images: the run id
SHELL_IMAGE = "scaffold-shell"  # repository of the temporary images
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


def removed(target: ShellTarget) -> Conflict:
    return Conflict(
        f"the container of run {target.number} was removed after the retention time; re-run the task"
    )


async def open_docker(executor: Any, target: ShellTarget) -> Shell:
    """A shell in the run's container if it runs, else in a copy of it."""
    from docker.errors import NotFound

    api = await executor._api()
    name = executor.container_name(target.run_id)
    try:
        info = await in_thread(api.inspect_container, name)
    except NotFound:
        if not target.started:
            raise not_started(target) from None
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


def _socket_stream(sock: Any, raw: Any, first: bytes) -> TerminalStream:
    def shutdown() -> None:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            (getattr(sock, "_response", None) or sock).close()
        with contextlib.suppress(Exception):
            sock.close()

    return TerminalStream(raw.recv, raw.sendall, shutdown, first)


# --------------------------------------------------------------------------- running: exec


class _DockerExec(Shell):
    mode = "exec"

    def __init__(
        self, stream: TerminalStream, api: Any, container: str, exec_id: str, pid: int | None, prog: str
    ):
        super().__init__(stream)
        self.api, self.container, self.exec_id, self.pid, self.prog = api, container, exec_id, pid, prog

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
                environment=environment(target),
                workdir=sh.RUN_MOUNT,
            )
        )["Id"]
        sock = await in_thread(api.exec_start, exec_id, tty=True, socket=True)
        try:
            raw, early = _hijacked(sock)
            if target.cols and target.rows:
                cols, rows = window(target.cols, target.rows)
                await in_thread(api.exec_resize, exec_id, height=rows, width=cols)
            pid, first = await in_thread(_read_pid, raw, early)
        except BaseException:
            with contextlib.suppress(Exception):
                sock.close()
            raise
        return cls(_socket_stream(sock, raw, first), api, container, exec_id, pid, prog)

    async def resize(self, cols: int, rows: int) -> None:
        cols, rows = window(cols, rows)
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
        return exit_code(info.get("ExitCode"))

    async def _release(self) -> None:
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


# --------------------------------------------------------------------------- exited: a copy


class _DockerCopy(Shell):
    mode = "copy"

    def __init__(self, stream: TerminalStream, api: Any, container: str, image: str):
        super().__init__(stream)
        self.api, self.container, self.image = api, container, image

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
                cols, rows = window(target.cols, target.rows)
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
        cols, rows = window(cols, rows)
        with contextlib.suppress(Exception):
            await in_thread(self.api.resize, self.container, height=rows, width=cols)

    async def wait(self) -> int | None:
        status = await in_thread(self.api.wait, self.container)
        return exit_code(status.get("StatusCode"))

    async def _release(self) -> None:
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
        environment=environment(target),
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
