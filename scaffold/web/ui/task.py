"""The task panel, the start dialog with its reset preview, the log download and the shell page.

Everything here is read-only: the panel's buttons call the JSON API (start, kill, PATCH the task's
flags) from ``static/task.js`` with the session's CSRF token, so permissions, validation and audit
are the API's. The start dialog shows the very preview the API gives for ``dry_run`` (the same
engine call and the same view), and the log download streams what the store holds (passwords were
masked before anything was stored).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from scaffold.access.policy import Action
from scaffold.engine.records import RunKind, RunRow
from scaffold.errors import Conflict, Forbidden, InvalidInput, NotFound
from scaffold.web import views
from scaffold.web.ui.render import Viewer, render, viewer, visible_cascade

#: Characters of a run's log put in the panel (its end); the download link has all of it.
LOG_TAIL = 256 * 1024
RUNS_SHOWN = 25
CHECKS_SHOWN = 10
DOWNLOAD_CHUNK = 1 << 20
#: How each trigger reads in the panel ("started by writer", "started by the parent build").
TRIGGERS = {
    "user": "by hand",
    "parent": "by its parents",
    "webhook": "by a webhook",
    "check": "by a failed check",
    "retry": "as a retry",
}


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _number(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{name} must be a positive number, got '{raw}'")
    return int(raw)


def _kind(request: Request) -> RunKind:
    try:
        return RunKind(request.query_params.get("kind") or "task")
    except ValueError:
        raise InvalidInput("kind must be 'task' or 'check'") from None


def _task(live: Any, name: str) -> str:
    if not live.spec.has_task(name):
        raise NotFound(f"cascade '{live.spec.name}' has no task '{name}'")
    return name


def _view(request: Request, cascade: str, task: str) -> Any:
    engine = request.app.state.core.engine
    return next(v for v in engine.board(cascade) if v.name == task)


def _active_run(request: Request, cascade: str, task: str) -> RunRow | None:
    """The engine's own row of the task's run while it is waiting or running: fresher than the
    store's (its display items are stored only when it ends)."""
    return request.app.state.core.engine.active_run(cascade, task)


async def _log_size(store: Any, run_id: str) -> int:
    """How many characters the run's log holds (an empty read past its end returns its size)."""
    _, size, _ = await store.read_log(run_id, 1 << 62, 0)
    return size


async def _log_tail(store: Any, run_id: str) -> tuple[str, int, int, bool]:
    """(text, start, next_offset, truncated): the end of the log, from a line's start."""
    size = await _log_size(store, run_id)
    start = max(0, size - LOG_TAIL)
    text, next_offset, truncated = await store.read_log(run_id, start, None)
    if start > 0 and "\n" in text:
        cut = text.index("\n") + 1
        text, start = text[cut:], start + cut
    return text, start, next_offset, truncated


def _trigger_label(run: Any) -> str:
    label = TRIGGERS.get(run.trigger, run.trigger)
    if run.triggered_by:
        if run.trigger == "user":
            return f"by {run.triggered_by}"
        if run.trigger == "parent":
            return f"after {run.triggered_by}"
        return f"{label} ({run.triggered_by})"
    return label


def _duration(run: Any) -> float | None:
    if run.started_at and run.ended_at:
        return max(0.0, run.ended_at - run.started_at)
    return None


async def panel_context(request: Request, who: Viewer, cascade: str, task: str) -> dict[str, Any]:
    """Everything the task panel shows."""
    live = visible_cascade(request, who, cascade)
    task = _task(live, task)
    store = request.app.state.core.store
    kind = _kind(request)
    pinned = _number(request.query_params.get("run"), "run")
    view = _view(request, live.spec.name, task)
    runs = await store.list_runs(live.spec.name, task, kind=RunKind.TASK)
    checks = await store.list_runs(live.spec.name, task, kind=RunKind.CHECK)
    history = runs if kind is RunKind.TASK else checks
    number = pinned or (history[0].number if history else None)
    row: RunRow | None = None
    if number is not None:
        row = next((r for r in history if r.number == number), None)
        if row is None:
            raise NotFound(f"task '{task}' has no {kind.value} run {number}")
        active = _active_run(request, live.spec.name, task)
        if kind is RunKind.TASK and active is not None and active.number == row.number:
            active.log_size = row.log_size
            row = active
    run = views.run(row) if row is not None else None
    spec_task = live.spec.task(task)
    datastore = []
    for label, done, declared in (
        ("Loaded", run.loaded if run else {}, spec_task.load),
        ("Stored", run.stored if run else {}, spec_task.store),
    ):
        env, files = list(done.get("env", [])), list(done.get("file", []))
        if run is not None and (env or files or declared.env or declared.file):
            datastore.append((label, env, files, [*declared.env, *declared.file]))
    log = {"text": "", "start": 0, "next": 0, "truncated": False}
    if row is not None:
        text, start, next_offset, truncated = await _log_tail(store, row.run_id)
        log = {"text": text, "start": start, "next": next_offset, "truncated": truncated}
    groups = live.spec.groups
    state = view.display.value
    active_state = view.state.value in ("waiting", "running")
    base = f"/cascades/{quote(live.spec.name, safe='')}/tasks/{quote(task, safe='')}"
    return {
        "who": who,
        "cascade": live.spec.name,
        "task": task,
        "spec_task": spec_task,
        "datastore": datastore,
        "view": view,
        "state": state,
        "kind": kind.value,
        "pinned": pinned,
        "run": run,
        "run_id": row.run_id if row is not None else "",
        "run_active": run is not None and run.state in ("waiting", "running"),
        "is_latest": run is not None and bool(history) and run.number == history[0].number,
        "duration": _duration(run) if run is not None else None,
        "elapsed": time.time() - run.started_at if run is not None and run.started_at else None,
        "trigger": _trigger_label(run) if run is not None else "",
        "log": log,
        "runs": runs[:RUNS_SHOWN],
        "more_runs": max(0, len(runs) - RUNS_SHOWN),
        "checks": checks[:CHECKS_SHOWN],
        "more_checks": max(0, len(checks) - CHECKS_SHOWN),
        "base": base,
        "may_start": who.may(Action.START, groups),
        "may_kill": who.may(Action.KILL, groups) and active_state,
        "may_shell": who.may(Action.OPEN_SHELL, groups) and bool(runs),
        "task_active": active_state,
        "depends_on": [(d.parent, d.kind.value) for d in spec_task.depends_on],
    }


