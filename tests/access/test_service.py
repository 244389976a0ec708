"""AccessService against both stores: first start, logins, tokens, users, webhooks, audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaffold.access import passwords
from scaffold.access.records import Role, User
from scaffold.access.service import AccessService, LoginLimit, TooManyAttempts
from scaffold.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from tests.access.conftest import PW

REMOTE = "10.1.2.3"


@pytest.fixture
def service(store, clock) -> AccessService:
    return AccessService(store, clock, session_ttl=3600.0, login_limit=LoginLimit(failures=5, window=300.0))


async def add_user(service, admin, name, role=Role.WRITE, groups=(), password=PW) -> User:
    return await service.create_user(admin, name, password=password, role=role, groups=groups)


# ---------------------------------------------------------------------------------- first start


async def test_bootstrap_creates_admin_with_a_one_time_password(service, store):
    generated = await service.bootstrap_admin(None)
    assert generated and len(generated) >= 16
    admin = await store.get_user("admin")
    assert admin.role is Role.ADMIN and not admin.disabled
    assert generated not in admin.password_hash
    assert await service.authenticate_password("admin", generated, REMOTE) is not None
    assert await service.bootstrap_admin(None) is None  # users exist: nothing happens
    assert await service.bootstrap_admin("another-password") is None
    assert await service.authenticate_password("admin", generated, REMOTE) is not None
    [entry] = await store.list_audit()
    assert (entry.actor, entry.action, entry.target) == ("system", "user.create", "user:admin")


async def test_bootstrap_takes_the_password_from_the_environment(service):
    assert await service.bootstrap_admin(PW) is None  # nothing to print
    assert await service.authenticate_password("admin", PW, REMOTE) is not None


async def test_bootstrap_refuses_a_short_environment_password(service, store):
    with pytest.raises(InvalidInput, match="SCAFFOLD_ADMIN_PASSWORD is too short"):
        await service.bootstrap_admin("short")
    assert await store.count_users() == 0


# ---------------------------------------------------------------------------------- API tokens


async def test_token_authenticates_until_expired(service, admin, clock, store):
    token, plaintext = await service.create_token(admin, "ci", expires_at=clock.now() + 100)
    principal = await service.authenticate_token(plaintext)
    assert (principal.username, principal.via, principal.token_id) == ("admin", "token", token.id)
    assert (await store.get_token(token.id)).last_used_at == clock.now()
    clock.advance(100)
    assert await service.authenticate_token(plaintext) is None


@pytest.mark.parametrize("garbage", [None, "", "scf_", "Bearer x", "scf_" + "a" * 12 + "_" + "b" * 43])
async def test_unknown_or_malformed_tokens_are_refused(service, admin, garbage):
    await service.create_token(admin, "ci")
    assert await service.authenticate_token(garbage) is None


async def test_a_token_with_a_wrong_secret_is_refused(service, admin):
    _, plaintext = await service.create_token(admin, "ci")
    wrong = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert await service.authenticate_token(wrong) is None


async def test_revoked_tokens_are_refused(service, admin):
    bob = await add_user(service, admin, "bob")
    token, plaintext = await service.create_token(bob, "laptop")
    revoked = await service.revoke_token(bob, token.id)
    assert revoked.revoked_at is not None
    assert await service.authenticate_token(plaintext) is None


async def test_tokens_of_a_disabled_user_stop_at_once_and_come_back_when_enabled(service, admin):
    bob = await add_user(service, admin, "bob")
    _, plaintext = await service.create_token(bob, "laptop")
    await service.update_user(admin, "bob", disabled=True)
    assert await service.authenticate_token(plaintext) is None
    await service.update_user(admin, "bob", disabled=False)
    assert (await service.authenticate_token(plaintext)).username == "bob"
    await service.delete_user(admin, "bob")
    assert await service.authenticate_token(plaintext) is None


async def test_only_admins_manage_the_tokens_of_others(service, admin):
    bob = await add_user(service, admin, "bob")
    carol = await add_user(service, admin, "carol")
    with pytest.raises(Forbidden):
        await service.create_token(bob, "for carol", username="carol")
    token, plaintext = await service.create_token(admin, "for carol", username="carol")
    assert (await service.authenticate_token(plaintext)).username == "carol"
    assert [t.id for t in await service.list_tokens(carol)] == [token.id]
    assert await service.list_tokens(bob) == []
    with pytest.raises(Forbidden):
        await service.list_tokens(bob, "carol")
    with pytest.raises(Forbidden):
        await service.list_tokens(bob, everyone=True)
    assert [t.id for t in await service.list_tokens(admin, "carol")] == [token.id]
    assert len(await service.list_tokens(admin, everyone=True)) == 1
    with pytest.raises(NotFound):  # not even told the token exists
        await service.revoke_token(bob, token.id)
    await service.revoke_token(admin, token.id)
    assert await service.authenticate_token(plaintext) is None
    with pytest.raises(NotFound):
        await service.revoke_token(admin, "nope")


async def test_token_input_is_checked(service, admin, clock):
    with pytest.raises(InvalidInput, match="token name"):
        await service.create_token(admin, "  ")
    with pytest.raises(InvalidInput, match="in the past"):
        await service.create_token(admin, "ci", expires_at=clock.now() - 1)
    with pytest.raises(NotFound, match="ghost"):
        await service.create_token(admin, "ci", username="ghost")
    token, _ = await service.create_token(admin, "  ci  ")
    assert token.name == "ci"


# ------------------------------------------------------------------------------ logins, sessions


async def test_login_session_and_logout(service, admin, clock, store):
    session, cookie = await service.login("admin", PW, REMOTE)
    assert session.expires_at == clock.now() + 3600.0
    principal = await service.authenticate_session(cookie)
    assert (principal.username, principal.via) == ("admin", "session")
    assert principal.session.csrf_token == session.csrf_token
    assert await service.authenticate_session("not-a-cookie") is None
    assert await service.authenticate_session(None) is None
    await service.logout(cookie)
    assert await service.authenticate_session(cookie) is None
    await service.logout(cookie)  # twice is fine


async def test_sessions_expire(service, admin, clock, store):
    session, cookie = await service.login("admin", PW, REMOTE)
    clock.advance(3600.0)
    assert await service.authenticate_session(cookie) is None
    assert await store.get_session(session.id_hash) is None  # cleaned up


async def test_login_removes_expired_sessions(service, admin, clock, store):
    old, _ = await service.login("admin", PW, REMOTE)
    clock.advance(4000.0)
    await service.login("admin", PW, REMOTE)
    assert await store.get_session(old.id_hash) is None


async def test_wrong_logins_are_refused_alike(service, admin):
    await add_user(service, admin, "bob", password=None)  # no password: tokens only
    for username, password in [("admin", "wrong-password"), ("nobody", PW), ("bob", ""), ("B@d!", PW)]:
        assert await service.authenticate_password(username, password, REMOTE) is None
        with pytest.raises(Unauthorized, match="username or password is wrong"):
            await service.login(username, password, "elsewhere-" + username)


async def test_usernames_are_matched_without_case_or_spaces(service, admin):
    assert (await service.authenticate_password(" Admin ", PW, REMOTE)).username == "admin"


async def test_disabling_a_user_ends_their_sessions_at_once(service, admin, store):
    await add_user(service, admin, "bob")
    session, cookie = await service.login("bob", PW, REMOTE)
    await service.update_user(admin, "bob", disabled=True)
    assert await service.authenticate_session(cookie) is None
    assert await store.get_session(session.id_hash) is None
    with pytest.raises(Unauthorized):
        await service.login("bob", PW, REMOTE)


async def test_login_attempts_are_rate_limited(service, admin, clock):
    for _ in range(5):
        assert await service.authenticate_password("admin", "wrong-password", REMOTE) is None
    with pytest.raises(TooManyAttempts) as error:
        await service.login("admin", PW, REMOTE)  # even the right password is refused now
    assert error.value.status == 429 and error.value.code == "rate_limited"
    assert "try again in 5 minutes" in error.value.message
    assert (await service.authenticate_password("admin", PW, "10.9.9.9")).username == "admin"
    clock.advance(300.0)
    assert (await service.authenticate_password("admin", PW, REMOTE)).username == "admin"


async def test_a_successful_login_resets_the_count(service, admin):
    for _ in range(4):
        await service.authenticate_password("admin", "wrong-password", REMOTE)
    assert await service.authenticate_password("admin", PW, REMOTE) is not None
    for _ in range(4):
        await service.authenticate_password("admin", "wrong-password", REMOTE)
    assert await service.authenticate_password("admin", PW, REMOTE) is not None


async def test_unknown_usernames_are_rate_limited_too(service, admin):
    for _ in range(5):
        await service.authenticate_password("ghost", PW, REMOTE)
    with pytest.raises(TooManyAttempts):
        await service.authenticate_password("ghost", PW, REMOTE)


async def test_an_old_hash_is_upgraded_at_the_next_login(service, admin, store):
    old_hash = admin.password_hash  # made with the fast test parameters
    passwords.use_fast_hashing(False)
    user = await service.authenticate_password("admin", PW, REMOTE)
    stored = (await store.get_user("admin")).password_hash
    assert stored != old_hash and "m=65536" in stored
    assert user.password_hash == stored
    assert await service.authenticate_password("admin", PW, REMOTE) is not None


# ---------------------------------------------------------------------------------------- users


async def test_create_user_checks_its_input(service, admin):
    bob = await add_user(service, admin, "bob.smith-2", role="read", groups=["ops", " dev ", "ops"])
    assert (bob.role, bob.groups) == (Role.READ, ("ops", "dev"))
    bad = [
        ({"username": "Bob"}, "invalid username"),
        ({"username": "-bob"}, "invalid username"),
        ({"username": "a" * 65}, "invalid username"),
        ({"username": "b b"}, "invalid username"),
        ({"role": "root"}, "unknown role 'root': use one of read, write, admin"),
        ({"password": "short"}, "at least 8 characters"),
        ({"groups": "ops"}, "list of group names"),
        ({"groups": [""]}, "group name"),
        ({"groups": ["a\nb"]}, "control characters"),
    ]
    for change, message in bad:
        kwargs = {"username": "carol", "password": PW, "role": "write", "groups": ()} | change
        username = kwargs.pop("username")
        with pytest.raises(InvalidInput, match=message):
            await service.create_user(admin, username, **kwargs)
    with pytest.raises(Conflict, match=r"bob\.smith-2"):
        await add_user(service, admin, "bob.smith-2")


async def test_only_admins_manage_users(service, admin):
    bob = await add_user(service, admin, "bob")
    with pytest.raises(Forbidden):
        await service.create_user(bob, "carol", password=PW)
    with pytest.raises(Forbidden):
        await service.update_user(bob, "bob", role="admin")
    with pytest.raises(Forbidden):
        await service.delete_user(bob, "admin")
    with pytest.raises(Forbidden):
        await service.list_users(bob)
    assert (await service.get_user(bob, "bob")).username == "bob"  # yourself: yes
    with pytest.raises(NotFound):
        await service.get_user(bob, "admin")
    assert [u.username for u in await service.list_users(admin)] == ["admin", "bob"]
    assert (await service.get_user(admin, "bob")).role is Role.WRITE


async def test_update_user(service, admin, store, clock):
    await add_user(service, admin, "bob")
    clock.advance(10)
    bob = await service.update_user(admin, "bob", role="admin", groups=["ops"])
    assert (bob.role, bob.groups, bob.updated_at) == (Role.ADMIN, ("ops",), clock.now())
    assert await store.get_user("bob") == bob
    with pytest.raises(NotFound):
        await service.update_user(admin, "ghost", role="read")
    with pytest.raises(InvalidInput):
        await service.update_user(admin, "bob", role="boss")


async def test_an_admin_reset_password_ends_the_users_sessions(service, admin):
    await add_user(service, admin, "bob")
    _, cookie = await service.login("bob", PW, REMOTE)
    await service.update_user(admin, "bob", password="brand-new-password")
    assert await service.authenticate_session(cookie) is None
    assert await service.authenticate_password("bob", PW, REMOTE) is None
    assert await service.authenticate_password("bob", "brand-new-password", REMOTE) is not None


async def test_the_last_enabled_admin_stays(service, admin):
    for change in ({"role": "write"}, {"disabled": True}):
        with pytest.raises(Conflict, match="last enabled admin"):
            await service.update_user(admin, "admin", **change)
    with pytest.raises(Conflict, match="last enabled admin"):
        await service.delete_user(admin, "admin")
    await add_user(service, admin, "bob", role=Role.ADMIN)
    await service.update_user(admin, "admin", role="write")
    assert (await service.store.get_user("admin")).role is Role.WRITE


async def test_change_password(service, admin):
    bob = await add_user(service, admin, "bob")
    with pytest.raises(InvalidInput, match="current password is wrong"):
        await service.change_password(bob, "not-my-password", "a-new-password")
    with pytest.raises(InvalidInput, match="too short"):
        await service.change_password(bob, PW, "short")
    await service.change_password(bob, PW, "a-new-password")
    assert await service.authenticate_password("bob", PW, REMOTE) is None
    assert await service.authenticate_password("bob", "a-new-password", REMOTE) is not None


async def test_a_password_change_ends_every_other_session_of_the_user(service, admin):
    bob = await add_user(service, admin, "bob")
    _, here = await service.login("bob", PW, REMOTE)
    _, elsewhere = await service.login("bob", PW, REMOTE)
    await add_user(service, admin, "carol")
    _, carols = await service.login("carol", PW, REMOTE)
    asking = await service.authenticate_session(here)
    await service.change_password(bob, PW, "a-new-password", keep=asking.session)
    assert await service.authenticate_session(here) is not None  # the session that asked stays
    assert await service.authenticate_session(elsewhere) is None  # a stolen cookie stops working
    assert await service.authenticate_session(carols) is not None  # other users are untouched
    await service.change_password(bob, "a-new-password", "third-password")  # e.g. with a token
    assert await service.authenticate_session(here) is None


async def test_guessing_the_current_password_is_rate_limited(service, admin):
    bob = await add_user(service, admin, "bob")
    for i in range(5):
        with pytest.raises(InvalidInput):
            await service.change_password(bob, f"guess-{i}-xx", "a-new-password")
    with pytest.raises(TooManyAttempts, match="too many wrong current passwords; try again in"):
        await service.change_password(bob, PW, "a-new-password")


async def test_delete_user_removes_their_tokens_and_sessions(service, admin, store):
    bob = await add_user(service, admin, "bob")
    token, _ = await service.create_token(bob, "laptop")
    session, _ = await service.login("bob", PW, REMOTE)
    await service.delete_user(admin, "bob")
    assert await store.get_user("bob") is None
    assert await store.get_token(token.id) is None
    assert await store.get_session(session.id_hash) is None
    with pytest.raises(NotFound):
        await service.delete_user(admin, "bob")


# ------------------------------------------------------------------------------------- webhooks


async def test_webhooks(service, admin, clock, store):
    writer = await add_user(service, admin, "wri", role=Role.WRITE, groups=("ops",))
    reader = await add_user(service, admin, "rea", role=Role.READ, groups=("ops",))
    outsider = await add_user(service, admin, "out", role=Role.WRITE, groups=("dev",))
    groups = ("ops",)

    webhook, secret = await service.create_webhook(writer, "deploy", "build", groups)
    assert webhook.created_by == "wri"
    with pytest.raises(Forbidden):
        await service.create_webhook(reader, "deploy", "build", groups)
    with pytest.raises(NotFound, match="cascade 'deploy'"):
        await service.create_webhook(outsider, "deploy", "build", groups)
    assert [w.id for w in await service.list_webhooks(reader, "deploy", groups)] == [webhook.id]
    with pytest.raises(NotFound):
        await service.list_webhooks(outsider, "deploy", groups)

    assert await service.authenticate_webhook(webhook.id, "wrong") is None
    assert await service.authenticate_webhook(webhook.id, None) is None
    assert await service.authenticate_webhook("nope", secret) is None
    clock.advance(5)
    triggered = await service.authenticate_webhook(webhook.id, secret)
    assert triggered.last_triggered_at == clock.now()
    assert (await store.get_webhook(webhook.id)).last_triggered_at == clock.now()

    with pytest.raises(NotFound, match="no webhook"):
        await service.delete_webhook(writer, "other", webhook.id, ())
    with pytest.raises(Forbidden):
        await service.delete_webhook(reader, "deploy", webhook.id, groups)
    await service.delete_webhook(writer, "deploy", webhook.id, groups)
    assert await service.authenticate_webhook(webhook.id, secret) is None


# ---------------------------------------------------------------------------------------- audit


async def test_changes_are_audited_without_secrets(service, admin, store):
    bob = await add_user(service, admin, "bob", role=Role.READ)
    token, plaintext = await service.create_token(bob, "laptop")
    await service.revoke_token(bob, token.id)
    await service.update_user(admin, "bob", role="write", password="another-password")
    await service.change_password(bob, "another-password", "third-password")
    webhook, secret = await service.create_webhook(admin, "deploy", "build")
    await service.delete_webhook(admin, "deploy", webhook.id)
    await service.delete_user(admin, "bob")
    await service.audit(admin, "task.start", "deploy/build", force=True)

    entries = await service.list_audit(admin)
    assert [(e.actor, e.action, e.target) for e in reversed(entries)] == [
        ("system", "user.create", "user:admin"),
        ("admin", "user.create", "user:bob"),
        ("bob", "token.create", f"token:{token.id}"),
        ("bob", "token.revoke", f"token:{token.id}"),
        ("admin", "user.update", "user:bob"),
        ("bob", "user.password", "user:bob"),
        ("admin", "webhook.create", "deploy/build"),
        ("admin", "webhook.delete", "deploy/build"),
        ("admin", "user.delete", "user:bob"),
        ("admin", "task.start", "deploy/build"),
    ]
    assert entries[5].details == {"role": "write", "password": "changed"}
    assert entries[0].details == {"force": True}
    text = repr(entries)
    for secret_value in (PW, plaintext, secret, "another-password", "third-password"):
        assert secret_value not in text
    assert [e.action for e in await service.list_audit(admin, limit=2)] == ["task.start", "user.delete"]
    with pytest.raises(Forbidden):
        await service.list_audit(await add_user(service, admin, "carol"))
    with pytest.raises(InvalidInput):
        await service.list_audit(admin, limit=0)


# ------------------------------------------------------------------------------ secrets at rest


async def test_no_password_token_cookie_or_webhook_secret_is_stored_in_clear(tmp_path: Path, clock):
    from scaffold.access.credentials import parse_token
    from scaffold.store.crypto import SecretBox
    from scaffold.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "scaffold.db", SecretBox(tmp_path))
    await store.open()
    service = AccessService(store, clock)
    generated = await service.bootstrap_admin(None)
    admin = await store.get_user("admin")
    bob_password = "Bob-Pl41n-Password-Canary"
    await service.create_user(admin, "bob", password=bob_password)
    token, plaintext = await service.create_token(admin, "ci")
    assert await service.authenticate_token(plaintext) is not None
    _, cookie = await service.login("bob", bob_password, REMOTE)
    _, hook_secret = await service.create_webhook(admin, "deploy", "build")
    await service.change_password(admin, generated, "Admin-N3w-Password-Canary")

    def raw() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("scaffold.db*")))

    secrets = [generated, bob_password, "Admin-N3w-Password-Canary", plaintext, parse_token(plaintext)[1]]
    secrets += [cookie, hook_secret]
    seen = raw()
    await store.close()
    seen += raw()
    assert token.id.encode() in seen and token.secret_hash.encode() in seen  # the check sees the rows
    for value in secrets:
        assert value.encode() not in seen
