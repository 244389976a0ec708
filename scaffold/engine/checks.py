"""Rule 6: the recurring health check of a task in ``success``, with its own run history."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from scaffold.engine.live import LiveCascade, LiveWave
from scaffold.engine.masking import Masker
from scaffold.engine.records import RunKind, RunRow, TaskRow, Trigger, WaveRow
from scaffold.engine.runner import LoadFailed, RunSink, build_request
from scaffold.engine.states import State

if TYPE_CHECKING:
    from scaffold.engine.scheduler import Engine


def _next_check_number(c: LiveCascade, task: str) -> int:
    c.check_numbers[task] = c.check_numbers.get(task, 0) + 1
    return c.check_numbers[task]


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
        _next_check_number(c, task),
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
        check_failed(engine, c, task, f"check failed: {reason}")


def check_failed(engine: Engine, c: LiveCascade, task: str, reason: str) -> None:
    """Rule 6: the task goes from success to error and its error/always children start."""
    write = engine._transition(c, task, State.ERROR, reason)
    wave = LiveWave(
        WaveRow(
            c.spec.name,
            trigger=Trigger.CHECK,
            triggered_by=task,
            started_tasks=[],
            started_at=engine.clock.now(),
        )
    )
    wave.active += 1  # hold the wave open while children are launched
    engine.spawn(_after_check_failure(engine, c, task, wave, write))


async def _after_check_failure(
    engine: Engine, c: LiveCascade, task: str, wave: LiveWave, write: tuple[TaskRow, State]
) -> None:
    await engine._persist(c, [write])
    wave.row.id = await engine.store.insert_wave(wave.row)
    engine._waves[wave.row.id] = wave
    engine._propagate(c, task, wave)
    wave.row.started_tasks = [a.task for a in engine._active.values() if a.run.wave_id == wave.row.id]
    await engine._wave_step(wave)
