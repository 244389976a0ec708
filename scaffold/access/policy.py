"""Who may do what (SPEC 7): pure functions, the single source of truth for every front end.

Two questions, always asked together for a cascade:

- **Can the user see the cascade?** A cascade without ``groups`` is visible to every user; one
  with groups only to members of at least one of them, and to admins.
- **Does the user's role allow the action?** ``read`` may view; ``write`` may also start, kill,
  apply, delete, edit inputs, values and files, manage webhooks and open shells; ``admin`` may do
  everything, including managing users, other people's tokens, workers, and reading the audit log.

A disabled user, and anonymous callers (``user=None``), are allowed nothing. Routes that answer
"not found" rather than "forbidden" for a cascade the caller cannot see should ask :func:`can_see`
first, so the existence of a hidden cascade is never revealed.

For ``apply``, ask with the groups of the stored definition (when there is one) and again with
those of the new one, so nobody can take over a cascade or create one they could not see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from scaffold.access.records import Role, Session, User
from scaffold.errors import Forbidden, NotFound, Unauthorized


class Action(StrEnum):
    VIEW = "view"
    START = "start"
    KILL = "kill"
    APPLY = "apply"
    DELETE = "delete"
    EDIT_INPUTS = "edit_inputs"
    EDIT_VALUES = "edit_values"
    EDIT_FILES = "edit_files"
    MANAGE_WEBHOOKS = "manage_webhooks"
    OPEN_SHELL = "open_shell"
    MANAGE_USERS = "manage_users"
    MANAGE_TOKENS_OF_OTHERS = "manage_tokens_of_others"
    READ_AUDIT = "read_audit"
    MANAGE_WORKERS = "manage_workers"


#: The least role that allows each action.
REQUIRED_ROLE: dict[Action, Role] = {
    Action.VIEW: Role.READ,
    Action.START: Role.WRITE,
    Action.KILL: Role.WRITE,
    Action.APPLY: Role.WRITE,
    Action.DELETE: Role.WRITE,
    Action.EDIT_INPUTS: Role.WRITE,
    Action.EDIT_VALUES: Role.WRITE,
    Action.EDIT_FILES: Role.WRITE,
    Action.MANAGE_WEBHOOKS: Role.WRITE,
    Action.OPEN_SHELL: Role.WRITE,
    Action.MANAGE_USERS: Role.ADMIN,
    Action.MANAGE_TOKENS_OF_OTHERS: Role.ADMIN,
    Action.READ_AUDIT: Role.ADMIN,
    Action.MANAGE_WORKERS: Role.ADMIN,
}

#: Actions on one cascade: allowed only when the user can also see that cascade.
CASCADE_ACTIONS = frozenset(a for a, role in REQUIRED_ROLE.items() if role is not Role.ADMIN)


def actions_of(role: Role) -> list[Action]:
    """What a role allows, in declaration order (for ``GET /api/v1/roles`` and the docs)."""
    return [a for a in Action if Role(role).at_least(REQUIRED_ROLE[a])]


def can_see(user: User | None, cascade_groups: Iterable[str] | None) -> bool:
    """True when ``user`` may see a cascade with these ``groups`` (none: visible to every user)."""
    if user is None or user.disabled:
        return False
    groups = tuple(cascade_groups or ())
    if not groups or Role(user.role) is Role.ADMIN:
        return True
    return not set(groups).isdisjoint(user.groups)


def allowed(user: User | None, action: Action, cascade_groups: Iterable[str] | None = None) -> bool:
    """True when ``user`` may do ``action``. For a cascade action, pass the cascade's ``groups``
    (``()`` for a cascade without groups); ``None`` asks about the role alone."""
    if user is None or user.disabled:
        return False
    if not Role(user.role).at_least(REQUIRED_ROLE[Action(action)]):
        return False
    if cascade_groups is not None and action in CASCADE_ACTIONS:
        return can_see(user, cascade_groups)
    return True


def require(
    user: User | None,
    action: Action,
    cascade_groups: Iterable[str] | None = None,
    *,
    cascade: str | None = None,
) -> None:
    """Raise the error a front end should show when :func:`allowed` says no: Unauthorized for
    nobody, NotFound for a cascade the user cannot see (so it is never revealed; pass its name as
    ``cascade``), Forbidden when the role is too low or the account is disabled."""
    action = Action(action)
    if user is None:
        raise Unauthorized("log in, or send an API token as 'Authorization: Bearer scf_...'")
    if user.disabled:
        raise Forbidden(f"the account {user.username!r} is disabled; ask an admin to enable it")
    if cascade_groups is not None and action in CASCADE_ACTIONS and not can_see(user, cascade_groups):
        raise NotFound(f"cascade {cascade!r} does not exist" if cascade else "no such cascade")
    needed = REQUIRED_ROLE[action]
    if not Role(user.role).at_least(needed):
        raise Forbidden(
            f"your role {Role(user.role).value!r} does not allow {action.value!r}; "
            f"it needs the {needed.value!r} role (ask an admin)"
        )


Via = Literal["session", "token", "basic", "anonymous"]


@dataclass(frozen=True)
class Principal:
    """Who is calling and how they proved it. ``user`` is None only for ``anonymous``; ``token_id``
    is set when ``via == "token"``, ``session`` when ``via == "session"`` (it holds the CSRF token)."""

    user: User | None
    via: Via = "anonymous"
    token_id: str | None = None
    session: Session | None = None

    @property
    def username(self) -> str | None:
        return self.user.username if self.user else None

    @property
    def is_anonymous(self) -> bool:
        return self.user is None

    def can_see(self, cascade_groups: Iterable[str] | None) -> bool:
        return can_see(self.user, cascade_groups)

    def allowed(self, action: Action, cascade_groups: Iterable[str] | None = None) -> bool:
        return allowed(self.user, action, cascade_groups)


ANONYMOUS = Principal(None, "anonymous")
