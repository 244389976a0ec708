"""The reference :class:`~scaffold.access.ports.AccessStore`: the access half of ``MemoryStore``.

Rows are copied on the way in and out, and no method awaits, so each is atomic on the event loop.
The fine print the Protocol leaves open (the SQLite store makes the same choices; the shared
contract suite in ``tests/store/test_access_contract.py`` checks both):

- ``create_user`` of an existing name, ``create_token``/``create_session``/``create_webhook`` of an
  existing id raise :class:`~scaffold.errors.Conflict`; ``create_token`` and ``create_session`` for a
  user that does not exist raise :class:`~scaffold.errors.NotFound`.
- ``update_user``, ``delete_user``, ``revoke_token``, ``update_webhook`` and ``delete_webhook`` of a
  missing row raise NotFound; ``delete_session``, ``delete_sessions_of`` and ``touch_token`` of a
  missing row do nothing.
- ``list_tokens`` is newest first (most recently created first); ``list_webhooks`` oldest first;
  ``list_audit`` newest first (highest id first); audit ids are never reused.
- ``touch_token`` records ``at`` only when the token has no recorded use or the recorded one is at
  least :data:`~scaffold.store.common.TOKEN_TOUCH_INTERVAL` older.
- ``delete_expired_sessions(now)`` deletes every session with ``expires_at <= now``.
- Audit ``details`` must be JSON-serialisable; they come back as JSON would (tuples become lists).
- Users are never deleted with their webhooks or audit entries (those keep the name as history).
- ``access_version`` goes up by one with each ``create_user``, ``update_user``, ``delete_user``,
  ``create_token`` and ``revoke_token`` call, failed or not (no method awaits, so counting at its
  start is counting at its end): the access service caches checked tokens only while it stays the same.
"""

from __future__ import annotations

import json
from dataclasses import replace

from scaffold.access.records import AuditEntry, Role, Session, Token, User, Webhook
from scaffold.errors import Conflict, NotFound
from scaffold.store.common import TOKEN_TOUCH_INTERVAL


class MemoryAccess:
    """Users, tokens, sessions, webhooks and audit entries in dicts (insertion order = age)."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._tokens: dict[str, Token] = {}
        self._sessions: dict[str, Session] = {}
        self._webhooks: dict[str, Webhook] = {}
        self._audit: list[AuditEntry] = []
        self._last_audit_id = 0
        self.access_version = 0

    def _delete_webhooks_of(self, cascade: str) -> None:
        for webhook_id in [i for i, w in self._webhooks.items() if w.cascade == cascade]:
            del self._webhooks[webhook_id]

    # ------------------------------------------------------------------------------------ users

    @staticmethod
    def _copy_user(user: User) -> User:
        return replace(user, role=Role(user.role), groups=tuple(user.groups))

    async def create_user(self, user: User) -> None:
        self.access_version += 1
        if user.username in self._users:
            raise Conflict(f"user {user.username!r} already exists")
        self._users[user.username] = self._copy_user(user)

    async def get_user(self, username: str) -> User | None:
        user = self._users.get(username)
        return self._copy_user(user) if user else None

    async def list_users(self) -> list[User]:
        return [self._copy_user(u) for _, u in sorted(self._users.items())]

    async def update_user(self, user: User) -> None:
        self.access_version += 1
        if user.username not in self._users:
            raise NotFound(f"user {user.username!r} does not exist")
        self._users[user.username] = self._copy_user(user)

    async def delete_user(self, username: str) -> None:
        self.access_version += 1
        if self._users.pop(username, None) is None:
            raise NotFound(f"user {username!r} does not exist")
        for token_id in [i for i, t in self._tokens.items() if t.username == username]:
            del self._tokens[token_id]
        await self.delete_sessions_of(username)

    async def count_users(self) -> int:
        return len(self._users)

    def _require_user(self, username: str) -> None:
        if username not in self._users:
            raise NotFound(f"user {username!r} does not exist")

    # ----------------------------------------------------------------------------------- tokens

    async def create_token(self, token: Token) -> None:
        self.access_version += 1
        self._require_user(token.username)
        if token.id in self._tokens:
            raise Conflict(f"token {token.id!r} already exists")
        self._tokens[token.id] = replace(token)

    async def get_token(self, token_id: str) -> Token | None:
        token = self._tokens.get(token_id)
        return replace(token) if token else None

    async def list_tokens(self, username: str | None = None) -> list[Token]:
        return [
            replace(t) for t in reversed(self._tokens.values()) if username is None or t.username == username
        ]

    async def revoke_token(self, token_id: str, at: float) -> None:
        self.access_version += 1
        token = self._tokens.get(token_id)
        if token is None:
            raise NotFound(f"token {token_id!r} does not exist")
        if token.revoked_at is None:
            token.revoked_at = at

    async def touch_token(self, token_id: str, at: float) -> None:
        token = self._tokens.get(token_id)
        if token is None:
            return
        if token.last_used_at is None or token.last_used_at <= at - TOKEN_TOUCH_INTERVAL:
            token.last_used_at = at

    # --------------------------------------------------------------------------------- sessions

    async def create_session(self, session: Session) -> None:
        self._require_user(session.username)
        if session.id_hash in self._sessions:
            raise Conflict("that session already exists")
        self._sessions[session.id_hash] = replace(session)

    async def get_session(self, id_hash: str) -> Session | None:
        session = self._sessions.get(id_hash)
        return replace(session) if session else None

    async def delete_session(self, id_hash: str) -> None:
        self._sessions.pop(id_hash, None)

    async def delete_sessions_of(self, username: str) -> None:
        for id_hash in [i for i, s in self._sessions.items() if s.username == username]:
            del self._sessions[id_hash]

    async def delete_expired_sessions(self, now: float) -> int:
        expired = [i for i, s in self._sessions.items() if s.expires_at <= now]
        for id_hash in expired:
            del self._sessions[id_hash]
        return len(expired)

    # --------------------------------------------------------------------------------- webhooks

    async def create_webhook(self, webhook: Webhook) -> None:
        if webhook.id in self._webhooks:
            raise Conflict(f"webhook {webhook.id!r} already exists")
        self._webhooks[webhook.id] = replace(webhook)

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        webhook = self._webhooks.get(webhook_id)
        return replace(webhook) if webhook else None

    async def list_webhooks(self, cascade: str) -> list[Webhook]:
        return [replace(w) for w in self._webhooks.values() if w.cascade == cascade]

    async def update_webhook(self, webhook: Webhook) -> None:
        if webhook.id not in self._webhooks:
            raise NotFound(f"webhook {webhook.id!r} does not exist")
        self._webhooks[webhook.id] = replace(webhook)

    async def delete_webhook(self, webhook_id: str) -> None:
        if self._webhooks.pop(webhook_id, None) is None:
            raise NotFound(f"webhook {webhook_id!r} does not exist")

    # ------------------------------------------------------------------------------------ audit

    async def add_audit(self, entry: AuditEntry) -> int:
        details = json.loads(json.dumps(entry.details))  # what the SQLite store keeps, and a copy
        self._last_audit_id += 1
        self._audit.append(replace(entry, details=details, id=self._last_audit_id))
        return self._last_audit_id

    async def list_audit(self, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        for entry in reversed(self._audit):
            if len(out) >= limit:
                break
            if before_id is None or entry.id < before_id:
                out.append(replace(entry, details=json.loads(json.dumps(entry.details))))
        return out
