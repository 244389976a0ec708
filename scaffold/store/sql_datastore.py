"""The SQL of the datastore: env values, files and inputs (see :mod:`scaffold.store.sql`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from scaffold.engine.records import FileVersion, ValueVersion
from scaffold.errors import NotFound
from scaffold.store.common import DEFAULT_CONTENT_TYPE
from scaffold.store.sql import Db

BLOB_CHUNK = 1 << 20  # bytes per step of incremental blob I/O

# -------------------------------------------------------------------------------- env values


def _in_order(found: dict[str, Any], names: Sequence[str] | None) -> dict[str, Any]:
    return found if names is None else {n: found[n] for n in names if n in found}


def _name_filter(column: str, names: Sequence[str] | None) -> tuple[str, list[str]]:
    if names is None:
        return "", []
    return f" AND {column} IN ({', '.join('?' * len(names))})", list(names)


def get_values(db: Db, cascade: str, keys: Sequence[str] | None) -> dict[str, bytes]:
    if keys is not None and not keys:
        return {}
    where, params = _name_filter("v.key", keys)
    rows = db.execute(
        'SELECT v.key, vv.value FROM "values" v JOIN value_versions vv ON vv.cascade = v.cascade '
        f"AND vv.key = v.key AND vv.version = v.version WHERE v.cascade = ?{where} ORDER BY v.key",
        (cascade, *params),
    )
    return _in_order({key: bytes(value) for key, value in rows}, keys)


def put_values(db: Db, cascade: str, values: dict[str, bytes], written_by: str | None, now: float) -> None:
    for key, value in values.items():
        (version,) = db.execute(
            'INSERT INTO "values" (cascade, key, version) VALUES (?, ?, 1) '
            "ON CONFLICT (cascade, key) DO UPDATE SET version = version + 1 RETURNING version",
            (cascade, key),
        ).fetchone()
        db.execute(
            "INSERT INTO value_versions (cascade, key, version, value, written_at, written_by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (cascade, key, version, value, now, written_by),
        )


def value_versions(db: Db, cascade: str, key: str) -> list[ValueVersion]:
    rows = db.execute(
        "SELECT key, version, value, written_at, written_by FROM value_versions "
        "WHERE cascade = ? AND key = ? ORDER BY version DESC",
        (cascade, key),
    )
    return [ValueVersion(k, version, bytes(value), at, by) for k, version, value, at, by in rows]


# --------------------------------------------------------------------------------------- files

_CURRENT_FILES = (
    "FROM files f JOIN file_versions fv ON fv.cascade = f.cascade AND fv.name = f.name "
    "AND fv.version = f.version WHERE f.cascade = ? AND f.deleted_at IS NULL"
)


def get_files(db: Db, cascade: str, names: Sequence[str] | None) -> dict[str, bytes]:
    if names is not None and not names:
        return {}
    where, params = _name_filter("f.name", names)
    rows = db.execute(f"SELECT f.name, fv.data {_CURRENT_FILES}{where} ORDER BY f.name", (cascade, *params))
    return _in_order({name: bytes(data) for name, data in rows}, names)


def put_files(
    db: Db,
    cascade: str,
    files: dict[str, bytes],
    written_by: str | None,
    content_type: str | None,
    now: float,
) -> None:
    for name, data in files.items():
        (version,) = db.execute(
            "INSERT INTO files (cascade, name, version) VALUES (?, ?, 1) ON CONFLICT (cascade, name) "
            "DO UPDATE SET version = version + 1, deleted_at = NULL, deleted_by = NULL RETURNING version",
            (cascade, name),
        ).fetchone()
        db.execute(
            "INSERT INTO file_versions (cascade, name, version, data, size, content_type, written_at, "
            "written_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cascade, name, version, data, len(data), content_type or DEFAULT_CONTENT_TYPE, now, written_by),
        )


def put_file_from(
    db: Db,
    cascade: str,
    name: str,
    source: BinaryIO,
    size: int,
    written_by: str | None,
    content_type: str | None,
    now: float,
) -> None:
    """One new version written with incremental blob I/O: the content goes from ``source`` into the
    database in chunks (never whole in memory)."""
    (version,) = db.execute(
        "INSERT INTO files (cascade, name, version) VALUES (?, ?, 1) ON CONFLICT (cascade, name) "
        "DO UPDATE SET version = version + 1, deleted_at = NULL, deleted_by = NULL RETURNING version",
        (cascade, name),
    ).fetchone()
    cursor = db.execute(
        "INSERT INTO file_versions (cascade, name, version, data, size, content_type, written_at, "
        "written_by) VALUES (?, ?, ?, zeroblob(?), ?, ?, ?, ?)",
        (cascade, name, version, size, size, content_type or DEFAULT_CONTENT_TYPE, now, written_by),
    )
    written = 0
    with db.blobopen("file_versions", "data", cursor.lastrowid) as blob:
        while written < size:
            chunk = source.read(min(BLOB_CHUNK, size - written))
            if not chunk:
                raise ValueError(f"file {name!r}: the upload ended after {written} of {size} bytes")
            blob.write(chunk)
            written += len(chunk)


def read_file_range(db: Db, cascade: str, name: str, version: int, offset: int, size: int) -> bytes:
    row = db.execute(
        "SELECT rowid, size FROM file_versions WHERE cascade = ? AND name = ? AND version = ?",
        (cascade, name, version),
    ).fetchone()
    if row is None:
        raise NotFound(f"file {name!r} of cascade {cascade!r} has no version {version}")
    rowid, total = row
    if offset >= total or size <= 0:
        return b""
    with db.blobopen("file_versions", "data", rowid, readonly=True) as blob:
        blob.seek(offset)
        return blob.read(min(size, total - offset))


_FILE_FIELDS = "fv.name, fv.version, fv.size, fv.written_at, fv.written_by, fv.content_type"


def list_files(db: Db, cascade: str) -> list[FileVersion]:
    return [
        FileVersion(*row)
        for row in db.execute(f"SELECT {_FILE_FIELDS} {_CURRENT_FILES} ORDER BY f.name", (cascade,))
    ]


def delete_file(db: Db, cascade: str, name: str, deleted_by: str | None, now: float) -> None:
    cursor = db.execute(
        "UPDATE files SET deleted_at = ?, deleted_by = ? "
        "WHERE cascade = ? AND name = ? AND deleted_at IS NULL",
        (now, deleted_by, cascade, name),
    )
    if cursor.rowcount != 1:
        raise NotFound(f"file {name!r} does not exist in cascade {cascade!r}")


def file_versions(db: Db, cascade: str, name: str) -> list[FileVersion]:
    rows = db.execute(
        f"SELECT {_FILE_FIELDS} FROM file_versions fv WHERE fv.cascade = ? AND fv.name = ? "
        "ORDER BY fv.version DESC",
        (cascade, name),
    )
    return [FileVersion(*row) for row in rows]


# -------------------------------------------------------------------------------------- inputs


def get_inputs(db: Db, cascade: str, decrypt: Callable[[bytes], str]) -> dict[str, str]:
    rows = db.execute(
        "SELECT name, secret, value, ciphertext FROM inputs WHERE cascade = ? ORDER BY name", (cascade,)
    )
    return {name: decrypt(ciphertext) if secret else value for name, secret, value, ciphertext in rows}


def set_inputs(
    db: Db,
    cascade: str,
    values: dict[str, str | None],
    secret: set[str],
    by: str | None,
    now: float,
    encrypt: Callable[[str], bytes],
) -> None:
    for name, value in values.items():
        if value is None:
            db.execute("DELETE FROM inputs WHERE cascade = ? AND name = ?", (cascade, name))
            continue
        is_secret = name in secret
        plain, ciphertext = (None, encrypt(value)) if is_secret else (value, None)
        db.execute(
            "INSERT INTO inputs (cascade, name, secret, value, ciphertext, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cascade, name) DO UPDATE SET "
            "secret = excluded.secret, value = excluded.value, ciphertext = excluded.ciphertext, "
            "updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (cascade, name, is_secret, plain, ciphertext, now, by),
        )
