"""The cascade page: header, state bar, and the graph, grid and timeline views of one cascade.

Everything here is read-only (GET pages, fragments and one JSON of display states): starting,
killing and editing go to the JSON API from the page. The graph's layout depends only on the
definition, so it is computed once per applied version and cached; each request only colours it.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scaffold.engine.board import TaskView
from scaffold.engine.live import LiveCascade
from scaffold.engine.records import RunKind, RunRow
from scaffold.web.ui import graph
from scaffold.web.ui.render import STATES, Viewer, render, viewer, visible_cascade

VIEWS = ("graph", "grid", "timeline")
GRID_WAVES = 20  # waves shown in the grid at most by default (``?waves=`` up to GRID_WAVES_MAX)
GRID_CELLS = 6000  # ... fewer for big cascades: about this many cells
GRID_WAVES_MAX = 200
TIMELINE_RUNS = 200  # the timeline shows whole waves, newest first, until this many runs
TIMELINE_MAX_RUNS = 400  # ... and never more runs than this (the newest of a big wave)
TIMELINE_WAVES = 20
_LAYOUTS: OrderedDict[tuple[Any, ...], graph.Layout] = OrderedDict()
_LAYOUT_CACHE = 16


# ------------------------------------------------------------------------------------ helpers


def layout_of(live: LiveCascade) -> graph.Layout:
    """The graph layout of the cascade's current definition (cached per applied version)."""
    key = (live.spec.name, live.record.version, live.record.applied_at, id(live.spec))
    cached = _LAYOUTS.get(key)
    if cached is not None:
        _LAYOUTS.move_to_end(key)
        return cached
    tasks = [(t.name, [(d.parent, d.kind.value) for d in t.depends_on]) for t in live.spec.tasks]
    result = graph.layout(tasks)
    _LAYOUTS[key] = result
    while len(_LAYOUTS) > _LAYOUT_CACHE:
        _LAYOUTS.popitem(last=False)
    return result


def topological_names(live: LiveCascade) -> list[str]:
    return sorted(live.order, key=live.order.__getitem__)


def node_states(views: list[TaskView]) -> dict[str, graph.NodeState]:
    out = {}
    for v in views:
        label, icon = STATES.get(v.display.value, (v.display.value, "?"))
        out[v.name] = graph.NodeState(v.display.value, label, icon, v.run_number, v.reason, v.disabled)
    return out


