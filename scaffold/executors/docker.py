"""DockerExecutor: each run in its own container, through the Docker SDK.

A run is one container named ``scaffold-<instance>-<run_id>`` and labelled ``scaffold.instance``,
``scaffold.run_id``, ``scaffold.cascade``, ``scaffold.task``. Its run directory
``<runs_dir>/<run_id>/`` is bind-mounted at ``/tmp/run``; the command is
``<shell> /tmp/run/.scaffold/init.sh <shell>`` (see :mod:`scaffold.executors.script`). No task
variable is put in the container's configuration: values travel in ``.scaffold/env.sh``, which the
entry script deletes once read, so ``docker inspect`` shows no secret.

API round trips per run: create, attach, start, wait, plus an image inspect (for the digest) done
while the container starts. The SDK is blocking: every call runs in a thread of its own and output
chunks reach the event loop through ``call_soon_threadsafe``, in order (see
:mod:`scaffold.executors.docker_io`).

Decisions:

* **Containers are kept after they exit** (with their run directory) for ``retention_seconds``, so a
  person can open a shell in a copy of a finished task's container (``docker commit`` + run with the
  run directory) and so a restarted server can settle a run from its exit code. ``cleanup()``
  removes this instance's exited containers and run directories older than that.
* **Adopt replays only what was not delivered yet.** While a run streams, the number of bytes handed
  to the sink is kept in ``<runs_dir>/<run_id>.log-offset``; ``adopt`` reads the container's log from
  the start (``docker logs --follow``) and skips that many bytes. The replay comes from the engine's
  log driver, which may rewrite bytes that are not UTF-8 (json-file does): around such bytes the
  skip can be off by a few bytes. A log driver that cannot be read back gives live output only.
* ``adopt`` starts a container that was created but never started (the server stopped in between).
* Timeouts are the scheduler's: it calls :meth:`cancel`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold.engine.ports import LogSink, RunRequest, RunResult
from scaffold.errors import ExecutorUnavailable
from scaffold.executors import script as sh
from scaffold.executors.docker_io import (
    LogOffset,
    OutputPump,
    docker_timestamp,
    image_digest,
    in_thread,
    open_output,
    probe_unix_socket,
    quietly,
)
from scaffold.executors.rundir import (
    DisplayWatcher,
    RunDir,
    discard_env,
    expired_run_dirs,
    remove_path,
)

log = logging.getLogger(__name__)

LABEL_INSTANCE = "scaffold.instance"
LABEL_RUN = "scaffold.run_id"
LABEL_CASCADE = "scaffold.cascade"
LABEL_TASK = "scaffold.task"
OFFSET_SUFFIX = ".log-offset"
DEFAULT_ADDRESS = "unix:///var/run/docker.sock"
WHAT_TO_DO = (
    "start Docker: `sudo systemctl start docker` or `dockerd`, or set DOCKER_HOST; or use --executor process"
)


@dataclass
class _Active:
    cancelled: bool = False


class DockerExecutor:
    """Runs each task in a fresh container of its image (see the module docstring)."""

    name = "docker"

    def __init__(
        self,
        runs_dir: Path,
        *,
        instance_id: str,
        retention_seconds: float = 86400,
        docker_url: str | None = None,
        network_mode: str | None = None,
        grace: float = 10.0,
    ):
        self.runs_dir = Path(runs_dir).absolute()  # bind-mounted: must not be relative
        self.instance_id = instance_id
        self.retention_seconds = retention_seconds
        self.docker_url = docker_url
        self.network_mode = network_mode
        self.grace = grace
        self.address = docker_url or os.environ.get("DOCKER_HOST") or DEFAULT_ADDRESS
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._node: str | None = None
        self._active: dict[str, _Active] = {}

    # ------------------------------------------------------------------------------ the engine

    def container_name(self, run_id: str) -> str:
        # Docker names allow [A-Za-z0-9_.-]: the run id's ':' becomes '.', and a short hash of the
        # run id keeps names of different runs apart even where that makes them look alike.
        digest = hashlib.sha1(run_id.encode()).hexdigest()[:6]
        return f"scaffold-{self.instance_id}-{run_id.replace(':', '.')}-{digest}"

    def _unavailable(self, error: BaseException) -> ExecutorUnavailable:
        message = f"cannot reach the Docker engine at {self.address} ({error}): {WHAT_TO_DO}"
        return ExecutorUnavailable(message)

    def _connect(self) -> Any:
        """The SDK's low-level client, created on first use (blocking: the SDK asks the version)."""
        import docker

        with self._client_lock:
            if self._client is None:
                options: dict[str, Any] = {"max_pool_size": 64, "timeout": 120}
                try:
                    probe_unix_socket(self.address)
                    if self.docker_url:
                        client = docker.DockerClient(base_url=self.docker_url, version="auto", **options)
                    else:
                        client = docker.from_env(**options)
                except Exception as exc:
                    raise self._unavailable(exc) from exc
                try:
                    self._node = client.api.info().get("Name")
                except Exception:
                    self._node = socket.gethostname()
                self._client = client
            return self._client.api

    async def _api(self) -> Any:
        if self._client is not None:
            return self._client.api
        return await in_thread(self._connect)

    async def check_available(self) -> None:
        api = await self._api()
        try:
            await in_thread(api.ping)
        except Exception as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        """Close the connection pool (not part of the Executor Protocol; the app calls it)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------------------------ runs

    async def run(self, request: RunRequest, sink: LogSink) -> RunResult:
        if not request.image:
            return RunResult(None, reason="the docker executor needs an image: set the task's `image`")
        try:
            run_dir = RunDir(self.runs_dir, request.run_id)
            shell = sh.shell_argv(request.shell)
        except ValueError as exc:
            return RunResult(None, reason=str(exc))
        active = self._active[request.run_id] = _Active()
        try:
            try:
                api = await self._api()
                await in_thread(run_dir.prepare, request)
                await in_thread(self._create, api, request, run_dir, shell)
            except (ExecutorUnavailable, _CannotRun, ValueError) as exc:
                return RunResult(None, reason=getattr(exc, "message", str(exc)), cancelled=active.cancelled)
            except Exception as exc:
                return RunResult(None, reason=f"docker: {exc}", cancelled=active.cancelled)
            return await self._follow(api, request, sink, run_dir, active, start=True, image=request.image)
        finally:
            self._active.pop(request.run_id, None)
            await asyncio.to_thread(discard_env, self.runs_dir, request.run_id)

    def _labels(self, request: RunRequest) -> dict[str, str]:
        return {
            LABEL_INSTANCE: self.instance_id,
            LABEL_RUN: request.run_id,
            LABEL_CASCADE: request.cascade,
            LABEL_TASK: request.task,
        }

    def _create(self, api: Any, request: RunRequest, run_dir: RunDir, shell: list[str]) -> str:
        """Create the container (blocking), pulling the image once if it is not here."""
        from docker.errors import APIError, ImageNotFound
        from docker.types import Mount

        name = self.container_name(request.run_id)
        mount = Mount(sh.RUN_MOUNT, str(run_dir.path), type="bind")
        options = {
            "image": request.image,
            "command": [*shell, sh.INIT_PATH, *shell],
            "name": name,
            "labels": self._labels(request),
            "host_config": api.create_host_config(mounts=[mount], network_mode=self.network_mode),
            "detach": True,
        }
        try:
            return api.create_container(**options)["Id"]
        except ImageNotFound:
            self._pull(api, request.image)
        except APIError as exc:
            if exc.status_code != 409:
                raise
            self._remove_stale(api, name)  # the name is taken by a leftover of an earlier run
        return api.create_container(**options)["Id"]

    def _pull(self, api: Any, image: str) -> None:
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(image)
        try:
            for event in api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if isinstance(event, dict) and event.get("error"):
                    raise RuntimeError(event["error"])
            api.inspect_image(image)
        except Exception as exc:
            raise _CannotRun(
                f"image {image!r} is not available locally and could not be pulled: "
                f"{_explain(exc)}; build or pull it first"
            ) from exc

    @staticmethod
    def _remove_stale(api: Any, name: str) -> None:
        state = api.inspect_container(name)["State"]
        if state.get("Running"):
            raise _CannotRun(f"container {name} is already running: kill that run first")
        api.remove_container(name, v=True, force=True)

    async def _follow(
        self,
        api: Any,
        request: RunRequest,
        sink: LogSink,
        run_dir: RunDir,
        active: _Active,
        *,
        start: bool,
        image: str,
    ) -> RunResult:
        """Stream a container's output until it exits, then collect its result. ``image`` names
        the container's image (for its digest)."""
        name = self.container_name(request.run_id)
        offset = LogOffset(self.runs_dir / f"{request.run_id}{OFFSET_SUFFIX}")

        def deliver(chunk: bytes) -> None:
            sink.write(chunk)
            offset.add(len(chunk))

        try:
            output = await open_output(api, name, start, offset, deliver)
            pumping = output.start()
            digest = in_thread(image_digest, api, image)
            try:
                if start:
                    await self._start(api, name, active)
                waiting = in_thread(api.wait, name)
            except BaseException:
                output.stop()
                raise
            return await self._finish(request, sink, run_dir, active, output, pumping, waiting, digest)
        except _CannotRun as exc:
            return RunResult(None, reason=exc.message, cancelled=active.cancelled)
        except Exception as exc:  # the engine went away, the container was removed under us...
            reason = f"lost the container {name}: {_explain(exc)}"
            return RunResult(None, reason=reason, cancelled=active.cancelled, node=self._node)
        finally:
            offset.close()

    async def _start(self, api: Any, name: str, active: _Active) -> None:
        from docker.errors import APIError

        if active.cancelled:
            raise _CannotRun("cancelled before the container started")
        try:
            await in_thread(api.start, name)
        except APIError as exc:
            raise _CannotRun(f"the container did not start: {_explain(exc)}") from exc
        if active.cancelled:  # cancel() ran while we were starting it: stop it now
            await in_thread(api.stop, name, timeout=math.ceil(self.grace))

    async def _finish(
        self,
        request: RunRequest,
        sink: LogSink,
        run_dir: RunDir,
        active: _Active,
        output: OutputPump,
        pumping: asyncio.Future[None],
        waiting: asyncio.Future[Any],
        digest_future: asyncio.Future[str | None],
    ) -> RunResult:
        digest = await quietly(digest_future)
        info = {"container": self.container_name(request.run_id), "node": self._node or ""}
        sink.started({**info, "image_digest": digest or ""})
        watcher = DisplayWatcher(run_dir, sink.display)
        watcher.start()
        try:
            await pumping
            status = await waiting
        except BaseException:
            output.stop()
            watcher.stop()
            raise
        display = await watcher.finish()
        code = status.get("StatusCode")
        result = RunResult(code, display_raw=display, image_digest=digest, node=self._node)
        if active.cancelled:
            result.cancelled, result.reason = True, "cancelled"
            return result
        return await in_thread(run_dir.collect, request, result)

    async def cancel(self, run_id: str, grace: float = 10.0) -> None:
        from docker.errors import NotFound

        active = self._active.get(run_id)
        if active is not None:
            active.cancelled = True
        try:
            api = await self._api()
            await in_thread(api.stop, self.container_name(run_id), timeout=math.ceil(max(grace, 0)))
        except (NotFound, ExecutorUnavailable):
            pass

    # ------------------------------------------------------------------------------- restarts

    async def adopt(self, request: RunRequest, sink: LogSink) -> RunResult | None:
        """Follow a run's container after a restart. Raises ``ExecutorUnavailable`` if the engine
        cannot be reached (whether the container is still there is then unknown)."""
        from docker.errors import NotFound

        api = await self._api()
        try:
            info = await in_thread(api.inspect_container, self.container_name(request.run_id))
        except NotFound:
            return None
        if (info["Config"].get("Labels") or {}).get(LABEL_INSTANCE) != self.instance_id:
            return None
        run_dir = RunDir(self.runs_dir, request.run_id)
        active = self._active[request.run_id] = _Active()
        try:
            fresh = info["State"]["Status"] == "created"
            image = info.get("Image") or request.image or ""
            return await self._follow(api, request, sink, run_dir, active, start=fresh, image=image)
        finally:
            self._active.pop(request.run_id, None)

    async def cleanup(self, now: float | None = None) -> list[str]:
        """Remove this instance's exited containers and run directories older than the retention
        time. Returns the run ids whose container or directory was removed."""
        api = await self._api()
        now = time.time() if now is None else now
        live, removed = await in_thread(self._remove_old_containers, api, now)
        from scaffold.executors.shell import remove_shell_leftovers

        await quietly(in_thread(remove_shell_leftovers, api, self.instance_id))  # copies for shells
        for path in expired_run_dirs(self.runs_dir, self.retention_seconds, now):
            run_id = path.name.removesuffix(OFFSET_SUFFIX)
            if run_id in live or run_id in self._active:
                continue
            if await in_thread(remove_path, path):
                removed.add(run_id)
            else:
                log.warning("cannot remove %s (files owned by another user?)", path)
        return sorted(removed)

    def _remove_old_containers(self, api: Any, now: float) -> tuple[set[str], set[str]]:
        live: set[str] = set()
        removed: set[str] = set()
        for summary in api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={self.instance_id}"}):
            run_id = summary["Labels"].get(LABEL_RUN, "")
            # a container we are starting can still show as "created" while its script runs
            if summary["State"] in ("running", "restarting", "paused") or run_id in self._active:
                live.add(run_id)
                continue
            finished = docker_timestamp(api.inspect_container(summary["Id"])["State"].get("FinishedAt"))
            if now - max(finished, summary.get("Created", 0)) >= self.retention_seconds:
                api.remove_container(summary["Id"], v=True, force=True)
                removed.add(run_id)
            else:
                live.add(run_id)  # keep its run directory as long as the container
        return live, removed


class _CannotRun(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _explain(exc: BaseException) -> str:
    return str(getattr(exc, "explanation", None) or exc)
