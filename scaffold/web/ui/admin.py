"""Web UI pages about people and the server: API tokens, users, groups and roles, the audit log,
nodes. Admin pages answer 403 (the error page) to everyone else."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scaffold.access.policy import Action
from scaffold.access.records import Role
from scaffold.errors import Forbidden
from scaffold.web import api_ops, api_people
from scaffold.web.ui.manage import call_api
from scaffold.web.ui.render import Viewer, render, viewer

AUDIT_PAGE = 50
AUDIT_SCAN = 500  # entries read per store query while filtering


def _require(who: Viewer, action: Action) -> None:
    if not who.may(action):
        raise Forbidden(f"this page is for admins; your role is {who.role!r}")


async def tokens_page(request: Request) -> Response:
    who = await viewer(request)
    everyone = who.may(Action.MANAGE_TOKENS_OF_OTHERS) and request.query_params.get("all") in ("1", "true")
    query = {"all": everyone, "username": None}
    tokens = await call_api(api_people.list_tokens, request, who, list[api_people.TokenView], query)
    now = time.time()
    rows = []
    for token in tokens:
        if token.revoked_at is not None:
            status = "revoked"
        elif token.expires_at is not None and token.expires_at <= now:
            status = "expired"
        else:
            status = "active"
        rows.append({"token": token, "status": status})
    return render(
        request,
        "tokens.html",
        who=who,
        nav="tokens",
        rows=rows,
        everyone=everyone,
        may_all=who.may(Action.MANAGE_TOKENS_OF_OTHERS),
    )


async def users_page(request: Request) -> Response:
    who = await viewer(request)
    _require(who, Action.MANAGE_USERS)
    users = await request.app.state.access.list_users(who.user)
    return render(
        request,
        "admin_users.html",
        who=who,
        nav="admin",
        section="users",
        users=sorted(users, key=lambda u: u.username),
        roles=[r.value for r in Role],
        role_value=lambda r: Role(r).value,
    )


async def groups_page(request: Request) -> Response:
    who = await viewer(request)
    _require(who, Action.MANAGE_USERS)
    groups = await call_api(api_people.list_groups, request, who, list[api_people.GroupView])
    roles = await call_api(api_people.list_roles, request, who, list[api_people.RoleView])
    engine = request.app.state.core.engine
    ungrouped = sorted(n for n, c in engine.cascades.items() if not c.spec.groups)
    return render(
        request,
        "admin_groups.html",
        who=who,
        nav="admin",
        section="groups",
        groups=groups,
        roles=roles,
        ungrouped=ungrouped,
        all_actions=[a.value for a in Action],
    )


def _audit_matches(entry: Any, user: str, action: str) -> bool:
    if user and (entry.actor or "") != user:
        return False
    return not action or entry.action == action or entry.action.startswith(action.rstrip(".") + ".")


async def audit_page(request: Request) -> Response:
    who = await viewer(request)
    _require(who, Action.READ_AUDIT)
    store = request.app.state.core.store
    params = request.query_params
    user = (params.get("user") or "").strip()
    action = (params.get("action") or "").strip()
    before_raw = params.get("before") or ""
    before = int(before_raw) if before_raw.isdigit() else None
    entries: list[Any] = []
    more = False
    cursor = before
    while True:
        batch = await store.list_audit(AUDIT_SCAN, cursor)
        for entry in batch:
            if _audit_matches(entry, user, action):
                if len(entries) == AUDIT_PAGE:
                    more = True
                    break
                entries.append(entry)
        if more or len(batch) < AUDIT_SCAN:
            break
        cursor = batch[-1].id
    users = sorted(u.username for u in await request.app.state.access.list_users(who.user))
    return render(
        request,
        "admin_audit.html",
        who=who,
        nav="audit",
        section="audit",
        entries=entries,
        user=user,
        action=action,
        before=before,
        next_before=entries[-1].id if more and entries else None,
        users=users,
        known_actions=KNOWN_ACTIONS,
    )


KNOWN_ACTIONS = (
    "cascade.apply",
    "cascade.delete",
    "cascade.start",
    "task.start",
    "task.kill",
    "task.update",
    "task.shell",
    "input.set",
    "value.set",
    "file.upload",
    "file.delete",
    "webhook.create",
    "webhook.delete",
    "token.create",
    "token.revoke",
    "user.create",
    "user.update",
    "user.delete",
    "user.password",
)


async def nodes_page(request: Request) -> Response:
    who = await viewer(request)
    nodes = await call_api(api_ops.nodes, request, who, list[api_ops.Node])
    return render(request, "nodes.html", who=who, nav="nodes", nodes=nodes)
