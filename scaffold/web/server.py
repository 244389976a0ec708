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
    lines = [f"Scaffold {__version__} is ready at {url}"]
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
