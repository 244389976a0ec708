"""Client profiles: which server to talk to, and with which API token.

Two files in ``~/.scaffold`` (``$SCAFFOLD_HOME`` overrides the directory), both TOML with one
table per profile:

- ``config``: ``server``, ``username``, ``cascade`` (the default cascade), ``verify`` (TLS
  certificate checks) and ``ca_cert`` (a PEM bundle to trust). Nothing secret.
- ``creds``: ``token`` and ``token_id``. Created with mode 0600 (never readable by others, not even
  for an instant), and rewritten the same way.

``SCAFFOLD_PROFILE`` picks the profile (``default`` otherwise); ``SCAFFOLD_SERVER`` and
``SCAFFOLD_TOKEN`` override the profile's server and token. A profile's token is only ever sent to
that profile's server: with ``SCAFFOLD_SERVER`` naming another one, ``SCAFFOLD_TOKEN`` is needed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("scaffold.client")
DEFAULT_PROFILE = "default"
PROFILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


class ProfileError(Exception):
    """The profile files are missing something or cannot be read; ``exit_code`` says what kind."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def home() -> Path:
    override = os.environ.get("SCAFFOLD_HOME")
    return Path(override) if override else Path.home() / ".scaffold"


def config_path() -> Path:
    return home() / "config"


def creds_path() -> Path:
    return home() / "creds"


def profile_name(option: str | None = None) -> str:
    name = option or os.environ.get("SCAFFOLD_PROFILE") or DEFAULT_PROFILE
    if not PROFILE_NAME.match(name):
        raise ProfileError(f"bad profile name '{name}': use letters, digits, '_', '.' and '-'")
    return name


# ------------------------------------------------------------------------------- the two files


def read_file(path: Path) -> dict[str, dict[str, Any]]:
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path} is not valid TOML ({exc}): fix it or remove it") from None
    return {name: table for name, table in data.items() if isinstance(table, dict)}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _dump(data: dict[str, dict[str, Any]], header: str) -> str:
    lines = [f"# {header}"]
    for name in sorted(data):
        lines += ["", f"[{json.dumps(name)}]"]
        lines += [f"{key} = {_toml_value(v)}" for key, v in data[name].items() if v is not None]
    return "\n".join(lines) + "\n"


def write_file(path: Path, data: dict[str, dict[str, Any]], header: str, mode: int) -> None:
    """Replace ``path`` atomically by a file created with ``mode`` (so never more open than that)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: mode 0600
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_dump(data, header))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


CONFIG_HEADER = "Scaffold CLI profiles, written by `scaffold configure`. API tokens are in ./creds."
CREDS_HEADER = "Scaffold CLI API tokens, written by `scaffold configure`. Keep this file private (0600)."


def update_profile(name: str, **values: Any) -> None:
    """Set (or, with None, remove) keys of one profile in the config file."""
    data = read_file(config_path())
    table = data.setdefault(name, {})
    for key, value in values.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    write_file(config_path(), data, CONFIG_HEADER, 0o644)


def save_token(name: str, token: str, token_id: str) -> None:
    data = read_file(creds_path())
    data[name] = {"token": token, "token_id": token_id}
    write_file(creds_path(), data, CREDS_HEADER, 0o600)


# ---------------------------------------------------------------------------- the active one


@dataclass
class Connection:
    """Where requests go and how they authenticate, after the files and environment are merged."""

    profile: str
    server: str | None
    token: str | None
    token_source: str  # "SCAFFOLD_TOKEN", "creds" or "none"
    verify: bool
    ca_cert: str | None
    cascade: str | None
    username: str | None

    @property
    def token_id(self) -> str | None:
        """The id part of ``scf_<id>_<secret>``."""
        if self.token and self.token.startswith("scf_"):
            return self.token[4:].split("_", 1)[0]
        return None


def normalize_server(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    if not re.match(r"https?://[^/\s]+", url):
        raise ProfileError(f"bad server URL '{url}': give http://HOST:PORT or https://HOST")
    return url


def resolve(option_profile: str | None = None) -> Connection:
    name = profile_name(option_profile)
    config = read_file(config_path())
    profile = config.get(name, {})
    if option_profile and not profile and not os.environ.get("SCAFFOLD_SERVER"):
        raise ProfileError(
            f"no profile '{name}' in {config_path()}: run `scaffold configure --profile {name}`"
        )
    stored_server = profile.get("server")
    server = os.environ.get("SCAFFOLD_SERVER") or stored_server
    if server:
        server = normalize_server(server)
    same_server = stored_server is not None and server == normalize_server(stored_server)
    token, source = os.environ.get("SCAFFOLD_TOKEN"), "SCAFFOLD_TOKEN"
    if not token and same_server:
        _check_private(creds_path())
        token, source = read_file(creds_path()).get(name, {}).get("token"), "creds"
    log.debug("profile %s: server %s, token from %s", name, server, source if token else "nowhere")
    return Connection(
        profile=name,
        server=server,
        token=token or None,
        token_source=source if token else "none",
        verify=bool(profile.get("verify", True)) if same_server else True,
        ca_cert=profile.get("ca_cert") if same_server else None,
        cascade=profile.get("cascade"),
        username=profile.get("username") if same_server else None,
    )


def _check_private(path: Path) -> None:
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s can be read by others: run `chmod 600 %s`", path, path)
