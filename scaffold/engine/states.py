"""Task states and the one table of allowed transitions (SPEC 2).

Nothing else in Scaffold decides whether a state may change: the scheduler asks :func:`check`
before every change and the store writes a row only if it still holds the expected state.
"""

from __future__ import annotations

from enum import StrEnum

from scaffold.errors import ScaffoldError


class State(StrEnum):
    NOT_STARTED = "not_started"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    KILLED = "killed"

    @property
    def active(self) -> bool:
        """A run is queued or executing: the task may not be started again."""
        return self in ACTIVE

    @property
    def final(self) -> bool:
        return self in FINAL


ACTIVE = frozenset({State.WAITING, State.RUNNING})
FINAL = frozenset({State.SUCCESS, State.ERROR, State.KILLED})


class Display(StrEnum):
    """States shown to people: the stored ones plus the derived ones (never stored)."""

    NOT_STARTED = "not_started"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    KILLED = "killed"
    BLOCKED = "blocked"  # a dependency can no longer hold until something upstream is re-run
    AWAITING_APPROVAL = "awaiting_approval"  # auto_execute: false and its dependencies hold
    SKIPPED = "skipped"  # its condition can't hold because upstream took the other branch


# Why a transition happens is part of the table, so a reader sees every legal move in one place.
TRANSITIONS: dict[State, dict[State, str]] = {
    State.NOT_STARTED: {
        State.WAITING: "started (by hand, webhook, parent or check)",
    },
    State.WAITING: {
        State.RUNNING: "an executor slot or worker took it",
        State.KILLED: "killed before it ran",
        State.ERROR: "could not be started (image, engine or load failure)",
    },
    State.RUNNING: {
        State.SUCCESS: "exit code 0 and everything stored",
        State.ERROR: "non-zero exit, timeout, store failure or lost",
        State.KILLED: "killed by a person",
        State.WAITING: "errored attempt queued for a retry",
    },
    State.SUCCESS: {
        State.WAITING: "started again",
        State.NOT_STARTED: "reset by the waterfall",
        State.ERROR: "its check failed",
    },
    State.ERROR: {
        State.WAITING: "started again",
        State.NOT_STARTED: "reset by the waterfall",
    },
    State.KILLED: {
        State.WAITING: "started again",
        State.NOT_STARTED: "reset by the waterfall",
    },
}


class IllegalTransition(ScaffoldError):
    status = 409
    code = "illegal_transition"


def allowed(old: State, new: State) -> bool:
    return new in TRANSITIONS.get(old, {})


def check(old: State, new: State) -> None:
    """Raise :class:`IllegalTransition` unless ``old -> new`` is in the table."""
    if not allowed(old, new):
        raise IllegalTransition(f"a task cannot go from {old.value} to {new.value}")
