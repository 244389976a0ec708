"""Settings: defaults < config file < ``SCAFFOLD_*`` environment variables < command-line flags.

The config file is TOML: ``$SCAFFOLD_CONFIG`` if set, else ``<data dir>/config.toml`` if present.
Every setting is a top-level key named like the field below (``max_running = 4``); its
environment variable is ``SCAFFOLD_`` + the upper-case name (``SCAFFOLD_MAX_RUNNING=4``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scaffold.errors import InvalidInput

EXECUTORS = ("docker", "process", "fake")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "scaffold"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    executor: str = "docker"  # docker | process | fake (tests)
    max_running: int = 8  # tasks running at once on this node
    kill_grace: float = 10.0  # seconds between SIGTERM and SIGKILL
    log_cap_chars: int = 5_000_000  # per run; beyond it the log says it was truncated
    retention_seconds: float = 7 * 86400  # how long finished containers and run dirs are kept
    docker_host: str | None = None  # default: DOCKER_HOST or the local socket
    docker_network: str | None = None  # network mode for task containers (default: Docker's)
    host: str = "127.0.0.1"  # scaffold serve: address to listen on
    port: int = 2997
    tls_cert: str | None = None  # PEM certificate; with tls_key, serve HTTPS
    tls_key: str | None = None
    session_hours: float = 12.0  # how long a browser login lasts
    file_limit_bytes: int = 100 * 1024 * 1024  # largest datastore file upload
    admin_password: str | None = None  # first start only: the admin's password (else one is generated)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "scaffold.db"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"


DOCS = {
    "data_dir": "where the database, key file and run directories live",
    "executor": "docker (default), process (host processes in a private mount namespace), fake",
    "max_running": "how many tasks may run at once",
    "kill_grace": "seconds between SIGTERM and SIGKILL when a task is killed or times out",
    "log_cap_chars": "the most log characters kept per run",
    "retention_seconds": "how long finished containers and run directories are kept",
    "docker_host": "Docker engine address (default: DOCKER_HOST or unix:///var/run/docker.sock)",
    "docker_network": "network mode for task containers (default: Docker's default)",
    "host": "scaffold serve: the address to listen on",
    "port": "scaffold serve: the port to listen on",
    "tls_cert": "scaffold serve: PEM certificate file; with tls_key the server speaks HTTPS",
    "tls_key": "scaffold serve: PEM private key file",
    "session_hours": "how long a browser login lasts",
    "file_limit_bytes": "the largest datastore file that may be uploaded",
    "admin_password": "first start only: the password of the admin user (else a one-time one is printed)",
}


def _coerce(name: str, value: Any, where: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind in ("int",):
            return int(value)
        if kind in ("float",):
            return float(value)
        if name == "data_dir":
            return Path(str(value)).expanduser()
        return None if value in (None, "") else str(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: {name} must be a {kind}, got {value!r}") from None


def load_settings(flags: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    names = [f.name for f in fields(Settings)]
    values: dict[str, Any] = {}
    data_dir = flags.get("data_dir") or env.get("SCAFFOLD_DATA_DIR") or default_data_dir()
    config = Path(env.get("SCAFFOLD_CONFIG") or Path(data_dir) / "config.toml")
    if config.is_file():
        try:
            loaded = tomllib.loads(config.read_text())
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise InvalidInput(f"config file {config}: {exc}") from None
        for key, value in loaded.items():
            if key not in names:
                raise InvalidInput(
                    f"config file {config}: unknown setting '{key}' (known: {', '.join(names)})"
                )
            values[key] = _coerce(key, value, f"config file {config}")
    for name in names:
        var = f"SCAFFOLD_{name.upper()}"
        if var in env:
            values[name] = _coerce(name, env[var], f"environment variable {var}")
    for name, value in flags.items():
        values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    settings = replace(Settings(), **values)
    if settings.executor not in EXECUTORS:
        raise InvalidInput(f"unknown executor '{settings.executor}': use one of {', '.join(EXECUTORS)}")
    if settings.max_running < 1:
        raise InvalidInput("max_running must be at least 1")
    return settings
