"""The database schema of record, as sqlmodel tables.

The migrations in ``scaffold/store/migrations/*.sql`` create these tables with explicit DDL (so a
later change here never rewrites history); ``tests/store/test_sqlite.py`` checks that the schema the
migrations build has exactly the columns, keys and indexes declared here. Change both together:
edit the model, add a migration ``NNNN_what.sql``, run the test.

Importing this module imports sqlmodel; nothing under ``scaffold.engine`` imports it, and the SQLite
store's hot paths use plain SQL on these tables (measured ~50x faster than going through an ORM).
Times are seconds since the epoch (REAL); JSON columns hold text.
"""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Cascade(SQLModel, table=True):
    __tablename__ = "cascades"

    name: str = Field(primary_key=True)
    version: int  # the current (latest applied) definition


class CascadeVersion(SQLModel, table=True):
    """Every applied definition text, who applied it and when."""

    __tablename__ = "cascade_versions"

    cascade: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    source: str
    applied_at: float
    applied_by: str | None = None


class Task(SQLModel, table=True):
    """A row of a cascade's board (``TaskRow``)."""

    __tablename__ = "tasks"

    cascade: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    state: str
    run_number: int
    reason: str | None = None
    disabled: bool
    auto_execute: bool
    updated_at: float


class Run(SQLModel, table=True):
    """Every run of a task or check (``RunRow``); ``id`` orders them by age."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("cascade", "task", "kind", "number", name="uq_runs_number"),
        Index("ix_runs_cascade_id", "cascade", "id"),
        Index("ix_runs_wave", "wave_id"),
        Index("ix_runs_state", "state"),
        Index("ix_runs_run_id", "run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str  # cascade.task.number[-check]: the key of its log
    cascade: str
    task: str
    kind: str
    number: int
    state: str
    trigger: str
    triggered_by: str | None = None
    wave_id: int | None = None
    attempt: int
    node: str | None = None
    image: str | None = None
    image_digest: str | None = None
    executor: str | None = None
    queued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    display: str | None = None  # JSON array of display items
    display_error: str | None = None
    loaded: str  # JSON {"env": [...], "file": [...]}
    stored: str  # JSON


class LogSize(SQLModel, table=True):
    """How much of a run's log is stored, and when it hit the cap (null: never)."""

    __tablename__ = "log_sizes"

    run_id: str = Field(primary_key=True)
    size: int  # characters, the truncation marker included
    ends_with_newline: bool
    truncated_at: float | None = None


class LogChunk(SQLModel, table=True):
    """A piece of a run's log starting at character ``start``."""

    __tablename__ = "logs"

    run_id: str = Field(primary_key=True)
    start: int = Field(primary_key=True)
    text: str


class Wave(SQLModel, table=True):
    """Everything one start set in motion (``WaveRow``); ids are never reused (AUTOINCREMENT)."""

    __tablename__ = "waves"
    __table_args__ = (Index("ix_waves_cascade_id", "cascade", "id"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    cascade: str
    trigger: str
    triggered_by: str | None = None
    started_tasks: str  # JSON list
    started_at: float
    ended_at: float | None = None


class Value(SQLModel, table=True):
    """The current version of each datastore env value."""

    __tablename__ = "values"

    cascade: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    version: int


class ValueVersionRow(SQLModel, table=True):
    __tablename__ = "value_versions"

    cascade: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    value: bytes
    written_at: float
    written_by: str | None = None  # a user name or "run:<run id>"


class File(SQLModel, table=True):
    """The current version of each datastore file; a deleted file keeps its row and its versions."""

    __tablename__ = "files"

    cascade: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    version: int
    deleted_at: float | None = None
    deleted_by: str | None = None


class FileVersionRow(SQLModel, table=True):
    __tablename__ = "file_versions"

    cascade: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    data: bytes
    size: int
    content_type: str
    written_at: float
    written_by: str | None = None


class Input(SQLModel, table=True):
    """Current input values. A secret one has ``value`` null and its ``ciphertext`` from SecretBox."""

    __tablename__ = "inputs"

    cascade: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    secret: bool
    value: str | None = None
    ciphertext: bytes | None = None
    updated_at: float
    updated_by: str | None = None


# ------------------------------------------------------------------------- people and access


class UserRow(SQLModel, table=True):
    """A person (``scaffold.access.records.User``); ``groups`` is a JSON list of group names."""

    __tablename__ = "users"

    username: str = Field(primary_key=True)
    role: str  # read, write, admin
    groups: str  # JSON list
    disabled: bool
    password_hash: str  # argon2; empty = no password login
    created_at: float
    updated_at: float


class TokenRow(SQLModel, table=True):
    """An API token; only the sha256 of its secret part is stored. Looked up by ``id``."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_username", "username"),)

    id: str = Field(primary_key=True)
    username: str
    name: str
    secret_hash: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None


class SessionRow(SQLModel, table=True):
    """A browser login, keyed by the sha256 of its cookie value (the cookie is never stored)."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_username", "username"),
        Index("ix_sessions_expires_at", "expires_at"),
    )

    id_hash: str = Field(primary_key=True)
    username: str
    csrf_token: str
    created_at: float
    expires_at: float


class WebhookRow(SQLModel, table=True):
    """A per-task trigger URL; only the sha256 of its secret is stored."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_cascade", "cascade"),)

    id: str = Field(primary_key=True)
    cascade: str
    task: str
    secret_hash: str
    created_by: str | None = None
    created_at: float
    last_triggered_at: float | None = None


class AuditRow(SQLModel, table=True):
    """Who did what to which object; ids are never reused (AUTOINCREMENT). ``details`` is JSON."""

    __tablename__ = "audit"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    at: float
    actor: str | None = None
    action: str
    target: str
    details: str  # JSON object
