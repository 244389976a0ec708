"""Fast argon2 parameters for the access tests (the real ones take ~0.2 s per hash)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scaffold.access import passwords


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    passwords.use_fast_hashing(True)
    yield
    passwords.use_fast_hashing(False)
