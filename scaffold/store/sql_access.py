"""The SQL of people and access: users, API tokens, login sessions, webhooks and the audit log.

Plain synchronous functions over a ``sqlite3.Connection``, like :mod:`scaffold.store.sql`: the
writes run inside the group-commit writer's transaction, the reads on the reader connection.
"""

from __future__ import annotations

import json
import sqlite3

from scaffold.access.records import AuditEntry, Role, Session, Token, User, Webhook
from scaffold.errors import Conflict, NotFound
from scaffold.store.sql import Db

# --------------------------------------------------------------------------------------- users

_USER_COLUMNS = "username, role, groups, disabled, password_hash, created_at, updated_at"


def user_params(u: User) -> tuple:
    groups = json.dumps(list(u.groups), ensure_ascii=False)
    return (u.username, Role(u.role).value, groups, u.disabled, u.password_hash, u.created_at, u.updated_at)


def _user(row: tuple) -> User:
    username, role, groups, disabled, password_hash, created_at, updated_at = row
    return User(
        username, Role(role), tuple(json.loads(groups)), bool(disabled), password_hash, created_at, updated_at
    )


def create_user(db: Db, params: tuple) -> None:
    try:
        db.execute(f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", params)
    except sqlite3.IntegrityError:
        raise Conflict(f"user {params[0]!r} already exists") from None


def get_user(db: Db, username: str) -> User | None:
    row = db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,)).fetchone()
    return _user(row) if row else None


def list_users(db: Db) -> list[User]:
    return [_user(row) for row in db.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")]


def update_user(db: Db, params: tuple) -> None:
    cursor = db.execute(
        "UPDATE users SET role = ?, groups = ?, disabled = ?, password_hash = ?, created_at = ?, "
        "updated_at = ? WHERE username = ?",
        (*params[1:], params[0]),
    )
    if cursor.rowcount != 1:
        raise NotFound(f"user {params[0]!r} does not exist")


def delete_user(db: Db, username: str) -> None:
    if db.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount != 1:
        raise NotFound(f"user {username!r} does not exist")
    db.execute("DELETE FROM tokens WHERE username = ?", (username,))
    db.execute("DELETE FROM sessions WHERE username = ?", (username,))


def count_users(db: Db) -> int:
    return db.execute("SELECT count(*) FROM users").fetchone()[0]


def _require_user(db: Db, username: str) -> None:
    if db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone() is None:
        raise NotFound(f"user {username!r} does not exist")


# -------------------------------------------------------------------------------------- tokens

_TOKEN_COLUMNS = "id, username, name, secret_hash, created_at, expires_at, revoked_at, last_used_at"


def token_params(t: Token) -> tuple:
    return (t.id, t.username, t.name, t.secret_hash, t.created_at, t.expires_at, t.revoked_at, t.last_used_at)


def create_token(db: Db, params: tuple) -> None:
    _require_user(db, params[1])
    try:
        db.execute(f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", params)
    except sqlite3.IntegrityError:
        raise Conflict(f"token {params[0]!r} already exists") from None


def get_token(db: Db, token_id: str) -> Token | None:
    row = db.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
    return Token(*row) if row else None


def list_tokens(db: Db, username: str | None) -> list[Token]:
    if username is None:
        rows = db.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY rowid DESC")
    else:
        rows = db.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE username = ? ORDER BY rowid DESC", (username,)
        )
    return [Token(*row) for row in rows]


def revoke_token(db: Db, token_id: str, at: float) -> None:
    cursor = db.execute("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", (at, token_id))
    if cursor.rowcount != 1:
        raise NotFound(f"token {token_id!r} does not exist")


def touch_token(db: Db, token_id: str, at: float, interval: float) -> None:
    db.execute(
        "UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
        (at, token_id, at - interval),
    )


# ------------------------------------------------------------------------------------ sessions

_SESSION_COLUMNS = "id_hash, username, csrf_token, created_at, expires_at"


def session_params(s: Session) -> tuple:
    return (s.id_hash, s.username, s.csrf_token, s.created_at, s.expires_at)


def create_session(db: Db, params: tuple) -> None:
    _require_user(db, params[1])
    try:
        db.execute(f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)", params)
    except sqlite3.IntegrityError:
        raise Conflict("that session already exists") from None


def get_session(db: Db, id_hash: str) -> Session | None:
    row = db.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id_hash = ?", (id_hash,)).fetchone()
    return Session(*row) if row else None


def delete_session(db: Db, id_hash: str) -> None:
    db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))


def delete_sessions_of(db: Db, username: str) -> None:
    db.execute("DELETE FROM sessions WHERE username = ?", (username,))


def delete_expired_sessions(db: Db, now: float) -> int:
    return db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,)).rowcount


# ------------------------------------------------------------------------------------ webhooks

_WEBHOOK_COLUMNS = "id, cascade, task, secret_hash, created_by, created_at, last_triggered_at"


def webhook_params(w: Webhook) -> tuple:
    return (w.id, w.cascade, w.task, w.secret_hash, w.created_by, w.created_at, w.last_triggered_at)


def create_webhook(db: Db, params: tuple) -> None:
    try:
        db.execute(f"INSERT INTO webhooks ({_WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", params)
    except sqlite3.IntegrityError:
        raise Conflict(f"webhook {params[0]!r} already exists") from None


def get_webhook(db: Db, webhook_id: str) -> Webhook | None:
    row = db.execute(f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
    return Webhook(*row) if row else None


def list_webhooks(db: Db, cascade: str) -> list[Webhook]:
    rows = db.execute(f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE cascade = ? ORDER BY rowid", (cascade,))
    return [Webhook(*row) for row in rows]


def update_webhook(db: Db, params: tuple) -> None:
    cursor = db.execute(
        "UPDATE webhooks SET cascade = ?, task = ?, secret_hash = ?, created_by = ?, created_at = ?, "
        "last_triggered_at = ? WHERE id = ?",
        (*params[1:], params[0]),
    )
    if cursor.rowcount != 1:
        raise NotFound(f"webhook {params[0]!r} does not exist")


def delete_webhook(db: Db, webhook_id: str) -> None:
    if db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount != 1:
        raise NotFound(f"webhook {webhook_id!r} does not exist")


# --------------------------------------------------------------------------------------- audit


def audit_params(e: AuditEntry) -> tuple:
    return (e.at, e.actor, e.action, e.target, json.dumps(e.details, ensure_ascii=False, sort_keys=True))


def add_audit(db: Db, params: tuple) -> int:
    cursor = db.execute(
        "INSERT INTO audit (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)", params
    )
    return cursor.lastrowid or 0


def list_audit(db: Db, limit: int, before_id: int | None) -> list[AuditEntry]:
    rows = db.execute(
        "SELECT id, at, actor, action, target, details FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?",
        (before_id if before_id is not None else 2**63 - 1, max(limit, 0)),
    )
    return [
        AuditEntry(actor, action, target, json.loads(details), at, entry_id)
        for entry_id, at, actor, action, target, details in rows
    ]
