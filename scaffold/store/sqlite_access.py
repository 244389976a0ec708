"""The :class:`~scaffold.access.ports.AccessStore` half of :class:`~scaffold.store.sqlite.SqliteStore`.

A mixin so the store stays one object on one database while each file stays small: writes go
through the store's group-commit writer, reads through its reader connection, the SQL lives in
:mod:`scaffold.store.sql_access`. The fine print (ordering, missing rows) is the same as
:class:`~scaffold.store.memory_access.MemoryAccess`'s and is checked by the shared contract suite.

:meth:`touch_token` also remembers, in this process, when it last wrote each token's use, so a token
sent on every request costs no write at all until :data:`~scaffold.store.common.TOKEN_TOUCH_INTERVAL`
has passed.

``access_version`` counts the writes that can change who a token authenticates (users created,
changed or deleted; tokens created or revoked), each counted once its write is over, failed or not:
:class:`~scaffold.access.service.AccessService` keeps checked tokens in memory only while it has not
moved. Writes from another process are not counted (the service bounds its cache's age for them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from scaffold.access.records import AuditEntry, Session, Token, User, Webhook
from scaffold.store import sql_access
from scaffold.store.common import TOKEN_TOUCH_INTERVAL

_TOUCH_MEMORY = 10_000  # tokens whose last write is remembered; older entries are forgotten


class SqliteAccess:
    """Needs ``_write``, ``_read`` and an empty ``_touched`` dict (see ``SqliteStore.__init__``)."""

    _write: Callable[..., Any]
    _read: Callable[..., Any]
    _touched: dict[str, float]
    access_version: int = 0  # see the module doc; set on the instance by the first counted write

    async def _write_access(self, fn: Callable[..., Any], *args: Any, atomic: bool = False) -> Any:
        """A write that can change who a token authenticates: counted in ``access_version`` once
        it is over (committed or failed), so that a reader that began before it cannot cache what
        it read. Shielded: a cancelled caller does not cancel the write, and it is counted again
        when the write really ends (the group commit may still run it after the caller is gone)."""
        write = asyncio.ensure_future(self._write(fn, *args, atomic=atomic))
        write.add_done_callback(self._count_access_write)
        try:
            return await asyncio.shield(write)
        finally:
            self.access_version += 1

    def _count_access_write(self, _: object) -> None:
        self.access_version += 1

    # ------------------------------------------------------------------------------------ users

    async def create_user(self, user: User) -> None:
        await self._write_access(sql_access.create_user, sql_access.user_params(user))

    async def get_user(self, username: str) -> User | None:
        return await self._read(sql_access.get_user, username)

    async def list_users(self) -> list[User]:
        return await self._read(sql_access.list_users)

    async def update_user(self, user: User) -> None:
        await self._write_access(sql_access.update_user, sql_access.user_params(user))

    async def delete_user(self, username: str) -> None:
        await self._write_access(sql_access.delete_user, username, atomic=True)

    async def count_users(self) -> int:
        return await self._read(sql_access.count_users)

    # ----------------------------------------------------------------------------------- tokens

    async def create_token(self, token: Token) -> None:
        await self._write_access(sql_access.create_token, sql_access.token_params(token))

    async def get_token(self, token_id: str) -> Token | None:
        return await self._read(sql_access.get_token, token_id)

    async def list_tokens(self, username: str | None = None) -> list[Token]:
        return await self._read(sql_access.list_tokens, username)

    async def revoke_token(self, token_id: str, at: float) -> None:
        await self._write_access(sql_access.revoke_token, token_id, at)

    async def touch_token(self, token_id: str, at: float) -> None:
        touched = self._touched
        last = touched.get(token_id)
        if last is not None and at - last < TOKEN_TOUCH_INTERVAL:
            return
        if len(touched) >= _TOUCH_MEMORY:
            touched.clear()
        touched[token_id] = at
        await self._write(sql_access.touch_token, token_id, at, TOKEN_TOUCH_INTERVAL)

    # --------------------------------------------------------------------------------- sessions

    async def create_session(self, session: Session) -> None:
        await self._write(sql_access.create_session, sql_access.session_params(session))

    async def get_session(self, id_hash: str) -> Session | None:
        return await self._read(sql_access.get_session, id_hash)

    async def delete_session(self, id_hash: str) -> None:
        await self._write(sql_access.delete_session, id_hash)

    async def delete_sessions_of(self, username: str) -> None:
        await self._write(sql_access.delete_sessions_of, username)

    async def delete_expired_sessions(self, now: float) -> int:
        return await self._write(sql_access.delete_expired_sessions, now)

    # --------------------------------------------------------------------------------- webhooks

    async def create_webhook(self, webhook: Webhook) -> None:
        await self._write(sql_access.create_webhook, sql_access.webhook_params(webhook))

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        return await self._read(sql_access.get_webhook, webhook_id)

    async def list_webhooks(self, cascade: str) -> list[Webhook]:
        return await self._read(sql_access.list_webhooks, cascade)

    async def update_webhook(self, webhook: Webhook) -> None:
        await self._write(sql_access.update_webhook, sql_access.webhook_params(webhook))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._write(sql_access.delete_webhook, webhook_id)

    # ------------------------------------------------------------------------------------ audit

    async def add_audit(self, entry: AuditEntry) -> int:
        return await self._write(sql_access.add_audit, sql_access.audit_params(entry))

    async def list_audit(self, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
        return await self._read(sql_access.list_audit, limit, before_id)
