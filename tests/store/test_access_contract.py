"""One AccessStore contract: the same tests run against MemoryStore and SqliteStore."""

from __future__ import annotations

import pytest

from scaffold.access.records import AuditEntry, Role, Session, Token, User, Webhook
from scaffold.engine.model import CascadeSpec, TaskSpec
from scaffold.errors import Conflict, NotFound
from scaffold.store.common import TOKEN_TOUCH_INTERVAL


def user(name: str = "alice", **kw) -> User:
    return User(name, **kw)


def token(token_id: str = "tok1", username: str = "alice", **kw) -> Token:
    return Token(token_id, username, "laptop", "ab" * 32, **kw)


def session(id_hash: str = "h1", username: str = "alice", expires_at: float = 100.0) -> Session:
    return Session(id_hash, username, "csrf", 1.0, expires_at)


def hook(hook_id: str = "w1", cascade: str = "deploy", task: str = "a") -> Webhook:
    return Webhook(hook_id, cascade, task, "cd" * 32, "alice", 5.0)


# --------------------------------------------------------------------------------------- users


async def test_user_round_trips_every_field(store):
    full = User("bob", Role.WRITE, ("ops", "dev"), True, "$argon2id$x", 1.5, 2.5)
    await store.create_user(full)
    got = await store.get_user("bob")
    assert got == full
    assert got.role is Role.WRITE
    assert got.groups == ("ops", "dev")
    assert await store.get_user("nobody") is None


async def test_create_user_twice_conflicts(store):
    await store.create_user(user())
    with pytest.raises(Conflict, match="alice"):
        await store.create_user(user(role=Role.ADMIN))
    assert (await store.get_user("alice")).role is Role.READ


async def test_list_and_count_users(store):
    assert await store.count_users() == 0
    assert await store.list_users() == []
    for name in ("carol", "alice", "bob"):
        await store.create_user(user(name))
    assert [u.username for u in await store.list_users()] == ["alice", "bob", "carol"]
    assert await store.count_users() == 3


async def test_update_user_replaces_the_row(store):
    await store.create_user(user())
    changed = User("alice", Role.ADMIN, ("ops",), True, "newhash", 1.0, 9.0)
    await store.update_user(changed)
    assert await store.get_user("alice") == changed
    with pytest.raises(NotFound):
        await store.update_user(user("ghost"))


async def test_users_are_copied_in_and_out(store):
    u = user(groups=("ops",))
    await store.create_user(u)
    u.role = Role.ADMIN
    got = await store.get_user("alice")
    assert got.role is Role.READ
    got.disabled = True
    assert (await store.get_user("alice")).disabled is False


async def test_delete_user_removes_their_tokens_and_sessions_only(store):
    for name in ("alice", "bob"):
        await store.create_user(user(name))
        await store.create_token(token(f"t-{name}", name))
        await store.create_session(session(f"s-{name}", name))
    await store.add_audit(AuditEntry("alice", "user.create", "user:alice"))
    await store.create_webhook(hook())

    await store.delete_user("alice")

    assert await store.get_user("alice") is None
    assert await store.get_token("t-alice") is None
    assert await store.get_session("s-alice") is None
    assert await store.list_tokens("alice") == []
    assert await store.get_token("t-bob") is not None
    assert await store.get_session("s-bob") is not None
    assert len(await store.list_audit()) == 1  # history stays
    assert await store.get_webhook("w1") is not None
    with pytest.raises(NotFound):
        await store.delete_user("alice")
    # the name can be used again, without the old tokens
    await store.create_user(user("alice"))
    assert await store.list_tokens("alice") == []


# -------------------------------------------------------------------------------------- tokens


async def test_token_round_trips_every_field(store):
    await store.create_user(user())
    full = Token("tok1", "alice", "ci", "ff" * 32, 1.0, 99.0, None, 3.0)
    await store.create_token(full)
    assert await store.get_token("tok1") == full
    assert await store.get_token("nope") is None


async def test_token_ids_are_unique_and_need_a_user(store):
    await store.create_user(user())
    await store.create_token(token())
    with pytest.raises(Conflict):
        await store.create_token(token())
    with pytest.raises(NotFound, match="ghost"):
        await store.create_token(token("tok2", "ghost"))


async def test_list_tokens_newest_first_per_user_or_all(store):
    for name in ("alice", "bob"):
        await store.create_user(user(name))
    await store.create_token(token("a1", "alice", created_at=1.0))
    await store.create_token(token("b1", "bob", created_at=2.0))
    await store.create_token(token("a2", "alice", created_at=3.0))
    assert [t.id for t in await store.list_tokens("alice")] == ["a2", "a1"]
    assert [t.id for t in await store.list_tokens()] == ["a2", "b1", "a1"]
    assert await store.list_tokens("nobody") == []


async def test_revoke_token_keeps_the_first_time(store):
    await store.create_user(user())
    await store.create_token(token())
    await store.revoke_token("tok1", 10.0)
    await store.revoke_token("tok1", 20.0)
    assert (await store.get_token("tok1")).revoked_at == 10.0
    with pytest.raises(NotFound):
        await store.revoke_token("nope", 1.0)


