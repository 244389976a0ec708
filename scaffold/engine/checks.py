"""Rule 6: the recurring health check of a task in ``success``, with its own run history."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from scaffold.engine.masking import Masker
from scaffold.engine.records import RunKind, RunRow, Trigger
from scaffold.engine.runner import LoadFailed, RunSink, build_request
from scaffold.engine.states import State

if TYPE_CHECKING:
    from scaffold.engine.scheduler import Engine, LiveCascade


async def run_check(engine: Engine, c: LiveCascade, task: str) -> None:
    engine._checks.pop((c.spec.name, task), None)
    if engine.cascades.get(c.spec.name) is not c or c.rows[task].state is not State.SUCCESS:
        return
    spec = c.spec.task(task)
    assert spec.check is not None
    if task not in c.check_numbers:
        c.check_numbers[task] = await engine.store.last_run_number(c.spec.name, task, RunKind.CHECK)
    now = engine.clock.now()
    run = RunRow(
        c.spec.name,
        task,
        engine.next_check_number(c, task),
        kind=RunKind.CHECK,
        state=State.RUNNING,
        trigger=Trigger.CHECK,
        image=spec.check.image or spec.image,
        queued_at=now,
        started_at=now,
        executor=engine.executor.name,
    )
    await engine.store.insert_run(replace(run))
    slot = engine.slots.acquire()
    await slot
    sink = RunSink(engine, run, Masker(c.secrets()))
    try:
        request = await build_request(engine, c, run, None)
        result = await engine.executor.run(request, sink)
        run.exit_code, run.image_digest = result.exit_code, result.image_digest
        if result.ok:
            state, reason = State.SUCCESS, None
        else:
            state, reason = State.ERROR, result.reason or f"exit code {result.exit_code}"
    except LoadFailed as exc:
        state, reason = State.ERROR, str(exc)
    finally:
        engine.slots.release()
        await sink.close()
    run.state, run.reason, run.ended_at = state, reason, engine.clock.now()
    await engine.store.update_run(replace(run))
    engine.bus.publish("check", c.spec.name, task=task, run=run.number, state=state.value, reason=reason)
    if engine.cascades.get(c.spec.name) is not c or c.rows[task].state is not State.SUCCESS:
        return
    if state is State.SUCCESS:
        engine._schedule_check(c, task)
    else:
        engine.check_failed(c, task, f"check failed: {reason}")
