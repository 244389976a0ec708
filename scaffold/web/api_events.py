"""API: the live event stream (Server-Sent Events). No client ever has to poll.

Every event the caller may see: task state changes, run starts and ends, waves, definition and
input changes. Log lines and display updates only for the runs named with ``run=`` (repeatable,
``cascade:task:number``). Reconnect with ``Last-Event-ID`` to resume; when the server no longer
holds what was missed, a ``resync`` event says to reload the state first.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from scaffold.access.policy import can_see
from scaffold.engine.events import Event
from scaffold.engine.records import RunKind, RunRow
from scaffold.web.context import Context
from scaffold.web.routing import Api, Query

api = Api()
KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 1.0  # how often an open stream re-checks its caller's credentials and groups
RUN_SCOPED = {"log", "display"}


def _format(event: Event) -> str:
    data = json.dumps({"cascade": event.cascade, **event.data}, default=str)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


def _run_id(event: Event) -> str:
    kind = RunKind(event.data.get("run_kind", "task"))
    return RunRow(
        event.cascade, event.data.get("task", ""), int(event.data.get("run") or 0), kind=kind
    ).run_id


@api.route(
    "GET",
    "/events",
    summary="Live events (Server-Sent Events)",
    tag="events",
    response=None,
    response_type="text/event-stream",
    query={
        "cascade": Query(description="only events of this cascade"),
        "run": Query(description="also stream the log lines of this run (cascade:task:number)"),
    },
)
async def events(ctx: Context) -> StreamingResponse:
    caller = [ctx.user]  # re-read while the stream is open (see RECHECK_SECONDS)
    engine = ctx.engine
    only = ctx.query["cascade"]
    runs = set(ctx.request.query_params.getlist("run"))

    def visible(event: Event) -> bool:
        user = caller[0]
        if only and event.cascade != only:
            return False
        live = engine.cascades.get(event.cascade)
        if live is None:  # deleted: its event carries the groups it had
            return event.kind == "cascade" and can_see(user, event.data.get("groups", ()))
        if not can_see(user, live.spec.groups):
            return False
        return event.kind not in RUN_SCOPED or _run_id(event) in runs

    last = ctx.request.headers.get("last-event-id", "")
    subscription = engine.bus.subscribe(visible)
    backlog = _backlog(engine.bus, last, visible)

    async def stream() -> AsyncIterator[str]:
        checked = time.monotonic()
        try:
            yield "retry: 2000\n\n"
            for item in backlog:
                yield item
            while True:
                try:
                    event: Event | None = await asyncio.wait_for(subscription.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    event = None
                if time.monotonic() - checked >= RECHECK_SECONDS:
                    user = await ctx.access.current_user(ctx.principal)
                    if user is None:
                        return  # disabled, deleted, token revoked or session ended: stop at once
                    caller[0], checked = user, time.monotonic()
                if event is not None and not visible(event):
                    continue  # queued before the caller's groups or role changed
                if event is None:
                    yield ": keepalive\n\n"
                    continue
                if subscription.overflowed:
                    yield 'event: resync\ndata: {"reason": "the client fell behind"}\n\n'
                    return
                yield _format(event)
        finally:
            subscription.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _backlog(bus: Any, last: str, visible: Any) -> list[str]:
    if not last.strip().isdigit():
        return []
    last_id = int(last)
    missed = bus.since(last_id)
    oldest = bus.oldest_id()
    too_old = oldest is not None and last_id + 1 < oldest
    if too_old or last_id >= max(bus.next_id(), 1):
        return ['event: resync\ndata: {"reason": "events were missed; reload the state"}\n\n']
    return [_format(e) for e in missed if visible(e)]
