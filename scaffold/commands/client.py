"""What every client command shares: the ``--profile``/``--log-level`` options, the HTTP client
for the server's API, and how errors become one line on stderr with an exit code per kind.

Exit codes (docs/cli.md#exit-codes): 0 ok; 1 a task failed (``start --follow``) or a prompt was
declined; 2 usage or an invalid request or file; 3 authentication or permission (401, 403, 429);
4 not found; 5 conflict (409); 6 server error or unreachable; 130 interrupted.

httpx and rich are imported inside functions, so that ``scaffold --help`` stays fast.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import click

from scaffold import __version__
from scaffold.commands.profiles import Connection, ProfileError, resolve

log = logging.getLogger("scaffold.client")

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_DECLINED = 1  # the same code: nothing was done because you said no
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_SERVER = 6
EXIT_INTERRUPTED = 130
EXIT_BY_STATUS = {401: EXIT_AUTH, 403: EXIT_AUTH, 429: EXIT_AUTH, 404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT}
LOG_LEVELS = ("debug", "info", "warning", "error")
META_PROFILE = "scaffold.profile"
META_LOG_LEVEL = "scaffold.log_level"


class CliError(Exception):
    """An error to report as ``error: <message>`` on stderr, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int, details: list[Any] | None = None, code: str = ""):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details = details or []
        self.code = code


def exit_code_for(status: int) -> int:
    if status in EXIT_BY_STATUS:
        return EXIT_BY_STATUS[status]
    return EXIT_SERVER if status >= 500 else EXIT_USAGE


# ----------------------------------------------------------------------------------- options


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.meta[key] = value

    return callback


