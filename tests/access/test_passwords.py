from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scaffold.access import passwords
from scaffold.access.passwords import hash_password, needs_rehash, verify_password


def test_hash_and_verify():
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert "correct horse" not in h
    assert verify_password(h, "correct horse") is True
    assert verify_password(h, "correct horsE") is False
    assert hash_password("correct horse") != h  # salted


@pytest.mark.parametrize("bad", ["", "garbage", "$argon2id$v=19$m=65536,t=3,p=4$bad", "$2b$12$bcrypt..."])
def test_a_bad_hash_is_no_match_and_never_raises(bad):
    assert verify_password(bad, "anything") is False
    assert needs_rehash(bad) is True


def test_a_hash_with_other_parameters_verifies_and_needs_a_rehash():
    cheap = hash_password("pw-12345678")  # the fixture switched to the cheapest parameters
    passwords.use_fast_hashing(False)
    assert verify_password(cheap, "pw-12345678") is True
    assert needs_rehash(cheap) is True
    passwords.use_fast_hashing(True)
    assert needs_rehash(cheap) is False


def test_the_default_parameters_are_argon2s_own():
    passwords.use_fast_hashing(False)
    assert "m=65536,t=3,p=4" in hash_password("x" * 8)


def test_the_environment_variable_selects_fast_hashing():
    code = (
        "from scaffold.access.passwords import hash_password;print(hash_password('12345678').split('$')[3])"
    )
    env = {**os.environ, passwords.FAST_HASHING_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "m=8,t=1,p=1"
