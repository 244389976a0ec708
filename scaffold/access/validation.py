"""Checks of what people type when they manage accounts: usernames, roles, groups, passwords, token
names and expiry times. Each returns the clean value or raises InvalidInput saying what to do."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from scaffold.access.records import Role
from scaffold.errors import InvalidInput

USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_NAME_LENGTH = 100  # token names and group names


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise InvalidInput(
            f"invalid username {username!r}: use 1 to 64 of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return username


def check_role(role: Any) -> Role:
    try:
        return Role(role)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}: use one of {names}") from None


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty text, not {value!r}")
    value = value.strip()
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} {value[:20]!r}... is too long: at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise InvalidInput(f"{what} {value!r} holds control characters; use plain text")
    return value


def check_groups(groups: Any) -> tuple[str, ...]:
    """Group names, trimmed, without duplicates, in the given order."""
    if isinstance(groups, str | bytes) or not isinstance(groups, Iterable):
        raise InvalidInput(f"groups must be a list of group names, not {groups!r}")
    return tuple(dict.fromkeys(_name(g, "a group name") for g in groups))


def check_password(password: Any, what: str = "the password") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"{what} is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"{what} is too long: use at most {MAX_PASSWORD_LENGTH} characters")
    return password


def check_token_name(name: Any) -> str:
    return _name(name, "the token name")


def check_expiry(expires_at: Any, now: float) -> float | None:
    if expires_at is None:
        return None
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        raise InvalidInput(f"expires_at must be a time in seconds since the epoch, not {expires_at!r}")
    if expires_at <= now:
        raise InvalidInput("expires_at is in the past: give a time in the future, or none to never expire")
    return float(expires_at)
