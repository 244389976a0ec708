"""The reference :class:`~scaffold.engine.ports.Store`: plain dicts, nothing persisted.

Used by fast unit tests and as the executable definition of the contract that
``tests/store/test_store_contract.py`` also runs against :class:`~scaffold.store.sqlite.SqliteStore`.
Rows are copied on the way in and out, so a caller can never change stored data by mutating an
object it passed in or got back. Every method runs without awaiting, so each one is atomic on the
event loop (which is what makes :meth:`update_task` a real compare-and-swap here).

Decisions the Protocol leaves open (the SQLite store makes the same ones):

- "Newest first" means the most recently inserted first (runs, waves, versions).
- ``RunRow.log_size`` / ``log_truncated`` are owned by the log: they are filled in from it when a
  run is read, and ignored by :meth:`update_run`.
- :meth:`insert_run` of an existing run raises :class:`~scaffold.errors.Conflict`;
  :meth:`update_run`, :meth:`update_wave` and :meth:`delete_file` of a missing row raise
  :class:`~scaffold.errors.NotFound`. :meth:`update_task` of a missing task returns False.
- A deleted file keeps its versions (``file_versions``) but leaves ``list_files``/``get_files``;
  writing it again continues its version numbers.
- Wave ids are never reused, even after ``delete_cascade``.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

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
from scaffold.engine.states import ACTIVE, State
from scaffold.errors import Conflict, NotFound
from scaffold.store.common import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_LOG_CAP_CHARS,
    cap_chunk,
    copy_run,
    copy_task,
    copy_wave,
)
from scaffold.store.memory_access import MemoryAccess

RunKey = tuple[str, str, RunKind, int]


@dataclass
class _Log:
    chunks: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # character offset of each chunk
    size: int = 0
    truncated: bool = False

    def add(self, text: str) -> None:
        if text:
            self.starts.append(self.size)
            self.chunks.append(text)
            self.size += len(text)

    def read(self, offset: int, limit: int | None) -> str:
        offset = min(max(offset, 0), self.size)
        end = self.size if limit is None else min(self.size, offset + max(limit, 0))
        if end <= offset:
            return ""
        i = bisect_right(self.starts, offset) - 1
        parts = []
        while i < len(self.chunks) and self.starts[i] < end:
            start = self.starts[i]
            parts.append(self.chunks[i][max(offset - start, 0) : end - start])
            i += 1
        return "".join(parts)


@dataclass
class _File:
    versions: list[FileVersion] = field(default_factory=list)  # oldest first, with data
    deleted: bool = False
    deleted_by: str | None = None
    deleted_at: float | None = None


class MemoryStore(MemoryAccess):
    """Everything in dicts; see the module docstring for the contract's fine print, and
    :mod:`scaffold.store.memory_access` for the access half (users, tokens, sessions, webhooks, audit)."""

    def __init__(self, log_cap_chars: int = DEFAULT_LOG_CAP_CHARS, clock: Callable[[], float] = time.time):
        super().__init__()
        self.log_cap_chars = log_cap_chars
        self._clock = clock
        self._cascades: dict[str, list[CascadeRecord]] = {}  # oldest first
        self._tasks: dict[str, dict[str, TaskRow]] = {}
        self._runs: dict[RunKey, RunRow] = {}  # insertion order = age
        self._logs: dict[str, _Log] = {}
        self._waves: dict[int, WaveRow] = {}
        self._last_wave_id = 0
        self._values: dict[str, dict[str, list[ValueVersion]]] = {}
        self._files: dict[str, dict[str, _File]] = {}
        self._inputs: dict[str, dict[str, tuple[str, bool, str | None]]] = {}  # value, secret, by

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------------------- cascades

    async def save_cascade(self, spec: CascadeSpec, source: str, applied_by: str | None) -> int:
        versions = self._cascades.setdefault(spec.name, [])
        version = len(versions) + 1
        versions.append(CascadeRecord(spec.name, version, source, self._clock(), applied_by))
        return version

    async def get_cascade(self, name: str) -> CascadeRecord | None:
        versions = self._cascades.get(name)
        return replace(versions[-1]) if versions else None

    async def list_cascades(self) -> list[CascadeRecord]:
        return [replace(v[-1]) for _, v in sorted(self._cascades.items())]

    async def cascade_versions(self, name: str) -> list[CascadeRecord]:
        """Newest first."""
        return [replace(r) for r in reversed(self._cascades.get(name, []))]

    async def delete_cascade(self, name: str) -> None:
        self._cascades.pop(name, None)
        self._tasks.pop(name, None)
        for key in [k for k in self._runs if k[0] == name]:
            run = self._runs.pop(key)
            self._logs.pop(run.run_id, None)
        for wave_id in [i for i, w in self._waves.items() if w.cascade == name]:
            del self._waves[wave_id]
        self._values.pop(name, None)
        self._files.pop(name, None)
        self._inputs.pop(name, None)
        self._delete_webhooks_of(name)

    # ---------------------------------------------------------------------------------- board

    async def load_tasks(self, cascade: str) -> dict[str, TaskRow]:
        return {n: copy_task(r) for n, r in self._tasks.get(cascade, {}).items()}

    async def put_tasks(self, rows: Sequence[TaskRow]) -> None:
        for row in rows:
            self._tasks.setdefault(row.cascade, {})[row.name] = copy_task(row)

    async def remove_tasks(self, cascade: str, names: Sequence[str]) -> None:
        board = self._tasks.get(cascade, {})
        for name in names:
            board.pop(name, None)

    async def update_task(self, row: TaskRow, expected: State) -> bool:
        board = self._tasks.get(row.cascade, {})
        current = board.get(row.name)
        if current is None or current.state != expected:
            return False
        board[row.name] = copy_task(row)
        return True

    # ----------------------------------------------------------------------------------- runs

    @staticmethod
    def _key(run: RunRow) -> RunKey:
        return (run.cascade, run.task, RunKind(run.kind), run.number)

    def _out(self, run: RunRow) -> RunRow:
        out = copy_run(run)
        log = self._logs.get(run.run_id)
        out.log_size, out.log_truncated = (log.size, log.truncated) if log else (0, False)
        return out

    async def insert_run(self, run: RunRow) -> None:
        key = self._key(run)
        if key in self._runs:
            raise Conflict(f"run {run.run_id} already exists")
        self._runs[key] = copy_run(run)

    async def update_run(self, run: RunRow) -> None:
        key = self._key(run)
        if key not in self._runs:
            raise NotFound(f"run {run.run_id} does not exist")
        self._runs[key] = copy_run(run)

    async def get_run(
        self, cascade: str, task: str, number: int, kind: RunKind = RunKind.TASK
    ) -> RunRow | None:
        run = self._runs.get((cascade, task, RunKind(kind), number))
        return self._out(run) if run is not None else None

    async def list_runs(
        self, cascade: str, task: str | None = None, kind: RunKind | None = None, wave_id: int | None = None
    ) -> list[RunRow]:
        """Newest first."""
        return [
            self._out(run)
            for (c, t, k, _), run in reversed(self._runs.items())
            if c == cascade
            and (task is None or t == task)
            and (kind is None or k == kind)
            and (wave_id is None or run.wave_id == wave_id)
        ]

    async def last_run_number(self, cascade: str, task: str, kind: RunKind = RunKind.TASK) -> int:
        numbers = [n for (c, t, k, n) in self._runs if c == cascade and t == task and k == kind]
        return max(numbers, default=0)

    async def active_runs(self) -> list[RunRow]:
        return [self._out(r) for r in self._runs.values() if r.state in ACTIVE]

    # ----------------------------------------------------------------------------------- logs

    async def append_log(self, run_id: str, data: str) -> None:
        if not data:
            return
        log = self._logs.setdefault(run_id, _Log())
        if log.truncated:
            return
        ends_nl = bool(log.chunks) and log.chunks[-1].endswith("\n")
        text, log.truncated = cap_chunk(data, log.size, self.log_cap_chars, ends_nl)
        log.add(text)

    async def read_log(self, run_id: str, offset: int = 0, limit: int | None = None) -> tuple[str, int, bool]:
        log = self._logs.get(run_id)
        if log is None:
            return "", 0, False
        text = log.read(offset, limit)
        return text, min(max(offset, 0), log.size) + len(text), log.truncated

    # ---------------------------------------------------------------------------------- waves

    async def insert_wave(self, wave: WaveRow) -> int:
        self._last_wave_id += 1
        stored = copy_wave(wave)
        stored.id = self._last_wave_id
        self._waves[stored.id] = stored
        return stored.id

    async def update_wave(self, wave: WaveRow) -> None:
        if wave.id not in self._waves:
            raise NotFound(f"wave {wave.id} does not exist")
        self._waves[wave.id] = copy_wave(wave)

    async def list_waves(self, cascade: str) -> list[WaveRow]:
        return [copy_wave(w) for _, w in sorted(self._waves.items(), reverse=True) if w.cascade == cascade]

    # --------------------------------------------------------------------------------- values

    async def get_values(self, cascade: str, keys: Sequence[str] | None = None) -> dict[str, bytes]:
        values = self._values.get(cascade, {})
        names = sorted(values) if keys is None else [k for k in keys if k in values]
        return {k: values[k][-1].value for k in names}

    async def put_values(self, cascade: str, values: dict[str, bytes], written_by: str | None) -> None:
        now = self._clock()
        store = self._values.setdefault(cascade, {})
        for key, value in values.items():
            versions = store.setdefault(key, [])
            versions.append(ValueVersion(key, len(versions) + 1, bytes(value), now, written_by))

    async def value_versions(self, cascade: str, key: str) -> list[ValueVersion]:
        return [replace(v) for v in reversed(self._values.get(cascade, {}).get(key, []))]

    # ---------------------------------------------------------------------------------- files

    def _current_files(self, cascade: str) -> dict[str, _File]:
        return {n: f for n, f in sorted(self._files.get(cascade, {}).items()) if not f.deleted}

    async def get_files(self, cascade: str, names: Sequence[str] | None = None) -> dict[str, bytes]:
        files = self._current_files(cascade)
        wanted = files if names is None else [n for n in names if n in files]
        return {n: files[n].versions[-1].data or b"" for n in wanted}

    async def put_files(
        self, cascade: str, files: dict[str, bytes], written_by: str | None, content_type: str | None = None
    ) -> None:
        now = self._clock()
        store = self._files.setdefault(cascade, {})
        for name, data in files.items():
            entry = store.setdefault(name, _File())
            version = FileVersion(
                name,
                len(entry.versions) + 1,
                len(data),
                now,
                written_by,
                content_type or DEFAULT_CONTENT_TYPE,
            )
            version.data = bytes(data)
            entry.versions.append(version)
            entry.deleted, entry.deleted_by, entry.deleted_at = False, None, None

    async def put_file_from(
        self,
        cascade: str,
        name: str,
        source: BinaryIO,
        size: int,
        written_by: str | None,
        content_type: str | None = None,
    ) -> None:
        data = source.read(size)
        if len(data) != size:
            raise ValueError(f"file {name!r}: the upload ended after {len(data)} of {size} bytes")
        await self.put_files(cascade, {name: data}, written_by, content_type)

    async def read_file_range(self, cascade: str, name: str, version: int, offset: int, size: int) -> bytes:
        entry = self._files.get(cascade, {}).get(name)
        if entry is None or not 1 <= version <= len(entry.versions):
            raise NotFound(f"file {name!r} of cascade {cascade!r} has no version {version}")
        data = entry.versions[version - 1].data or b""
        return data[offset : offset + max(size, 0)]

    async def list_files(self, cascade: str) -> list[FileVersion]:
        return [replace(f.versions[-1], data=None) for f in self._current_files(cascade).values()]

    async def delete_file(self, cascade: str, name: str, deleted_by: str | None) -> None:
        entry = self._files.get(cascade, {}).get(name)
        if entry is None or entry.deleted:
            raise NotFound(f"file {name!r} does not exist in cascade {cascade!r}")
        entry.deleted, entry.deleted_by, entry.deleted_at = True, deleted_by, self._clock()

    async def file_versions(self, cascade: str, name: str) -> list[FileVersion]:
        """Newest first, without data."""
        entry = self._files.get(cascade, {}).get(name)
        return [replace(v, data=None) for v in reversed(entry.versions)] if entry else []

    # --------------------------------------------------------------------------------- inputs

    async def get_inputs(self, cascade: str) -> dict[str, str]:
        return {n: v for n, (v, _, _) in sorted(self._inputs.get(cascade, {}).items())}

    async def set_inputs(
        self, cascade: str, values: dict[str, str | None], secret: set[str], by: str | None
    ) -> None:
        inputs = self._inputs.setdefault(cascade, {})
        for name, value in values.items():
            if value is None:
                inputs.pop(name, None)
            else:
                inputs[name] = (value, name in secret, by)
