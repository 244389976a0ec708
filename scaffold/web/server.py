"""``scaffold serve``: one process with the engine, the store, the executor and the web app."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scaffold import __version__
from scaffold.errors import ScaffoldError


class PortUnavailable(ScaffoldError):
    code = "port_unavailable"
    exit_code = 7


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def apply_examples(core: Any) -> list[str]:
    """Apply every bundled example (unchanged ones are left as they are)."""
    from scaffold.engine.spec import parse_cascade

    names = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        spec = parse_cascade(text, source=str(path))
        await core.engine.apply(spec, text, by="examples")
        names.append(spec.name)
    return names


def _check_port(host: str, port: int) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortUnavailable(
                f"cannot listen on {host}:{port}: {exc.strerror}; "
                "stop what uses it, or pass --port (SCAFFOLD_PORT)"
            ) from None


def _banner(settings: Any, url: str, password: str | None, examples: list[str]) -> str:
    lines = [f"Scaffold {__version__} is ready at {url}  (open it in a browser and log in)"]
    lines.append(f"  data directory: {settings.data_dir}")
    lines.append(f"  executor: {settings.executor}, up to {settings.max_running} tasks at once")
    if examples:
        lines.append(f"  examples applied: {', '.join(examples)}")
    if password:
        lines.append(f"  first start: user 'admin' was created with the one-time password: {password}")
        lines.append(
            "  (shown only now: log in and change it, or set SCAFFOLD_ADMIN_PASSWORD before the first start)"
        )
    lines.append(f"  API: {url}/api/v1/docs")
    return "\n".join(lines)


class _OneSendTransport:
    """A transport that sends a response's head together with its body.

    uvicorn writes the head of a response (status line and headers) and its body with two
    ``transport.write`` calls, each one ``send()`` on the socket, each waking the client: on a
    loopback socket that doubled the server's system time per request. Here a write that looks like
    a head (``HTTP/1.1 ...`` up to the blank line) is held until the next write, which sends both at
    once (uvicorn writes the body right after the head, in the same turn of the event loop); if no
    write follows in this turn (an empty body is also written, so this is only a 100 Continue or a
    stream's head), the held bytes go at the loop's next turn. Nothing is reordered or dropped:
    ``close`` sends what is held first. Everything else is the wrapped transport's.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        elif data[:9] == b"HTTP/1.1 " and data[-4:] == b"\r\n\r\n":
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def http_implementation() -> Any:
    """uvicorn's HTTP/1.1 protocol: httptools (a C parser, a dependency) when it can be imported,
    with each response sent in one ``send()`` (:class:`_OneSendTransport`); else h11 (pure Python,
    slower per request)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "h11"

    class Protocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_OneSendTransport(transport, self.loop))  # type: ignore[arg-type]

    return Protocol


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server with Scaffold's own signal handling: SIGINT/SIGTERM stop it gracefully
        and ``serve`` then closes the engine and the store (uvicorn would re-raise the signal and
        end the process before that)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def stop(self) -> None:
            self.should_exit = True

    return Server


async def serve(settings: Any, *, examples: bool = False) -> None:
    import uvicorn

    _Server = _server_class()
    from scaffold.access.service import AccessService
    from scaffold.app import open_core
    from scaffold.engine.clock import SystemClock
    from scaffold.web.app import make_web_app

    _check_port(settings.host, settings.port)  # before anything is created (e.g. the admin)
    core = await open_core(settings)
    try:
        access = AccessService(core.store, SystemClock(), session_ttl=settings.session_hours * 3600)
        password = await access.bootstrap_admin(settings.admin_password)
        applied = await apply_examples(core) if examples else []
        app = make_web_app(core, access, settings=settings)
        tls = bool(settings.tls_cert and settings.tls_key)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            http=http_implementation(),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        url = f"{'https' if tls else 'http'}://{host}:{settings.port}"

        async def announce() -> None:
            while not server.started:
                if server.should_exit:
                    return
                await asyncio.sleep(0.02)
            print(_banner(settings, url, password, applied), flush=True)

        announcer = asyncio.ensure_future(announce())
        await server.serve()
        announcer.cancel()
        if not server.started:
            raise SystemExit(f"error: could not listen on {settings.host}:{settings.port} (is it in use?)")
    finally:
        print(
            "scaffold: shutting down; running tasks keep running and are adopted on the next start",
            file=sys.stderr,
            flush=True,
        )
        await core.close(kill_running=False)
