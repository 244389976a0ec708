"""The web UI: server-rendered pages and htmx fragments on top of the JSON API.

Every UI module exposes ``ROUTES``: a list of ``(method, path, handler)``. Handlers take the
request and return a response; ``page()`` wraps them so that an anonymous caller is sent to the
login page and a Scaffold error becomes an error page (or fragment) with the right status.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from scaffold.errors import ScaffoldError
from scaffold.web.ui.render import LoginRequired, login_redirect, render, viewer

log = logging.getLogger("scaffold.web.ui")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
Handler = Callable[[Request], Awaitable[Response]]

#: The UI modules, each with a ``ROUTES`` list. Kept as names so that one module's import error
#: names the module.
MODULES = ("pages_routes", "cascade_routes", "task_routes", "manage_routes")


def page(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except LoginRequired:
            return login_redirect(request)
        except ScaffoldError as exc:
            try:  # the top bar of the signed-in user, so that they can go on from the error page
                who = await viewer(request)
            except LoginRequired:
                who = None
            return render(
                request,
                "error.html",
                status=exc.status,
                status_code=exc.status,
                message=exc.message,
                details=exc.details,
                who=who,
            )

    return wrapped


def ui_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")]
    for name in MODULES:
        module = importlib.import_module(f"scaffold.web.ui.{name}")
        for method, path, handler in module.ROUTES:
            routes.append(Route(path, page(handler), methods=[method]))
    return routes
