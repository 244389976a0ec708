"""Rule 9: after a restart nothing stays ``waiting``/``running`` without something behind it.

A run whose container still runs is adopted, one whose container exited is finished from its exit
code (both by ``Executor.adopt``), one with nothing behind it ends in ``error`` ("lost"). Runs that
were only queued are queued again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from scaffold.engine.records import RunKind, WaveRow
from scaffold.engine.runner import ActiveRun
from scaffold.engine.states import State

if TYPE_CHECKING:
    from scaffold.engine.live import LiveWave
    from scaffold.engine.scheduler import Engine

LOST = "lost: the server restarted and the container is gone"


async def _open_waves(engine: Engine) -> dict[int, LiveWave]:
    from scaffold.engine.live import LiveWave

    waves: dict[int, LiveWave] = {}
    for name in engine.cascades:
        for row in await engine.store.list_waves(name):
            if row.ended_at is None:
                waves[row.id] = LiveWave(row)
    return waves


async def recover_active(engine: Engine) -> None:
    from scaffold.engine.live import LiveWave

    waves = await _open_waves(engine)
    for run in await engine.store.active_runs():
        c = engine.cascades.get(run.cascade)
        current = c is not None and c.spec.has_task(run.task) and c.rows[run.task].run_number == run.number
        if run.kind is RunKind.CHECK or not current or c is None:
            run.state, run.ended_at = State.ERROR, engine.clock.now()
            run.reason = "lost: the server restarted during this check" if run.kind is RunKind.CHECK else LOST
            await engine.store.update_run(replace(run))
            continue
        row = c.rows[run.task]
        writes = []
        if run.state is State.RUNNING and row.state is State.WAITING:
            writes.append(engine._transition(c, run.task, State.RUNNING, None))
        elif not row.state.active:
            writes.append(engine._transition(c, run.task, State.WAITING, None))
        await engine._persist(c, writes)
        wave = waves.get(run.wave_id or -1)
        if wave is None:
            wave = LiveWave(WaveRow(run.cascade, id=run.wave_id or 0, started_at=engine.clock.now()))
            if run.wave_id is None:
                wave.row.id = await engine.store.insert_wave(wave.row)
                run.wave_id = wave.row.id
            waves[wave.row.id] = wave
        engine._waves[wave.row.id] = wave
        act = ActiveRun(run.cascade, run.task, run, adopt=run.state is State.RUNNING)
        engine._active[(run.cascade, run.task)] = act
        wave.active += 1
    for c in engine.cascades.values():
        for name, row in c.rows.items():
            if row.state.active and (c.spec.name, name) not in engine._active:
                await engine._persist(c, [engine._transition(c, name, State.ERROR, LOST)])
    for (cascade, _task), act in list(engine._active.items()):
        wave = engine._waves[act.run.wave_id or 0]
        engine.spawn(engine._drive(engine.cascades[cascade], act, wave, persist_start=False))
    for wave in waves.values():
        if wave.active == 0:
            wave.row.ended_at = engine.clock.now()
            await engine.store.update_wave(replace(wave.row))
