"""Login rate limiting: after N failed password checks for one username from one address within a
window, further attempts are refused (HTTP 429) until the oldest failure leaves the window.

Kept in memory: a restart forgets the failures, which only gives an attacker one more round per
restart. The memory is bounded: at most ``max_keys`` (username, address) pairs are tracked, the
stalest dropped first.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass

from scaffold.errors import RateLimited

_FAILED_LOGINS = "too many failed logins for this user from this address"


class TooManyAttempts(RateLimited):
    """Too many failed logins; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, retry_after: float, what: str = _FAILED_LOGINS):
        seconds = max(1, math.ceil(retry_after))
        wait = f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
        super().__init__(f"{what}; try again in {wait}", [{"retry_after": seconds}])
        self.retry_after = seconds


@dataclass(frozen=True)
class LoginLimit:
    failures: int = 5  # failed attempts allowed per username and address...
    window: float = 300.0  # ...within this many seconds


class LoginLimiter:
    def __init__(self, limit: LoginLimit = LoginLimit(), max_keys: int = 10_000):
        self.limit = limit
        self._max_keys = max_keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.limit.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def check(self, key: tuple[str, str], now: float, what: str | None = None) -> None:
        """Raise :class:`TooManyAttempts` (saying ``what``) when ``key`` has used up its failures."""
        times = self._recent(key, now)
        if times is not None and len(times) >= self.limit.failures:
            raise TooManyAttempts(times[0] + self.limit.window - now, what or _FAILED_LOGINS)

    def failed(self, key: tuple[str, str], now: float) -> None:
        times = self._recent(key, now)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.limit.failures)
        times.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)
