"""Engine objects turned into API bodies. Password values never leave through here.

The board (``GET .../tasks``) and each cascade's summary (``GET /cascades``) are asked for on every
poll of every client, and change only when a task does: their JSON is kept per cascade
(:func:`board_json`, :func:`summary_json`) and made again only when the cascade was re-applied (a new
:class:`LiveCascade`) or a field that the views read changed in some task row (state, run number,
reason, disabled, auto-execute), or, for the summary, whether the cascade is active. The bytes are
the ones the router would send for the same models (``JSONResponse`` of ``model_dump(mode="json")``).

Runs are kept too, only where they can no longer change (:func:`cached_runs`, :func:`cached_run`,
:func:`cached_log`): the engine changes a task's row in memory (``run_number``, state) before it
inserts or updates a run of it in the store, writes a run's whole log before its final state, and
never writes a run again once it is final (a re-applied or re-created cascade is a new
``LiveCascade``, which no entry matches). So a task's run list read while its row stayed the same,
with the row and every run in a final or not-started state and the newest run being the row's,
holds until the row changes; a single run, and any range of its log, hold once it is final.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import Any

from starlette.responses import JSONResponse, Response

from scaffold.engine.board import StartPreview, TaskView
from scaffold.engine.changes import CascadeChanges
from scaffold.engine.live import LiveCascade
from scaffold.engine.masking import MASK, Masker
from scaffold.engine.records import RunRow, WaveRow
from scaffold.web import schemas as s


def task_state(live: LiveCascade, view: TaskView) -> s.TaskState:
    task = live.spec.task(view.name)
    return s.TaskState(
        name=view.name,
        state=view.state.value,
        display=view.display.value,
        reason=view.reason,
        run=view.run_number,
        disabled=view.disabled,
        auto_execute=view.auto_execute,
        image=task.image,
        depends_on=[s.Dependency(task=d.parent, kind=d.kind.value) for d in task.depends_on],
        has_check=task.check is not None,
        inputs=sorted(task.input_names()),
    )


def board(engine: Any, live: LiveCascade) -> list[s.TaskState]:
    return [task_state(live, v) for v in engine.board(live.spec.name)]


def inputs(live: LiveCascade) -> list[s.InputView]:
    out = []
    for spec in live.spec.inputs:
        value = live.inputs.get(spec.name)
        default = spec.default
        if spec.secret:
            value = MASK if value else value
            default = MASK if default else default
        out.append(
            s.InputView(
                name=spec.name,
                type=spec.type.value,
                description=spec.description,
                value=value,
                default=default,
                used_by=[t.name for t in live.spec.tasks if spec.name in t.input_names()],
            )
        )
    return out


def summary(engine: Any, live: LiveCascade) -> s.CascadeSummary:
    counts: dict[str, int] = {}
    for view in engine.board(live.spec.name):
        counts[view.display.value] = counts.get(view.display.value, 0) + 1
    spec, record = live.spec, live.record
    return s.CascadeSummary(
        name=spec.name,
        description=spec.description,
        groups=list(spec.groups),
        links=dict(spec.links),
        version=record.version,
        applied_at=record.applied_at,
        applied_by=record.applied_by,
        tasks=len(spec.tasks),
        states=counts,
        active=engine.is_active(spec.name),
    )


# ------------------------------------------------------------------------ cached JSON bodies


@dataclass(slots=True)
class _Rendered:
    live: weakref.ReferenceType[LiveCascade]
    key: tuple[Any, ...]
    body: bytes


_BOARDS: dict[str, _Rendered] = {}
_SUMMARIES: dict[str, _Rendered] = {}
_MAX_CACHED = 1024  # cascades; past that a cache starts again empty


def _rows_key(live: LiveCascade) -> tuple[Any, ...]:
    """Everything of the task rows that :func:`scaffold.engine.board.views` reads."""
    return tuple((r.state, r.run_number, r.reason, r.disabled, r.auto_execute) for r in live.rows.values())


def json_body(content: Any) -> bytes:
    """What the router sends for ``content`` (already made of JSON types)."""
    return bytes(JSONResponse(content).body)


def json_response(body: bytes) -> Response:
    return Response(body, media_type=JSONResponse.media_type)


def json_list(items: list[bytes]) -> Response:
    """A JSON array of already encoded items, as ``json.dumps`` with the router's separators."""
    return json_response(b"[" + b",".join(items) + b"]")


