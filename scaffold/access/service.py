"""People and access (SPEC 7): the commands every front end calls to log in, check a token, and
manage users, tokens and webhooks. HTTP-free; the web layer turns its errors into responses.

Who may do what is decided by :mod:`scaffold.access.policy` alone; this service asks it before
every change and writes an audit entry after. Secrets are made and checked by
:mod:`scaffold.access.credentials`; passwords are hashed by :mod:`scaffold.access.passwords` in a
worker thread (argon2 takes ~0.2 s and would otherwise stall the event loop), at most
``HASH_CONCURRENCY`` at a time (each takes 64 MiB).

A disabled user stops at once: their sessions are deleted when they are disabled, and
:meth:`AccessService.authenticate_token` refuses the tokens of a disabled user on every request.

Checking a token would cost two store reads per API request (the token, then its user). The service
keeps what it read in memory, keyed by token id (:class:`TokenCache`), and answers from there as long
as nothing that could change the answer was written since: a store that counts its access writes
(``access_version``: creating, changing or deleting a user, creating or revoking a token, each
counted once the write is done) invalidates every entry with each such write, so a revoked token, a
disabled or deleted user or a changed role or group takes effect on the very next request. A hit
still checks the secret against the stored hash (constant time) and the token's expiry against the
clock. Entries also age out after :data:`TOKEN_CACHE_SECONDS`, a bound for writes this process cannot
see (another program editing the database). A store without ``access_version`` is never cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from scaffold.access import credentials, passwords
from scaffold.access.login_limit import LoginLimit, LoginLimiter, TooManyAttempts
from scaffold.access.policy import Action, Principal, allowed, require
from scaffold.access.ports import AccessStore
from scaffold.access.records import AuditEntry, Role, Session, Token, User, Webhook
from scaffold.access.validation import (
    USERNAME,
    check_expiry,
    check_groups,
    check_password,
    check_role,
    check_token_name,
    check_username,
)
from scaffold.engine.ports import Clock
from scaffold.errors import Conflict, InvalidInput, NotFound, Unauthorized

__all__ = ["ADMIN_USERNAME", "AccessService", "LoginLimit", "TooManyAttempts"]

ADMIN_USERNAME = "admin"
DEFAULT_SESSION_TTL = 12 * 3600.0
HASH_CONCURRENCY = 2
_DUMMY_PASSWORD = "scaffold: no such user"  # hashed once; verified for unknown users (same timing)
TOKEN_CACHE_SECONDS = 10.0  # longest a checked token answers from memory (see the module doc)
TOKEN_CACHE_SIZE = 10_000  # tokens remembered at most; the cache starts again empty past that


@dataclass(frozen=True, slots=True)
class _Checked:
    """A token and its user as read from the store, at access version ``version``."""

    token: Token
    user: User
    version: int
    at: float  # clock time of the read


class TokenCache:
    """Valid tokens with their users, read at a known ``access_version`` of the store."""

    def __init__(self, store: Any):
        self.store = store
        self._entries: dict[str, _Checked] = {}
        self._version: int | None = None  # the version the entries were read at

    def version(self) -> int | None:
        """The store's access version now, or None when it does not count its writes."""
        version = getattr(self.store, "access_version", None)
        return version if isinstance(version, int) else None

    def get(self, token_id: str, now: float) -> tuple[Token, User] | None:
        version = self.version()
        if version is None:
            return None
        if version != self._version:  # something was written since the entries were read
            self._entries.clear()
            return None
        entry = self._entries.get(token_id)
        if entry is None:
            return None
        if entry.version != version or not 0 <= now - entry.at < TOKEN_CACHE_SECONDS:
            del self._entries[token_id]
            return None
        return entry.token, entry.user

    def put(self, token: Token, user: User, version: int | None, at: float) -> None:
        """Remember a valid token, if the store is still at ``version`` (the one read before the
        token and the user were): a write that ended meanwhile may have made them stale."""
        if version is None or version != self.version():
            return
        if version != self._version:
            self._entries.clear()
            self._version = version
        if len(self._entries) >= TOKEN_CACHE_SIZE:
            self._entries.clear()
        self._entries[token.id] = _Checked(replace(token), replace(user), version, at)


