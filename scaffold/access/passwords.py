"""Password hashing with argon2id (argon2-cffi), the one place that knows the parameters.

The parameters are argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes),
about 0.2 s per hash on a small machine. Tests that log in many times set the environment variable
``SCAFFOLD_INSECURE_FAST_HASHING=1`` (or call :func:`use_fast_hashing`) to use argon2's cheapest
parameters instead; never in production. A hash made with other parameters still verifies, and
:func:`needs_rehash` says when a stored hash should be replaced by one with the current parameters
(the access service does that at the next successful login).

Hashing and verifying are CPU-bound and release the GIL: async callers run them in a thread.
"""

from __future__ import annotations

import os

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

FAST_HASHING_ENV = "SCAFFOLD_INSECURE_FAST_HASHING"

_hasher: PasswordHasher | None = None


def _current() -> PasswordHasher:
    global _hasher
    if _hasher is None:
        fast = os.environ.get(FAST_HASHING_ENV, "").strip().lower() in ("1", "true", "yes")
        _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST) if fast else PasswordHasher()
    return _hasher


def use_fast_hashing(fast: bool = True) -> None:
    """Switch to argon2's cheapest parameters (tests only), or back to the defaults."""
    global _hasher
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST) if fast else PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash in PHC string form (``$argon2id$v=19$m=...``), salted."""
    return _current().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``. Never raises: an empty, damaged or
    foreign hash is simply no match."""
    if not password_hash:
        return False
    try:
        return _current().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones (or is unreadable)."""
    try:
        return _current().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError, TypeError):
        return True
