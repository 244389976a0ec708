"""Who may call what: every route of the API x seven callers, and what list endpoints and the event
stream leave out (issue 3, acceptance 1).

The table below is the contract. One row per route (some routes have two); the expected statuses
are in the order of ``CALLERS``:

    anonymous   no credentials at all
    reader_out  role read, groups [other]: may not see ``ops-deploy`` (groups [ops]) -> 404 there
    reader_in   role read, groups [ops]
    writer_in   role write, groups [ops]
    admin       role admin
    revoked     a write user in [ops] whose token was revoked
    disabled    a write user in [ops] who was disabled (their token is still unrevoked)

A bad credential is refused on every route, even a public one (``/health``, ``/login``, the webhook
trigger): a client sending a revoked token learns so at once.

Placeholders in a row (``{tmp}``, ``{file}``...) are made fresh for every caller, so one caller's
success (a delete, a start) never changes the next caller's outcome; ``Scratch`` below makes them.
After each call the engine is settled (the started wave finishes, hanging tasks are killed).

The shell websocket is in the table as method ``WS``: a refused handshake is its HTTP status, an
accepted one is ``101`` -- and then the server, which runs the fake executor here, must end the
session with its error frame (shells need the docker executor), which is checked too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from scaffold.access.records import Role
from scaffold.engine.spec import parse_cascade
from scaffold.web.api_events import RECHECK_SECONDS
from scaffold.web.api_shell import PATH as SHELL_PATH
from scaffold.web.api_shell import RUN_PATH as SHELL_RUN_PATH
from scaffold.web.app import api_modules
from tests.web.conftest import OPS, PASSWORD, Server

CALLERS = ("anonymous", "reader_out", "reader_in", "writer_in", "admin", "revoked", "disabled")
API = "/api/v1"
OPS_GROUP_FILE = """\
version: v1
name: {new}
groups: [ops]
tasks:
  - name: only
    image: img
    run: "true"
