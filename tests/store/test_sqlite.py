"""What only the SQLite store has: migrations, WAL, group commit, the key file, secrets at rest."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scaffold.engine.records import TaskRow
from scaffold.engine.states import State
from scaffold.store.crypto import SecretBox, SecretKeyError
from scaffold.store.group_commit import StoreClosed, in_thread
from scaffold.store.migrate import Migration, SchemaTooNew, load_migrations, migrate
from scaffold.store.sqlite import SqliteStore

SECRET = "hunter2-Pl41nT3xt-Canary"


@pytest.fixture
async def store(tmp_path: Path):
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


# ---------------------------------------------------------------------------------- migrations


def _schema(db: sqlite3.Connection) -> dict[str, dict]:
    """Every table's columns, primary key, indexes and AUTOINCREMENT, as SQLite reports them."""
    tables = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
        "AND name NOT IN ('schema_version', 'sqlite_sequence') ORDER BY name"
    ).fetchall()
    schema = {}
    for table, sql in tables:
        columns = [(c[1], c[2], c[3], c[4], c[5]) for c in db.execute(f'PRAGMA table_xinfo("{table}")')]
        indexes = {}
        for _, name, unique, origin, _partial in db.execute(f'PRAGMA index_list("{table}")'):
            cols = [c[2] for c in db.execute(f'PRAGMA index_info("{name}")')]
            key = name if origin == "c" else f"{origin}:{cols}"  # auto-named pk/unique indexes
            indexes[key] = (cols, unique)
        schema[table] = {
            "columns": columns,
            "indexes": indexes,
            "autoincrement": "AUTOINCREMENT" in sql.upper(),
        }
    return schema


def test_migrations_build_exactly_the_sqlmodel_tables(tmp_path: Path):
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    import scaffold.store.tables  # noqa: F401  (registers the tables)

    migrated = sqlite3.connect(tmp_path / "migrated.db", isolation_level=None)
    migrate(migrated, "migrated.db")
    engine = create_engine(f"sqlite:///{tmp_path / 'model.db'}")
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    modelled = sqlite3.connect(tmp_path / "model.db")
    try:
        got, want = _schema(migrated), _schema(modelled)
    finally:
        migrated.close()
        modelled.close()
    assert sorted(got) == sorted(want)
    for table in want:
        assert got[table] == want[table], f"table {table}: migrations and scaffold/store/tables.py differ"


def test_migrations_are_numbered_from_1_without_gaps():
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"


def test_migrate_records_the_version_and_is_idempotent(tmp_path: Path):
    db = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    try:
        latest = len(load_migrations())
        assert migrate(db, "x.db") == latest
        assert migrate(db, "x.db") == latest
        rows = db.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
        assert rows == [(m.version, m.name) for m in load_migrations()]
    finally:
        db.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path):
    db = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    try:
        good = Migration(1, "first", "CREATE TABLE a (x INTEGER);")
        bad = Migration(2, "broken", "CREATE TABLE b (y INTEGER);\nTHIS IS NOT SQL;")
        with pytest.raises(sqlite3.OperationalError):
            migrate(db, "x.db", [good, bad])
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (1,)
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchone() is None
    finally:
        db.close()


async def test_a_database_from_a_newer_scaffold_is_refused(tmp_path: Path):
    path = tmp_path / "scaffold.db"
    s = SqliteStore(path, SecretBox(tmp_path))
    await s.open()
    await s.close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (999, 'from_the_future', 0)")
    db.commit()
    db.close()
    s = SqliteStore(path, SecretBox(tmp_path))
    with pytest.raises(SchemaTooNew, match=r"schema version 999.*newer Scaffold.*Upgrade Scaffold"):
        await s.open()
    await s.close()  # closing a store that failed to open is harmless


# ----------------------------------------------------------------------------- connection setup


async def test_wal_mode_and_pragmas(store: SqliteStore):
    def pragmas(db: sqlite3.Connection) -> tuple:
        return tuple(
            db.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        )

    assert await in_thread(store._writer_conn, pragmas) == ("wal", 1, 1, 10_000)
    await store.put_tasks([TaskRow("c", "a")])
    assert (store.path.parent / "scaffold.db-wal").exists()