def _cached(cache: dict[str, _Rendered], live: LiveCascade, key: tuple[Any, ...], render: Any) -> bytes:
    hit = cache.get(live.spec.name)
    if hit is not None and hit.live() is live and hit.key == key:
        return hit.body
    body = render()
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    cache[live.spec.name] = _Rendered(weakref.ref(live), key, body)
    return body


def board_json(engine: Any, live: LiveCascade) -> bytes:
    """The JSON of :func:`board` (cached, see the module doc)."""
    return _cached(
        _BOARDS,
        live,
        _rows_key(live),
        lambda: json_body([t.model_dump(mode="json") for t in board(engine, live)]),
    )


def summary_json(engine: Any, live: LiveCascade) -> bytes:
    """The JSON of :func:`summary` (cached, see the module doc)."""
    return _cached(
        _SUMMARIES,
        live,
        (_rows_key(live), engine.is_active(live.spec.name)),
        lambda: json_body(summary(engine, live).model_dump(mode="json")),
    )


# ---------------------------------------------------------------------- runs that cannot change


class _Kept:
    """JSON bodies kept per key, each valid for one ``LiveCascade`` and one ``version`` of what it was
    made from, weighing ``budget`` bytes at most (past that the cache starts again empty)."""

    def __init__(self, budget: int):
        self.budget, self.size = budget, 0
        self.entries: dict[Any, _Rendered] = {}

    def get(self, key: Any, live: LiveCascade, version: Any) -> bytes | None:
        hit = self.entries.get(key)
        if hit is not None and hit.live() is live and hit.key == version:
            return hit.body
        return None

    def put(self, key: Any, live: LiveCascade, version: Any, body: bytes) -> None:
        if len(body) > self.budget // 8:
            return
        old = self.entries.pop(key, None)
        self.size -= len(old.body) if old else 0
        if self.size + len(body) > self.budget:
            self.entries.clear()
            self.size = 0
        self.entries[key] = _Rendered(weakref.ref(live), version, body)
        self.size += len(body)


_RUN_LISTS = _Kept(8 << 20)  # (cascade, task) -> JSON of its task runs, version: task_row_key
_LOGS = _Kept(8 << 20)  # (cascade, task, number, kind, offset, limit) -> JSON of a final run's log range
_RUNS: dict[tuple[str, str, int, str], tuple[weakref.ReferenceType[LiveCascade], RunRow]] = {}


def task_row_key(live: LiveCascade, task: str) -> tuple[Any, ...]:
    r = live.rows[task]
    return (r.state, r.run_number, r.reason, r.disabled, r.auto_execute, r.updated_at)


def cached_runs(live: LiveCascade, task: str) -> bytes | None:
    """The JSON of the task's (task, not check) runs, if kept and still true (see the module doc)."""
    if task not in live.rows:
        return None
    return _RUN_LISTS.get((live.spec.name, task), live, task_row_key(live, task))


def runs_json(runs: list[RunRow]) -> bytes:
    return json_body([run(r).model_dump(mode="json") for r in runs])


def keep_runs(live: LiveCascade, task: str, before: tuple[Any, ...], runs: list[RunRow], body: bytes) -> None:
    """Keep ``body``, the JSON of ``runs`` (the task runs of ``task`` read from the store while its
    row was ``before``), if nothing can change them before the row changes."""
    if task not in live.rows or task_row_key(live, task) != before:
        return  # the row moved during the read: the store may be behind it, or ahead
    row = live.rows[task]
    if row.state.active or any(not r.state.final for r in runs):
        return
    if max((r.number for r in runs), default=0) != row.run_number:
        return
    _RUN_LISTS.put((live.spec.name, task), live, before, body)


