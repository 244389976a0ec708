"""Engine objects turned into API bodies. Password values never leave through here."""

from __future__ import annotations

from typing import Any

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