def count_states(views: list[TaskView]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in views:
        counts[v.display.value] = counts.get(v.display.value, 0) + 1
    return counts


def _engine(request: Request) -> Any:
    return request.app.state.core.engine


def _store(request: Request) -> Any:
    return request.app.state.core.store


async def _open(request: Request) -> tuple[Viewer, LiveCascade]:
    who = await viewer(request)
    return who, visible_cascade(request, who, request.path_params["cascade"])


def _states_for_js() -> str:
    return json.dumps([[key, label, icon] for key, (label, icon) in STATES.items()])


# -------------------------------------------------------------------------------------- views


def graph_context(live: LiveCascade, views: list[TaskView]) -> dict[str, Any]:
    lay = layout_of(live)
    return {"svg": graph.render_svg(lay, node_states(views), live.spec.name), "layout": lay}


def grid_waves(task_count: int) -> int:
    """How many waves the grid shows by default: ~GRID_CELLS cells, at least 3 rows, at most 20."""
    return max(3, min(GRID_WAVES, GRID_CELLS // max(1, task_count)))


def _grid_cells(tasks: list[str], quoted: list[str], cells: dict[str, dict[str, Any]]) -> Markup:
    """One row of cells, built here rather than in the template: 1,000 columns stay fast."""
    out = []
    for name, q in zip(tasks, quoted, strict=True):
        cell = cells.get(name)
        if cell is None:
            out.append('<td class="no-run"></td>')
            continue
        run = cell["run"]
        state = run.state.value
        label, icon = STATES.get(state, (state, "?"))
        title = f"{name}: {label}, run {run.number}"
        if cell["attempts"] > 1:
            title += f" ({cell['attempts']} attempts)"
        if run.reason:
            title += f" ({run.reason})"
        out.append(
            f'<td><a class="cell st-{state}" href="?view=grid&amp;task={q}&amp;run={run.number}"'
            f' title="{escape(title)}"><span aria-hidden="true">{icon}</span>{run.number}</a></td>'
        )
    return Markup("".join(out))


async def grid_context(request: Request, live: LiveCascade, limit: int | None = None) -> dict[str, Any]:
    """Rows = waves (newest first), columns = tasks (topological order), cells = runs."""
    name = live.spec.name
    engine, store = _engine(request), _store(request)
    tasks = topological_names(live)
    limit = limit or grid_waves(len(tasks))
    quoted = [escape(quote(t, safe="")) for t in tasks]
    all_waves = await store.list_waves(name)
    rows = []
    for row in all_waves[:limit]:
        wave = engine.wave(row.id) or row
        cells: dict[str, dict[str, Any]] = {}
        for run in await store.list_runs(name, wave_id=wave.id):  # newest first
            if run.kind is not RunKind.TASK:
                continue
            cell = cells.get(run.task)
            if cell is None:
                cells[run.task] = {"run": run, "attempts": 1}
            else:
                cell["attempts"] += 1
        rows.append({"wave": wave, "cells": _grid_cells(tasks, quoted, cells), "runs": len(cells)})
    header = Markup(
        "".join(
            f'<th scope="col" class="task-col" title="{t}"><span>{t}</span></th>' for t in map(escape, tasks)
        )
    )
    return {
        "tasks": tasks,
        "header": header,
        "rows": rows,
        "waves_total": len(all_waves),
        "waves_shown": len(rows),
        "waves_limit": limit,
        "now": time.time(),
    }


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400):
        if span / step <= 8:
            return step
    return 86400 * math.ceil(span / 86400 / 8)


async def timeline_context(request: Request, live: LiveCascade) -> dict[str, Any]:
    """A Gantt of the runs of the latest waves (whole waves, newest first, ~TIMELINE_RUNS runs)."""
    name = live.spec.name
    store = _store(request)
    runs: list[RunRow] = []
    waves = (await store.list_waves(name))[:TIMELINE_WAVES]
    used = 0
    for wave in waves:
        runs.extend(r for r in await store.list_runs(name, wave_id=wave.id) if r.kind is RunKind.TASK)
        used += 1
        if len(runs) >= TIMELINE_RUNS:
            break
    cut = len(runs) > TIMELINE_MAX_RUNS
    runs = runs[:TIMELINE_MAX_RUNS]  # newest first within each wave
    now = time.time()
    spans = []
    for run in runs:
        begin = run.started_at or run.queued_at
        if begin is None:
            continue
        end = run.ended_at or now
        spans.append((run, begin, max(end, begin)))
    if not spans:
        return {"rows": [], "ticks": [], "waves": used, "runs": 0, "cut": False}
    t0 = min(b for _, b, _ in spans)
    t1 = max(e for _, _, e in spans)
    total = max(t1 - t0, 1.0)
    per_task: dict[str, list[dict[str, Any]]] = {}
    for run, begin, end in sorted(spans, key=lambda s: s[1]):
        per_task.setdefault(run.task, []).append(
            {
                "run": run,
                "left": (begin - t0) / total * 100,
                "width": max((end - begin) / total * 100, 0.4),
                "duration": (end - begin) if run.ended_at else now - begin,
                "running": run.ended_at is None,
            }
        )
    rows = [{"task": t, "bars": per_task[t]} for t in topological_names(live) if t in per_task]
    rows += [
        {"task": t, "bars": bars, "removed": True} for t, bars in per_task.items() if t not in live.order
    ]
    step = _tick_step(total)
    first = math.ceil(t0 / step) * step
    ticks = []
    at = first
    while at <= t1:
        ticks.append({"t": at, "left": (at - t0) / total * 100})
        at += step
    return {
        "rows": rows,
        "ticks": ticks,
        "t0": t0,
        "t1": t1,
        "waves": used,
        "runs": len(spans),
        "cut": cut,
        "step": step,
    }


# ------------------------------------------------------------------------------------ handlers


async def cascade_page(request: Request) -> Response:
    who, live = await _open(request)
    spec = live.spec
    view = request.query_params.get("view", "graph")
    if view not in VIEWS:
        view = "graph"
    engine = _engine(request)
    views = engine.board(spec.name)
    context: dict[str, Any] = {
        "who": who,
        "live": live,
        "spec": spec,
        "cascade": spec.name,
        "record": live.record,
        "counts": count_states(views),
        "active": engine.is_active(spec.name),
        "view": view,
        "may_start": who.may("start", spec.groups),
        "states_json": _states_for_js(),
        "task_count": len(spec.tasks),
        "nav": "cascades",
    }
    if view == "graph":
        context.update(graph_context(live, views))
    elif view == "grid":
        context["grid"] = await grid_context(request, live, _waves_param(request))
    else:
        context["timeline"] = await timeline_context(request, live)
    return render(request, "cascade.html", **context)


def _waves_param(request: Request) -> int | None:
    raw = request.query_params.get("waves", "")
    return min(int(raw), GRID_WAVES_MAX) if raw.isdigit() and int(raw) > 0 else None


async def cascade_states(request: Request) -> Response:
    """Every task's display state (for the live page): {"tasks": {name: {...}}, "counts": {...}}."""
    _, live = await _open(request)
    engine = _engine(request)
    views = engine.board(live.spec.name)
    body = {
        "cascade": live.spec.name,
        "version": live.record.version,
        "active": engine.is_active(live.spec.name),
        "tasks": {
            v.name: {
                "display": v.display.value,
                "state": v.state.value,
                "run": v.run_number,
                "reason": v.reason,
                "disabled": v.disabled,
            }
            for v in views
        },
        "counts": count_states(views),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def graph_fragment(request: Request) -> Response:
    who, live = await _open(request)
    views = _engine(request).board(live.spec.name)
    return render(request, "_graph.html", who=who, cascade=live.spec.name, **graph_context(live, views))


async def grid_fragment(request: Request) -> Response:
    who, live = await _open(request)
    grid = await grid_context(request, live, _waves_param(request))
    return render(request, "_grid.html", who=who, cascade=live.spec.name, grid=grid)


async def timeline_fragment(request: Request) -> Response:
    who, live = await _open(request)
    timeline = await timeline_context(request, live)
    return render(request, "_timeline.html", who=who, cascade=live.spec.name, timeline=timeline)