"""


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    body: Any  # None, a dict (JSON), str (a YAML file) or bytes (a file upload)
    expect: str  # one status per caller, in the order of CALLERS
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.path.removeprefix(API)}" + (f" ({self.note})" if self.note else "")


def R(expect: str, method: str, path: str, body: Any = None, note: str = "", **headers: str) -> Row:
    return Row(method, API + path, body, expect, {k.replace("_", "-"): v for k, v in headers.items()}, note)


NEW_PASSWORD = "a-brand-new-password"
NEW_FILE = b"\x00binary\xff content"

# fmt: off
# One status per caller, in the order of CALLERS:
#     "anon out in  wri adm rev dis"
TABLE = [
    # cascades
    R("401 200 200 200 200 401 401", "GET",    "/cascades"),
    R("401 403 403 201 201 401 401", "POST",   "/cascades", OPS_GROUP_FILE),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy"),
    R("401 404 403 200 200 401 401", "PUT",    "/cascades/ops-deploy", OPS),
    R("401 404 403 204 204 401 401", "DELETE", "/cascades/{tmp}"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/versions"),
    # tasks, starts, kills
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/tasks"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/tasks/plan"),
    R("401 404 403 200 200 401 401", "PATCH",  "/cascades/ops-deploy/tasks/plan", {"auto_execute": True}),
    R("401 404 200 200 200 401 401", "POST",   "/cascades/ops-deploy/start", {"dry_run": True}, "dry run"),
    R("401 404 403 200 200 401 401", "POST",   "/cascades/ops-deploy/start", {"task": "apply"}, "one task"),
    R("401 404 403 200 200 401 401", "POST",   "/cascades/{busy}/tasks/block/kill"),
    R("401 404 403 101 101 401 401", "WS",     "/cascades/ops-deploy/tasks/plan/shell"),
    R("401 404 403 101 101 401 401", "WS",     "/cascades/ops-deploy/tasks/plan/shell?run=1", "run 1"),
    R("401 404 403 404 404 401 401", "WS",     "/cascades/ops-deploy/tasks/plan/shell?run=99", "no run 99"),
    R("401 400 400 400 400 401 401", "WS",     "/cascades/ops-deploy/tasks/plan/shell?run=x", "bad run"),
    R("401 404 403 101 101 401 401", "WS",     "/cascades/ops-deploy/tasks/plan/runs/1/shell", "run in path"),
    R("401 404 403 404 404 401 401", "WS",     "/cascades/ops-deploy/tasks/plan/runs/99/shell", "no run 99"),
    # runs, logs, waves
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/tasks/plan/runs"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/tasks/plan/runs/1"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/tasks/plan/runs/1/logs"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/waves"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/waves/{wave}"),
    # inputs, values, files
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/inputs"),
    R("401 404 403 200 200 401 401", "PUT",    "/cascades/ops-deploy/inputs", {"values": {"REGION": "x"}}),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/values"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/values/PLAN_ID"),
    R("401 404 403 200 200 401 401", "PUT",    "/cascades/ops-deploy/values/PLAN_ID", {"text": "p-2"}),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/values/PLAN_ID/versions"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/files"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/files/plan.txt"),
    R("401 404 403 200 200 401 401", "PUT",    "/cascades/ops-deploy/files/new.bin", NEW_FILE),
    R("401 404 403 204 204 401 401", "DELETE", "/cascades/ops-deploy/files/{file}"),
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/files/plan.txt/versions"),
    # webhooks
    R("401 404 200 200 200 401 401", "GET",    "/cascades/ops-deploy/webhooks"),
    R("401 404 403 201 201 401 401", "POST",   "/cascades/ops-deploy/webhooks", {"task": "plan"}),
    R("401 404 403 204 204 401 401", "DELETE", "/cascades/ops-deploy/webhooks/{hook}"),
    R("202 202 202 202 202 401 401", "POST",   "/hooks/{hook}",
      {"ref": "main"}, X_Scaffold_Secret="{hook_secret}"),
    R("401 401 401 401 401 401 401", "POST",   "/hooks/{hook}",
      {"ref": "main"}, "wrong secret", X_Scaffold_Secret="wrong-secret"),
    # events
    R("401 200 200 200 200 401 401", "GET",    "/events"),
    # people: log in and out, my password
    R("200 200 200 200 200 401 401", "POST",   "/login", {"username": "reader_in", "password": PASSWORD}),
    R("204 204 204 204 204 401 401", "POST",   "/logout"),
    R("401 204 204 204 204 401 401", "POST",   "/me/password", {"old": PASSWORD, "new": NEW_PASSWORD}),
    R("401 200 200 200 200 401 401", "GET",    "/me"),
    # tokens: {token} belongs to writer_out (only an admin may revoke it), {my_token} to the caller
    R("401 201 201 201 201 401 401", "POST",   "/tokens", {"name": "ci"}),
    R("401 200 200 200 200 401 401", "GET",    "/tokens"),
    R("401 404 404 404 204 401 401", "DELETE", "/tokens/{token}"),
    R("401 204 204 204 204 401 401", "DELETE", "/tokens/{my_token}"),
    # users ({user} is a fresh user; everybody may read their own account)
    R("401 403 403 403 200 401 401", "GET",    "/users"),
    R("401 403 403 403 201 401 401", "POST",   "/users", {"username": "{new_user}", "role": "read"}),
    R("401 404 200 404 200 401 401", "GET",    "/users/reader_in"),
    R("401 403 403 403 200 401 401", "PATCH",  "/users/{user}", {"groups": ["ops", "qa"]}),
    R("401 403 403 403 204 401 401", "DELETE", "/users/{user}"),
    R("401 200 200 200 200 401 401", "GET",    "/roles"),
    R("401 200 200 200 200 401 401", "GET",    "/groups"),
    # operations
    R("200 200 200 200 200 401 401", "GET",    "/health"),
    R("200 200 200 200 200 401 401", "GET",    "/version"),
    R("200 200 200 200 200 401 401", "GET",    "/openapi.json"),
    R("200 200 200 200 200 401 401", "GET",    "/docs"),
    R("401 200 200 200 200 401 401", "GET",    "/nodes"),
    R("401 403 403 403 200 401 401", "GET",    "/audit"),
]
# fmt: on

PLACEHOLDER = re.compile(r"{(\w+)}")


def _route_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    return re.compile("".join("[^/]+" if PLACEHOLDER.fullmatch(p) else re.escape(p) for p in parts) + r"\Z")


ROUTES = {
    (e.method, api.prefix + e.path): _route_pattern(api.prefix + e.path)
    for api in api_modules()
    for e in api.endpoints
}
ROUTES[("WS", SHELL_PATH)] = _route_pattern(SHELL_PATH)  # the websocket is not in the registry
ROUTES[("WS", SHELL_RUN_PATH)] = _route_pattern(SHELL_RUN_PATH)


def route_of(row: Row) -> tuple[str, str]:
    path = row.path.partition("?")[0]
    matches = [key for key, pattern in ROUTES.items() if key[0] == row.method and pattern.match(path)]
    assert len(matches) == 1, f"{row.id} matches {matches}"
    return matches[0]


def test_the_table_covers_every_route_and_nothing_else():
    covered = {route_of(row) for row in TABLE}
    missing = sorted(set(ROUTES) - covered)
    assert not missing, f"routes without a row in TABLE: {missing}"
    assert covered == set(ROUTES)
    assert all(len(row.expect.split()) == len(CALLERS) for row in TABLE)


# ------------------------------------------------------------------------------ scratch objects


class Scratch:
    """Fresh objects for the placeholders of one call."""

    def __init__(self, server: Server):
        self.server = server
        self.engine = server.core.engine
        self.access = server.access
        self.n = 0

    async def user(self, name: str):
        return await self.access.store.get_user(name)

    def _next(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    async def apply(self, text: str) -> str:
        spec = parse_cascade(text)
        await self.engine.apply(spec, text, by="admin")
        return spec.name

    async def values(self, row: Row, caller: str, known: dict[str, str]) -> dict[str, str]:
        names = set(PLACEHOLDER.findall(row.path + json.dumps(row.body, default=str) + str(row.headers)))
        out = dict(known)
        admin = await self.user("admin")
        for name in sorted(names - set(out)):
            if name == "new":
                out[name] = self._next("fresh")
            elif name == "tmp":
                out[name] = await self.apply(OPS.replace("name: ops-deploy", f"name: {self._next('tmp')}"))
            elif name == "busy":
                out[name] = await self.busy_cascade()
            elif name == "file":
                out[name] = self._next("scratch") + ".txt"
                await self.server.core.store.put_files("ops-deploy", {out[name]: b"x"}, "admin", "text/plain")
            elif name in ("hook", "hook_secret"):
                hook, secret = await self.access.create_webhook(admin, "ops-deploy", "plan", ["ops"])
                out["hook"], out["hook_secret"] = hook.id, secret
            elif name == "token":
                token, _ = await self.access.create_token(await self.user("writer_out"), "scratch")
                out[name] = token.id
            elif name == "my_token":
                owner = (
                    caller if caller in ("reader_out", "reader_in", "writer_in", "admin") else "writer_out"
                )
                token, _ = await self.access.create_token(await self.user(owner), "mine")
                out[name] = token.id
            elif name == "user":
                out[name] = self._next("scratch")
                await self.access.create_user(admin, out[name], role=Role.WRITE, groups=["ops"])
            elif name == "new_user":
                out[name] = self._next("newbie")
            else:
                raise AssertionError(f"unknown placeholder {{{name}}} in {row.id}")
        return out

    async def busy_cascade(self) -> str:
        name = self._next("busy")
        self.server.executor.behave("block", hang=True)
        await self.apply(
            f"version: v1\nname: {name}\ngroups: [ops]\ntasks:\n  - {{name: block, image: img, run: sleep}}\n"
        )
        await self.engine.start(name, "block", by="admin")
        for _ in range(200):
            if self.engine.cascades[name].rows["block"].state.value == "running":
                return name
            await asyncio.sleep(0.01)
        raise AssertionError("the blocking task never ran")

    async def settle(self) -> None:
        """Kill what still hangs, then wait until nothing is waiting or running."""
        for name, live in list(self.engine.cascades.items()):
            row = live.rows.get("block")
            if row is not None and row.state.active:
                await self.engine.kill(name, "block", by="test")
        await asyncio.wait_for(self.engine.wait_idle(), 10)


def fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {fill(k, values): fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


async def send(client: httpx.AsyncClient, row: Row, values: dict[str, str]) -> int:
    path = fill(row.path, values)
    headers = fill(dict(row.headers), values)
    if row.method == "WS":
        return await send_websocket(client, path, headers)
    kwargs: dict[str, Any] = {}
    if isinstance(row.body, dict):
        kwargs["json"] = fill(row.body, values)
    elif isinstance(row.body, str):
        kwargs["content"] = fill(row.body, values).encode()
        headers["Content-Type"] = "application/yaml"
    elif isinstance(row.body, bytes):
        kwargs["content"] = row.body
        headers["Content-Type"] = "application/octet-stream"
    if path == f"{API}/events":  # endless: check the status, then hang up
        async with client.stream("GET", path, headers=headers) as response:
            return response.status_code
    response = await client.request(row.method, path, headers=headers, **kwargs)
    assert response.status_code < 500, response.text
    return response.status_code


async def send_websocket(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> int:
    """The handshake's status; an accepted shell must then end with the fake executor's refusal."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    if "authorization" in client.headers:
        headers = {"Authorization": client.headers["authorization"], **headers}
    url = str(client.base_url).replace("http", "ws", 1) + path
    try:
        async with connect(url, additional_headers=headers, open_timeout=10) as websocket:
            frames = [frame async for frame in websocket]
    except InvalidStatus as exc:
        status = exc.response.status_code
        body = json.loads(exc.response.body)
        assert body["error"]["code"] and body["error"]["message"], body
        return status
    last = json.loads(frames[-1])
    assert last["type"] == "error" and "docker executor" in last["message"], frames
    return 101


