"""Web UI pages of a cascade's data: inputs, the datastore (values and files) and webhooks.

Password input values never reach a page: the inputs come from ``views.inputs`` (masked), and
datastore values are shown with the cascade's password values masked too, in case a task stored one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scaffold.web import api_data, api_webhooks, views
from scaffold.web.ui.manage import call_api, cascade_page_context, secret_masker
from scaffold.web.ui.render import render, viewer, visible_cascade

#: How much of a value the datastore table shows before "show all".
VALUE_PREVIEW = 200


async def inputs_page(request: Request) -> Response:
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    inputs = views.inputs(live)
    specs = {i.name: i for i in live.spec.inputs}
    rows = [
        {
            "view": view,
            "secret": view.type == "password",
            "is_set": bool(live.inputs.get(view.name)),
            "default_set": bool(specs[view.name].default),
            "is_default": live.inputs.get(view.name) == specs[view.name].default,
            "resets": _resets(live, view.used_by),
        }
        for view in inputs
    ]
    return render(
        request,
        "inputs.html",
        **cascade_page_context(request, who, live, "inputs"),
        rows=rows,
        may_edit=who.may("edit_inputs", live.spec.groups),
    )


def _resets(live: Any, used_by: list[str]) -> list[str]:
    """The tasks a change of an input read by ``used_by`` resets (SPEC 3.5), in file order."""
    affected = set(used_by) | set(live.descendants(used_by))
    return [name for name in live.spec.task_names if name in affected]


def _value_row(info: api_data.ValueInfo, masker: Any) -> dict[str, Any]:
    text = masker.mask(info.text) if info.text is not None else None
    return {
        "info": info,
        "text": text,
        "preview": text[:VALUE_PREVIEW] if text is not None else None,
        "long": text is not None and (len(text) > VALUE_PREVIEW or "\n" in text),
    }


async def datastore_page(request: Request) -> Response:
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    name = live.spec.name
    masker = secret_masker(live)
    values = await call_api(api_data.list_values, request, who, list[api_data.ValueInfo], cascade=name)
    files = await call_api(api_data.list_files, request, who, list[api_data.FileInfo], cascade=name)
    values = [_value_row(v, masker) for v in values]
    return render(
        request,
        "datastore.html",
        **cascade_page_context(request, who, live, "datastore"),
        values=values,
        files=files,
        may_values=who.may("edit_values", live.spec.groups),
        may_files=who.may("edit_files", live.spec.groups),
        file_limit=request.app.state.core.settings.file_limit_bytes,
    )


async def value_versions_fragment(request: Request) -> Response:
    live, versions = await _versions(request, api_data.value_versions, list[api_data.ValueInfo], "key")
    masker = secret_masker(live)
    versions = [_value_row(v, masker) for v in versions]
    return render(request, "datastore_value_versions.html", versions=versions)


async def file_versions_fragment(request: Request) -> Response:
    _, versions = await _versions(request, api_data.file_versions, list[api_data.FileInfo], "name")
    return render(request, "datastore_file_versions.html", versions=versions)


async def _versions(request: Request, handler: Any, model: Any, param: str) -> tuple[Any, list[Any]]:
    """The visible cascade, and the versions ``handler`` lists of the value or file named by the
    path parameter ``param``."""
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    params = {"cascade": live.spec.name, param: request.path_params[param]}
    versions = await call_api(handler, request, who, model, **params)
    return live, versions


async def webhooks_page(request: Request) -> Response:
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    hooks = await call_api(
        api_webhooks.list_webhooks, request, who, list[api_webhooks.WebhookView], cascade=live.spec.name
    )
    return render(
        request,
        "webhooks.html",
        **cascade_page_context(request, who, live, "webhooks"),
        hooks=hooks,
        tasks=list(live.spec.task_names),
        may_manage=who.may("manage_webhooks", live.spec.groups),
    )
