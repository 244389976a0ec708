"""The composition root: the only place that builds and wires the store, executor and engine.

The CLI, the tests and (later) the server all get their core from :func:`open_core`.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from scaffold.config import Settings
from scaffold.engine.events import EventBus
from scaffold.engine.ports import Executor, Store
from scaffold.engine.scheduler import Engine
from scaffold.errors import Conflict, ScaffoldError

log = logging.getLogger("scaffold")


class DataDirError(ScaffoldError):
    status = 500
    code = "data_dir"
    exit_code = 3


@dataclass
class Core:
    settings: Settings
    store: Store
    executor: Executor
    engine: Engine
    bus: EventBus
    _lock: IO[str] | None = None

    async def close(self, *, kill_running: bool = False) -> None:
        await self.engine.close(kill_running=kill_running)
        await self.cleanup()
        close_executor = getattr(self.executor, "close", None)
        if close_executor is not None:
            result = close_executor()
            if asyncio.iscoroutine(result):
                await result
        await self.store.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def cleanup(self) -> None:
        """Remove containers and run directories older than the retention time. Runs when the
        engine is closed, so that no run still being recovered or collected can lose its files."""
        cleanup = getattr(self.executor, "cleanup", None)
        if cleanup is None:
            return
        try:
            await asyncio.wait_for(cleanup(), timeout=30)
        except Exception as exc:  # cleanup is housekeeping: never fail a run because of it
            log.warning("cleanup of old runs failed: %s", exc)


def prepare_data_dir(path: Path) -> IO[str]:
    """Create the data directory (mode 0700) and take its lock: one process per data directory."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = open(path / "scaffold.lock", "a+")  # noqa: SIM115 - held for the process lifetime
    except OSError as exc:
        raise DataDirError(
            f"cannot use data directory {path}: {exc.strerror}; pass --data-dir or set "
            "SCAFFOLD_DATA_DIR to a writable directory"
        ) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        owner = lock.read().strip() or "unknown"
        lock.close()
        raise Conflict(
            f"data directory {path} is in use by another scaffold process (pid {owner}); "
            "stop it or use another --data-dir"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def tune_garbage_collector() -> None:
    """A cascade run allocates many short-lived objects (a few asyncio tasks and records per task)
    while its definitions and boards live long. Python's default (a collection every 700 net
    allocations) then spends up to half of a 10,000-task run collecting (bench/engine_throughput.py);
    collecting the youngest generation every 50,000 allocations keeps that under a few percent, for
    a few more MB of garbage held between collections. Scaffold creates few reference cycles."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(50_000, gen1, gen2)


def instance_id(path: Path) -> str:
    """A stable id of this data directory, put on containers so only it adopts them."""
    id_file = path / "instance-id"
    if not id_file.exists():
        id_file.write_text(uuid.uuid4().hex[:12])
    return id_file.read_text().strip()


def make_executor(settings: Settings) -> Executor:
    if settings.executor == "docker":
        from scaffold.executors.docker import DockerExecutor

        return DockerExecutor(
            settings.runs_dir,
            instance_id=instance_id(settings.data_dir),
            retention_seconds=settings.retention_seconds,
            docker_url=settings.docker_host,
            network_mode=settings.docker_network,
            grace=settings.kill_grace,
        )
    if settings.executor == "process":
        from scaffold.executors.process import ProcessExecutor

        return ProcessExecutor(
            settings.runs_dir, retention_seconds=settings.retention_seconds, grace=settings.kill_grace
        )
    from scaffold.executors.fake import FakeExecutor

    return FakeExecutor()


def make_store(settings: Settings) -> Store:
    from scaffold.store.crypto import SecretBox
    from scaffold.store.sqlite import SqliteStore

    return SqliteStore(settings.db_path, SecretBox(settings.data_dir), log_cap_chars=settings.log_cap_chars)


async def open_core(
    settings: Settings,
    *,
    executor: Executor | None = None,
    store: Store | None = None,
    check_executor: bool = True,
) -> Core:
    """Build and open everything; recovery of a previous process's runs starts here (SPEC 3.9)."""
    lock = prepare_data_dir(settings.data_dir)
    try:
        executor = executor or make_executor(settings)
        if check_executor:
            await executor.check_available()
        store = store or make_store(settings)
        await store.open()
    except BaseException:
        lock.close()
        raise
    tune_garbage_collector()
    bus = EventBus()
    engine = Engine(
        store, executor, bus=bus, max_running=settings.max_running, kill_grace=settings.kill_grace
    )
    core = Core(settings, store, executor, engine, bus, lock)
    try:
        await engine.open()
    except BaseException:
        await core.close()
        raise
    return core
