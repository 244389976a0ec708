"""What the access layer needs from a store. ``MemoryStore`` and ``SqliteStore`` implement it
alongside the engine's ``Store`` (one database)."""

from __future__ import annotations

from typing import Protocol

from scaffold.access.records import AuditEntry, Session, Token, User, Webhook


class AccessStore(Protocol):
    # users
    async def create_user(self, user: User) -> None:
        """Raises Conflict if the username exists."""

    async def get_user(self, username: str) -> User | None: ...

    async def list_users(self) -> list[User]:
        """By username."""

    async def update_user(self, user: User) -> None:
        """Raises NotFound if missing."""

    async def delete_user(self, username: str) -> None:
        """Also deletes the user's tokens and sessions. Raises NotFound if missing."""

    async def count_users(self) -> int: ...

    # API tokens
    async def create_token(self, token: Token) -> None: ...

    async def get_token(self, token_id: str) -> Token | None: ...

    async def list_tokens(self, username: str | None = None) -> list[Token]:
        """Newest first; every user's when ``username`` is None."""

    async def revoke_token(self, token_id: str, at: float) -> None:
        """Raises NotFound if missing; revoking twice keeps the first time."""

    async def touch_token(self, token_id: str, at: float) -> None:
        """Record the last use (may be written lazily/batched)."""

    # login sessions
    async def create_session(self, session: Session) -> None: ...

    async def get_session(self, id_hash: str) -> Session | None: ...

    async def delete_session(self, id_hash: str) -> None: ...

    async def delete_sessions_of(self, username: str) -> None: ...

    async def delete_expired_sessions(self, now: float) -> int:
        """Delete every session with ``expires_at <= now``; return how many."""

    # webhooks
    async def create_webhook(self, webhook: Webhook) -> None: ...

    async def get_webhook(self, webhook_id: str) -> Webhook | None: ...

    async def list_webhooks(self, cascade: str) -> list[Webhook]: ...

    async def update_webhook(self, webhook: Webhook) -> None: ...

    async def delete_webhook(self, webhook_id: str) -> None:
        """Raises NotFound if missing."""

    # audit log
    async def add_audit(self, entry: AuditEntry) -> int:
        """Assign and return the entry's id."""

    async def list_audit(self, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
        """Newest first."""
