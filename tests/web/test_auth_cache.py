"""Caches on the request path, seen over HTTP:

- API tokens are checked from memory (AccessService's token cache); a revoked token, a disabled or
  deleted user, a role or group change take effect on the very next request;
- the board and the cascade list are sent from JSON kept per cascade: the same bytes as the models
  would give, and made again as soon as a task, a flag or the definition changes; a task's runs and
  single runs are kept only once they can no longer change;
- ``scaffold serve``'s uvicorn protocol sends a response's head with its body in one write, and
  still streams (the head of a stream goes out before its first chunk).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.responses import JSONResponse

from scaffold.web import views
from tests.web.conftest import OPEN, free_port

API = "/api/v1"


async def test_a_revoked_token_fails_on_the_very_next_request(server):
    client = server.client("writer_in")
    assert (await client.get(f"{API}/cascades")).status_code == 200  # checked, now in memory
    me = (await client.get(f"{API}/tokens")).json()
    [token] = [t for t in me if t["name"] == "tests"]
    assert (await client.delete(f"{API}/tokens/{token['id']}")).status_code == 204
    assert (await client.get(f"{API}/cascades")).status_code == 401


async def test_a_token_revoked_by_an_admin_fails_at_once(server):
    client, admin = server.client("reader_in"), server.client("admin")
    assert (await client.get(f"{API}/cascades")).status_code == 200
    tokens = (await admin.get(f"{API}/tokens", params={"username": "reader_in"})).json()
    for token in tokens:
        assert (await admin.delete(f"{API}/tokens/{token['id']}")).status_code == 204
    assert (await client.get(f"{API}/cascades")).status_code == 401


async def test_a_disabled_user_stops_at_once_and_comes_back(server):
    client, admin = server.client("writer_in"), server.client("admin")
    assert (await client.get(f"{API}/me")).status_code == 200
    r = await admin.patch(f"{API}/users/writer_in", json={"disabled": True})
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/me")).status_code == 401
    assert (await client.get(f"{API}/cascades")).status_code == 401
    assert (await admin.patch(f"{API}/users/writer_in", json={"disabled": False})).status_code == 200
    assert (await client.get(f"{API}/me")).status_code == 200


async def test_a_role_change_takes_effect_at_once(server):
    client, admin = server.client("writer_in"), server.client("admin")
    preview = {"dry_run": True}
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/plan", json={"auto_execute": True})
    assert r.status_code == 200, r.text  # write may change a task
    assert (await client.post(f"{API}/cascades/ops-deploy/start", json=preview)).status_code == 200
    assert (await admin.patch(f"{API}/users/writer_in", json={"role": "read"})).status_code == 200
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/plan", json={"auto_execute": True})
    assert r.status_code == 403, r.text
    assert (await client.get(f"{API}/me")).json()["role"] == "read"
    assert (await admin.patch(f"{API}/users/writer_in", json={"role": "admin"})).status_code == 200
    assert (await client.get(f"{API}/users")).status_code == 200  # admin only


async def test_a_group_change_takes_effect_at_once(server):
    client, admin = server.client("reader_in"), server.client("admin")
    assert (await client.get(f"{API}/cascades/ops-deploy/tasks")).status_code == 200
    assert (await admin.patch(f"{API}/users/reader_in", json={"groups": ["other"]})).status_code == 200
    assert (await client.get(f"{API}/cascades/ops-deploy/tasks")).status_code == 404
    names = [c["name"] for c in (await client.get(f"{API}/cascades")).json()]
    assert "ops-deploy" not in names


async def test_a_deleted_user_stops_at_once(server):
    client, admin = server.client("writer_in"), server.client("admin")
    assert (await client.get(f"{API}/me")).status_code == 200
    assert (await admin.delete(f"{API}/users/writer_in")).status_code == 204
    assert (await client.get(f"{API}/me")).status_code == 401


async def test_tokens_are_checked_from_memory(server):
    """Repeated requests with one token read neither the token nor its user again."""
    client = server.client("admin")
    assert (await client.get(f"{API}/cascades")).status_code == 200
    store, reads = server.core.store, []
    for name in ("get_token", "get_user"):
        method = getattr(store, name)

        async def counted(*args, _method=method, _name=name):
            reads.append(_name)
            return await _method(*args)

        setattr(store, name, counted)
    for _ in range(5):
        assert (await client.get(f"{API}/cascades")).status_code == 200
    assert reads == []
    bad = server.tokens["admin"][:-1] + ("A" if server.tokens["admin"][-1] != "A" else "B")
    r = await server.client().get(f"{API}/cascades", headers={"Authorization": f"Bearer {bad}"})
    assert r.status_code == 401  # a wrong secret for a token id in memory


# ------------------------------------------------------------------------ board and cascade list


def _uncached_board(server, name: str) -> bytes:
    engine = server.core.engine
    live = engine.cascades[name]
    return JSONResponse([t.model_dump(mode="json") for t in views.board(engine, live)]).body


def _uncached_list(server, names: list[str]) -> bytes:
    engine = server.core.engine
    items = [views.summary(engine, engine.cascades[n]).model_dump(mode="json") for n in names]
    return JSONResponse(items).body


async def test_the_board_and_the_list_are_the_bytes_the_models_give(server):
    client = server.client("admin")
    r = await client.get(f"{API}/cascades/ops-deploy/tasks")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == _uncached_board(server, "ops-deploy")
    assert int(r.headers["content-length"]) == len(r.content)
    r = await client.get(f"{API}/cascades")
    assert r.content == _uncached_list(server, ["open-cascade", "ops-deploy"])
    assert r.headers["content-type"] == "application/json"
    r = await client.get(f"{API}/cascades", params={"q": "open"})
    assert r.content == _uncached_list(server, ["open-cascade"])
    r = await server.client("reader_out").get(f"{API}/cascades")
    assert r.content == _uncached_list(server, ["open-cascade"])  # ops-deploy is not theirs to see
    r = await client.get(f"{API}/cascades", params={"q": "nothing matches this"})
    assert r.content == b"[]"
    r = await client.head(f"{API}/cascades/ops-deploy/tasks")
    assert r.status_code == 200 and r.content == b""


async def test_the_board_follows_every_change(server):
    client = server.client("admin")

    async def board() -> list[dict]:
        r = await client.get(f"{API}/cascades/ops-deploy/tasks")
        assert r.content == _uncached_board(server, "ops-deploy")
        r = await client.get(f"{API}/cascades")
        assert r.content == _uncached_list(server, ["open-cascade", "ops-deploy"])
        return json.loads(_uncached_board(server, "ops-deploy"))

    assert [t["state"] for t in await board()] == ["not_started"] * 3
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/verify", json={"disabled": True})
    assert r.status_code == 200
    assert [t["disabled"] for t in await board()] == [False, False, True]
    r = await client.post(f"{API}/cascades/ops-deploy/start", json={})
    await server.core.engine.wait_wave(r.json()["wave"]["id"])
    assert [t["state"] for t in await board()] == ["success", "success", "not_started"]
    listed = (await client.get(f"{API}/cascades")).json()[1]
    assert listed["states"] == {"success": 2, "not_started": 1} and listed["active"] is False
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/verify", json={"disabled": False})
    assert [t["disabled"] for t in await board()] == [False, False, False]
    text = OPEN.replace("echo hello", "echo hello again")
    r = await client.put(
        f"{API}/cascades/open-cascade", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/cascades")).json()[0]["version"] == 2
    await board()


async def _uncached_runs(server, name: str, task: str, kind: str = "task") -> bytes:
    from scaffold.engine.records import RunKind

    runs = await server.core.store.list_runs(name, task, kind=RunKind(kind))
    return JSONResponse([views.run(r).model_dump(mode="json") for r in runs]).body


async def test_runs_are_kept_only_once_they_cannot_change(server):
    client, store, engine = server.client("admin"), server.core.store, server.core.engine
    base = f"{API}/cascades/open-cascade/tasks/hello"

    async def runs() -> list[dict]:
        r = await client.get(f"{base}/runs")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.content == await _uncached_runs(server, "open-cascade", "hello")
        return r.json()

    async def until(check) -> None:
        for _ in range(500):
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    assert await runs() == []
    assert await runs() == []  # from memory now: nothing can appear before the task's row changes
    server.executor.behave("hello", hang=True)
    r = await client.post(f"{API}/cascades/open-cascade/start", json={})
    wave = r.json()["wave"]["id"]
    await until(lambda: engine.cascades["open-cascade"].rows["hello"].state.value == "running")
    await until(lambda: bool(server.executor.running))
    for _ in range(3):
        assert [x["state"] for x in await runs()] in (["waiting"], ["running"])
    live = engine.cascades["open-cascade"]
    assert views.cached_runs(live, "hello") is None  # an active run is never kept
    r = await client.get(f"{base}/runs/1")
    assert r.status_code == 200 and r.json()["state"] in ("waiting", "running")
    assert (await client.post(f"{base}/kill")).status_code == 200
    await engine.wait_wave(wave)
    await until(lambda: engine.cascades["open-cascade"].rows["hello"].state.value == "killed")
    for _ in range(2):
        [killed] = await runs()
        assert killed["state"] == "killed"
        r = await client.get(f"{base}/runs/1")
        assert r.json() == killed and r.content == JSONResponse(killed).body
        logs = (await client.get(f"{base}/runs/1/logs")).json()
        assert logs["complete"] is True
    server.executor.behave("hello", logs=[b"line one\n", b"line two\n"])
    r = await client.post(f"{API}/cascades/open-cascade/start", json={})
    await engine.wait_wave(r.json()["wave"]["id"])
    assert [(x["number"], x["state"]) for x in await runs()] == [(2, "success"), (1, "killed")]
    assert (await client.get(f"{base}/runs/2")).json()["state"] == "success"
    run = await store.get_run("open-cascade", "hello", 2)
    for query in ({}, {"offset": 5}, {"offset": 5, "limit": 4}, {"offset": 100}, {"limit": 0}):
        text, next_offset, truncated = await store.read_log(
            run.run_id, query.get("offset", 0), query.get("limit")
        )
        expected = {
            "text": text,
            "offset": query.get("offset", 0),
            "next_offset": next_offset,
            "truncated": truncated,
            "complete": next_offset >= run.log_size,
        }
        for _ in range(2):  # the second from memory
            r = await client.get(f"{base}/runs/2/logs", params=query)
            assert r.status_code == 200 and r.json() == expected
            assert r.content == JSONResponse(expected).body
    assert (await client.get(f"{base}/runs/2/logs")).json()["text"] == "line one\nline two\n"
    r = await client.get(f"{base}/runs", params={"kind": "check"})
    assert r.content == await _uncached_runs(server, "open-cascade", "hello", "check") == b"[]"
    # a cascade deleted and applied again starts with no history: nothing kept may come back
    assert (await client.delete(f"{API}/cascades/open-cascade")).status_code == 204
    r = await client.post(f"{API}/cascades", content=OPEN, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    assert await runs() == []
    assert (await client.get(f"{base}/runs/1")).status_code == 404
    assert await store.list_runs("open-cascade", "hello") == []


# ------------------------------------------------------------------ one write per response


@pytest.fixture
async def one_send_server():
    """A small app on uvicorn with the protocol ``scaffold serve`` uses."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    from scaffold.web.server import http_implementation

    release = asyncio.Event()
    writes: list[bytes] = []

    async def small(request):
        return JSONResponse({"hello": "world"})

    async def empty(request):
        return Response(status_code=204)

    async def big(request):
        return Response(b"x" * (3 << 20), media_type="application/octet-stream")

    async def stream(request):
        async def chunks():
            await release.wait()
            for i in range(3):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0.01)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    app = Starlette(
        routes=[
            Route("/small", small, methods=["GET", "HEAD"]),
            Route("/empty", empty),
            Route("/big", big),
            Route("/stream", stream),
        ]
    )
    protocol = http_implementation()
    assert not isinstance(protocol, str), "httptools is a dependency: the one-send protocol is used"

    class Recording(protocol):
        def connection_made(self, transport):
            write = transport.write

            def recorded(data):
                writes.append(bytes(data))
                write(data)

            transport.write = recorded
            super().connection_made(transport)

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", http=Recording
    )
    uv = uvicorn.Server(config)
    uv.install_signal_handlers = lambda: None
    serving = asyncio.ensure_future(uv.serve())
    while not uv.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", release, writes
    finally:
        release.set()
        uv.should_exit = True
        await serving


async def test_a_response_is_one_write_and_streams_still_stream(one_send_server):
    url, release, writes = one_send_server
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        r = await client.get("/small")
        assert r.status_code == 200 and r.json() == {"hello": "world"}
        assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b"}")
        writes.clear()
        r = await client.head("/small")
        assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "17"
        assert len(writes) == 1
        r = await client.get("/empty")
        assert r.status_code == 204 and r.content == b""
        r = await client.get("/big")
        assert len(r.content) == 3 << 20 and set(r.content) == {ord("x")}
        for _ in range(20):  # keep-alive: many responses on one connection, none mixed up
            assert (await client.get("/small")).json() == {"hello": "world"}
        async with client.stream("GET", "/stream") as response:  # the head comes before any chunk
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            release.set()
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
