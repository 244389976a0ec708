"""Web UI pages of the whole server: logging in and out, and the dashboard."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from scaffold.errors import ScaffoldError
from scaffold.web.context import SESSION_COOKIE, set_session_cookie
from scaffold.web.ui.render import Viewer, render, viewer

RECENT_FAILURES = 10


def _safe_next(target: str | None) -> str:
    """Only a path on this server (never another host) to go back to after logging in."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


async def login_page(request: Request) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    return render(request, "login.html", next_url=next_url, error=None, username="")


async def login_submit(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "")))
    remote = request.client.host if request.client else None
    try:
        session, cookie = await request.app.state.access.login(username, password, remote)
    except ScaffoldError as exc:
        headers = {}
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, round(retry_after)))
        response = render(
            request, "login.html", status=exc.status, next_url=next_url, error=exc.message, username=username
        )
        response.headers.update(headers)
        return response
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, request, session, cookie)
    return response


async def logout_submit(request: Request) -> Response:
    """A form post from the page header; the session's CSRF token comes as a form field."""
    form = await request.form()
    access = request.app.state.access
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = await access.authenticate_session(cookie)
    if principal is not None and principal.session is not None:
        import hmac

        if not hmac.compare_digest(str(form.get("csrf", "")), principal.session.csrf_token):
            return Response("missing or wrong CSRF token", status_code=403)
        await access.logout(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def cascade_rows(request: Request, who: Viewer) -> list[dict[str, Any]]:
    """Every cascade ``who`` may see, with its state counts, sorted by name."""
    engine = request.app.state.core.engine
    rows = []
    for name in sorted(engine.cascades):
        live = engine.cascades[name]
        if not who.can_see(live.spec.groups):
            continue
        views = engine.board(name)
        counts: dict[str, int] = {}
        for view in views:
            counts[view.display.value] = counts.get(view.display.value, 0) + 1
        rows.append(
            {
                "name": name,
                "description": live.spec.description,
                "groups": list(live.spec.groups),
                "links": dict(live.spec.links),
                "tasks": len(views),
                "counts": counts,
                "active": engine.is_active(name),
                "version": live.record.version,
                "applied_at": live.record.applied_at,
                "applied_by": live.record.applied_by,
                "views": views,
                "rows": live.rows,
            }
        )
    return rows


async def dashboard(request: Request) -> Response:
    who = await viewer(request)
    cascades = cascade_rows(request, who)
    running, failures = [], []
    for c in cascades:
        for view in c["views"]:
            row = c["rows"][view.name]
            item = {
                "cascade": c["name"],
                "task": view.name,
                "run": view.run_number,
                "reason": view.reason,
                "since": row.updated_at,
                "display": view.display.value,
            }
            if view.display.value in ("running", "waiting"):
                running.append(item)
            elif view.display.value in ("error", "killed"):
                failures.append(item)
    failures.sort(key=lambda i: i["since"], reverse=True)
    running.sort(key=lambda i: i["since"])
    return render(
        request,
        "dashboard.html",
        who=who,
        cascades=cascades,
        running=running,
        failures=failures[:RECENT_FAILURES],
        nav="dashboard",
    )
