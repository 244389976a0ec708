"""Web UI pages to manage cascades: the list (search, apply, delete) and a cascade's definition.

The pages only read; applying, updating and deleting go to the JSON API from the browser
(``static/manage.js``), so permissions, validation and the audit log are the API's.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from scaffold.engine.masking import Masker
from scaffold.errors import NotFound
from scaffold.web import views
from scaffold.web.context import Context
from scaffold.web.ui.pages import cascade_rows
from scaffold.web.ui.render import Viewer, render, viewer, visible_cascade

#: The tabs of a cascade's own management pages (templates/_cascade_nav.html).
CASCADE_TABS = (
    ("inputs", "Inputs"),
    ("datastore", "Datastore"),
    ("webhooks", "Webhooks"),
    ("definition", "Definition"),
)


def api_context(request: Request, who: Viewer, **params: str) -> Context:
    """An API context for this page's viewer, to reuse the API's read-only handlers as they are."""
    state = request.app.state
    return Context(request, state.core, state.access, who.principal, dict(params))


async def call_api(
    handler: Any,
    request: Request,
    who: Viewer,
    model: Any = None,
    query: dict[str, Any] | None = None,
    **params: str,
) -> Any:
    """The result of a read-only API handler for this viewer (a model, or a list of them). A handler
    that answers with a ready ``Response`` (cached JSON) is read back into ``model``."""
    ctx = api_context(request, who, **params)
    ctx.query = dict(query or {})
    result = await handler(ctx)
    if isinstance(result, Response):
        data = json.loads(bytes(result.body))
        return TypeAdapter(model).validate_python(data) if model is not None else data
    return result


def secret_masker(live: Any) -> Masker:
    """Masks the current values and defaults of the cascade's password inputs."""
    secrets = []
    for spec in live.spec.inputs:
        if spec.secret:
            secrets += [spec.default or "", live.inputs.get(spec.name) or ""]
    return Masker(secrets)


def cascade_page_context(request: Request, who: Viewer, live: Any, tab: str) -> dict[str, Any]:
    """What every page under /cascades/{c}/... needs for its sub-header."""
    engine = request.app.state.core.engine
    counts: dict[str, int] = {}
    for view in engine.board(live.spec.name):
        counts[view.display.value] = counts.get(view.display.value, 0) + 1
    return {
        "who": who,
        "nav": "cascades",
        "live": live,
        "cascade": live.spec.name,
        "tab": tab,
        "tabs": CASCADE_TABS,
        "counts": counts,
        "active": engine.is_active(live.spec.name),
    }


def _matches(row: dict[str, Any], needle: str) -> bool:
    return (
        needle in row["name"].lower()
        or needle in (row["description"] or "").lower()
        or any(needle in g.lower() for g in row["groups"])
    )


async def cascades_page(request: Request) -> Response:
    who = await viewer(request)
    q = (request.query_params.get("q") or "").strip()
    rows = cascade_rows(request, who)
    total = len(rows)
    if q:
        rows = [r for r in rows if _matches(r, q.lower())]
    for row in rows:
        row["may_delete"] = who.may("delete", row["groups"])
    return render(
        request,
        "cascades.html",
        who=who,
        nav="cascades",
        cascades=rows,
        total=total,
        q=q,
        may_apply=who.may("apply"),
    )


async def definition_page(request: Request) -> Response:
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    records = await request.app.state.core.store.cascade_versions(live.spec.name)
    wanted = request.query_params.get("version")
    current = records[0] if records else live.record
    shown = current
    if wanted:
        shown = next((r for r in records if str(r.version) == wanted), None)
        if shown is None:
            raise NotFound(f"cascade '{live.spec.name}' has no version {wanted}")
    masker = secret_masker(live)
    source = masker.mask(views.masked_source(live, shown.source))
    has_masked = any(i.secret and i.default for i in live.spec.inputs)
    context = cascade_page_context(request, who, live, "definition")
    return render(
        request,
        "definition.html",
        **context,
        versions=records,
        shown=shown,
        current=current,
        source=source,
        current_source=masker.mask(views.masked_source(live, current.source)),
        has_masked=has_masked,
        may_apply=who.may("apply", live.spec.groups),
        may_delete=who.may("delete", live.spec.groups),
    )
