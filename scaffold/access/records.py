"""People and access (SPEC 7): users, API tokens, login sessions, webhooks and the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """read < write < admin. A role applies to every cascade the user may see."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"read": 0, "write": 1, "admin": 2}[self.value]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


@dataclass
class User:
    username: str
    role: Role = Role.READ
    groups: tuple[str, ...] = ()
    disabled: bool = False
    password_hash: str = ""  # argon2; empty = cannot log in with a password
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class Token:
    """An API token. The token a person holds is ``scf_<id>_<secret>``; only a hash of the secret
    is stored, and the id is the primary key, so a lookup never scans other tokens."""

    id: str
    username: str
    name: str
    secret_hash: str  # sha256 hex of the secret part
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None


@dataclass
class Session:
    """A browser login. ``id_hash`` is the sha256 of the cookie value (the cookie is never stored)."""

    id_hash: str
    username: str
    csrf_token: str
    created_at: float = 0.0
    expires_at: float = 0.0


@dataclass
class Webhook:
    """A per-task trigger URL ``/api/v1/hooks/<id>`` guarded by a secret (stored hashed)."""

    id: str
    cascade: str
    task: str
    secret_hash: str
    created_by: str | None = None
    created_at: float = 0.0
    last_triggered_at: float | None = None


@dataclass
class AuditEntry:
    actor: str | None  # a username, "webhook:<id>", "system"
    action: str  # e.g. "cascade.apply", "task.start", "task.kill", "input.set", "user.create"
    target: str  # e.g. "application-deploy", "application-deploy/deploy_terraform", "user:bob"
    details: dict[str, Any] = field(default_factory=dict)  # never holds a secret value
    at: float = 0.0
    id: int = 0  # assigned by the store, increasing