def cached_log(live: LiveCascade, r: RunRow, offset: int, limit: int | None) -> bytes | None:
    """The JSON of a log range of a final run (its log no longer changes), if kept."""
    if not r.state.final:
        return None
    return _LOGS.get((live.spec.name, r.task, r.number, r.kind.value, offset, limit), live, r.run_id)


def keep_log(live: LiveCascade, r: RunRow, offset: int, limit: int | None, body: bytes) -> None:
    if r.state.final:
        _LOGS.put((live.spec.name, r.task, r.number, r.kind.value, offset, limit), live, r.run_id, body)


def cached_run(live: LiveCascade, task: str, number: int, kind: str) -> RunRow | None:
    """A copy of a final run kept by :func:`keep_run`, or None."""
    hit = _RUNS.get((live.spec.name, task, number, kind))
    if hit is not None and hit[0]() is live:
        return replace(hit[1])
    return None


def keep_run(live: LiveCascade, r: RunRow) -> None:
    if r.state.final:
        if len(_RUNS) >= 4 * _MAX_CACHED:
            _RUNS.clear()
        _RUNS[(live.spec.name, r.task, r.number, r.kind.value)] = (weakref.ref(live), replace(r))


def detail(engine: Any, live: LiveCascade) -> s.CascadeDetail:
    return s.CascadeDetail(
        **summary(engine, live).model_dump(), board=board(engine, live), inputs=inputs(live)
    )


def masked_source(live: LiveCascade, source: str) -> str:
    """The applied file with the defaults of password inputs (of that version) masked."""
    from scaffold.engine.spec import parse_cascade

    try:
        spec = parse_cascade(source, require_image=False)
    except Exception:
        spec = live.spec
    defaults = [i.default for i in spec.inputs if i.secret and i.default]
    return Masker(defaults).mask(source) if defaults else source


def changes(c: CascadeChanges) -> s.Changes:
    return s.Changes(
        added=list(c.added),
        removed=list(c.removed),
        changed=[s.TaskChange(task=n, fields=list(c.changed_fields[n])) for n in c.changed],
        reset=[s.TaskReset(task=n, reason=c.reset_reasons[n]) for n in c.reset],
        inputs_added=list(c.inputs_added),
        inputs_removed=list(c.inputs_removed),
        inputs_changed=[
            s.InputChange(input=n, fields=list(c.inputs_changed_fields[n]), value_reset=n in c.inputs_reset)
            for n in c.inputs_changed
        ],
        cascade_changed=list(c.cascade_changed),
        summary=c.summary(),
    )


def preview(p: StartPreview) -> s.Preview:
    return s.Preview.model_validate(p.to_dict())


def wave(w: WaveRow) -> s.Wave:
    return s.Wave(
        id=w.id,
        cascade=w.cascade,
        trigger=w.trigger.value,
        triggered_by=w.triggered_by,
        started_tasks=list(w.started_tasks),
        started_at=w.started_at,
        ended_at=w.ended_at,
    )


def run(r: RunRow) -> s.Run:
    return s.Run(
        cascade=r.cascade,
        task=r.task,
        number=r.number,
        kind=r.kind.value,
        state=r.state.value,
        trigger=r.trigger.value,
        triggered_by=r.triggered_by,
        wave=r.wave_id,
        attempt=r.attempt,
        node=r.node,
        executor=r.executor,
        image=r.image,
        image_digest=r.image_digest,
        queued_at=r.queued_at,
        started_at=r.started_at,
        ended_at=r.ended_at,
        exit_code=r.exit_code,
        reason=r.reason,
        display=r.display,
        display_error=r.display_error,
        loaded=r.loaded or {},
        stored=r.stored or {},
        log_size=r.log_size,
        log_truncated=r.log_truncated,
    )
