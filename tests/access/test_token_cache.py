"""The token cache of AccessService.authenticate_token, against both stores: a checked token answers
from memory, and every change that could alter the answer takes effect on the very next check."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scaffold.access.records import Role, User
from scaffold.access.service import TOKEN_CACHE_SECONDS, AccessService
from tests.access.conftest import PW


class Counting:
    """Counts the store reads authenticate_token makes (the rest goes to the store as is)."""

    def __init__(self, store: Any):
        self.store = store
        self.reads = 0

    def install(self) -> None:
        for name in ("get_token", "get_user"):
            method = getattr(self.store, name)

            async def counted(*args: Any, _method: Any = method) -> Any:
                self.reads += 1
                return await _method(*args)

            setattr(self.store, name, counted)


@pytest.fixture
def service(store, clock) -> AccessService:
    return AccessService(store, clock)


@pytest.fixture
async def bob(service: AccessService, admin: User) -> tuple[User, Any, str]:
    """bob (write, [ops]) with a token that has been checked once: it is in the cache."""
    user = await service.create_user(admin, "bob", password=PW, role=Role.WRITE, groups=["ops"])
    token, plaintext = await service.create_token(user, "laptop")
    assert (await service.authenticate_token(plaintext)).username == "bob"
    return user, token, plaintext


@pytest.fixture
def counting(store) -> Counting:
    counter = Counting(store)
    counter.install()
    return counter


async def test_a_checked_token_answers_from_memory(service, bob, counting):
    _, token, plaintext = bob
    for _ in range(3):
        principal = await service.authenticate_token(plaintext)
        assert (principal.username, principal.via, principal.token_id) == ("bob", "token", token.id)
        assert principal.user.role is Role.WRITE and principal.user.groups == ("ops",)
    assert counting.reads == 0


async def test_a_cached_token_still_needs_its_secret(service, bob, counting):
    _, _, plaintext = bob
    wrong = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert await service.authenticate_token(wrong) is None
    assert await service.authenticate_token(plaintext[:-1]) is None  # malformed
    assert (await service.authenticate_token(plaintext)).username == "bob"
    assert counting.reads == 0


async def test_a_revoked_token_fails_on_the_very_next_check(service, bob):
    user, token, plaintext = bob
    await service.revoke_token(user, token.id)
    assert await service.authenticate_token(plaintext) is None


async def test_a_token_revoked_in_the_store_directly_fails_at_once(service, store, bob, clock):
    _, token, plaintext = bob
    await store.revoke_token(token.id, clock.now())  # not through the service
    assert await service.authenticate_token(plaintext) is None


async def test_a_disabled_user_stops_at_once_and_comes_back_when_enabled(service, admin, bob):
    _, _, plaintext = bob
    await service.update_user(admin, "bob", disabled=True)
    assert await service.authenticate_token(plaintext) is None
    await service.update_user(admin, "bob", disabled=False)
    assert (await service.authenticate_token(plaintext)).username == "bob"


async def test_a_role_or_group_change_takes_effect_at_once(service, admin, bob):
    _, _, plaintext = bob
    await service.update_user(admin, "bob", role="read")
    assert (await service.authenticate_token(plaintext)).user.role is Role.READ
    await service.update_user(admin, "bob", groups=["dev", "ops"])
    assert (await service.authenticate_token(plaintext)).user.groups == ("dev", "ops")
    await service.update_user(admin, "bob", role="admin", groups=[])
    principal = await service.authenticate_token(plaintext)
    assert (principal.user.role, principal.user.groups) == (Role.ADMIN, ())


async def test_a_user_changed_in_the_store_directly_takes_effect_at_once(service, store, bob):
    _, _, plaintext = bob
    user = await store.get_user("bob")
    user.disabled = True
    await store.update_user(user)
    assert await service.authenticate_token(plaintext) is None


async def test_a_deleted_user_and_a_user_of_the_same_name_again(service, admin, bob):
    _, _, plaintext = bob
    await service.delete_user(admin, "bob")
    assert await service.authenticate_token(plaintext) is None
    await service.create_user(admin, "bob", password=PW, role=Role.ADMIN)
    assert await service.authenticate_token(plaintext) is None  # the old token went with the old bob


async def test_an_expired_token_fails_even_from_memory(service, admin, clock, counting):
    token, plaintext = await service.create_token(admin, "short", expires_at=clock.now() + 5)
    assert (await service.authenticate_token(plaintext)).token_id == token.id
    clock.advance(4.9)
    assert (await service.authenticate_token(plaintext)).token_id == token.id
    reads = counting.reads
    clock.advance(0.1)
    assert await service.authenticate_token(plaintext) is None
    assert counting.reads == reads  # refused from memory: the expiry is checked on every hit


async def test_entries_age_out(service, bob, clock, counting):
    _, _, plaintext = bob
    clock.advance(TOKEN_CACHE_SECONDS - 0.5)
    assert (await service.authenticate_token(plaintext)).username == "bob"
    assert counting.reads == 0
    clock.advance(1.0)
    assert (await service.authenticate_token(plaintext)).username == "bob"
    assert counting.reads == 2  # read again: the token and its user


async def test_the_principal_is_a_copy(service, bob):
    _, _, plaintext = bob
    principal = await service.authenticate_token(plaintext)
    principal.user.role, principal.user.disabled = Role.ADMIN, True
    again = await service.authenticate_token(plaintext)
    assert (again.user.role, again.user.disabled) == (Role.WRITE, False)


async def test_a_write_that_ends_during_a_check_is_not_hidden_by_it(service, store, admin, clock):
    """A check that read bob before he was disabled may still let that request in (it began first),
    but must not remember what it read: the next check sees the write."""
    user = await service.create_user(admin, "bob", password=PW)
    _, plaintext = await service.create_token(user, "laptop")
    original = store.get_user
    disabled = asyncio.Event()

    async def get_user_then_disable(username: str) -> Any:
        found = await original(username)  # read before the write...
        if username == "bob" and not disabled.is_set():
            disabled.set()
            await service.update_user(admin, "bob", disabled=True)  # ...which ends before the check does
        return found

    store.get_user = get_user_then_disable
    assert (await service.authenticate_token(plaintext)).username == "bob"  # began before the write
    store.get_user = original
    assert disabled.is_set()
    assert await service.authenticate_token(plaintext) is None


async def test_a_store_that_does_not_count_its_writes_is_never_cached(store, clock):
    class Plain:
        """The store without ``access_version``."""

        def __init__(self, inner: Any):
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            if name == "access_version":
                raise AttributeError(name)
            return getattr(self.inner, name)

    service = AccessService(Plain(store), clock)
    await service.bootstrap_admin(PW)
    admin = await store.get_user("admin")
    token, plaintext = await service.create_token(admin, "ci")
    counting = Counting(store)
    counting.install()
    for _ in range(2):
        assert (await service.authenticate_token(plaintext)).token_id == token.id
    assert counting.reads == 4
    await store.revoke_token(token.id, clock.now())
    assert await service.authenticate_token(plaintext) is None


async def test_access_version_counts_the_writes_that_matter(service, store, admin, clock):
    version = store.access_version
    user = await service.create_user(admin, "carol", password=PW)
    token, _ = await service.create_token(user, "x")
    await service.update_user(admin, "carol", role="write")
    await service.revoke_token(admin, token.id)
    await service.delete_user(admin, "carol")
    assert store.access_version >= version + 5
    version = store.access_version
    await store.touch_token(token.id, clock.now())  # uses, sessions and audit entries do not count
    await service.audit(admin, "x.y", "z")
    assert store.access_version == version


async def test_a_failed_write_counts_too(service, store, admin):
    from scaffold.errors import NotFound

    version = store.access_version
    with pytest.raises(NotFound):
        await store.revoke_token("no-such-token", 1.0)
    assert store.access_version > version
