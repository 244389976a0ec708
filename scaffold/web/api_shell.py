"""API: a shell in a task's run, over a websocket (SPEC 4; the protocol is in docs/server.md#shells).

    GET /api/v1/cascades/{cascade}/tasks/{task}/shell?run=N&cols=C&rows=R   (Upgrade: websocket)

Credentials are those of every other route: a Bearer token, or the browser's session cookie. A
browser cannot set headers on a websocket, and a page of any other site could open one carrying
the cookie, so with the cookie the ``Origin`` must be this server (``Origin`` matches ``Host``)
and the session's CSRF token comes as the ``csrf`` query parameter. Opening a shell needs the
``open_shell`` right on the cascade (the write role, inside its groups).

A refused handshake gets the API's usual error: the status (400, 401, 403, 404) and the JSON
error body, as an HTTP response instead of the upgrade. Once accepted, binary frames carry the
terminal both ways and text frames carry JSON: ``{"type": "resize", "cols": C, "rows": R}`` from
the client; ``{"type": "exit", "code": N}`` or ``{"type": "error", "code": "...", "message":
"..."}`` from the server as its last frame, before it closes. While a shell is open its caller is
re-checked every ``RECHECK_SECONDS``: a revoked token, an ended session, a disabled user or a lost
right ends the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from scaffold.access.policy import Action, allowed, can_see
from scaffold.engine.records import RunKind, RunRow
from scaffold.engine.states import State
from scaffold.errors import Forbidden, InvalidInput, NotFound, ScaffoldError
from scaffold.executors.shell import Shell, ShellTarget, open_shell
from scaffold.web.app import error_response
from scaffold.web.context import Context, resolve_principal

log = logging.getLogger("scaffold.web")

PATH = "/api/v1/cascades/{cascade}/tasks/{task}/shell"  # ?run=N, default: the latest run
RUN_PATH = "/api/v1/cascades/{cascade}/tasks/{task}/runs/{number}/shell"  # the same, run in the path
RECHECK_SECONDS = 5.0
MAX_SIZE = 1000  # columns or rows
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def routes() -> list[Route | WebSocketRoute]:
    """The websocket, and an HTTP route at the same path that says how to use it."""
    return [
        route
        for path in (PATH, RUN_PATH)
        for route in (WebSocketRoute(path, shell_socket), Route(path, not_a_websocket, methods=["GET"]))
    ]


# -------------------------------------------------------------------------------- handshake


class _Handshake:
    """What :func:`resolve_principal` reads of a request, from a websocket handshake (a GET: the
    cookie's CSRF check is done here, on the query parameter)."""

    method = "GET"

    def __init__(self, websocket: WebSocket):
        self.headers = websocket.headers
        self.cookies = websocket.cookies
        self.client = websocket.client


async def _authorize(websocket: WebSocket) -> tuple[Context, Any, RunRow, ShellTarget]:
    state = websocket.app.state
    principal = await resolve_principal(_Handshake(websocket), state.access, allow_basic=False, public=False)
    ctx = Context(websocket, state.core, state.access, principal, dict(websocket.path_params))  # type: ignore[arg-type]
    ctx.user  # noqa: B018 - an anonymous caller learns nothing: 401 first
    if principal.via == "session":
        _check_browser(websocket, principal)
    query = _query(websocket)
    if "number" in websocket.path_params:  # RUN_PATH: the run is in the path
        number = websocket.path_params["number"]
        if not number.isdigit() or int(number) < 1:
            raise InvalidInput(f"the run number must be an integer >= 1, got {number!r}")
        query["run"] = int(number)
    live = ctx.cascade(action=Action.OPEN_SHELL)
    task = ctx.task(live)
    run = await _run(ctx, live.spec.name, task, query["run"])
    target = ShellTarget(
        run_id=run.run_id,
        number=run.number,
        shell=live.spec.task(task).shell,
        started=run.state is not State.WAITING,
        env={"SCAFFOLD_CASCADE": run.cascade, "SCAFFOLD_TASK": run.task, "SCAFFOLD_RUN": str(run.number)},
        cols=query["cols"],
        rows=query["rows"],
    )
    return ctx, live, run, target


def _check_browser(websocket: WebSocket, principal: Any) -> None:
    """Cookie credentials: the page must be this server's, and must know the session's CSRF token."""
    origin = websocket.headers.get("origin", "")
    if not origin or not _same_origin(origin, websocket.headers.get("host", "")):
        raise Forbidden(f"the websocket's Origin ({origin or 'none'}) is not this server")
    expected = principal.session.csrf_token if principal.session else ""
    sent = websocket.query_params.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("missing or wrong CSRF token: send it as ?csrf= (GET /api/v1/me gives it)")


def _same_origin(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
        served = urlsplit(f"//{host}")
        default = DEFAULT_PORTS.get(parts.scheme)
        if default is None or not parts.hostname or not served.hostname:
            return False
        return (parts.hostname, parts.port or default) == (served.hostname, served.port or default)
    except ValueError:
        return False


def _query(websocket: WebSocket) -> dict[str, int | None]:
    values: dict[str, int | None] = {}
    for name, high in (("run", None), ("cols", MAX_SIZE), ("rows", MAX_SIZE)):
        raw = websocket.query_params.get(name)
        if raw is None:
            values[name] = None
            continue
        if not raw.isdigit() or int(raw) < 1 or (high is not None and int(raw) > high):
            limit = f" and at most {high}" if high else ""
            raise InvalidInput(f"query parameter '{name}' must be an integer >= 1{limit}, got {raw!r}")
        values[name] = int(raw)
    return values


async def _run(ctx: Context, cascade: str, task: str, number: int | None) -> RunRow:
    if number is None:
        runs = await ctx.store.list_runs(cascade, task, kind=RunKind.TASK)
        if not runs:
            raise NotFound(f"task '{task}' has no runs yet: start it first")
        return runs[0]
    run = await ctx.store.get_run(cascade, task, number, RunKind.TASK)
    if run is None:
        raise NotFound(f"task '{task}' has no task run {number}")
    return run


async def _refuse(websocket: WebSocket, exc: ScaffoldError) -> None:
    """Answer the handshake with the API's error (status and JSON body) instead of the upgrade."""
    headers = {"WWW-Authenticate": 'Bearer realm="scaffold"'} if exc.status == 401 else None
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = error_response(exc.status, exc.code, exc.message, exc.details, headers)
        await websocket.send_denial_response(response)
    else:  # a server without denial responses: refuse the upgrade (policy violation)
        await websocket.close(code=1008, reason=exc.message[:120])


async def not_a_websocket(request: Request) -> Response:
    return error_response(
        400,
        "invalid",
        f"{request.url.path} is a websocket: connect with a websocket client (`scaffold exec`), "
        "see docs/server.md#shells",
    )


# -------------------------------------------------------------------------------- the session


async def shell_socket(websocket: WebSocket) -> None:
    try:
        ctx, live, run, target = await _authorize(websocket)
    except ScaffoldError as exc:
        await _refuse(websocket, exc)
        return
    await websocket.accept()
    try:
        shell = await open_shell(ctx.core.executor, target)
    except ScaffoldError as exc:
        await _finish(websocket, {"type": "error", "code": exc.code, "message": exc.message})
        return
    except Exception:
        log.exception("opening a shell in %s failed", target.run_id)
        message = "Scaffold failed to open the shell; the server log says why"
        await _finish(websocket, {"type": "error", "code": "internal", "message": message})
        return
    try:
        await ctx.audit("task.shell", f"{run.cascade}/{run.task}", run=run.number, mode=shell.mode)
        await _relay(websocket, shell, ctx, live.spec.name)
    finally:
        await shell.close()


async def _relay(websocket: WebSocket, shell: Shell, ctx: Context, cascade: str) -> None:
    """Keystrokes to the shell, output to the client, until one side ends (or the caller's rights)."""
    output = asyncio.ensure_future(_output(websocket, shell))
    keys = asyncio.ensure_future(_keys(websocket, shell))
    guard = asyncio.ensure_future(_guard(ctx, cascade))
    try:
        await asyncio.wait({output, keys, guard}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (output, keys, guard):
            task.cancel()
        for task in (output, keys, guard):
            with contextlib.suppress(BaseException):
                await task
    if guard.done() and not guard.cancelled() and guard.exception() is None:
        await _finish(websocket, {"type": "error", "code": "forbidden", "message": guard.result()})
    elif output.done() and not output.cancelled() and output.exception() is None and output.result():
        await _finish(websocket, await _exit_frame(shell))


async def _exit_frame(shell: Shell) -> dict[str, Any]:
    """The last frame once the shell's output ended: its exit code, or why there is none."""
    try:
        code = await shell.wait()
    except Exception as exc:
        detail = getattr(exc, "explanation", None) or exc
        return {"type": "error", "code": "executor_unavailable", "message": f"the shell ended: {detail}"}
    if shell.ended_reason is not None:
        return {"type": "error", "code": "conflict", "message": shell.ended_reason}
    return {"type": "exit", "code": code}


async def _output(websocket: WebSocket, shell: Shell) -> bool:
    """Send the terminal's output; True once the shell's output ended (it exited)."""
    while chunk := await shell.read():
        await websocket.send_bytes(chunk)
    return True


async def _keys(websocket: WebSocket, shell: Shell) -> None:
    """Forward keystrokes and resizes until the client goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            shell.write(message["bytes"])
        elif message.get("text") is not None:
            size = _resize(message["text"])
            if size is not None:
                await shell.resize(*size)


def _resize(text: str) -> tuple[int, int] | None:
    """(cols, rows) of a resize message; None for anything else (ignored)."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "resize":
        return None
    cols, rows = message.get("cols"), message.get("rows")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE for v in (cols, rows)):
        return None
    return cols, rows


async def _guard(ctx: Context, cascade: str) -> str:
    """Returns why the caller may no longer hold the shell open, when that happens."""
    while True:
        await asyncio.sleep(RECHECK_SECONDS)
        user = await ctx.access.current_user(ctx.principal)
        if user is None:
            return "your credentials ended (token revoked or expired, session ended, or user disabled)"
        live = ctx.engine.cascades.get(cascade)
        if live is None or not can_see(user, live.spec.groups):
            return f"cascade '{cascade}' does not exist (or you may not see it) any more"
        if not allowed(user, Action.OPEN_SHELL, live.spec.groups):
            return f"your role ({user.role.value}) may no longer open shells in '{cascade}'"


async def _finish(websocket: WebSocket, frame: dict[str, Any]) -> None:
    """Send the last frame and close (quietly: the client may have gone already)."""
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps(frame))
        await websocket.close(1000)


# ----------------------------------------------------------------------------------- OpenAPI


DESCRIPTION = (
    "A websocket (connect with `Upgrade: websocket`; a plain GET answers 400). A running task gets a "
    "`docker exec` shell in its container; a finished one a shell in a copy of its container, with "
    "its /tmp/run. Needs the write role in the cascade's groups. With the session cookie, the Origin "
    "must be this server and the CSRF token comes as `csrf`. Binary frames carry the terminal both "
    'ways; the client sends {"type": "resize", "cols": C, "rows": R} as text; the server ends with '
    '{"type": "exit", "code": N} or {"type": "error", "code": "...", "message": "..."} and closes. '
    "See docs/server.md#shells."
)


def document(openapi: dict[str, Any]) -> None:
    """Describe the websocket in the OpenAPI document (as the GET of its handshake)."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    params = [
        {"name": "cascade", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "task", "in": "path", "required": True, "schema": {"type": "string"}},
        _int_param("run", "the task run [default: the latest]", None),
        _int_param("cols", "the terminal's width at the start", MAX_SIZE),
        _int_param("rows", "the terminal's height at the start", MAX_SIZE),
        {
            "name": "csrf",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "the session's CSRF token (session cookie only)",
        },
    ]
    openapi["paths"][PATH] = {
        "get": {
            "operationId": "open_shell",
            "summary": "A shell in a task's run (websocket)",
            "tags": ["runs"],
            "description": DESCRIPTION,
            "parameters": params,
            "responses": {
                "101": {"description": "Switching Protocols: the websocket is open"},
                "400": {"description": "Malformed request, or not a websocket handshake", **error},
                "401": {"description": "Not logged in, or the token is invalid", **error},
                "403": {"description": "Not allowed (role, Origin or CSRF token)", **error},
                "404": {"description": "Not found (or not visible to you)", **error},
            },
            "security": [{"bearer": []}, {"session": []}],
        }
    }


def _int_param(name: str, description: str, high: int | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": 1}
    if high is not None:
        schema["maximum"] = high
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
