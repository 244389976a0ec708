"""Profiles, tokens and errors: ``configure``, ``context``, ``version``, the environment overrides,
and each kind of failure as one line on stderr with its exit code."""

from __future__ import annotations

import json
import stat
import time
import tomllib
from pathlib import Path

import pytest

from tests.cli.conftest import ADMIN_PASSWORD, Cli, Server
from tests.tls_helpers import self_signed

pytestmark = pytest.mark.slow


def test_configure_saves_profile_and_a_private_token(fresh: Cli):
    result = fresh.configure("admin", ADMIN_PASSWORD)
    assert result.returncode == 0, result.stderr
    assert f"profile 'default': admin (role admin) at {fresh.server.url}" in result.stdout
    assert ADMIN_PASSWORD not in result.stdout + result.stderr
    folder = fresh.home / ".scaffold"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    creds = folder / "creds"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    token = tomllib.loads(creds.read_text())["default"]["token"]
    assert token.startswith("scf_")
    config = tomllib.loads((folder / "config").read_text())["default"]
    assert config == {"server": fresh.server.url, "username": "admin", "verify": True}
    assert token not in (folder / "config").read_text() and ADMIN_PASSWORD not in creds.read_text()
    assert fresh.ok("get", "nodes").stdout.startswith("NAME")
    creds.chmod(0o644)
    warned = fresh.ok("get", "nodes")
    assert warned.stderr == f"scaffold: WARNING: {creds} can be read by others: run `chmod 600 {creds}`\n"


