from __future__ import annotations

import hashlib
import re

import pytest

from scaffold.access import credentials as c


def test_new_token_shape_and_hash():
    token, plaintext = c.new_token("alice", "laptop", 99.0, now=10.0)
    assert re.fullmatch(r"scf_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}", plaintext)
    assert (token.username, token.name, token.created_at, token.expires_at) == ("alice", "laptop", 10.0, 99.0)
    assert token.revoked_at is None and token.last_used_at is None
    token_id, secret = c.parse_token(plaintext)
    assert token_id == token.id
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(token)
    assert c.verify_token_secret(token, secret) is True
    assert c.verify_token_secret(token, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is False


def test_tokens_are_unique():
    plaintexts = {c.new_token("a", "n", None, 0.0)[1] for _ in range(200)}
    assert len(plaintexts) == 200


def test_parse_token_accepts_underscores_and_dashes_in_the_parts():
    plaintext = "scf_ab_d-efghijk_" + "-_" * 21 + "x"
    assert c.parse_token(plaintext) == ("ab_d-efghijk", "-_" * 21 + "x")
    assert c.parse_token(f"  {plaintext}\n") is not None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "scf_",
        "scf_short_" + "a" * 43,
        "xyz_abcdefghijkl_" + "a" * 43,
        "scf_abcdefghijkl_" + "a" * 42,
        "scf_abcdefghijkl_" + "a" * 44,
        "scf_abcdefghijkl-" + "a" * 43,
        "scf_abcdefghijkl_" + "a" * 42 + "=",
        "Bearer scf_abcdefghijkl_" + "a" * 43,
    ],
)
def test_parse_token_refuses_malformed(bad):
    assert c.parse_token(bad) is None


def test_parse_token_refuses_non_text():
    assert c.parse_token(None) is None  # type: ignore[arg-type]


def test_sessions_store_only_a_hash_of_the_cookie():
    session, cookie = c.new_session("bob", now=100.0, ttl=60.0)
    assert len(cookie) >= 43
    assert session.id_hash == c.session_hash(cookie) != cookie
    assert (session.username, session.created_at, session.expires_at) == ("bob", 100.0, 160.0)
    assert len(session.csrf_token) >= 43
    assert c.verify_csrf_token(session, session.csrf_token) is True
    assert c.verify_csrf_token(session, "wrong") is False
    assert c.verify_csrf_token(session, "") is False
    assert c.verify_csrf_token(session, None) is False
    other, _ = c.new_session("bob", 100.0, 60.0)
    assert other.csrf_token != session.csrf_token


def test_webhooks():
    webhook, secret = c.new_webhook("deploy", "build", "alice", 5.0)
    assert re.fullmatch(r"[A-Za-z0-9]{16}", webhook.id)
    assert (webhook.cascade, webhook.task, webhook.created_by, webhook.created_at) == (
        "deploy",
        "build",
        "alice",
        5.0,
    )
    assert secret not in webhook.secret_hash
    assert c.verify_webhook_secret(webhook, secret) is True
    assert c.verify_webhook_secret(webhook, secret + "x") is False
    assert c.verify_webhook_secret(webhook, None) is False
    assert c.verify_webhook_secret(webhook, "") is False


def test_admin_password_is_long_and_easy_to_type():
    passwords = {c.new_admin_password() for _ in range(100)}
    assert len(passwords) == 100
    for password in passwords:
        assert re.fullmatch(r"[a-km-np-z2-9]{4}(-[a-km-np-z2-9]{4}){4}", password)
        assert not set(password) & set("01ilo")
