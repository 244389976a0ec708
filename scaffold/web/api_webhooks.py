"""API: webhooks, per-task trigger URLs guarded by a secret (SPEC 7).

``POST /api/v1/hooks/<id>`` with the secret in the ``X-Scaffold-Secret`` header (or ``?secret=``)
starts the task; the request's JSON body is given to the run as ``/tmp/run/.scaffold/webhook.json``.
The secret is shown once, when the webhook is created, and stored only as a hash.
"""

from __future__ import annotations

import json

from pydantic import Field

from scaffold.access.policy import Action
from scaffold.access.records import Webhook
from scaffold.engine.records import Trigger
from scaffold.errors import InvalidInput, NotFound, Unauthorized
from scaffold.web import schemas as s
from scaffold.web import views
from scaffold.web.context import Context
from scaffold.web.routing import Api, Query, read_limited
from scaffold.web.schemas import Model

api = Api()
HOOK_BODY_LIMIT = 1 << 20


class WebhookCreate(Model):
    task: str = Field(description="the task the webhook starts")


class WebhookView(Model):
    id: str
    cascade: str
    task: str
    url: str = Field(description="POST here with the secret to start the task")
    created_by: str | None
    created_at: float
    last_triggered_at: float | None


class WebhookCreated(WebhookView):
    secret: str = Field(description="shown only now: send it as the X-Scaffold-Secret header")


class HookResponse(Model):
    wave: s.Wave


def _view(ctx: Context, hook: Webhook) -> WebhookView:
    base = str(ctx.request.base_url).rstrip("/")
    return WebhookView(
        id=hook.id,
        cascade=hook.cascade,
        task=hook.task,
        url=f"{base}/api/v1/hooks/{hook.id}",
        created_by=hook.created_by,
        created_at=hook.created_at,
        last_triggered_at=hook.last_triggered_at,
    )


@api.route(
    "GET",
    "/cascades/{cascade}/webhooks",
    summary="A cascade's webhooks",
    tag="webhooks",
    response=list[WebhookView],
    errors=(404,),
)
async def list_webhooks(ctx: Context) -> list[WebhookView]:
    live = ctx.cascade()
    hooks = await ctx.access.list_webhooks(ctx.user, live.spec.name, live.spec.groups)
    return [_view(ctx, h) for h in hooks]


@api.route(
    "POST",
    "/cascades/{cascade}/webhooks",
    summary="Create a webhook for a task",
    tag="webhooks",
    body=WebhookCreate,
    response=WebhookCreated,
    status=201,
    errors=(404,),
)
async def create_webhook(ctx: Context) -> WebhookCreated:
    live = ctx.cascade(action=Action.MANAGE_WEBHOOKS)
    task = ctx.task(live, ctx.body.task)
    hook, secret = await ctx.access.create_webhook(ctx.user, live.spec.name, task, live.spec.groups)
    return WebhookCreated(**_view(ctx, hook).model_dump(), secret=secret)


@api.route(
    "DELETE",
    "/cascades/{cascade}/webhooks/{webhook}",
    summary="Delete a webhook",
    tag="webhooks",
    status=204,
    errors=(404,),
)
async def delete_webhook(ctx: Context) -> None:
    live = ctx.cascade(action=Action.MANAGE_WEBHOOKS)
    await ctx.access.delete_webhook(ctx.user, live.spec.name, ctx.params["webhook"], live.spec.groups)


@api.route(
    "POST",
    "/hooks/{webhook}",
    summary="Trigger a webhook (starts its task)",
    tag="webhooks",
    public=True,
    raw_body="application/json",
    response=HookResponse,
    status=202,
    query={"secret": Query(description="the webhook's secret (prefer the X-Scaffold-Secret header)")},
    errors=(401, 404, 409, 413),
)
async def trigger_webhook(ctx: Context) -> HookResponse:
    secret = ctx.request.headers.get("x-scaffold-secret") or ctx.query["secret"]
    hook = await ctx.access.authenticate_webhook(ctx.params["webhook"], secret)
    if hook is None:
        raise Unauthorized("unknown webhook or wrong secret")
    body = await read_limited(ctx.request, HOOK_BODY_LIMIT)
    if body.strip():
        try:
            json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"the webhook body must be JSON: {exc}") from None
    else:
        body = b"{}"
    live = ctx.engine.cascades.get(hook.cascade)
    if live is None or not live.spec.has_task(hook.task):
        raise NotFound(f"the task of this webhook ({hook.cascade}/{hook.task}) no longer exists")
    wave = await ctx.engine.start(
        hook.cascade, hook.task, trigger=Trigger.WEBHOOK, by=f"webhook:{hook.id}", webhook_body=body
    )
    await ctx.access.audit(f"webhook:{hook.id}", "task.start", f"{hook.cascade}/{hook.task}", wave=wave.id)
    return HookResponse(wave=views.wave(wave))
