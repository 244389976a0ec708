"""A real server in the test's event loop: the web app on uvicorn (127.0.0.1, a free port), the
real engine with the fake executor and the memory store, and a cast of users with API tokens.

    async def test_x(server):
        r = await server.client("writer_in").post("/api/v1/cascades/ops-deploy/start", json={})
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaffold.access import passwords
from scaffold.access.service import AccessService
from scaffold.app import Core
from scaffold.config import Settings
from scaffold.engine.clock import SystemClock
from scaffold.engine.events import EventBus
from scaffold.engine.scheduler import Engine
from scaffold.engine.spec import parse_cascade
from scaffold.executors.fake import FakeExecutor
from scaffold.store.memory import MemoryStore
from scaffold.web.app import make_web_app

PASSWORD = "correct-horse-battery"
OPS = """\
version: v1
name: ops-deploy
groups: [ops]
inputs:
  - {name: DB_PASSWORD, type: password, default: hunter2-db-password}
  - {name: REGION, default: eu-west-1}
tasks:
  - {name: plan, image: img, run: "echo planning", store: {env: [PLAN_ID], file: [plan.txt]}}
  - {name: apply, image: img, run: "echo $DB_PASSWORD", inputs: [DB_PASSWORD], depends_on: [plan]}
  - {name: verify, image: img, run: "true", depends_on: [apply]}
"""
OPEN = """\
version: v1
name: open-cascade
tasks:
  - {name: hello, image: img, run: "echo hello"}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    core: Core
    access: AccessService
    executor: FakeExecutor
    tokens: dict[str, str] = field(default_factory=dict)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, who: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10, **kwargs)
        self.clients.append(client)
        return client


async def _cast(access: AccessService, store: MemoryStore) -> dict[str, str]:
    admin = await store.get_user("admin")
    specs = {
        "reader_out": ("read", ["other"]),
        "reader_in": ("read", ["ops"]),
        "writer_in": ("write", ["ops"]),
        "writer_out": ("write", ["other"]),
        "disabled": ("write", ["ops"]),
        "revoked": ("write", ["ops"]),
    }
    tokens = {}
    _, tokens["admin"] = await access.create_token(admin, "tests")
    for name, (role, groups) in specs.items():
        user = await access.create_user(admin, name, password=PASSWORD, role=role, groups=groups)
        token, tokens[name] = await access.create_token(user, "tests")
        if name == "revoked":
            await access.revoke_token(user, token.id)
    await access.update_user(admin, "disabled", disabled=True)
    return tokens


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    import uvicorn

    passwords.use_fast_hashing(True)
    store = MemoryStore()
    executor = FakeExecutor()
    bus = EventBus()
    settings = Settings(data_dir=tmp_path, executor="fake")
    engine = Engine(store, executor, bus=bus, max_running=8, kill_grace=1)
    core = Core(settings, store, executor, engine, bus)
    await store.open()
    await engine.open()
    access = AccessService(store, SystemClock())
    await access.bootstrap_admin(PASSWORD)
    for text in (OPS, OPEN):
        await engine.apply(parse_cascade(text), text, by="admin")
    port = free_port()
    app = make_web_app(core, access, settings=settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    uv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.ensure_future(uv.serve())
    while not uv.started:
        await asyncio.sleep(0.01)
    srv = Server(f"http://127.0.0.1:{port}", core, access, executor)
    srv.tokens = await _cast(access, store)
    try:
        yield srv
    finally:
        for client in srv.clients:
            await client.aclose()
        uv.should_exit = True
        await serving
        await engine.close()
        await store.close()
        passwords.use_fast_hashing(False)