async def prepared(server: Server) -> dict[str, str]:
    """One finished wave of ops-deploy: runs, logs, the PLAN_ID value and plan.txt exist."""
    wave = await server.core.engine.start("ops-deploy", by="admin")
    await server.core.engine.wait_wave(wave.id)
    return {"wave": str(wave.id)}


@pytest.mark.parametrize("row", TABLE, ids=[row.id for row in TABLE])
async def test_who_may_call_what(server: Server, row: Row):
    known = await prepared(server)
    scratch = Scratch(server)
    got = []
    for caller in CALLERS:
        values = await scratch.values(row, caller, known)
        client = server.client(None if caller == "anonymous" else caller)
        got.append(str(await send(client, row, values)))
        await scratch.settle()
    table = "\n".join(
        f"  {c:<11} expected {e}, got {g}" for c, e, g in zip(CALLERS, row.expect.split(), got, strict=True)
    )
    assert " ".join(got) == row.expect, f"{row.id}:\n{table}"


# ------------------------------------------------------------------- credentials in the wrong place


def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def test_basic_auth_creates_a_token_and_nothing_else(server: Server):
    client = server.client()
    r = await client.post(f"{API}/tokens", json={"name": "laptop"}, headers=basic("reader_in"))
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    me = (await client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert (me["username"], me["via"]) == ("reader_in", "token")

    for who, password in (("reader_in", "wrong-password"), ("nobody", PASSWORD), ("disabled", PASSWORD)):
        r = await client.post(f"{API}/tokens", json={"name": "x"}, headers=basic(who, password))
        assert r.status_code == 401, (who, r.text)
    r = await client.post(f"{API}/tokens", json={"name": "x"}, headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401

    # Every other route refuses basic auth, even with the admin's right password, and does nothing.
    placeholders = {name: "x" for row in TABLE for name in PLACEHOLDER.findall(row.path)}
    for row in TABLE:
        if route_of(row) == ("POST", f"{API}/tokens"):
            continue
        status = await send(
            server.client(), Row(row.method, row.path, row.body, "", basic("admin")), placeholders
        )
        assert status == 401, f"{row.id} accepted basic auth: {status}"
    assert "ops-deploy" in server.core.engine.cascades


async def test_anonymous_callers_are_refused_before_their_request_is_read(server: Server):
    client = server.client()
    r = await client.post(f"{API}/cascades/ops-deploy/start", content=b"not json")
    assert r.status_code == 401, r.text
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/plan", json={"disabled": "maybe"})
    assert r.status_code == 401, r.text
    r = await client.get(f"{API}/audit", params={"limit": "many"})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_an_unknown_scheme_or_a_malformed_token_is_refused(server: Server):
    for header in ("Token abc", "Bearer", "Bearer scf_nope", f"Bearer {server.tokens['admin']}x"):
        r = await server.client().get(f"{API}/me", headers={"Authorization": header})
        assert r.status_code == 401, header


async def test_a_writer_outside_the_groups_cannot_take_over_a_cascade(server: Server):
    writer_out = server.client("writer_out")
    hijack = OPS.replace("groups: [ops]", "groups: [other]")
    r = await writer_out.post(f"{API}/cascades", content=hijack, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 404, r.text  # as for any cascade they may not see
    assert server.core.engine.cascades["ops-deploy"].spec.groups == ("ops",)
    # ...nor create one they could not see themselves
    mine = OPS_GROUP_FILE.replace("{new}", "secret-thing")
    r = await writer_out.post(f"{API}/cascades", content=mine, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 403, r.text
    # ...nor move a visible cascade out of their own reach by mistake
    r = await server.client("writer_in").put(
        f"{API}/cascades/ops-deploy", content=hijack, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code == 403, r.text


# ---------------------------------------------------------------- lists never show what is hidden


async def test_lists_leave_out_what_the_caller_may_not_see(server: Server):
    async def names(who: str) -> list[str]:
        r = await server.client(who).get(f"{API}/cascades")
        assert r.status_code == 200
        return [c["name"] for c in r.json()]

    assert await names("reader_out") == ["open-cascade"]
    assert await names("reader_in") == ["open-cascade", "ops-deploy"]
    assert await names("admin") == ["open-cascade", "ops-deploy"]
    r = await server.client("reader_out").get(f"{API}/cascades", params={"q": "deploy"})
    assert r.json() == []

    # groups: a non-admin sees their own groups, themselves as the only member, visible cascades only
    r = await server.client("reader_out").get(f"{API}/groups")
    assert r.json() == [{"name": "other", "members": ["reader_out"], "cascades": []}]
    r = await server.client("reader_in").get(f"{API}/groups")
    assert r.json() == [{"name": "ops", "members": ["reader_in"], "cascades": ["ops-deploy"]}]
    r = await server.client("admin").get(f"{API}/groups")
    ops = next(g for g in r.json() if g["name"] == "ops")
    assert ops["members"] == ["disabled", "reader_in", "revoked", "writer_in"]
    assert ops["cascades"] == ["ops-deploy"]

    # tokens: only your own, unless you are an admin
    for who in ("reader_out", "reader_in", "writer_in"):
        r = await server.client(who).get(f"{API}/tokens")
        assert r.status_code == 200 and r.json(), r.text
        assert {t["username"] for t in r.json()} == {who}
        assert "token" not in r.json()[0]  # the secret is never listed
        assert (await server.client(who).get(f"{API}/tokens", params={"all": "true"})).status_code == 403
        r = await server.client(who).get(f"{API}/tokens", params={"username": "admin"})
        assert r.status_code == 403
    r = await server.client("admin").get(f"{API}/tokens", params={"all": "true"})
    assert {t["username"] for t in r.json()} >= {"admin", "reader_in", "revoked", "disabled"}

    # users and the audit log: admins only
    for who in ("reader_out", "reader_in", "writer_in"):
        assert (await server.client(who).get(f"{API}/users")).status_code == 403
        assert (await server.client(who).get(f"{API}/audit")).status_code == 403
    users = (await server.client("admin").get(f"{API}/users")).json()
    assert {u["username"] for u in users} >= {"admin", "reader_out", "disabled"}
    assert all("password" not in json.dumps(u) for u in users)


async def test_everything_under_a_hidden_cascade_answers_404_like_a_missing_one(server: Server):
    outsider = server.client("reader_out")
    for path in ("/cascades/ops-deploy", "/cascades/no-such-cascade"):
        r = await outsider.get(API + path)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    hidden = (await outsider.get(f"{API}/cascades/ops-deploy/tasks/nope")).json()
    missing = (await outsider.get(f"{API}/cascades/no-such-cascade/tasks/nope")).json()
    assert hidden["error"]["message"].replace("ops-deploy", "X") == missing["error"]["message"].replace(
        "no-such-cascade", "X"
    )


# -------------------------------------------------------------------------------- the event stream


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    kind, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            kind = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data += line.partition(":")[2].strip()
        elif line == "":
            if data:
                yield kind, json.loads(data)
            kind, data = "message", ""


async def read_until(response: httpx.Response, stop: Any, timeout: float = 10) -> list[tuple[str, dict]]:
    seen: list[tuple[str, dict]] = []

    async def collect() -> None:
        async for event in sse_events(response):
            seen.append(event)
            if stop(event):
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


def wave_ended(cascade: str):
    return lambda e: e[0] == "wave" and e[1]["cascade"] == cascade and e[1].get("state") == "ended"


async def test_the_event_stream_carries_only_visible_cascades(server: Server):
    engine = server.core.engine
    async with (
        server.client("reader_out").stream("GET", f"{API}/events") as outside,
        server.client("reader_in").stream("GET", f"{API}/events") as inside,
        server.client("admin").stream("GET", f"{API}/events", params={"cascade": "open-cascade"}) as only,
    ):
        assert outside.status_code == inside.status_code == only.status_code == 200
        assert outside.headers["content-type"].startswith("text/event-stream")
        r = await server.client("writer_in").post(f"{API}/cascades/ops-deploy/start", json={})
        assert r.status_code == 200, r.text
        await engine.wait_wave(r.json()["wave"]["id"])
        # open-cascade runs after ops-deploy ended: when its events reach a stream, every
        # ops-deploy event that was going to reach it has arrived (one stream keeps the order).
        r = await server.client("writer_in").post(f"{API}/cascades/open-cascade/start", json={})
        await engine.wait_wave(r.json()["wave"]["id"])

        seen_outside = await read_until(outside, wave_ended("open-cascade"))
        seen_inside = await read_until(inside, wave_ended("open-cascade"))
        seen_only = await read_until(only, wave_ended("open-cascade"))

    assert not [e for e in seen_outside if e[1].get("cascade") == "ops-deploy"], seen_outside
    assert not [e for e in seen_only if e[1].get("cascade") != "open-cascade"], seen_only
    inside_kinds = {e[0] for e in seen_inside if e[1].get("cascade") == "ops-deploy"}
    assert {"wave", "task"} <= inside_kinds, seen_inside
    ops_tasks = {e[1].get("task") for e in seen_inside if e[1].get("cascade") == "ops-deploy"}
    assert {"plan", "apply", "verify"} <= ops_tasks


async def test_resuming_the_stream_replays_only_visible_events(server: Server):
    engine = server.core.engine
    before = engine.bus.next_id() - 1
    for name in ("ops-deploy", "open-cascade"):
        wave = await engine.start(name, by="admin")
        await engine.wait_wave(wave.id)
    headers = {"Last-Event-ID": str(before)}
    async with server.client("reader_out").stream("GET", f"{API}/events", headers=headers) as r:
        replayed = await read_until(r, wave_ended("open-cascade"))
    assert replayed and all(e[1]["cascade"] == "open-cascade" for e in replayed), replayed


async def test_an_open_stream_follows_changes_to_its_caller(server: Server):
    """An open stream re-checks its caller (at most every RECHECK_SECONDS): a user taken out of a
    group stops seeing that group's cascades; a disabled user's stream ends."""
    engine, admin = server.core.engine, server.client("admin")

    async def run(name: str) -> None:
        wave = await engine.start(name, by="admin")
        await engine.wait_wave(wave.id)

    async with (
        server.client("reader_in").stream("GET", f"{API}/events") as moved,
        server.client("writer_in").stream("GET", f"{API}/events") as disabled,
    ):
        assert moved.status_code == disabled.status_code == 200
        r = await admin.patch(f"{API}/users/reader_in", json={"groups": ["other"]})
        assert r.status_code == 200, r.text
        r = await admin.patch(f"{API}/users/writer_in", json={"disabled": True})
        assert r.status_code == 200, r.text
        await asyncio.sleep(RECHECK_SECONDS + 0.1)
        await run("ops-deploy")
        await run("open-cascade")
        seen_moved = await read_until(moved, wave_ended("open-cascade"))
        seen_disabled = await read_until(disabled, lambda e: False)  # returns when the stream ends
    assert not [e for e in seen_moved if e[1]["cascade"] == "ops-deploy"], seen_moved
    assert seen_disabled == []


# ------------------------------------------------------------------------ disabling, sessions, CSRF


async def login(server: Server, username: str) -> tuple[dict[str, str], str]:
    r = await server.client().post(f"{API}/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    value = r.cookies["scaffold_session"]
    return {"Cookie": f"scaffold_session={value}"}, r.json()["csrf_token"]


async def test_disabling_a_user_stops_their_tokens_and_sessions_at_once(server: Server):
    admin, writer = server.client("admin"), server.client("writer_in")
    cookie, _ = await login(server, "writer_in")
    browser = server.client()
    assert (await writer.get(f"{API}/me")).status_code == 200
    assert (await browser.get(f"{API}/me", headers=cookie)).json()["via"] == "session"

    r = await admin.patch(f"{API}/users/writer_in", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert (await writer.get(f"{API}/me")).status_code == 401
    assert (await writer.post(f"{API}/cascades/ops-deploy/start", json={})).status_code == 401
    assert (await browser.get(f"{API}/me", headers=cookie)).status_code == 401
    assert (await browser.get(f"{API}/cascades", headers=cookie)).status_code == 401
    r = await browser.post(f"{API}/login", json={"username": "writer_in", "password": PASSWORD})
    assert r.status_code == 401

    # Enabled again: the token works again; the session was ended for good.
    r = await admin.patch(f"{API}/users/writer_in", json={"disabled": False})
    assert r.status_code == 200
    assert (await writer.get(f"{API}/me")).status_code == 200
    assert (await browser.get(f"{API}/me", headers=cookie)).status_code == 401


async def test_revoking_a_token_stops_it_at_once(server: Server):
    r = await server.client("writer_in").post(f"{API}/tokens", json={"name": "short-lived"})
    created = r.json()
    client = server.client()
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert (await client.get(f"{API}/me", headers=bearer)).status_code == 200
    r = await client.delete(f"{API}/tokens/{created['id']}", headers=bearer)  # revokes itself
    assert r.status_code == 204
    assert (await client.get(f"{API}/me", headers=bearer)).status_code == 401


async def test_a_cookie_session_needs_the_csrf_token_to_change_anything(server: Server):
    cookie, csrf = await login(server, "writer_in")
    browser = server.client()
    start = f"{API}/cascades/ops-deploy/start"
    assert (await browser.get(f"{API}/cascades/ops-deploy", headers=cookie)).status_code == 200

    r = await browser.post(start, json={"dry_run": True}, headers=cookie)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    r = await browser.post(start, json={"dry_run": True}, headers={**cookie, "X-CSRF-Token": "forged"})
    assert r.status_code == 403
    other_cookie, other_csrf = await login(server, "reader_in")
    r = await browser.post(start, json={"dry_run": True}, headers={**cookie, "X-CSRF-Token": other_csrf})
    assert r.status_code == 403  # another session's token does not do
    r = await browser.post(start, json={"dry_run": True}, headers={**cookie, "X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    r = await browser.put(
        f"{API}/cascades/ops-deploy/values/NOTE",
        json={"text": "hi"},
        headers={**cookie, "X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    r = await browser.delete(f"{API}/cascades/ops-deploy/files/plan.txt", headers=cookie)
    assert r.status_code == 403

    # Logging out needs no CSRF token; afterwards the cookie is worth nothing.
    assert (await browser.post(f"{API}/logout", headers=cookie)).status_code == 204
    assert (await browser.get(f"{API}/me", headers=cookie)).status_code == 401
    r = await browser.post(start, json={"dry_run": True}, headers={**cookie, "X-CSRF-Token": csrf})
    assert r.status_code == 401
    assert (await browser.get(f"{API}/me", headers=other_cookie)).status_code == 200
    assert other_csrf != csrf
