"""API: health, version, the OpenAPI document and its page, who am I, nodes, the audit log."""

from __future__ import annotations

import html
import os
import platform
import time
from typing import Any

from pydantic import Field
from starlette.responses import HTMLResponse, JSONResponse

from scaffold import __version__
from scaffold.access.policy import Action
from scaffold.web.context import Context
from scaffold.web.routing import Api, Query
from scaffold.web.schemas import Model

api = Api()
STARTED = time.time()


class Health(Model):
    status: str = Field(description="ok")
    uptime: float
    executor: str


class Version(Model):
    version: str
    python: str


class Me(Model):
    username: str
    role: str
    groups: list[str]
    via: str = Field(description="session, token or basic")
    csrf_token: str | None = Field(description="with a browser session: the X-CSRF-Token to send on changes")


class Node(Model):
    name: str
    state: str
    version: str
    labels: list[str]
    executor: str
    running: int
    queued: int
    max_running: int
    local: bool


class AuditRecord(Model):
    id: int
    at: float
    actor: str | None
    action: str
    target: str
    details: dict[str, Any]


@api.route("GET", "/health", summary="Is the server up", tag="operations", response=Health, public=True)
async def health(ctx: Context) -> Health:
    return Health(status="ok", uptime=time.time() - STARTED, executor=ctx.engine.executor.name)


@api.route("GET", "/version", summary="Server version", tag="operations", response=Version, public=True)
async def version(ctx: Context) -> Version:
    return Version(version=__version__, python=platform.python_version())


@api.route(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI document",
    tag="operations",
    public=True,
    response=dict[str, Any],
    status=200,
)
async def openapi(ctx: Context) -> JSONResponse:
    return JSONResponse(ctx.request.app.state.openapi)


@api.route(
    "GET",
    "/docs",
    summary="A readable page of every route",
    tag="operations",
    public=True,
    response=None,
    response_type="text/html",
)
async def docs(ctx: Context) -> HTMLResponse:
    doc = ctx.request.app.state.openapi
    rows = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op['summary'])}<br>"
                f"<small>{html.escape(op.get('description', ''))}</small></td></tr>"
            )
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Scaffold API</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
        "td{padding:.3rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}</style></head><body>"
        f"<h1>Scaffold API v{html.escape(__version__)}</h1><p>The machine-readable document is "
        "<a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>. Send an API token as "
        "<code>Authorization: Bearer scf_...</code>.</p><table>" + "".join(rows) + "</table></body></html>"
    )
    return HTMLResponse(body)


@api.route("GET", "/me", summary="Who am I", tag="people", response=Me)
async def me(ctx: Context) -> Me:
    user = ctx.user
    session = ctx.principal.session
    return Me(
        username=user.username,
        role=user.role.value,
        groups=list(user.groups),
        via=ctx.principal.via,
        csrf_token=session.csrf_token if session else None,
    )


@api.route(
    "GET", "/nodes", summary="Nodes that run tasks, with their load", tag="operations", response=list[Node]
)
async def nodes(ctx: Context) -> list[Node]:
    ctx.user  # noqa: B018 - any logged-in user may see the nodes
    engine = ctx.engine
    return [
        Node(
            name=os.uname().nodename,
            state="up",
            version=__version__,
            labels=[],
            executor=engine.executor.name,
            running=engine.slots.in_use,
            queued=engine.slots.queued,
            max_running=engine.slots.limit,
            local=True,
        )
    ]


@api.route(
    "GET",
    "/audit",
    summary="The audit log, newest first (admins)",
    tag="operations",
    response=list[AuditRecord],
    query={
        "limit": Query("integer", 100, "how many entries", minimum=1),
        "before": Query("integer", None, "only entries with a smaller id", minimum=0),
    },
)
async def audit(ctx: Context) -> list[AuditRecord]:
    ctx.require(Action.READ_AUDIT)
    entries = await ctx.core.store.list_audit(min(ctx.query["limit"], 1000), ctx.query["before"])
    return [
        AuditRecord(id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, details=e.details)
        for e in entries
    ]