def client_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--profile`` and ``--log-level`` to a command and report its errors the Scaffold way."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        env_level = os.environ.get("SCAFFOLD_LOG_LEVEL", "").lower()
        level = click.get_current_context().meta.get(META_LOG_LEVEL)
        _setup_logging(level or (env_level if env_level in LOG_LEVELS else None))
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            fail(exc)
        except ProfileError as exc:
            fail(CliError(exc.message, exc.exit_code))
        except KeyboardInterrupt:
            click.echo("scaffold: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # `scaffold get ... | head`: the reader went away
            sys.stderr.close()
            sys.exit(EXIT_OK)

    wrapper = click.option(
        "--log-level",
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        metavar="LEVEL",
        expose_value=False,
        is_eager=True,
        callback=_remember(META_LOG_LEVEL),
        help="debug, info, warning or error: the client's own diagnostics, on stderr "
        "[env: SCAFFOLD_LOG_LEVEL; default: warning].",
    )(wrapper)
    return click.option(
        "--profile",
        "-p",
        metavar="NAME",
        expose_value=False,
        is_eager=True,
        callback=_remember(META_PROFILE),
        help="The profile to use [env: SCAFFOLD_PROFILE; default: default].",
    )(wrapper)


def _setup_logging(level: str | None) -> None:
    logger = logging.getLogger("scaffold")
    if not any(getattr(h, "scaffold_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("scaffold: %(levelname)s: %(message)s"))
        handler.scaffold_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel((level or "warning").upper())
    logger.propagate = False


def fail(exc: CliError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(exc.exit_code)


def profile_option_value() -> str | None:
    return click.get_current_context().meta.get(META_PROFILE)


def connection() -> Connection:
    return resolve(profile_option_value())


def seg(name: str) -> str:
    """One path segment of a URL, quoted."""
    return quote(str(name), safe="")


# --------------------------------------------------------------------------------------- api


class Api:
    """The server's API v1 over httpx. Every failure is raised as a :class:`CliError`."""

    def __init__(self, conn: Connection, *, need_token: bool = True, timeout: float = 60.0):
        try:
            import httpx
        except ImportError:  # pragma: no cover - a dependency of the package
            raise CliError("the client commands need httpx: pip install httpx", EXIT_USAGE) from None

        if not conn.server:
            raise CliError(
                "no server is configured: run `scaffold configure --server URL --username NAME` "
                "or set SCAFFOLD_SERVER",
                EXIT_USAGE,
            )
        if need_token and not conn.token:
            hint = f" --profile {conn.profile}" if conn.profile != "default" else ""
            raise CliError(
                f"no API token for {conn.server}: run `scaffold configure{hint}` or set SCAFFOLD_TOKEN",
                EXIT_AUTH,
            )
        self.conn = conn
        headers = {"User-Agent": f"scaffold-cli/{__version__}"}
        if conn.token and need_token:
            headers["Authorization"] = f"Bearer {conn.token}"
        self.http = httpx.Client(
            base_url=f"{conn.server}/api/v1",
            headers=headers,
            verify=tls_verify(conn.verify, conn.ca_cert),
            timeout=timeout,
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # requests

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; returns the httpx response of a success (2xx)."""
        import httpx

        started = time.monotonic()
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(self.conn, exc) from None
        log.debug(
            "%s %s -> %s (%.0f ms)",
            method,
            response.url,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 400:
            raise self.error(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return _json_or_none(self.request("POST", path, **kwargs))

    def put(self, path: str, **kwargs: Any) -> Any:
        return _json_or_none(self.request("PUT", path, **kwargs))

    def patch(self, path: str, **kwargs: Any) -> Any:
        return _json_or_none(self.request("PATCH", path, **kwargs))

    def delete(self, path: str, **kwargs: Any) -> Any:
        return _json_or_none(self.request("DELETE", path, **kwargs))

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[Any]:
        """A streamed response (downloads, events); errors are raised before the body is read."""
        import httpx

        try:
            with self.http.stream(method, path, **kwargs) as response:
                log.debug("%s %s -> %s (streamed)", method, response.url, response.status_code)
                if response.status_code >= 400:
                    response.read()
                    raise self.error(response)
                yield response
        except httpx.HTTPError as exc:
            raise unreachable(self.conn, exc) from None

    def error(self, response: Any) -> CliError:
        return error_from_response(response, token_in_use=self.conn.token_source)


def _json_or_none(response: Any) -> Any:
    return response.json() if response.content else None


def tls_verify(verify: bool, ca_cert: str | None) -> Any:
    if not verify:
        return False
    if ca_cert:
        import ssl

        try:
            return ssl.create_default_context(cafile=ca_cert)
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"cannot load the CA certificate {ca_cert}: {exc}", EXIT_USAGE) from None
    return True


def error_from_response(response: Any, token_in_use: str = "none") -> CliError:
    status = response.status_code
    code, details = "", []
    try:
        body = response.json()["error"]
        message, code, details = str(body["message"]), str(body.get("code", "")), body.get("details") or []
    except (ValueError, KeyError, TypeError):
        message = f"the server answered {status} {response.reason_phrase}".rstrip()
    if code == "invalid_body" and details:
        message += ": " + "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details)
    if code == "rate_limited" and details:
        message += f" (retry in {details[0].get('retry_after')} s)"
    if status == 401 and token_in_use == "creds":
        message += ": run `scaffold configure` to get a new token"
    elif status == 401 and token_in_use == "SCAFFOLD_TOKEN":
        message += " (the token came from SCAFFOLD_TOKEN)"
    return CliError(message, exit_code_for(status), details=details, code=code)


def unreachable(conn: Connection, exc: Exception) -> CliError:
    import httpx

    reason = str(exc) or exc.__class__.__name__
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return CliError(
            f"the TLS certificate of {conn.server} is not trusted ({reason}): give its CA with "
            "`scaffold configure --ca-cert FILE`, or --insecure for a self-signed test server",
            EXIT_SERVER,
        )
    if isinstance(exc, httpx.TimeoutException):
        return CliError(f"{conn.server} did not answer in time ({reason})", EXIT_SERVER)
    return CliError(f"cannot reach the server at {conn.server}: {reason}", EXIT_SERVER)


def open_api(*, need_token: bool = True) -> Api:
    return Api(connection(), need_token=need_token)


def cascade_or_context(cascade: str | None, conn: Connection) -> str:
    if cascade:
        return cascade
    if conn.cascade:
        return conn.cascade
    raise CliError(
        "name a cascade (-c CASCADE) or set a default one with `scaffold context CASCADE`", EXIT_USAGE
    )