async def test_database_file_is_private(store: SqliteStore):
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


async def test_group_commit_shares_commits_between_concurrent_writers(store: SqliteStore):
    await store.put_tasks([TaskRow("c", f"t{i}") for i in range(200)])
    before = store.commits
    results = await asyncio.gather(
        *(store.update_task(TaskRow("c", f"t{i}", State.WAITING), State.NOT_STARTED) for i in range(200))
    )
    assert all(results)
    assert store.commits - before < 20


async def test_writes_after_close_are_refused(tmp_path: Path):
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await s.open()
    await s.close()
    with pytest.raises(StoreClosed):
        await s.put_tasks([TaskRow("c", "a")])
    with pytest.raises(StoreClosed):
        await s.load_tasks("c")


async def test_close_waits_for_writes_already_submitted(tmp_path: Path):
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await s.open()
    writes = [asyncio.ensure_future(s.put_values("c", {f"k{i}": b"v"}, None)) for i in range(50)]
    await asyncio.sleep(0)  # let them queue
    await s.close()
    await asyncio.gather(*writes)
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await s.open()
    try:
        assert len(await s.get_values("c")) == 50
    finally:
        await s.close()


async def test_a_write_cancelled_before_its_batch_is_not_written(store: SqliteStore):
    write = asyncio.ensure_future(store.put_values("c", {"K": b"never"}, None))
    await asyncio.sleep(0)  # the write is queued; the writer has not taken it yet
    write.cancel()
    await store.put_values("c", {"other": b"v"}, None)
    assert await store.get_values("c") == {"other": b"v"}


def test_a_write_is_durable_when_the_call_returns_even_if_the_process_dies(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import asyncio, os
        from scaffold.engine.records import TaskRow
        from scaffold.store.crypto import SecretBox
        from scaffold.store.sqlite import SqliteStore

        async def main():
            s = SqliteStore({str(tmp_path / "scaffold.db")!r}, SecretBox({str(tmp_path)!r}))
            await s.open()
            await s.put_tasks([TaskRow("c", "a")])
            await s.put_values("c", {{"K": b"kept"}}, "run:c:a:1")
            os._exit(0)  # no close, no checkpoint: like a crash

        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

    async def check() -> None:
        s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
        await s.open()
        try:
            assert list(await s.load_tasks("c")) == ["a"]
            assert await s.get_values("c") == {"K": b"kept"}
        finally:
            await s.close()

    asyncio.run(check())


def test_importing_the_engine_or_the_stores_does_not_import_sqlmodel():
    code = (
        "import sys, scaffold.engine.ports, scaffold.engine.states;"
        "import scaffold.store.memory, scaffold.store.sqlite;"
        "assert 'sqlmodel' not in sys.modules, 'sqlmodel imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ----------------------------------------------------------------------------- key and secrets


def test_key_file_is_created_on_first_use_with_mode_0600(tmp_path: Path):
    box = SecretBox(tmp_path / "data")
    assert not box.path.exists()
    token = box.encrypt(SECRET)
    assert stat.S_IMODE(box.path.stat().st_mode) == 0o600
    assert SECRET.encode() not in token
    assert SecretBox(tmp_path / "data").decrypt(token) == SECRET  # the same key, read back


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int):
    SecretBox(tmp_path).encrypt("x")
    key = tmp_path / "secret.key"
    os.chmod(key, mode)
    with pytest.raises(SecretKeyError, match=r"accessible to other users.*chmod 600"):
        SecretBox(tmp_path).encrypt("x")


def test_an_unreadable_key_file_is_refused(tmp_path: Path):
    (tmp_path / "secret.key").mkdir(mode=0o700)  # unreadable as a file, even for root
    with pytest.raises(SecretKeyError, match="cannot read the secret key file"):
        SecretBox(tmp_path).encrypt("x")


def test_a_damaged_key_file_is_refused(tmp_path: Path):
    key = tmp_path / "secret.key"
    key.write_bytes(b"not a key")
    key.chmod(0o600)
    with pytest.raises(SecretKeyError, match="does not hold a valid key"):
        SecretBox(tmp_path).encrypt("x")


async def test_a_different_key_cannot_read_the_secrets(tmp_path: Path):
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path / "a"))
    await s.open()
    await s.set_inputs("c", {"PW": SECRET}, {"PW"}, None)
    await s.close()
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path / "b"))
    await s.open()
    try:
        with pytest.raises(SecretKeyError, match="not the key the secret was encrypted with") as error:
            await s.get_inputs("c")
        assert SECRET not in str(error.value)
    finally:
        await s.close()


