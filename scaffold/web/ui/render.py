"""Rendering the web UI: one Jinja2 environment, the signed-in user of a page, small filters.

Pages are server-rendered HTML; htmx swaps fragments and every state-changing action goes to the
JSON API (``/api/v1``) with the session's CSRF token in the ``X-CSRF-Token`` header, so the UI has
exactly the permissions, validation and audit of the API.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scaffold.access.policy import Action, Principal, allowed, can_see
from scaffold.errors import NotFound
from scaffold.web.context import SESSION_COOKIE

#: Display states in the order the UI lists them, with a label and an icon (never colour alone).
STATES: dict[str, tuple[str, str]] = {
    "running": ("running", "▶"),
    "waiting": ("waiting", "◷"),
    "awaiting_approval": ("awaiting approval", "⚑"),
    "blocked": ("blocked", "⊘"),
    "error": ("error", "✕"),
    "killed": ("killed", "■"),
    "success": ("success", "✓"),
    "skipped": ("skipped", "↷"),
    "not_started": ("not started", "○"),
}


def _ago(value: float | None) -> str:
    if not value:
        return "never"
    delta = max(0.0, time.time() - value)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if delta >= size:
            return f"{int(delta // size)} {unit} ago"
    return f"{int(delta)} s ago"


def _when(value: float | None) -> str:
    if not value:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _make_env() -> Environment:
    env = Environment(
        loader=PackageLoader("scaffold.web.ui", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    env.filters.update(ago=_ago, when=_when, duration=_duration, urlpart=lambda v: quote(str(v), safe=""))
    env.globals.update(STATES=STATES, state_label=lambda s: STATES.get(s, (s, "?"))[0])
    env.globals["state_icon"] = lambda s: STATES.get(s, (s, "?"))[1]
    return env


ENV = _make_env()


@dataclass
class Viewer:
    """The signed-in user of a page and what they may do."""

    principal: Principal

    @property
    def user(self) -> Any:
        return self.principal.user

    @property
    def username(self) -> str:
        return self.principal.user.username

    @property
    def role(self) -> str:
        return str(getattr(self.user.role, "value", self.user.role))

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def csrf(self) -> str:
        session = self.principal.session
        return session.csrf_token if session else ""

    def can_see(self, groups: Any) -> bool:
        return can_see(self.user, groups)

    def may(self, action: str | Action, groups: Any = None) -> bool:
        return allowed(self.user, Action(action), groups)


class LoginRequired(Exception):
    """Raised by ``viewer()`` for an anonymous caller: pages redirect to the login page."""


async def viewer(request: Request) -> Viewer:
    """The signed-in user of this page (session cookie only: pages are for browsers)."""
    access = request.app.state.access
    principal = await access.authenticate_session(request.cookies.get(SESSION_COOKIE))
    if principal is None or principal.user is None:
        raise LoginRequired()
    return Viewer(principal)


def visible_cascade(request: Request, who: Viewer, name: str) -> Any:
    """The live cascade ``name`` if ``who`` may see it; NotFound otherwise (same as absent)."""
    live = request.app.state.core.engine.cascades.get(name)
    if live is None or not who.can_see(live.spec.groups):
        raise NotFound(f"cascade '{name}' does not exist (or you may not see it)")
    return live


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page or, for htmx requests of a fragment template, the fragment alone."""
    context.setdefault("request", request)
    context.setdefault("htmx", request.headers.get("hx-request") == "true")
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request") == "true":
        return Response(status_code=401, headers={"HX-Redirect": f"/login?next={quote(target, safe='')}"})
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
