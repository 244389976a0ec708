"""The SQLite :class:`~scaffold.engine.ports.Store`: aiosqlite, WAL, group commit.

Two connections to one database file:

- the **writer** (:class:`~scaffold.store.group_commit.GroupCommitWriter`) runs every write; writes
  submitted while a transaction is being committed are committed together in the next one;
- the **reader** runs every read; in WAL mode it never blocks the writer nor waits for it, and it
  sees every write whose call has returned.

The contract's fine print (ordering, missing rows, log fields of a run, deleted files) is the same
as :class:`~scaffold.store.memory.MemoryStore`'s and is checked by one shared test suite. The SQL
lives in :mod:`scaffold.store.sql`, the schema in :mod:`scaffold.store.tables` and the migrations.
The access half (users, tokens, sessions, webhooks, audit) is :mod:`scaffold.store.sqlite_access`.

The database file is created with mode 0600 (it holds datastore files and encrypted secrets); the
WAL and shared-memory files inherit it. ``synchronous=NORMAL`` in WAL mode means a committed write
survives a crash of the process; a power loss may lose the last commits (``synchronous="FULL"``
makes every commit wait for the disk).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import aiosqlite

from scaffold.engine.model import CascadeSpec
from scaffold.engine.records import (
    CascadeRecord,
    FileVersion,
    RunKind,
    RunRow,
    TaskRow,
    ValueVersion,
    WaveRow,
)
from scaffold.engine.states import State
from scaffold.store import sql, sql_datastore
from scaffold.store.common import DEFAULT_LOG_CAP_CHARS
from scaffold.store.crypto import SecretBox
from scaffold.store.group_commit import GroupCommitWriter, StoreClosed, in_thread
from scaffold.store.migrate import migrate
from scaffold.store.sqlite_access import SqliteAccess

BUSY_TIMEOUT_MS = 10_000


def _configure(db: sqlite3.Connection, synchronous: str, writer: bool) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    if writer:
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(
                f"SQLite refused WAL mode (got {mode!r}); is the data directory on a local disk?"
            )
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("PRAGMA secure_delete = ON")  # overwritten values leave no old bytes behind
    else:
        db.execute("PRAGMA query_only = ON")


class SqliteStore(SqliteAccess):
    """A Store (and AccessStore) on one SQLite file; call :meth:`open` before use and :meth:`close` after."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        secret_box: SecretBox,
        log_cap_chars: int = DEFAULT_LOG_CAP_CHARS,
        clock: Callable[[], float] = time.time,
        synchronous: str = "NORMAL",
    ):
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self.log_cap_chars = log_cap_chars
        self._box = secret_box
        self._clock = clock
        self._synchronous = synchronous.upper()
        self._writer_conn: aiosqlite.Connection | None = None
        self._reader_conn: aiosqlite.Connection | None = None
        self._writer: GroupCommitWriter | None = None
        self._touched: dict[str, float] = {}  # token id -> last use written (see SqliteAccess)

    # ------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            self._writer_conn = await aiosqlite.connect(self.path, isolation_level=None)
            await in_thread(self._writer_conn, _configure, self._synchronous, True)
            await in_thread(self._writer_conn, migrate, str(self.path))
            self._reader_conn = await aiosqlite.connect(self.path, isolation_level=None)
            await in_thread(self._reader_conn, _configure, self._synchronous, False)
        except BaseException:
            await self._close_connections()
            raise
        self._writer = GroupCommitWriter(self._writer_conn)
        self._writer.start()

    async def close(self) -> None:
        """Wait for every write already submitted, then close the connections."""
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._reader_conn, self._writer_conn):
            if conn is not None:
                await conn.close()
        self._reader_conn = self._writer_conn = None

    @property
    def commits(self) -> int:
        """Transactions committed by the writer since open (group commit makes it << writes)."""
        return self._writer.batches if self._writer else 0

    async def _write(self, fn: Callable[..., Any], *args: Any, atomic: bool = False) -> Any:
        if self._writer is None:
            raise StoreClosed("the store is not open")
        return await self._writer.submit(fn, *args, atomic=atomic)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._reader_conn is None:
            raise StoreClosed("the store is not open")
        return await in_thread(self._reader_conn, fn, *args)

    # ------------------------------------------------------------------------------- cascades

    # A definition may carry the defaults of password inputs, so its text is encrypted at rest like
    # every other secret (SPEC 5); it is decrypted when read back.

    async def save_cascade(self, spec: CascadeSpec, source: str, applied_by: str | None) -> int:
        sealed = self._box.encrypt(source).decode("ascii")
        return await self._write(sql.save_cascade, spec.name, sealed, self._clock(), applied_by, atomic=True)

    def _unseal(self, record: CascadeRecord) -> CascadeRecord:
        record.source = self._box.decrypt(record.source.encode("ascii"))
        return record

    async def get_cascade(self, name: str) -> CascadeRecord | None:
        record = await self._read(sql.get_cascade, name)
        return self._unseal(record) if record else None

    async def list_cascades(self) -> list[CascadeRecord]:
        return [self._unseal(r) for r in await self._read(sql.list_cascades)]

    async def cascade_versions(self, name: str) -> list[CascadeRecord]:
        """Newest first."""
        return [self._unseal(r) for r in await self._read(sql.cascade_versions, name)]

    async def delete_cascade(self, name: str) -> None:
        await self._write(sql.delete_cascade, name, atomic=True)

    # ---------------------------------------------------------------------------------- board

    async def load_tasks(self, cascade: str) -> dict[str, TaskRow]:
        return await self._read(sql.load_tasks, cascade)

    async def put_tasks(self, rows: Sequence[TaskRow]) -> None:
        await self._write(sql.put_tasks, [sql.task_params(r) for r in rows], atomic=True)

    async def remove_tasks(self, cascade: str, names: Sequence[str]) -> None:
        await self._write(sql.remove_tasks, cascade, list(names), atomic=True)

    async def update_task(self, row: TaskRow, expected: State) -> bool:
        return await self._write(sql.update_task, sql.task_update_params(row, expected))

    # ----------------------------------------------------------------------------------- runs

    async def insert_run(self, run: RunRow) -> None:
        await self._write(sql.insert_run, sql.run_params(run))

    async def update_run(self, run: RunRow) -> None:
        await self._write(sql.update_run, sql.run_params(run))

    async def get_run(
        self, cascade: str, task: str, number: int, kind: RunKind = RunKind.TASK
    ) -> RunRow | None:
        return await self._read(sql.get_run, cascade, task, number, RunKind(kind).value)

    async def list_runs(
        self, cascade: str, task: str | None = None, kind: RunKind | None = None, wave_id: int | None = None
    ) -> list[RunRow]:
        """Newest first."""
        kind_value = None if kind is None else RunKind(kind).value
        return await self._read(sql.list_runs, cascade, task, kind_value, wave_id)

    async def last_run_number(self, cascade: str, task: str, kind: RunKind = RunKind.TASK) -> int:
        return await self._read(sql.last_run_number, cascade, task, RunKind(kind).value)

    async def active_runs(self) -> list[RunRow]:
        return await self._read(sql.active_runs)

    # ----------------------------------------------------------------------------------- logs

    async def append_log(self, run_id: str, data: str) -> None:
        if data:
            await self._write(sql.append_log, run_id, data, self.log_cap_chars, self._clock(), atomic=True)

    async def read_log(self, run_id: str, offset: int = 0, limit: int | None = None) -> tuple[str, int, bool]:
        return await self._read(sql.read_log, run_id, offset, limit)

    # ---------------------------------------------------------------------------------- waves

    async def insert_wave(self, wave: WaveRow) -> int:
        return await self._write(sql.insert_wave, sql.wave_params(wave))

    async def update_wave(self, wave: WaveRow) -> None:
        await self._write(sql.update_wave, sql.wave_params(wave))

    async def list_waves(self, cascade: str) -> list[WaveRow]:
        return await self._read(sql.list_waves, cascade)

    # --------------------------------------------------------------------------------- values

    async def get_values(self, cascade: str, keys: Sequence[str] | None = None) -> dict[str, bytes]:
        return await self._read(sql_datastore.get_values, cascade, None if keys is None else list(keys))

    async def put_values(self, cascade: str, values: dict[str, bytes], written_by: str | None) -> None:
        await self._write(
            sql_datastore.put_values,
            cascade,
            {k: bytes(v) for k, v in values.items()},
            written_by,
            self._clock(),
            atomic=True,
        )

    async def value_versions(self, cascade: str, key: str) -> list[ValueVersion]:
        return await self._read(sql_datastore.value_versions, cascade, key)

    # ---------------------------------------------------------------------------------- files

    async def get_files(self, cascade: str, names: Sequence[str] | None = None) -> dict[str, bytes]:
        return await self._read(sql_datastore.get_files, cascade, None if names is None else list(names))

    async def put_files(
        self, cascade: str, files: dict[str, bytes], written_by: str | None, content_type: str | None = None
    ) -> None:
        await self._write(
            sql_datastore.put_files,
            cascade,
            {k: bytes(v) for k, v in files.items()},
            written_by,
            content_type,
            self._clock(),
            atomic=True,
        )

    async def put_file_from(
        self,
        cascade: str,
        name: str,
        source: BinaryIO,
        size: int,
        written_by: str | None,
        content_type: str | None = None,
    ) -> None:
        await self._write(
            sql_datastore.put_file_from,
            cascade,
            name,
            source,
            size,
            written_by,
            content_type,
            self._clock(),
            atomic=True,
        )

    async def read_file_range(self, cascade: str, name: str, version: int, offset: int, size: int) -> bytes:
        return await self._read(sql_datastore.read_file_range, cascade, name, version, offset, size)

    async def list_files(self, cascade: str) -> list[FileVersion]:
        return await self._read(sql_datastore.list_files, cascade)

    async def delete_file(self, cascade: str, name: str, deleted_by: str | None) -> None:
        await self._write(sql_datastore.delete_file, cascade, name, deleted_by, self._clock())

    async def file_versions(self, cascade: str, name: str) -> list[FileVersion]:
        """Newest first, without data."""
        return await self._read(sql_datastore.file_versions, cascade, name)

    # --------------------------------------------------------------------------------- inputs

    async def get_inputs(self, cascade: str) -> dict[str, str]:
        return await self._read(sql_datastore.get_inputs, cascade, self._box.decrypt)

    async def set_inputs(
        self, cascade: str, values: dict[str, str | None], secret: set[str], by: str | None
    ) -> None:
        await self._write(
            sql_datastore.set_inputs,
            cascade,
            dict(values),
            set(secret),
            by,
            self._clock(),
            self._box.encrypt,
            atomic=True,
        )