class AccessService:
    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        *,
        session_ttl: float = DEFAULT_SESSION_TTL,
        login_limit: LoginLimit | None = None,
    ):
        self.store = store
        self.clock = clock
        self.session_ttl = session_ttl
        self._limiter = LoginLimiter(login_limit or LoginLimit())
        self._hash_slots = asyncio.Semaphore(HASH_CONCURRENCY)
        self._dummy_hash: str | None = None
        self.tokens = TokenCache(store)

    # ----------------------------------------------------------------------------- hashing

    async def _hash(self, password: str) -> str:
        async with self._hash_slots:
            return await asyncio.to_thread(passwords.hash_password, password)

    async def _verify(self, password_hash: str | None, password: str) -> bool:
        if not password_hash:
            self._dummy_hash = self._dummy_hash or await self._hash(_DUMMY_PASSWORD)
            password_hash, password = self._dummy_hash, password + "\0"  # never matches
        async with self._hash_slots:
            return await asyncio.to_thread(passwords.verify_password, password_hash, password)

    # --------------------------------------------------------------------------- first start

    async def bootstrap_admin(self, password_from_env: str | None) -> str | None:
        """On first start (no users yet) create ``admin`` with the given password, or a generated
        one that is returned so the caller can print it once. None when users already existed."""
        if await self.store.count_users() > 0:
            return None
        generated = None if password_from_env else credentials.new_admin_password()
        password = password_from_env or generated or ""
        check_password(password, what="SCAFFOLD_ADMIN_PASSWORD")
        now = self.clock.now()
        admin = User(ADMIN_USERNAME, Role.ADMIN, (), False, await self._hash(password), now, now)
        try:
            await self.store.create_user(admin)
        except Conflict:
            return None  # another start created it first
        await self.audit("system", "user.create", f"user:{ADMIN_USERNAME}", role="admin", bootstrap=True)
        return generated

    # -------------------------------------------------------------------------- authentication

    async def authenticate_token(self, plaintext: str | None) -> Principal | None:
        """The caller of an ``Authorization: Bearer scf_...`` header, or None for an unknown, wrong,
        revoked or expired token, or one whose user is disabled or gone."""
        parsed = credentials.parse_token(plaintext or "")
        if parsed is None:
            return None
        now = self.clock.now()
        checked = self.tokens.get(parsed[0], now)
        if checked is not None:
            token, user = checked
            if not credentials.verify_token_secret(token, parsed[1]):
                return None
            if token.expires_at is not None and token.expires_at <= now:
                return None
            await self.store.touch_token(token.id, now)
            return Principal(replace(user), "token", token_id=token.id)
        version = self.tokens.version()  # before the reads: see TokenCache.put
        token = await self.store.get_token(parsed[0])
        if token is None or not credentials.verify_token_secret(token, parsed[1]):
            return None
        now = self.clock.now()
        if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
            return None
        user = await self.store.get_user(token.username)
        if user is None or user.disabled:
            return None
        self.tokens.put(token, user, version, now)
        await self.store.touch_token(token.id, now)
        return Principal(user, "token", token_id=token.id)

    async def authenticate_session(self, cookie_value: str | None) -> Principal | None:
        """The caller of a session cookie, or None (unknown, expired, user disabled or gone)."""
        if not cookie_value:
            return None
        session = await self.store.get_session(credentials.session_hash(cookie_value))
        if session is None:
            return None
        if session.expires_at <= self.clock.now():
            await self.store.delete_session(session.id_hash)
            return None
        user = await self.store.get_user(session.username)
        if user is None or user.disabled:
            return None
        return Principal(user, "session", session=session)

    async def current_user(self, principal: Principal) -> User | None:
        """The caller of a long request (the event stream) as stored now, or None when their
        credentials no longer hold: the user is disabled or gone, the token revoked or expired, the
        session ended."""
        if principal.user is None:
            return None
        user = await self.store.get_user(principal.user.username)
        if user is None or user.disabled:
            return None
        now = self.clock.now()
        if principal.token_id is not None:
            token = await self.store.get_token(principal.token_id)
            if token is None or token.revoked_at is not None:
                return None
            if token.expires_at is not None and token.expires_at <= now:
                return None
        if principal.session is not None:
            session = await self.store.get_session(principal.session.id_hash)
            if session is None or session.expires_at <= now:
                return None
        return user

    async def authenticate_password(self, username: str, password: str, remote: str | None) -> User | None:
        """The user when the password is right, else None. Raises :class:`TooManyAttempts` after
        too many failures for this username from this address (``remote``)."""
        name = (username or "").strip().lower()
        key, now = (name, remote or ""), self.clock.now()
        self._limiter.check(key, now)
        user = await self.store.get_user(name) if USERNAME.fullmatch(name) else None
        usable = user is not None and bool(user.password_hash) and not user.disabled
        ok = await self._verify(user.password_hash if usable and user else None, password or "")
        if not ok or user is None or not usable:
            self._limiter.failed(key, now)
            return None
        self._limiter.succeeded(key)
        if passwords.needs_rehash(user.password_hash):
            await self._rehash(user, password)
        return user

    async def _rehash(self, user: User, password: str) -> None:
        new_hash = await self._hash(password)
        fresh = await self.store.get_user(user.username)
        if fresh is not None and fresh.password_hash == user.password_hash:
            fresh.password_hash = new_hash
            await self.store.update_user(fresh)
            user.password_hash = new_hash

    async def login(self, username: str, password: str, remote: str | None) -> tuple[Session, str]:
        """A new session and the cookie value for it. Raises Unauthorized or TooManyAttempts."""
        user = await self.authenticate_password(username, password, remote)
        if user is None:
            raise Unauthorized("the username or password is wrong")
        now = self.clock.now()
        await self.store.delete_expired_sessions(now)
        session, cookie_value = credentials.new_session(user.username, now, self.session_ttl)
        await self.store.create_session(session)
        return session, cookie_value

    async def logout(self, cookie_value: str | None) -> None:
        if cookie_value:
            await self.store.delete_session(credentials.session_hash(cookie_value))

    async def authenticate_webhook(self, webhook_id: str, secret: str | None) -> Webhook | None:
        """The webhook when ``secret`` is its secret (its last trigger time is then updated)."""
        webhook = await self.store.get_webhook(webhook_id)
        if webhook is None or not credentials.verify_webhook_secret(webhook, secret):
            return None
        webhook.last_triggered_at = self.clock.now()
        try:
            await self.store.update_webhook(webhook)
        except NotFound:
            return None  # deleted meanwhile
        return webhook

    # ---------------------------------------------------------------------------------- tokens

    async def create_token(
        self, actor: User, name: str, expires_at: float | None = None, username: str | None = None
    ) -> tuple[Token, str]:
        """A token for ``actor`` (or, for an admin, for ``username``); the plaintext is shown once."""
        owner = username or actor.username
        if owner != actor.username:
            require(actor, Action.MANAGE_TOKENS_OF_OTHERS)
        elif actor.disabled:
            require(actor, Action.VIEW)  # raises: the account is disabled
        name = check_token_name(name)
        now = self.clock.now()
        check_expiry(expires_at, now)
        if await self.store.get_user(owner) is None:
            raise NotFound(f"user {owner!r} does not exist")
        token, plaintext = credentials.new_token(owner, name, expires_at, now)
        await self.store.create_token(token)
        await self.audit(actor, "token.create", f"token:{token.id}", name=name, owner=owner)
        return token, plaintext

    async def list_tokens(
        self, actor: User, username: str | None = None, *, everyone: bool = False
    ) -> list[Token]:
        """``actor``'s own tokens; an admin may ask for ``username``'s or ``everyone``'s."""
        if everyone or (username is not None and username != actor.username):
            require(actor, Action.MANAGE_TOKENS_OF_OTHERS)
        return await self.store.list_tokens(None if everyone else (username or actor.username))

    async def revoke_token(self, actor: User, token_id: str) -> Token:
        """Revoke a token of ``actor``'s own, or any token for an admin; NotFound otherwise."""
        token = await self.store.get_token(token_id)
        if token is None or (
            token.username != actor.username and not allowed(actor, Action.MANAGE_TOKENS_OF_OTHERS)
        ):
            raise NotFound(f"you have no token {token_id!r}")
        await self.store.revoke_token(token_id, self.clock.now())
        await self.audit(actor, "token.revoke", f"token:{token_id}", name=token.name, owner=token.username)
        return await self.store.get_token(token_id) or token

    # ----------------------------------------------------------------------------------- users

    async def get_user(self, actor: User, username: str) -> User:
        """Anyone may read their own account; admins anyone's."""
        if username != actor.username and not allowed(actor, Action.MANAGE_USERS):
            raise NotFound(f"user {username!r} does not exist")
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"user {username!r} does not exist")
        return user

    async def list_users(self, actor: User) -> list[User]:
        require(actor, Action.MANAGE_USERS)
        return await self.store.list_users()

    async def create_user(
        self,
        actor: User,
        username: str,
        *,
        password: str | None = None,
        role: Role | str = Role.READ,
        groups: Iterable[str] = (),
    ) -> User:
        """A new user; without a password they can only use tokens an admin makes for them."""
        require(actor, Action.MANAGE_USERS)
        check_username(username)
        new_role, new_groups = check_role(role), check_groups(groups)
        password_hash = await self._hash(check_password(password)) if password is not None else ""
        now = self.clock.now()
        user = User(username, new_role, new_groups, False, password_hash, now, now)
        await self.store.create_user(user)
        await self.audit(
            actor, "user.create", f"user:{username}", role=new_role.value, groups=list(new_groups)
        )
        return user

    async def update_user(
        self,
        actor: User,
        username: str,
        *,
        role: Role | str | None = None,
        groups: Iterable[str] | None = None,
        disabled: bool | None = None,
        password: str | None = None,
    ) -> User:
        """Change a user (admins only). Disabling, or setting a new password, ends their sessions."""
        require(actor, Action.MANAGE_USERS)
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"user {username!r} does not exist")
        was_admin = user.role is Role.ADMIN and not user.disabled
        changed: dict[str, Any] = {}
        if role is not None and check_role(role) is not user.role:
            user.role = changed["role"] = check_role(role)
        if groups is not None and check_groups(groups) != user.groups:
            user.groups = check_groups(groups)
            changed["groups"] = list(user.groups)
        if disabled is not None and bool(disabled) != user.disabled:
            user.disabled = changed["disabled"] = bool(disabled)
        if password is not None:
            user.password_hash = await self._hash(check_password(password))
            changed["password"] = "changed"
        if not changed:
            return user
        if was_admin and (user.role is not Role.ADMIN or user.disabled):
            await self._keep_an_admin(username)
        user.updated_at = self.clock.now()
        await self.store.update_user(user)
        if user.disabled or "password" in changed:
            await self.store.delete_sessions_of(username)
        await self.audit(actor, "user.update", f"user:{username}", **changed)
        return user

    async def change_password(self, user: User, old: str, new: str, keep: Session | None = None) -> None:
        """A user changes their own password; the current one must be given (and is rate-limited).
        Every other login session of the user ends; ``keep`` (the session that asked) stays."""
        key, now = (user.username, "password-change"), self.clock.now()
        self._limiter.check(key, now, "too many wrong current passwords")
        current = await self.store.get_user(user.username)
        if current is None or current.disabled:
            raise Unauthorized("log in again")
        check_password(new)
        if not await self._verify(current.password_hash or None, old or ""):
            self._limiter.failed(key, now)
            raise InvalidInput("the current password is wrong")
        self._limiter.succeeded(key)
        current.password_hash = await self._hash(new)
        current.updated_at = self.clock.now()
        await self.store.update_user(current)
        user.password_hash = current.password_hash
        await self.store.delete_sessions_of(user.username)
        if keep is not None and keep.username == user.username:
            await self.store.create_session(keep)
        await self.audit(user, "user.password", f"user:{user.username}")

    async def delete_user(self, actor: User, username: str) -> None:
        """Delete a user with their tokens and sessions (admins only)."""
        require(actor, Action.MANAGE_USERS)
        user = await self.store.get_user(username)
        if user is None:
            raise NotFound(f"user {username!r} does not exist")
        if user.role is Role.ADMIN and not user.disabled:
            await self._keep_an_admin(username)
        await self.store.delete_user(username)
        await self.audit(actor, "user.delete", f"user:{username}")

    async def _keep_an_admin(self, username: str) -> None:
        """Refuse to take admin rights from the last enabled admin (nobody could manage users again)."""
        users = await self.store.list_users()
        if not any(u.role is Role.ADMIN and not u.disabled and u.username != username for u in users):
            raise Conflict(f"{username!r} is the last enabled admin; make another user admin first")

    # -------------------------------------------------------------------------------- webhooks

    async def create_webhook(
        self, actor: User, cascade: str, task: str, cascade_groups: Iterable[str] = ()
    ) -> tuple[Webhook, str]:
        """A webhook for a task (the caller checks the cascade and task exist); the secret is shown once."""
        require(actor, Action.MANAGE_WEBHOOKS, tuple(cascade_groups), cascade=cascade)
        webhook, secret = credentials.new_webhook(cascade, task, actor.username, self.clock.now())
        await self.store.create_webhook(webhook)
        await self.audit(actor, "webhook.create", f"{cascade}/{task}", webhook=webhook.id)
        return webhook, secret

    async def list_webhooks(
        self, actor: User, cascade: str, cascade_groups: Iterable[str] = ()
    ) -> list[Webhook]:
        require(actor, Action.VIEW, tuple(cascade_groups), cascade=cascade)
        return await self.store.list_webhooks(cascade)

    async def delete_webhook(
        self, actor: User, cascade: str, webhook_id: str, cascade_groups: Iterable[str] = ()
    ) -> None:
        require(actor, Action.MANAGE_WEBHOOKS, tuple(cascade_groups), cascade=cascade)
        webhook = await self.store.get_webhook(webhook_id)
        if webhook is None or webhook.cascade != cascade:
            raise NotFound(f"cascade {cascade!r} has no webhook {webhook_id!r}")
        await self.store.delete_webhook(webhook_id)
        await self.audit(actor, "webhook.delete", f"{cascade}/{webhook.task}", webhook=webhook_id)

    # ----------------------------------------------------------------------------------- audit

    async def audit(
        self, actor: User | Principal | str | None, action: str, target: str, **details: Any
    ) -> int:
        """Record who did what to which object. ``details`` must never hold a secret value."""
        if isinstance(actor, Principal | User):
            actor = actor.username
        entry = AuditEntry(actor, action, target, details, self.clock.now())
        return await self.store.add_audit(entry)

    async def list_audit(
        self, actor: User, limit: int = 100, before_id: int | None = None
    ) -> list[AuditEntry]:
        require(actor, Action.READ_AUDIT)
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        return await self.store.list_audit(limit, before_id)
