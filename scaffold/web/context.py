"""Who is calling (the principal) and what one request may touch.

Credentials, in order: ``Authorization: Bearer <token>``; ``Authorization: Basic`` (only where an
endpoint accepts it: creating a token); the session cookie of a browser login, which needs the
``X-CSRF-Token`` header on every state-changing request (``GET /api/v1/me`` tells it again).
Cascades a caller may not see answer 404, exactly like cascades that do not exist.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from scaffold.access.policy import Action, Principal, allowed, can_see
from scaffold.errors import Forbidden, NotFound, Unauthorized

SESSION_COOKIE = "scaffold_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass
class Context:
    request: Request
    core: Any  # scaffold.app.Core
    access: Any  # scaffold.access.service.AccessService
    principal: Principal
    params: dict[str, str]
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None

    @property
    def engine(self) -> Any:
        return self.core.engine

    @property
    def store(self) -> Any:
        return self.core.store

    @property
    def user(self) -> Any:
        if self.principal.user is None:
            raise Unauthorized("log in or send an API token (Authorization: Bearer scf_...)")
        return self.principal.user

    @property
    def actor(self) -> str:
        return self.user.username

    def require(self, action: Action) -> None:
        """A global action (users, audit, workers...)."""
        if not allowed(self.user, action):
            raise Forbidden(f"your role ({self.user.role.value}) may not {action.value.replace('_', ' ')}")

    def cascade(self, name: str | None = None, action: Action = Action.VIEW) -> Any:
        """The live cascade named in the path, if the caller may see it and do ``action`` on it."""
        name = name or self.params["cascade"]
        live = self.engine.cascades.get(name)
        if live is None or not can_see(self.user, live.spec.groups):
            raise NotFound(f"cascade '{name}' does not exist (or you may not see it)")
        if not allowed(self.user, action, live.spec.groups):
            raise Forbidden(
                f"your role ({self.user.role.value}) may not {action.value.replace('_', ' ')} in '{name}'"
            )
        return live

    def task(self, live: Any, name: str | None = None) -> str:
        name = self.params["task"] if name is None else name
        if not live.spec.has_task(name):
            raise NotFound(f"cascade '{live.spec.name}' has no task '{name}'")
        return name

    async def audit(self, action: str, target: str, **details: Any) -> None:
        await self.access.audit(self.principal.username, action, target, **details)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(header, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


async def resolve_principal(request: Request, access: Any, *, allow_basic: bool, public: bool) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        principal = await access.authenticate_token(credentials.strip())
        if principal is None:
            raise Unauthorized("the API token is invalid, expired or revoked (or its user is disabled)")
        return principal
    if scheme == "basic":
        if not allow_basic:
            raise Unauthorized("basic auth is only accepted to create an API token (POST /api/v1/tokens)")
        pair = _basic_credentials(credentials.strip())
        if pair is None:
            raise Unauthorized("malformed basic auth header")
        remote = request.client.host if request.client else "unknown"
        user = await access.authenticate_password(pair[0], pair[1], remote)
        if user is None:
            raise Unauthorized("wrong username or password (or the user is disabled)")
        return Principal(user=user, via="basic")
    if header and not public:
        raise Unauthorized("unsupported Authorization scheme: use Bearer <token>")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = await access.authenticate_session(cookie)
        if principal is not None:
            if request.method not in SAFE_METHODS and not public:  # log in/out needs no token
                _check_csrf(request, principal)
            return principal
    return Principal(user=None, via="anonymous")


def _check_csrf(request: Request, principal: Principal) -> None:
    """The header only: a form field would mean reading the body here, before the route does."""
    expected = principal.session.csrf_token if principal.session else ""
    sent = request.headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("missing or wrong CSRF token: send the X-CSRF-Token header (GET /api/v1/me gives it)")


def set_session_cookie(response: Any, request: Any, session: Any, cookie: str) -> None:
    """The browser session cookie: HttpOnly, SameSite=Lax, Secure under TLS, as long as the session."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(session.expires_at - session.created_at),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