def _raw_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("scaffold.db*")))


async def test_password_inputs_are_never_stored_in_clear(tmp_path: Path):
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await s.open()
    try:
        await s.set_inputs("c", {"PW": SECRET, "REGION": "plain-region-value"}, {"PW"}, "alice")
        assert await s.get_inputs("c") == {"PW": SECRET, "REGION": "plain-region-value"}
        raw = _raw_bytes(tmp_path)  # the database and its WAL while open
        assert b"plain-region-value" in raw  # the check can see text values...
        assert SECRET.encode() not in raw  # ...and no password is among them
        assert (tmp_path / "scaffold.db-wal").exists()
    finally:
        await s.close()
    raw = _raw_bytes(tmp_path)
    assert b"plain-region-value" in raw
    assert SECRET.encode() not in raw


async def test_a_text_input_turned_password_leaves_no_clear_copy_behind(tmp_path: Path):
    s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await s.open()
    await s.set_inputs("c", {"PW": SECRET}, set(), None)  # first defined as text
    await s.set_inputs("c", {"PW": SECRET}, {"PW"}, None)  # then the definition made it a password
    await s.close()  # checkpoints the WAL into the database and removes it
    assert SECRET.encode() not in _raw_bytes(tmp_path)


async def test_cascade_definitions_with_password_defaults_are_encrypted_at_rest(tmp_path):
    from scaffold.engine.spec import parse_cascade
    from scaffold.store.crypto import SecretBox
    from scaffold.store.sqlite import SqliteStore

    source = (
        "version: v1\nname: c\ninputs:\n  - {name: PW, type: password, default: sup3r-s3cret-default}\n"
        "tasks:\n  - {name: t, image: i, run: 'true', inputs: [PW]}\n"
    )
    store = SqliteStore(tmp_path / "s.db", SecretBox(tmp_path))
    await store.open()
    await store.save_cascade(parse_cascade(source), source, "me")
    assert (await store.get_cascade("c")).source == source
    assert [r.source for r in await store.list_cascades()] == [source]
    assert [r.source for r in await store.cascade_versions("c")] == [source]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))
    await store.close()
    raw += b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))
    assert b"sup3r-s3cret-default" not in raw


async def test_touching_a_token_on_every_request_costs_one_write_a_minute(store: SqliteStore):
    from scaffold.access.records import Token, User

    await store.create_user(User("alice"))
    await store.create_token(Token("tok1", "alice", "ci", "00" * 32))
    await store.touch_token("tok1", 1000.0)
    before = store.commits
    for i in range(100):
        await store.touch_token("tok1", 1000.0 + i * 0.5)
    assert store.commits == before
    assert (await store.get_token("tok1")).last_used_at == 1000.0
    await store.touch_token("tok1", 1100.0)
    assert store.commits == before + 1
    assert (await store.get_token("tok1")).last_used_at == 1100.0


async def test_a_large_file_goes_into_the_database_without_being_held_in_memory(store, tmp_path: Path):
    import tracemalloc

    size = 48 << 20
    source = tmp_path / "upload.bin"
    with open(source, "wb") as out:
        for i in range(size >> 20):
            out.write(bytes([i % 251]) * (1 << 20))
    tracemalloc.start()
    try:
        with open(source, "rb") as stream:
            await store.put_file_from("deploy", "state.tar", stream, size, "alice")
        total = 0
        for offset in range(0, size, 256 << 10):
            chunk = await store.read_file_range("deploy", "state.tar", 1, offset, 256 << 10)
            assert chunk[:1] == bytes([(offset >> 20) % 251])
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB of Python memory for a 48 MiB file"
