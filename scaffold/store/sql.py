"""The SQL of the SQLite store: plain synchronous functions over a ``sqlite3.Connection``.

Every function here runs on a connection's own thread (see :mod:`scaffold.store.group_commit`):
write functions inside the writer's group transaction, read functions on the reader connection.
Plain SQL against the tables of :mod:`scaffold.store.tables`: the engine's hot paths (compare-and-swap,
runs, log appends) cannot afford an ORM or a statement compiler per call.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from scaffold.engine.records import (
    CascadeRecord,
    RunKind,
    RunRow,
    TaskRow,
    Trigger,
    WaveRow,
)
from scaffold.engine.states import State
from scaffold.errors import Conflict, NotFound
from scaffold.store.common import cap_chunk

Db = sqlite3.Connection

# ------------------------------------------------------------------------------------ cascades


def save_cascade(db: Db, name: str, source: str, applied_at: float, applied_by: str | None) -> int:
    (version,) = db.execute(
        "INSERT INTO cascades (name, version) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET version = version + 1 RETURNING version",
        (name,),
    ).fetchone()
    db.execute(
        "INSERT INTO cascade_versions (cascade, version, source, applied_at, applied_by) "
        "VALUES (?, ?, ?, ?, ?)",
        (name, version, source, applied_at, applied_by),
    )
    return version


_CASCADE_SELECT = (
    "SELECT v.cascade, v.version, v.source, v.applied_at, v.applied_by FROM cascades c "
    "JOIN cascade_versions v ON v.cascade = c.name AND v.version = c.version"
)


def get_cascade(db: Db, name: str) -> CascadeRecord | None:
    row = db.execute(_CASCADE_SELECT + " WHERE c.name = ?", (name,)).fetchone()
    return CascadeRecord(*row) if row else None


def list_cascades(db: Db) -> list[CascadeRecord]:
    return [CascadeRecord(*row) for row in db.execute(_CASCADE_SELECT + " ORDER BY c.name")]


def cascade_versions(db: Db, name: str) -> list[CascadeRecord]:
    rows = db.execute(
        "SELECT cascade, version, source, applied_at, applied_by FROM cascade_versions "
        "WHERE cascade = ? ORDER BY version DESC",
        (name,),
    )
    return [CascadeRecord(*row) for row in rows]


_OWNED_BY_CASCADE = (
    "tasks",
    "waves",
    "value_versions",
    '"values"',
    "file_versions",
    "files",
    "inputs",
    "webhooks",
)


def delete_cascade(db: Db, name: str) -> None:
    runs_of = "SELECT run_id FROM runs WHERE cascade = ?"
    db.execute(f"DELETE FROM logs WHERE run_id IN ({runs_of})", (name,))
    db.execute(f"DELETE FROM log_sizes WHERE run_id IN ({runs_of})", (name,))
    db.execute("DELETE FROM runs WHERE cascade = ?", (name,))
    for table in _OWNED_BY_CASCADE:
        db.execute(f"DELETE FROM {table} WHERE cascade = ?", (name,))
    db.execute("DELETE FROM cascade_versions WHERE cascade = ?", (name,))
    db.execute("DELETE FROM cascades WHERE name = ?", (name,))


# --------------------------------------------------------------------------------------- board

_TASK_COLUMNS = "cascade, name, state, run_number, reason, disabled, auto_execute, updated_at"


def task_params(r: TaskRow) -> tuple:
    return (
        r.cascade,
        r.name,
        r.state.value,
        r.run_number,
        r.reason,
        r.disabled,
        r.auto_execute,
        r.updated_at,
    )


def load_tasks(db: Db, cascade: str) -> dict[str, TaskRow]:
    rows = db.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE cascade = ? ORDER BY rowid", (cascade,))
    return {
        row[1]: TaskRow(row[0], row[1], State(row[2]), row[3], row[4], bool(row[5]), bool(row[6]), row[7])
        for row in rows
    }


def put_tasks(db: Db, rows: list[tuple]) -> None:
    """``rows`` as made by :func:`task_params`."""
    db.executemany(
        f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cascade, name) DO "
        "UPDATE SET state = excluded.state, run_number = excluded.run_number, reason = excluded.reason, "
        "disabled = excluded.disabled, auto_execute = excluded.auto_execute, "
        "updated_at = excluded.updated_at",
        rows,
    )


def remove_tasks(db: Db, cascade: str, names: Sequence[str]) -> None:
    db.executemany("DELETE FROM tasks WHERE cascade = ? AND name = ?", [(cascade, n) for n in names])


def task_update_params(row: TaskRow, expected: State) -> tuple:
    return (
        State(row.state).value,
        row.run_number,
        row.reason,
        row.disabled,
        row.auto_execute,
        row.updated_at,
        row.cascade,
        row.name,
        State(expected).value,
    )


def update_task(db: Db, params: tuple) -> bool:
    """Compare-and-swap with ``params`` from :func:`task_update_params`."""
    cursor = db.execute(
        "UPDATE tasks SET state = ?, run_number = ?, reason = ?, disabled = ?, auto_execute = ?, "
        "updated_at = ? WHERE cascade = ? AND name = ? AND state = ?",
        params,
    )
    return cursor.rowcount == 1


# ---------------------------------------------------------------------------------------- runs

_RUN_VALUES = (
    "state, trigger, triggered_by, wave_id, attempt, node, image, image_digest, executor, queued_at, "
    "started_at, ended_at, exit_code, reason, display, display_error, loaded, stored"
)
_RUN_KEY = "cascade, task, kind, number"
_RUN_SELECT = (
    "SELECT r.cascade, r.task, r.number, r.kind, r.state, r.trigger, r.triggered_by, r.wave_id, r.attempt, "
    "r.node, r.image, r.image_digest, r.queued_at, r.started_at, r.ended_at, r.exit_code, r.reason, "
    "r.display, r.display_error, r.loaded, r.stored, r.executor, coalesce(l.size, 0), l.truncated_at "
    "FROM runs r LEFT JOIN log_sizes l ON l.run_id = r.run_id"
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _run_values(r: RunRow) -> tuple:
    return (
        State(r.state).value,
        Trigger(r.trigger).value,
        r.triggered_by,
        r.wave_id,
        r.attempt,
        r.node,
        r.image,
        r.image_digest,
        r.executor,
        r.queued_at,
        r.started_at,
        r.ended_at,
        r.exit_code,
        r.reason,
        None if r.display is None else _json(r.display),
        r.display_error,
        _json(r.loaded),
        _json(r.stored),
    )


def _run_from_row(row: tuple) -> RunRow:
    (cascade, task, number, kind, state, trigger, by, wave, attempt, node, image, digest) = row[:12]
    (queued, started, ended, exit_code, reason, display, display_error, loaded, stored, executor) = row[12:22]
    return RunRow(
        cascade=cascade,
        task=task,
        number=number,
        kind=RunKind(kind),
        state=State(state),
        trigger=Trigger(trigger),
        triggered_by=by,
        wave_id=wave,
        attempt=attempt,
        node=node,
        image=image,
        image_digest=digest,
        queued_at=queued,
        started_at=started,
        ended_at=ended,
        exit_code=exit_code,
        reason=reason,
        display=None if display is None else json.loads(display),
        display_error=display_error,
        loaded=json.loads(loaded),
        stored=json.loads(stored),
        executor=executor,
        log_size=row[22],
        log_truncated=row[23] is not None,
    )


def run_params(run: RunRow) -> tuple:
    """(run_id, key..., values...) of a run, taken at call time so later changes to ``run`` don't leak in."""
    return (run.run_id, run.cascade, run.task, RunKind(run.kind).value, run.number, *_run_values(run))