async def test_touch_token_records_at_most_once_per_interval(store):
    await store.create_user(user())
    await store.create_token(token())
    await store.touch_token("tok1", 1000.0)
    assert (await store.get_token("tok1")).last_used_at == 1000.0
    await store.touch_token("tok1", 1000.0 + TOKEN_TOUCH_INTERVAL / 2)
    assert (await store.get_token("tok1")).last_used_at == 1000.0
    await store.touch_token("tok1", 1000.0 + TOKEN_TOUCH_INTERVAL + 1)
    assert (await store.get_token("tok1")).last_used_at == 1000.0 + TOKEN_TOUCH_INTERVAL + 1
    await store.touch_token("missing", 5000.0)  # no error


async def test_tokens_survive_a_reopen(handle):
    await handle.store.create_user(user())
    await handle.store.create_token(token(created_at=1.0))
    await handle.store.revoke_token("tok1", 2.0)
    store = await handle.reopen()
    assert (await store.get_token("tok1")).revoked_at == 2.0
    assert [u.username for u in await store.list_users()] == ["alice"]


# ------------------------------------------------------------------------------------ sessions


async def test_session_round_trip_and_delete(store):
    await store.create_user(user())
    s = Session("h1", "alice", "csrf-x", 1.0, 50.0)
    await store.create_session(s)
    assert await store.get_session("h1") == s
    with pytest.raises(Conflict):
        await store.create_session(s)
    await store.delete_session("h1")
    assert await store.get_session("h1") is None
    await store.delete_session("h1")  # twice is fine


async def test_sessions_need_a_user(store):
    with pytest.raises(NotFound, match="ghost"):
        await store.create_session(session(username="ghost"))


async def test_delete_sessions_of_one_user(store):
    for name in ("alice", "bob"):
        await store.create_user(user(name))
    await store.create_session(session("a1", "alice"))
    await store.create_session(session("a2", "alice"))
    await store.create_session(session("b1", "bob"))
    await store.delete_sessions_of("alice")
    await store.delete_sessions_of("nobody")
    assert await store.get_session("a1") is None
    assert await store.get_session("a2") is None
    assert await store.get_session("b1") is not None


async def test_delete_expired_sessions(store):
    await store.create_user(user())
    await store.create_session(session("old", expires_at=10.0))
    await store.create_session(session("edge", expires_at=20.0))
    await store.create_session(session("new", expires_at=30.0))
    assert await store.delete_expired_sessions(20.0) == 2
    assert await store.get_session("old") is None
    assert await store.get_session("edge") is None
    assert await store.get_session("new") is not None
    assert await store.delete_expired_sessions(20.0) == 0


# ------------------------------------------------------------------------------------ webhooks


async def test_webhook_round_trip_list_update_delete(store):
    await store.create_webhook(hook("w1", task="a"))
    await store.create_webhook(hook("w2", task="b"))
    await store.create_webhook(hook("w3", cascade="other"))
    assert await store.get_webhook("w1") == hook("w1", task="a")
    assert await store.get_webhook("nope") is None
    assert [w.id for w in await store.list_webhooks("deploy")] == ["w1", "w2"]
    assert await store.list_webhooks("none") == []
    with pytest.raises(Conflict):
        await store.create_webhook(hook("w1"))

    triggered = hook("w1", task="a")
    triggered.last_triggered_at = 42.0
    await store.update_webhook(triggered)
    assert (await store.get_webhook("w1")).last_triggered_at == 42.0
    with pytest.raises(NotFound):
        await store.update_webhook(hook("ghost"))

    await store.delete_webhook("w1")
    assert [w.id for w in await store.list_webhooks("deploy")] == ["w2"]
    with pytest.raises(NotFound):
        await store.delete_webhook("w1")


async def test_delete_cascade_deletes_its_webhooks(store):
    spec = CascadeSpec(name="deploy", tasks=(TaskSpec(name="a", run="true"),))
    await store.save_cascade(spec, "src", None)
    await store.create_webhook(hook("w1"))
    await store.create_webhook(hook("w2", cascade="other"))
    await store.delete_cascade("deploy")
    assert await store.get_webhook("w1") is None
    assert await store.list_webhooks("deploy") == []
    assert await store.get_webhook("w2") is not None


# --------------------------------------------------------------------------------------- audit


async def test_audit_ids_increase_and_list_newest_first(store):
    ids = []
    for i in range(5):
        entry = AuditEntry("alice", "task.start", f"deploy/t{i}", {"n": i, "tags": ("x", "y")}, at=float(i))
        ids.append(await store.add_audit(entry))
    assert ids == sorted(ids) and len(set(ids)) == 5
    entries = await store.list_audit()
    assert [e.target for e in entries] == [f"deploy/t{i}" for i in (4, 3, 2, 1, 0)]
    assert entries[0] == AuditEntry(
        "alice", "task.start", "deploy/t4", {"n": 4, "tags": ["x", "y"]}, 4.0, ids[4]
    )
    assert [e.id for e in await store.list_audit(limit=2)] == [ids[4], ids[3]]
    assert [e.id for e in await store.list_audit(limit=2, before_id=ids[3])] == [ids[2], ids[1]]
    assert await store.list_audit(before_id=ids[0]) == []


async def test_audit_entries_are_copied(store):
    details = {"changed": ["role"]}
    await store.add_audit(AuditEntry(None, "user.update", "user:bob", details))
    details["changed"].append("password")
    got = (await store.list_audit())[0]
    assert got.details == {"changed": ["role"]}
    assert got.actor is None
    got.details["x"] = 1
    assert (await store.list_audit())[0].details == {"changed": ["role"]}


async def test_audit_details_must_be_json(store):
    with pytest.raises(TypeError):
        await store.add_audit(AuditEntry("a", "x", "y", {"bad": object()}))
