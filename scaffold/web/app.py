"""The web application: every API module's routes, one error shape, the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scaffold.errors import ScaffoldError
from scaffold.web.routing import Api

log = logging.getLogger("scaffold.web")


def api_modules() -> list[Api]:
    """Every API module, in the order of the OpenAPI document."""
    from scaffold.web import api_cascades, api_data, api_events, api_ops, api_people, api_webhooks

    return [api_cascades.api, api_data.api, api_webhooks.api, api_events.api, api_people.api, api_ops.api]


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _scaffold_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScaffoldError)
    headers = {"WWW-Authenticate": 'Bearer realm="scaffold"'} if exc.status == 401 else {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = {
        404: f"no such route: {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        message,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return error_response(500, "internal", "Scaffold failed to answer this request; the server log says why")


def make_web_app(core: Any, access: Any, *, settings: Any = None) -> Starlette:
    from scaffold.web import api_shell
    from scaffold.web.openapi import build_document
    from scaffold.web.ui import ui_routes

    apis = api_modules()
    routes = [route for api in apis for route in api.starlette_routes()] + api_shell.routes()
    routes += ui_routes()  # the web UI: pages at /, static assets at /static
    app = Starlette(
        routes=routes,
        exception_handlers={
            ScaffoldError: _scaffold_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.core = core
    app.state.access = access
    app.state.settings = settings or core.settings
    app.state.openapi = build_document(apis)
    api_shell.document(app.state.openapi)  # a websocket: not in the Api registry
    return app
