"""Fixtures that give every store test a fresh store of each kind, and a way to reopen it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scaffold.store.memory import MemoryStore

LOG_CAP = 1_000


class StoreHandle:
    """Holds the store under test; ``reopen`` closes it and opens a new one on the same data."""

    def __init__(self, kind: str, tmp_path: Path):
        self.kind = kind
        self.tmp_path = tmp_path
        self.store = self._make()

    def _make(self):
        if self.kind == "memory":
            return MemoryStore(log_cap_chars=LOG_CAP)
        from scaffold.store.crypto import SecretBox
        from scaffold.store.sqlite import SqliteStore

        return SqliteStore(self.tmp_path / "scaffold.db", SecretBox(self.tmp_path), log_cap_chars=LOG_CAP)

    async def reopen(self):
        if self.kind == "memory":
            return self.store  # nothing to persist: the same object is the "reopened" store
        await self.store.close()
        self.store = self._make()
        await self.store.open()
        return self.store


@pytest.fixture(params=["memory", "sqlite"])
async def handle(request, tmp_path: Path) -> AsyncIterator[StoreHandle]:
    h = StoreHandle(request.param, tmp_path)
    await h.store.open()
    try:
        yield h
    finally:
        await h.store.close()


@pytest.fixture
def store(handle: StoreHandle):
    return handle.store