_RUN_INSERT = f"INSERT INTO runs (run_id, {_RUN_KEY}, {_RUN_VALUES}) VALUES ({', '.join('?' * 23)})"


def insert_run(db: Db, params: tuple) -> None:
    try:
        db.execute(_RUN_INSERT, params)
    except sqlite3.IntegrityError:
        raise Conflict(f"run {params[0]} already exists") from None


_RUN_UPDATE = (
    "UPDATE runs SET "
    + ", ".join(f"{c.strip()} = ?" for c in _RUN_VALUES.split(","))
    + " WHERE cascade = ? AND task = ? AND kind = ? AND number = ?"
)


def update_run(db: Db, params: tuple) -> None:
    cursor = db.execute(_RUN_UPDATE, (*params[5:], *params[1:5]))
    if cursor.rowcount != 1:
        raise NotFound(f"run {params[0]} does not exist")


def get_run(db: Db, cascade: str, task: str, number: int, kind: str) -> RunRow | None:
    row = db.execute(
        _RUN_SELECT + " WHERE r.cascade = ? AND r.task = ? AND r.kind = ? AND r.number = ?",
        (cascade, task, kind, number),
    ).fetchone()
    return _run_from_row(row) if row else None


def list_runs(db: Db, cascade: str, task: str | None, kind: str | None, wave_id: int | None) -> list[RunRow]:
    where, params = ["r.cascade = ?"], [cascade]
    for column, value in (("r.task", task), ("r.kind", kind), ("r.wave_id", wave_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = f"{_RUN_SELECT} WHERE {' AND '.join(where)} ORDER BY r.id DESC"
    return [_run_from_row(row) for row in db.execute(sql, params)]


def last_run_number(db: Db, cascade: str, task: str, kind: str) -> int:
    return db.execute(
        "SELECT coalesce(max(number), 0) FROM runs WHERE cascade = ? AND task = ? AND kind = ?",
        (cascade, task, kind),
    ).fetchone()[0]


def active_runs(db: Db) -> list[RunRow]:
    rows = db.execute(
        _RUN_SELECT + " WHERE r.state IN (?, ?) ORDER BY r.id", (State.WAITING.value, State.RUNNING.value)
    )
    return [_run_from_row(row) for row in rows]


# ---------------------------------------------------------------------------------------- logs


def _storable(text: str) -> str:
    """SQLite text is UTF-8: a lone surrogate (from a lenient decode) becomes '?' (same length)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def append_log(db: Db, run_id: str, data: str, cap: int, now: float) -> None:
    head = db.execute(
        "SELECT size, ends_with_newline, truncated_at FROM log_sizes WHERE run_id = ?", (run_id,)
    ).fetchone()
    size, ends_nl, truncated_at = head or (0, False, None)
    if truncated_at is not None or not data:
        return
    text, truncated = cap_chunk(_storable(data), size, cap, bool(ends_nl))
    db.execute("INSERT INTO logs (run_id, start, text) VALUES (?, ?, ?)", (run_id, size, text))
    db.execute(
        "INSERT INTO log_sizes (run_id, size, ends_with_newline, truncated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (run_id) DO UPDATE SET size = excluded.size, "
        "ends_with_newline = excluded.ends_with_newline, truncated_at = excluded.truncated_at",
        (run_id, size + len(text), text.endswith("\n"), now if truncated else None),
    )


def read_log(db: Db, run_id: str, offset: int, limit: int | None) -> tuple[str, int, bool]:
    db.execute("BEGIN")  # one snapshot for the size and the chunks
    try:
        head = db.execute("SELECT size, truncated_at FROM log_sizes WHERE run_id = ?", (run_id,)).fetchone()
        if head is None:
            return "", 0, False
        size, truncated = head[0], head[1] is not None
        offset = min(max(offset, 0), size)
        end = size if limit is None else min(size, offset + max(limit, 0))
        if end <= offset:
            return "", offset, truncated
        rows = db.execute(
            "SELECT start, text FROM logs WHERE run_id = ? AND start < ? AND start >= coalesce("
            "(SELECT max(start) FROM logs WHERE run_id = ? AND start <= ?), 0) ORDER BY start",
            (run_id, end, run_id, offset),
        )
        text = "".join(chunk[max(offset - start, 0) : end - start] for start, chunk in rows)
        return text, offset + len(text), truncated
    finally:
        db.execute("COMMIT")


# --------------------------------------------------------------------------------------- waves

_WAVE_COLUMNS = "cascade, trigger, triggered_by, started_tasks, started_at, ended_at"


def wave_params(w: WaveRow) -> tuple:
    """The wave's columns and its id last."""
    return (
        w.cascade,
        Trigger(w.trigger).value,
        w.triggered_by,
        _json(w.started_tasks),
        w.started_at,
        w.ended_at,
        w.id,
    )


def insert_wave(db: Db, params: tuple) -> int:
    cursor = db.execute(f"INSERT INTO waves ({_WAVE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", params[:-1])
    return cursor.lastrowid or 0


def update_wave(db: Db, params: tuple) -> None:
    sets = ", ".join(f"{c.strip()} = ?" for c in _WAVE_COLUMNS.split(","))
    cursor = db.execute(f"UPDATE waves SET {sets} WHERE id = ?", params)
    if cursor.rowcount != 1:
        raise NotFound(f"wave {params[-1]} does not exist")


def list_waves(db: Db, cascade: str) -> list[WaveRow]:
    rows = db.execute(f"SELECT id, {_WAVE_COLUMNS} FROM waves WHERE cascade = ? ORDER BY id DESC", (cascade,))
    return [
        WaveRow(cascade, wave_id, Trigger(trigger), by, json.loads(tasks), started, ended)
        for wave_id, cascade, trigger, by, tasks, started, ended in rows
    ]
