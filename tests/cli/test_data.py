"""Data and people: ``inputs set``, ``values``, ``files``, ``tokens``, ``users``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import ADMIN_PASSWORD, Cli, plain

pytestmark = pytest.mark.slow


def test_inputs_set_text_and_password_values(admin: Cli):
    result = admin.ok("inputs", "set", "foobar", "file_contents=barfoo")
    assert result.stdout.splitlines()[:2] == ["set 1 input of 'foobar': file_contents", "reset: nothing"]
    assert "barfoo" in result.stdout
    secret = "s3cret-from-stdin"
    piped = admin.ok("inputs", "set", "foobar", "message_contents", "-o", "json", input=secret + "\n")
    doc = json.loads(piped.stdout)
    assert {i["name"]: i["value"] for i in doc["inputs"]}["message_contents"] == "********"
    assert secret not in piped.stdout + piped.stderr
    code, screen = admin.in_pty(
        "inputs", "set", "foobar", "message_contents", answers=[("message_contents: ", "typed-secret-1\n")]
    )
    assert code == 0, screen
    assert "message_contents: " in screen and "typed-secret-1" not in screen  # no echo
    for output in ("table", "json", "yaml"):
        shown = admin.ok("get", "inputs", "-c", "foobar", "-o", output).stdout
        assert secret not in shown and "typed-secret-1" not in shown and "********" in shown
    unknown = admin("inputs", "set", "foobar", "NOPE=1")
    assert unknown.returncode == 4
    assert unknown.stderr == "error: 'foobar' has no input 'NOPE' (inputs: file_contents, message_contents)\n"
    assert admin("inputs", "set", "no-such-cascade", "A=1").returncode == 4
    admin.ok("inputs", "set", "foobar", "file_contents=foobar", "message_contents=hello world")


def test_values_set_and_get(admin: Cli):
    assert admin.ok("values", "set", "foobar", "REGION", "eu-west-1").stdout.startswith(
        "foobar: REGION = version"
    )
    assert admin.ok("values", "get", "foobar", "REGION").stdout == "eu-west-1"
    doc = json.loads(admin.ok("values", "set", "foobar", "BLOB", "-o", "json", input="two\nlines\n").stdout)
    assert doc["text"] == "two\nlines\n" and doc["key"] == "BLOB"
    got = json.loads(admin.ok("values", "get", "foobar", "BLOB", "-o", "json").stdout)
    assert got["version"] == doc["version"] and got["base64"] == doc["base64"]
    assert "key: BLOB" in admin.ok("values", "get", "foobar", "BLOB", "-o", "yaml").stdout
    bad = admin("values", "set", "foobar", "not-a-name", "x")
    assert bad.returncode == 2 and "is not a value name" in bad.stderr
    missing = admin("values", "get", "foobar", "NOPE")
    assert missing.returncode == 4 and missing.stderr == "error: 'foobar' has no value 'NOPE'\n"


def test_files_upload_download_delete(admin: Cli, tmp_path: Path):
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    uploaded = admin.ok("files", "upload", "foobar", "report.csv", str(source))
    assert (
        uploaded.stdout.startswith("foobar: uploaded report.csv, version") and "text/csv" in uploaded.stdout
    )
    assert admin.ok("files", "download", "foobar", "report.csv", "-").stdout == "a,b\n1,2\n"
    target = tmp_path / "copy.csv"
    admin.ok("files", "download", "foobar", "report.csv", str(target))
    assert target.read_bytes() == source.read_bytes()
    into = tmp_path / "folder"
    into.mkdir()
    admin.ok("files", "download", "foobar", "report.csv", str(into))
    assert (into / "report.csv").read_bytes() == source.read_bytes()
    doc = json.loads(admin.ok("files", "upload", "foobar", "blob.bin", "-", "-o", "json", input="xyz").stdout)
    assert (
        doc["name"] == "blob.bin" and doc["size"] == 3 and doc["content_type"] == "application/octet-stream"
    )
    assert "blob.bin" in admin.ok("get", "files", "-c", "foobar").stdout
    assert admin("files", "delete", "foobar", "blob.bin").returncode == 2  # no terminal, no --yes
    admin.ok("files", "delete", "foobar", "blob.bin", "--yes")
    missing = admin("files", "download", "foobar", "blob.bin")
    assert missing.returncode == 4 and missing.stderr == "error: 'foobar' has no file 'blob.bin'\n"
    assert admin("files", "upload", "foobar", "x", str(tmp_path / "none")).returncode == 2


def test_tokens_create_list_revoke(admin: Cli):
    created = admin.ok("tokens", "create", "ci-bot")
    token = created.stdout.strip()
    assert token.startswith("scf_") and created.stdout.count("\n") == 1
    assert "shown again" in created.stderr
    env = {"SCAFFOLD_TOKEN": token}
    assert admin.ok("get", "nodes", env=env).stdout.startswith("NAME")
    token_id = token[4:].split("_")[0]
    listed = json.loads(admin.ok("tokens", "list", "-o", "json").stdout)
    assert token_id in [t["id"] for t in listed]
    assert "ci-bot" in admin.ok("tokens", "list", "--all").stdout
    doc = json.loads(admin.ok("tokens", "create", "other", "--expires-in-days", "1", "-o", "json").stdout)
    assert doc["token"].startswith("scf_") and doc["expires_at"]
    revoked = admin.ok("tokens", "revoke", token_id, doc["id"])
    assert revoked.stdout == f"revoked token {token_id}\nrevoked token {doc['id']}\n"
    assert admin("get", "nodes", env=env).returncode == 3
    assert "revoked" in admin.ok("tokens", "list").stdout
    assert admin("tokens", "revoke", "nope").returncode == 4


def test_users_create_update_delete(admin: Cli, tmp_path: Path):
    created = admin.ok(
        "users",
        "create",
        "cli-bob",
        "--role",
        "write",
        "--group",
        "ops",
        "--password-stdin",
        input="bob-password-1\n",
    )
    assert created.stdout.splitlines()[1].split()[:3] == ["cli-bob", "write", "ops"]
    duplicate = admin("users", "create", "cli-bob", "--no-password")
    assert (
        duplicate.returncode == 5
        and duplicate.stderr.startswith("error: ")
        and duplicate.stderr.count("\n") == 1
    )
    code, screen = admin.in_pty(
        "users",
        "create",
        "cli-carol",
        "-o",
        "json",
        answers=[("Password: ", "carol-pass-1\n"), ("confirmation: ", "carol-pass-1\n")],
    )
    assert code == 0, screen
    assert "carol-pass-1" not in screen and '"username": "cli-carol"' in plain(screen)
    users = json.loads(admin.ok("users", "list", "-o", "json").stdout)
    assert {"cli-bob", "cli-carol"} <= {u["username"] for u in users}
    assert "cli-bob" in admin.ok("users", "list").stdout
    updated = json.loads(
        admin.ok("users", "update", "cli-bob", "--role", "read", "--no-groups", "-o", "json").stdout
    )
    assert updated["role"] == "read" and updated["groups"] == []
    bob = Cli(tmp_path / "bob-home", admin.server)
    assert bob.configure("cli-bob", "bob-password-1").returncode == 0
    admin.ok("users", "update", "cli-bob", "--disable")
    disabled = bob("get", "cascades")
    assert disabled.returncode == 3
    admin.ok("users", "update", "cli-bob", "--enable", "--password-stdin", input="bob-password-2\n")
    assert bob.configure("cli-bob", "bob-password-2").returncode == 0
    assert admin("users", "update", "cli-bob").returncode == 2  # nothing to change
    last_admin = admin("users", "update", "admin", "--role", "read")
    assert last_admin.returncode == 5 and "last enabled admin" in last_admin.stderr
    assert admin("users", "delete", "cli-bob").returncode == 2
    assert admin.ok("users", "delete", "cli-bob", "--yes").stdout == "deleted user 'cli-bob'\n"
    assert admin("users", "delete", "cli-bob", "--yes").returncode == 4
    assert (
        admin("users", "create", "x", "--no-password", env={"SCAFFOLD_TOKEN": "scf_bad_token"}).returncode
        == 3
    )
    assert ADMIN_PASSWORD not in created.stdout


def test_a_large_file_streams_up_and_down_intact(admin: Cli, tmp_path: Path):
    import hashlib

    source = tmp_path / "state.tar"
    digest = hashlib.sha256()
    with open(source, "wb") as out:
        for i in range(40):  # 40 MiB: spooled to disk on the server, written to SQLite in chunks
            block = bytes([i]) * (1 << 20)
            out.write(block)
            digest.update(block)
    uploaded = json.loads(
        admin.ok("files", "upload", "foobar", "state.tar", str(source), "-o", "json").stdout
    )
    assert uploaded["size"] == 40 << 20
    target = tmp_path / "back.tar"
    admin.ok("files", "download", "foobar", "state.tar", str(target))
    assert target.stat().st_size == 40 << 20
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest.hexdigest()
