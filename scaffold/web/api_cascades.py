"""API: cascades, their board, starts and kills, runs, logs and waves."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from scaffold.access.policy import Action, allowed, can_see
from scaffold.engine.masking import MASK
from scaffold.engine.records import RunKind, Trigger
from scaffold.engine.states import State
from scaffold.errors import Forbidden, InvalidInput, NotFound
from scaffold.web import schemas as s
from scaffold.web import views
from scaffold.web.context import Context
from scaffold.web.routing import Api, Query, read_limited

api = Api()
DEFINITION_LIMIT = 4 << 20
YAML_TYPES = "application/yaml"


def int_param(ctx: Context, name: str) -> int:
    raw = ctx.params[name]
    if not raw.isdigit():
        raise NotFound(f"{name} must be a positive number, got '{raw}'")
    return int(raw)


# ----------------------------------------------------------------------------------- cascades


@api.route(
    "GET",
    "/cascades",
    summary="List cascades",
    tag="cascades",
    response=list[s.CascadeSummary],
    query={"q": Query(description="only cascades whose name or description contains this")},
)
async def list_cascades(ctx: Context) -> Response:
    """Every cascade you may see, with how many tasks are in each state."""
    user, needle = ctx.user, (ctx.query["q"] or "").lower()
    out = []
    for name in sorted(ctx.engine.cascades):
        live = ctx.engine.cascades[name]
        if not can_see(user, live.spec.groups):
            continue
        if needle and needle not in name.lower() and needle not in live.spec.description.lower():
            continue
        out.append(views.summary_json(ctx.engine, live))
    return views.json_list(out)  # the JSON of list[s.CascadeSummary], kept per cascade


async def _apply(ctx: Context, path_name: str | None) -> tuple[s.ApplyResponse, int]:
    from scaffold.engine.spec import parse_cascade

    raw = await read_limited(ctx.request, DEFINITION_LIMIT)
    spec = parse_cascade(raw, source="the request body")
    masked = [i.name for i in spec.inputs if i.secret and i.default == MASK]
    if masked:
        raise InvalidInput(
            f"the default of password input(s) {', '.join(masked)} is the mask {MASK!r}, as in a masked "
            "copy of the definition: write the real default (or remove `default`) before applying"
        )
    if path_name is not None and spec.name != path_name:
        raise InvalidInput(f"the file is named '{spec.name}' but the URL names '{path_name}'")
    user = ctx.user
    existing = ctx.engine.cascades.get(spec.name)
    if existing is not None:
        if not can_see(user, existing.spec.groups):  # answer as for any cascade one may not see
            raise NotFound(f"cascade '{spec.name}' does not exist (or you may not see it): pick another name")
        ctx.cascade(spec.name, Action.APPLY)
    elif not allowed(user, Action.APPLY, spec.groups):
        raise Forbidden(f"your role ({user.role.value}) may not apply cascades")
    if not can_see(user, spec.groups):
        raise Forbidden(f"you are in none of the groups {list(spec.groups)}: you could not see this cascade")
    result = await ctx.engine.apply(spec, raw.decode("utf-8"), by=ctx.actor)
    await ctx.audit("cascade.apply", spec.name, version=result.version)
    body = s.ApplyResponse(
        cascade=spec.name,
        version=result.version,
        created=existing is None,
        changes=views.changes(result.changes),
    )
    return body, 201 if existing is None else 200


@api.route(
    "POST",
    "/cascades",
    summary="Apply a cascade file",
    tag="cascades",
    raw_body=YAML_TYPES,
    response=s.ApplyResponse,
    status=201,
    also=(200,),
    errors=(403, 409, 413, 422),
)
async def apply_cascade(ctx: Context) -> tuple[s.ApplyResponse, int]:
    """Send the cascade file (YAML or JSON) as the body. A cascade with the same name is updated in
    place: changed tasks and their descendants are reset; the response lists every change."""
    return await _apply(ctx, None)


@api.route(
    "GET",
    "/cascades/{cascade}",
    summary="One cascade with its board and inputs",
    tag="cascades",
    response=s.CascadeDetail,
    errors=(404,),
)
async def get_cascade(ctx: Context) -> s.CascadeDetail:
    return views.detail(ctx.engine, ctx.cascade())


@api.route(
    "PUT",
    "/cascades/{cascade}",
    summary="Re-apply a cascade file",
    tag="cascades",
    raw_body=YAML_TYPES,
    response=s.ApplyResponse,
    errors=(404, 409, 413, 422),
)
async def put_cascade(ctx: Context) -> tuple[s.ApplyResponse, int]:
    ctx.cascade(action=Action.APPLY)
    return await _apply(ctx, ctx.params["cascade"])


@api.route(
    "DELETE",
    "/cascades/{cascade}",
    summary="Delete a cascade and its history",
    tag="cascades",
    status=204,
    errors=(404, 409),
)
async def delete_cascade(ctx: Context) -> None:
    live = ctx.cascade(action=Action.DELETE)
    await ctx.engine.delete(live.spec.name, by=ctx.actor)
    await ctx.audit("cascade.delete", live.spec.name)


@api.route(
    "GET",
    "/cascades/{cascade}/versions",
    summary="Every applied version of the definition",
    tag="cascades",
    response=list[s.CascadeVersion],
    errors=(404,),
)
async def list_versions(ctx: Context) -> list[s.CascadeVersion]:
    live = ctx.cascade()
    records = await ctx.store.cascade_versions(live.spec.name)
    return [
        s.CascadeVersion(
            version=r.version,
            applied_at=r.applied_at,
            applied_by=r.applied_by,
            source=views.masked_source(live, r.source),
        )
        for r in records
    ]


# -------------------------------------------------------------------------------------- tasks


@api.route(
    "GET",
    "/cascades/{cascade}/tasks",
    summary="The board: every task's state",
    tag="tasks",
    response=list[s.TaskState],
    errors=(404,),
)
async def list_tasks(ctx: Context) -> Response:
    # the JSON of list[s.TaskState], kept per cascade (see scaffold.web.views)
    return views.json_response(views.board_json(ctx.engine, ctx.cascade()))


def _task_state(ctx: Context, live: Any, name: str) -> s.TaskState:
    view = next(v for v in ctx.engine.board(live.spec.name) if v.name == name)
    return views.task_state(live, view)


@api.route(
    "GET",
    "/cascades/{cascade}/tasks/{task}",
    summary="One task's state",
    tag="tasks",
    response=s.TaskState,
    errors=(404,),
)
async def get_task(ctx: Context) -> s.TaskState:
    live = ctx.cascade()
    return _task_state(ctx, live, ctx.task(live))


@api.route(
    "PATCH",
    "/cascades/{cascade}/tasks/{task}",
    summary="Enable/disable a task or toggle auto-execute",
    tag="tasks",
    body=s.TaskPatch,
    response=s.TaskState,
    errors=(404, 422),
)
async def patch_task(ctx: Context) -> s.TaskState:
    live = ctx.cascade(action=Action.START)
    task = ctx.task(live)
    patch: s.TaskPatch = ctx.body
    await ctx.engine.set_task_flags(
        live.spec.name, task, disabled=patch.disabled, auto_execute=patch.auto_execute
    )
    await ctx.audit("task.update", f"{live.spec.name}/{task}", **patch.model_dump(exclude_none=True))
    return _task_state(ctx, live, task)


@api.route(
    "POST",
    "/cascades/{cascade}/start",
    summary="Start the cascade or one task (or preview it)",
    tag="tasks",
    body=s.StartRequest,
    response=s.StartResponse,
    errors=(404, 409, 422),
)
async def start(ctx: Context) -> s.StartResponse:
    """Starting a task first resets every task downstream of it. With ``dry_run`` nothing happens:
    the response only says what would be reset, overwritten and run."""
    request: s.StartRequest = ctx.body
    live = ctx.cascade(action=Action.VIEW if request.dry_run else Action.START)
    if request.task is not None:
        ctx.task(live, request.task)
    plan = ctx.engine.preview(live.spec.name, request.task, force=request.force)
    if request.dry_run:
        return s.StartResponse(wave=None, preview=views.preview(plan))
    wave = await ctx.engine.start(
        live.spec.name, request.task, force=request.force, trigger=Trigger.USER, by=ctx.actor
    )
    await ctx.audit(
        "task.start" if request.task else "cascade.start",
        f"{live.spec.name}/{request.task}" if request.task else live.spec.name,
        wave=wave.id,
        force=request.force,
    )
    return s.StartResponse(wave=views.wave(wave), preview=views.preview(plan))


@api.route(
    "POST",
    "/cascades/{cascade}/tasks/{task}/kill",
    summary="Kill a waiting or running task",
    tag="tasks",
    response=s.TaskState,
    errors=(404, 409),
)
async def kill(ctx: Context) -> s.TaskState:
    live = ctx.cascade(action=Action.KILL)
    task = ctx.task(live)
    await ctx.engine.kill(live.spec.name, task, by=ctx.actor)
    await ctx.audit("task.kill", f"{live.spec.name}/{task}")
    return _task_state(ctx, live, task)


# --------------------------------------------------------------------------------------- runs


async def _run(ctx: Context, live: Any, task: str, kind: RunKind) -> Any:
    number = int_param(ctx, "number")
    run = views.cached_run(live, task, number, kind.value)  # final runs never change
    if run is None:
        run = await ctx.store.get_run(live.spec.name, task, number, kind)
        if run is None:
            raise NotFound(f"task '{task}' has no {kind.value} run {number}")
        views.keep_run(live, run)
    return run


KIND = {"kind": Query(default="task", description="task runs (default) or check runs")}


def _kind(ctx: Context) -> RunKind:
    try:
        return RunKind(ctx.query["kind"])
    except ValueError:
        raise InvalidInput("kind must be 'task' or 'check'") from None


@api.route(
    "GET",
    "/cascades/{cascade}/tasks/{task}/runs",
    summary="A task's run history, newest first",
    tag="runs",
    response=list[s.Run],
    query=KIND,
    errors=(404,),
)
async def list_runs(ctx: Context) -> Response:
    live = ctx.cascade()
    task = ctx.task(live)
    kind = _kind(ctx)
    if kind is not RunKind.TASK:
        checks = await ctx.store.list_runs(live.spec.name, task, kind=kind)
        return views.json_response(views.runs_json(checks))
    # the JSON of list[s.Run]; kept while the task's runs cannot change (see scaffold.web.views)
    body = views.cached_runs(live, task)
    if body is None:
        before = views.task_row_key(live, task)
        runs = await ctx.store.list_runs(live.spec.name, task, kind=kind)
        body = views.runs_json(runs)
        views.keep_runs(live, task, before, runs, body)
    return views.json_response(body)


@api.route(
    "GET",
    "/cascades/{cascade}/tasks/{task}/runs/{number}",
    summary="One run",
    tag="runs",
    response=s.Run,
    query=KIND,
    errors=(404,),
)
async def get_run(ctx: Context) -> s.Run:
    live = ctx.cascade()
    return views.run(await _run(ctx, live, ctx.task(live), _kind(ctx)))


@api.route(
    "GET",
    "/cascades/{cascade}/tasks/{task}/runs/{number}/logs",
    summary="A range of a run's log",
    tag="runs",
    response=s.LogRange,
    errors=(404,),
    query={
        **KIND,
        "offset": Query("integer", 0, "first character to return", minimum=0),
        "limit": Query("integer", None, "most characters to return", minimum=0),
    },
)
async def get_logs(ctx: Context) -> Response:
    """Offsets count characters. Follow a live log by asking again from ``next_offset`` (or
    subscribe to the event stream with ``run=``) until ``complete`` is true."""
    live = ctx.cascade()
    run = await _run(ctx, live, ctx.task(live), _kind(ctx))
    offset, limit = ctx.query["offset"], ctx.query["limit"]
    body = views.cached_log(live, run, offset, limit)  # the JSON of s.LogRange; final runs only
    if body is None:
        text, next_offset, truncated = await ctx.store.read_log(run.run_id, offset, limit)
        complete = run.state not in (State.WAITING, State.RUNNING)
        log = s.LogRange(
            text=text,
            offset=offset,
            next_offset=next_offset,
            truncated=truncated,
            complete=complete and next_offset >= run.log_size,
        )
        body = views.json_body(log.model_dump(mode="json"))
        views.keep_log(live, run, offset, limit, body)
    return views.json_response(body)


# -------------------------------------------------------------------------------------- waves


@api.route(
    "GET",
    "/cascades/{cascade}/waves",
    summary="Waves of runs, newest first",
    tag="runs",
    response=list[s.Wave],
    errors=(404,),
)
async def list_waves(ctx: Context) -> list[s.Wave]:
    live = ctx.cascade()
    return [views.wave(_live_wave(ctx, w)) for w in await ctx.store.list_waves(live.spec.name)]


def _live_wave(ctx: Context, row: Any) -> Any:
    return ctx.engine.wave(row.id) or row


@api.route(
    "GET",
    "/cascades/{cascade}/waves/{wave}",
    summary="One wave and its runs",
    tag="runs",
    response=s.WaveDetail,
    errors=(404,),
)
async def get_wave(ctx: Context) -> s.WaveDetail:
    live = ctx.cascade()
    wave_id = int_param(ctx, "wave")
    row = next((w for w in await ctx.store.list_waves(live.spec.name) if w.id == wave_id), None)
    if row is None:
        raise NotFound(f"cascade '{live.spec.name}' has no wave {wave_id}")
    runs = await ctx.store.list_runs(live.spec.name, wave_id=wave_id)
    return s.WaveDetail(**views.wave(_live_wave(ctx, row)).model_dump(), runs=[views.run(r) for r in runs])
