"""Versioned schema migrations: ``scaffold/store/migrations/NNNN_name.sql``, applied in order.

``schema_version`` records every migration applied. Each migration runs in its own transaction
together with its ``schema_version`` row, so a crash leaves the database at a whole version. A
database from a newer Scaffold (a version this code does not know) is refused, never touched.
Plain ``sqlite3``: the SQLite store runs this in its connection's thread.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources

from scaffold.errors import ScaffoldError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(ScaffoldError):
    status = 500
    code = "schema_too_new"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The file's statements (it holds no ';' inside literals: only DDL and comments)."""
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def load_migrations() -> list[Migration]:
    folder = resources.files("scaffold.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(
            f"migrations must be numbered 1, 2, 3... without gaps: {[m.version for m in found]}"
        )
    return found


def current_version(db: sqlite3.Connection) -> int:
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at FLOAT NOT NULL)"
    )
    return db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(db: sqlite3.Connection, where: str, migrations: list[Migration] | None = None) -> int:
    """Bring the database (opened with ``isolation_level=None``) to the latest schema; return it.
    ``where`` names the database in error messages."""
    migrations = load_migrations() if migrations is None else migrations
    known = migrations[-1].version if migrations else 0
    for migration in migrations:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(db)
            if version > known:
                raise SchemaTooNew(
                    f"the database {where} has schema version {version}, written by a newer Scaffold; this "
                    f"version knows schema versions up to {known}. Upgrade Scaffold, or open a backup "
                    "made with this version."
                )
            if migration.version > version:
                for statement in migration.statements():
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return known