async def task_panel(request: Request) -> Response:
    """``GET /cascades/{c}/tasks/{t}[?run=N][&kind=check]``: the panel (a fragment for htmx, else a page)."""
    who = await viewer(request)
    ctx = await panel_context(request, who, request.path_params["cascade"], request.path_params["task"])
    template = "task_panel.html" if _is_htmx(request) else "task_page.html"
    return render(request, template, nav="cascades", **ctx)


async def run_log(request: Request) -> Response:
    """``GET /cascades/{c}/tasks/{t}/runs/{n}/log.txt``: the whole stored log as a text attachment."""
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    task = _task(live, request.path_params["task"])
    kind = _kind(request)
    number = _number(request.path_params["number"], "the run number")
    store = request.app.state.core.store
    row = await store.get_run(live.spec.name, task, number, kind)
    if row is None:
        raise NotFound(f"task '{task}' has no {kind.value} run {number}")
    run_id = row.run_id

    async def chunks() -> AsyncIterator[bytes]:
        offset = 0
        while True:
            text, next_offset, _ = await store.read_log(run_id, offset, DOWNLOAD_CHUNK)
            if not text:
                return
            yield text.encode("utf-8", errors="replace")
            offset = next_offset

    check = "-check" if kind is RunKind.CHECK else ""
    filename = f"{live.spec.name}-{task}{check}-run{number}.log"
    return StreamingResponse(
        chunks(),
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def start_dialog(request: Request) -> Response:
    """``GET /cascades/{c}/start-dialog[?task=T]``: the reset preview in a ``<dialog>`` to confirm."""
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    if not who.may(Action.START, live.spec.groups):
        raise Forbidden(f"your role ({who.role}) may not start tasks in '{live.spec.name}'")
    task = request.query_params.get("task") or None
    if task is not None:
        task = _task(live, task)
    engine = request.app.state.core.engine
    preview = views.preview(engine.preview(live.spec.name, task))  # what the API's dry run answers
    forced = views.preview(engine.preview(live.spec.name, task, force=True)) if preview.refused else None
    displays = {v.name: v.display.value for v in engine.board(live.spec.name)}
    busy = [n for n in preview.reset if displays.get(n) in ("waiting", "running")]
    context = {
        "who": who,
        "cascade": live.spec.name,
        "task": task,
        "preview": preview,
        "displays": displays,
        "force_needed": forced is not None and forced.refused is None,
        "force_kills": busy,
        "startable": preview.refused is None or (forced is not None and forced.refused is None),
        "nav": "cascades",
    }
    template = "start_dialog.html" if _is_htmx(request) else "start_dialog_page.html"
    return render(request, template, **context)


async def shell_page(request: Request) -> Response:
    """``GET /cascades/{c}/tasks/{t}/shell[?run=N]``: a terminal in the run's container."""
    who = await viewer(request)
    live = visible_cascade(request, who, request.path_params["cascade"])
    task = _task(live, request.path_params["task"])
    if not who.may(Action.OPEN_SHELL, live.spec.groups):
        raise Forbidden(f"your role ({who.role}) may not open shells in '{live.spec.name}'")
    store = request.app.state.core.store
    number = _number(request.query_params.get("run"), "run")
    if number is None:
        runs = await store.list_runs(live.spec.name, task, kind=RunKind.TASK)
        if not runs:
            raise Conflict(f"task '{task}' has not run yet: there is no container to open a shell in")
        number = runs[0].number
    row = await store.get_run(live.spec.name, task, number, RunKind.TASK)
    if row is None:
        raise NotFound(f"task '{task}' has no task run {number}")
    view = _view(request, live.spec.name, task)
    base = f"/cascades/{quote(live.spec.name, safe='')}/tasks/{quote(task, safe='')}"
    return render(
        request,
        "shell.html",
        who=who,
        cascade=live.spec.name,
        task=task,
        run=views.run(row),
        view=view,
        base=base,
        socket_path=f"/api/v1{base}/shell",
        nav="cascades",
    )