def test_reconfiguring_replaces_and_revokes_the_old_token(fresh: Cli):
    assert fresh.configure("admin", ADMIN_PASSWORD).returncode == 0
    first = tomllib.loads((fresh.home / ".scaffold" / "creds").read_text())["default"]
    second = fresh.configure("admin", ADMIN_PASSWORD, "-o", "json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["revoked_previous"] == first["token_id"]
    assert fresh("get", "cascades", env={"SCAFFOLD_TOKEN": first["token"]}).returncode == 3
    mode = stat.S_IMODE((fresh.home / ".scaffold" / "creds").stat().st_mode)
    assert mode == 0o600


def test_wrong_password_is_an_auth_error(fresh: Cli):
    result = fresh.configure("admin", "not-the-password")
    assert result.returncode == 3
    assert result.stderr == "error: wrong username or password (or the user is disabled)\n"
    assert not (fresh.home / ".scaffold" / "creds").exists()


def test_configure_without_a_terminal_needs_password_stdin(fresh: Cli):
    result = fresh("configure", "--server", fresh.server.url, "--username", "admin")
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr and result.stderr.count("\n") == 1


def test_unreachable_server_and_unconfigured_client(fresh: Cli):
    result = fresh("get", "cascades")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no server is configured")
    closed = "http://127.0.0.1:9"
    result = fresh("configure", "--server", closed, "-u", "admin", "--password-stdin", input="x\n")
    assert result.returncode == 6
    assert result.stderr.startswith(f"error: cannot reach the server at {closed}")
    version = fresh("version")
    assert version.returncode == 0 and "server: not configured" in version.stdout
    unreachable = fresh("version", env={"SCAFFOLD_SERVER": closed})
    assert unreachable.returncode == 6 and "client: scaffold 0.1.0" in unreachable.stdout


def test_version_prints_client_and_server(admin: Cli):
    text = admin.ok("version").stdout
    assert "client: scaffold 0.1.0" in text and f"server: scaffold 0.1.0 at {admin.server.url}" in text
    doc = json.loads(admin.ok("version", "-o", "json").stdout)
    assert doc["client"]["version"] == "0.1.0" and doc["server"]["version"] == "0.1.0"
    assert "server:" in admin.ok("version", "-o", "yaml").stdout


def test_profiles_and_environment_overrides(admin: Cli, fresh: Cli):
    fresh.configure("admin", ADMIN_PASSWORD, "--profile", "other")
    assert fresh("get", "cascades").returncode == 2  # no "default" profile
    assert fresh.ok("get", "cascades", "--profile", "other").stdout.startswith("NAME")
    assert fresh.ok("--profile", "other", "get", "cascades").stdout.startswith("NAME")
    assert fresh.ok("get", "cascades", env={"SCAFFOLD_PROFILE": "other"}).stdout.startswith("NAME")
    missing = fresh("get", "cascades", "-p", "nope")
    assert missing.returncode == 2 and "no profile 'nope'" in missing.stderr
    # SCAFFOLD_SERVER + SCAFFOLD_TOKEN work without any profile
    token = admin.server.token()
    env = {"SCAFFOLD_SERVER": admin.server.url, "SCAFFOLD_TOKEN": token}
    other = Cli(fresh.home.parent / "empty-home", fresh.server)
    assert "application-deploy" in other.ok("get", "cascades", env=env).stdout
    # a profile's token is never sent to another server
    elsewhere = fresh("get", "cascades", "-p", "other", env={"SCAFFOLD_SERVER": "http://127.0.0.1:9"})
    assert elsewhere.returncode == 3 and "no API token for http://127.0.0.1:9" in elsewhere.stderr


def test_context_sets_the_default_cascade(fresh: Cli):
    fresh.configure("admin", ADMIN_PASSWORD)
    assert fresh.ok("context").stdout == "profile 'default': no default cascade\n"
    assert fresh("get", "tasks").returncode == 2
    unknown = fresh("context", "no-such-cascade")
    assert unknown.returncode == 4
    assert unknown.stderr == "error: cascade 'no-such-cascade' does not exist (or you may not see it)\n"
    fresh.ok("context", "foobar")
    assert tomllib.loads((fresh.home / ".scaffold" / "config").read_text())["default"]["cascade"] == "foobar"
    assert json.loads(fresh.ok("context", "-o", "json").stdout)["cascade"] == "foobar"
    assert "write_file" in fresh.ok("get", "tasks").stdout
    assert fresh.ok("describe", "cascade").stdout.startswith("Name:")
    fresh.ok("context", "--unset")
    assert fresh("get", "tasks").returncode == 2


def test_revoked_and_expired_tokens(fresh: Cli):
    fresh.configure("admin", ADMIN_PASSWORD)
    token_id = tomllib.loads((fresh.home / ".scaffold" / "creds").read_text())["default"]["token_id"]
    listed = fresh.ok("tokens", "list").stdout
    assert f"{token_id} *" in listed  # the token in use is marked
    short = fresh.ok("tokens", "create", "short", "--expires-in-days", "0.00001").stdout.strip()
    time.sleep(1.2)
    expired = fresh("get", "cascades", env={"SCAFFOLD_TOKEN": short})
    assert expired.returncode == 3
    assert expired.stderr == (
        "error: the API token is invalid, expired or revoked (or its user is disabled) "
        "(the token came from SCAFFOLD_TOKEN)\n"
    )
    fresh.ok("tokens", "revoke", token_id)
    revoked = fresh("get", "cascades")
    assert revoked.returncode == 3
    assert revoked.stderr.startswith("error: the API token is invalid, expired or revoked")
    assert "run `scaffold configure`" in revoked.stderr and revoked.stderr.count("\n") == 1


def test_log_level_debug_goes_to_stderr(admin: Cli):
    result = admin.ok("get", "nodes", "--log-level", "debug", "-o", "json")
    assert json.loads(result.stdout)[0]["state"] == "up"
    assert "scaffold: DEBUG: GET " in result.stderr and "/api/v1/nodes -> 200" in result.stderr
    quiet = admin.ok("get", "nodes", "-o", "json", env={"SCAFFOLD_LOG_LEVEL": "error"})
    assert quiet.stderr == ""


def test_usage_errors_exit_2(admin: Cli):
    for args in (["get", "things"], ["start", "--bogus"], ["logs", "foobar"], ["users", "create"]):
        result = admin(*args)
        assert result.returncode == 2, (args, result.stderr)


def test_https_with_insecure_and_with_a_ca_certificate(tmp_path: Path):
    import ssl

    cert, key = self_signed(tmp_path)
    tls = Server(
        tmp_path / "tls-data",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        env={"SCAFFOLD_EXECUTOR": "fake"},
        scheme="https",
    )
    try:
        tls.wait_ready(verify=ssl.create_default_context(cafile=str(cert)))
        cli = Cli(tmp_path / "home", tls)
        untrusted = cli.configure("admin", ADMIN_PASSWORD)
        assert untrusted.returncode == 6
        assert "is not trusted" in untrusted.stderr and "--ca-cert" in untrusted.stderr
        assert cli.configure("admin", ADMIN_PASSWORD, "--insecure").returncode == 0
        assert tomllib.loads((cli.home / ".scaffold" / "config").read_text())["default"]["verify"] is False
        assert cli.ok("get", "nodes", "-o", "json").stdout.startswith("[")
        with_ca = cli.configure("admin", ADMIN_PASSWORD, "--ca-cert", str(cert), "-p", "ca")
        assert with_ca.returncode == 0, with_ca.stderr
        config = tomllib.loads((cli.home / ".scaffold" / "config").read_text())["ca"]
        assert config["verify"] is True and config["ca_cert"] == str(cert)
        assert cli.ok("version", "-p", "ca").stdout.count("scaffold 0.1.0") == 2
    finally:
        tls.stop()
