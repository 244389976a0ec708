"""Shared fixtures of the access tests: fast argon2 parameters (the real ones take ~0.2 s per
hash), both stores, a fake clock and the bootstrapped admin (password ``PW``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scaffold.access import passwords
from scaffold.access.records import User
from scaffold.engine.clock import FakeClock
from scaffold.store.memory import MemoryStore

PW = "s3cret-passw0rd"


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    passwords.use_fast_hashing(True)
    yield
    passwords.use_fast_hashing(False)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request, tmp_path: Path) -> AsyncIterator:
    if request.param == "memory":
        s = MemoryStore()
    else:
        from scaffold.store.crypto import SecretBox
        from scaffold.store.sqlite import SqliteStore

        s = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def admin(service) -> User:
    """The first admin, bootstrapped through the module's own ``service`` fixture."""
    await service.bootstrap_admin(PW)
    return await service.store.get_user("admin")
