from __future__ import annotations

import pytest

from scaffold.access.login_limit import LoginLimit, LoginLimiter, TooManyAttempts

KEY = ("alice", "10.0.0.1")


def test_blocks_after_the_allowed_failures_until_the_window_passes():
    limiter = LoginLimiter(LoginLimit(failures=3, window=60.0))
    for t in (0.0, 10.0, 20.0):
        limiter.check(KEY, t)
        limiter.failed(KEY, t)
    with pytest.raises(TooManyAttempts) as error:
        limiter.check(KEY, 30.0)
    assert error.value.status == 429
    assert error.value.code == "rate_limited"
    assert error.value.retry_after == 30
    assert "try again in 30 seconds" in error.value.message
    assert error.value.details == [{"retry_after": 30}]
    limiter.check(("alice", "10.0.0.2"), 30.0)  # another address is not blocked
    limiter.check(("bob", "10.0.0.1"), 30.0)  # nor another user
    limiter.check(KEY, 60.0)  # the first failure has left the window


def test_long_waits_are_said_in_minutes():
    limiter = LoginLimiter(LoginLimit(failures=1, window=300.0))
    limiter.failed(KEY, 0.0)
    with pytest.raises(TooManyAttempts, match="try again in 5 minutes"):
        limiter.check(KEY, 1.0)


def test_success_forgets_the_failures():
    limiter = LoginLimiter(LoginLimit(failures=2, window=60.0))
    limiter.failed(KEY, 0.0)
    limiter.succeeded(KEY)
    limiter.failed(KEY, 1.0)
    limiter.check(KEY, 2.0)


def test_memory_is_bounded():
    limiter = LoginLimiter(LoginLimit(failures=1, window=60.0), max_keys=100)
    for i in range(1000):
        limiter.failed((f"user{i}", "x"), 0.0)
    assert len(limiter._failures) == 100
    with pytest.raises(TooManyAttempts):
        limiter.check(("user999", "x"), 1.0)
