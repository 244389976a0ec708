"""One exception tree for Scaffold.

Every error knows its HTTP status, a stable machine-readable ``code`` and a message that says what
was wrong and what to do. Front ends render the same error as JSON, HTML or one line on stderr.
"""

from __future__ import annotations

from typing import Any


class ScaffoldError(Exception):
    """Base of every error Scaffold reports to a person."""

    status = 500
    code = "internal"
    exit_code = 1

    def __init__(self, message: str, details: list[Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(ScaffoldError):
    """The request or file is malformed (bad YAML, wrong type, unknown field...)."""

    status = 400
    code = "invalid"
    exit_code = 2


class ValidationFailed(InvalidInput):
    """A cascade file failed validation; ``details`` holds every problem found."""

    status = 422
    code = "validation_failed"


class NotFound(ScaffoldError):
    status = 404
    code = "not_found"
    exit_code = 4


class Conflict(ScaffoldError):
    """The action is refused in the current state (e.g. the task is already running)."""

    status = 409
    code = "conflict"
    exit_code = 5


class ExecutorUnavailable(ScaffoldError):
    """The executor cannot run tasks here (no Docker engine, no namespace support...)."""

    status = 503
    code = "executor_unavailable"
    exit_code = 6


class Unauthorized(ScaffoldError):
    """No valid credentials: log in, or send a valid API token."""

    status = 401
    code = "unauthorized"
    exit_code = 3


class Forbidden(ScaffoldError):
    """Authenticated, but the role does not allow the action."""

    status = 403
    code = "forbidden"
    exit_code = 3


class PayloadTooLarge(ScaffoldError):
    status = 413
    code = "too_large"
    exit_code = 2


class RateLimited(ScaffoldError):
    status = 429
    code = "rate_limited"
    exit_code = 3
