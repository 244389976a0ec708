"""Making and checking the secrets people and machines hold: API tokens, login sessions, CSRF tokens,
webhook secrets and the one-time admin password.

Every secret comes from :mod:`secrets` (the OS's CSPRNG) and is stored only as a sha256 hash: these
are long random values, not passwords, so a fast hash is enough and lets a lookup use an index.
Comparisons use :func:`hmac.compare_digest`.

- An API token reads ``scf_<id>_<secret>``: ``id`` (12 characters) is the primary key of the token
  row, so checking a token is one indexed lookup and one hash, never a scan; ``secret`` is 32
  random bytes in URL-safe base64 (43 characters). The ``scf_`` prefix lets secret scanners spot
  leaked tokens.
- A session cookie holds 32 random bytes; the store keys the session by their sha256.
- A webhook is ``/api/v1/hooks/<id>`` plus a secret sent with each call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

from scaffold.access.records import Session, Token, Webhook

TOKEN_PREFIX = "scf_"
TOKEN_ID_LENGTH = 12
SECRET_BYTES = 32
_ID_ALPHABET = string.ascii_letters + string.digits  # URL-safe, and a double click selects it whole
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}([A-Za-z0-9_-]{{{TOKEN_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")
# no 0/o, 1/l/i: the admin password is read off a terminal and typed by hand
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _random_id(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _same_hash(value: str, stored_hash: str) -> bool:
    return hmac.compare_digest(_sha256(value), stored_hash)


# ------------------------------------------------------------------------------------ API tokens


def new_token(username: str, name: str, expires_at: float | None, now: float) -> tuple[Token, str]:
    """A new token row (to store) and the plaintext ``scf_<id>_<secret>`` (to show once)."""
    token_id = _random_id(TOKEN_ID_LENGTH)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = Token(token_id, username, name, _sha256(secret), created_at=now, expires_at=expires_at)
    return token, f"{TOKEN_PREFIX}{token_id}_{secret}"


def parse_token(plaintext: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, or None."""
    match = _TOKEN.match(plaintext.strip()) if isinstance(plaintext, str) else None
    return (match[1], match[2]) if match else None


def verify_token_secret(token: Token, secret: str) -> bool:
    return _same_hash(secret, token.secret_hash)


# ---------------------------------------------------------------------------------- login sessions


def session_hash(cookie_value: str) -> str:
    """The key the store keeps a session under (the cookie value itself is never stored)."""
    return _sha256(cookie_value)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def new_session(username: str, now: float, ttl: float) -> tuple[Session, str]:
    """A new session row (to store) and the cookie value (to send to the browser)."""
    cookie_value = secrets.token_urlsafe(SECRET_BYTES)
    session = Session(session_hash(cookie_value), username, new_csrf_token(), now, now + ttl)
    return session, cookie_value


def verify_csrf_token(session: Session, submitted: str | None) -> bool:
    """True when a form or header sent the CSRF token of this session."""
    return bool(submitted) and hmac.compare_digest(session.csrf_token.encode(), str(submitted).encode())


# ---------------------------------------------------------------------------------------- webhooks


def new_webhook(cascade: str, task: str, created_by: str | None, now: float) -> tuple[Webhook, str]:
    """A new webhook row (to store) and its secret (to show once)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    webhook = Webhook(_random_id(16), cascade, task, _sha256(secret), created_by, now)
    return webhook, secret


def verify_webhook_secret(webhook: Webhook, secret: str | None) -> bool:
    return bool(secret) and _same_hash(str(secret), webhook.secret_hash)


# ------------------------------------------------------------------------------------- passwords


def new_admin_password() -> str:
    """A one-time password like ``k7dp-2xqa-m9fh-w3ne-c8tr`` (about 99 bits), easy to type."""
    groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(5))
    return "-".join(groups)
