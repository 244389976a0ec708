"""The engine: the waterfall rules of SPEC 3, applied in reaction to events (never by polling).

Every front end calls the commands here (``apply``, ``start``, ``kill``, ``set_inputs``...) and the
queries (``board``, ``preview``). All state changes go through :meth:`Engine._transition`, which
checks the table in ``states.py``; memory is updated synchronously (so concurrent commands see each
other at once) and then written to the store with a compare-and-swap, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from typing import Any

from scaffold.engine import board, graph, states
from scaffold.engine.clock import SystemClock
from scaffold.engine.definitions import ApplyResult
from scaffold.engine.events import EventBus
from scaffold.engine.live import LiveCascade, LiveWave
from scaffold.engine.model import CascadeSpec
from scaffold.engine.ports import Clock, Executor, Store
from scaffold.engine.records import RunRow, TaskRow, Trigger, WaveRow
from scaffold.engine.runner import ActiveRun, execute, next_attempt
from scaffold.engine.slots import Slots
from scaffold.engine.states import State
from scaffold.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("scaffold.engine")


class Engine:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        max_running: int = 8,
        kill_grace: float = 10.0,
    ):
        self.store = store
        self.executor = executor
        self.clock: Clock = clock or SystemClock()
        self.bus = bus or EventBus()
        self.slots = Slots(max_running)
        self.kill_grace = kill_grace
        self.cascades: dict[str, LiveCascade] = {}
        self._active: dict[tuple[str, str], ActiveRun] = {}
        self._waves: dict[int, LiveWave] = {}
        self._checks: dict[tuple[str, str], Any] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._closing = False

    # ------------------------------------------------------------------------------ lifecycle

    async def open(self, *, recover: bool = True) -> None:
        """Load every stored cascade; then settle what a previous process left active (rule 9)."""
        from scaffold.engine.spec import parse_cascade

        for record in await self.store.list_cascades():
            try:
                spec = parse_cascade(record.source, source=record.name, require_image=False)
            except ValidationFailed as exc:  # stored by an older version with other rules
                log.error(
                    "cascade %s (version %s) no longer validates and is not loaded: %s",
                    record.name,
                    record.version,
                    exc.message,
                )
                continue
            rows = await self.store.load_tasks(spec.name)
            inputs = await self.store.get_inputs(spec.name)
            self.cascades[spec.name] = LiveCascade(spec, rows, inputs, record)
        if recover:
            from scaffold.engine.recovery import recover_active

            await recover_active(self)
        for c in self.cascades.values():
            for name, row in c.rows.items():
                if row.state is State.SUCCESS and c.spec.task(name).check is not None:
                    self._schedule_check(c, name)

    async def close(self, *, kill_running: bool = False) -> None:
        """Stop the engine. Without ``kill_running`` containers keep running for the next start to
        adopt; with it, every active task is killed first (``scaffold run`` on Ctrl-C)."""
        self._closing = True  # from here on nothing new starts: no propagation, retries or checks
        if kill_running:
            await asyncio.gather(
                *(self.kill(a.cascade, a.task, by="shutdown") for a in list(self._active.values())),
                return_exceptions=True,
            )
        for timer in self._checks.values():
            timer.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished_background)
        return task

    def _finished_background(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task failed", exc_info=task.exception())

    # -------------------------------------------------------------------------------- queries

    def cascade(self, name: str) -> LiveCascade:
        c = self.cascades.get(name)
        if c is None:
            raise NotFound(f"cascade '{name}' does not exist")
        return c

    def _task(self, c: LiveCascade, name: str) -> None:
        if not c.spec.has_task(name):
            raise NotFound(f"cascade '{c.spec.name}' has no task '{name}'")

    def board(self, cascade: str) -> list[board.TaskView]:
        c = self.cascade(cascade)
        return board.views(c.spec, c.rows)

    def is_active(self, cascade: str) -> bool:
        return any(key[0] == cascade for key in self._active)

    def active_run(self, cascade: str, task: str) -> RunRow | None:
        """A copy of the run the engine is carrying out for ``task`` (waiting or running), with
        its live display items; None when the task has no run in progress."""
        act = self._active.get((cascade, task))
        return replace(act.run) if act is not None else None

    def wave(self, wave_id: int) -> WaveRow | None:
        live = self._waves.get(wave_id)
        return live.row if live else None

    async def wait_wave(self, wave_id: int) -> WaveRow:
        live = self._waves[wave_id]
        await live.done.wait()
        return live.row

    async def wait_idle(self) -> None:
        """Until nothing is waiting or running (checks keep their timers)."""
        while self._active:
            await asyncio.gather(*(a.done.wait() for a in list(self._active.values())))

    # ----------------------------------------------------------------------------- transitions

    def _transition(
        self, c: LiveCascade, name: str, new: State, reason: str | None, **extra: Any
    ) -> tuple[TaskRow, State]:
        row = c.rows[name]
        old = row.state
        states.check(old, new)
        row.state, row.reason, row.updated_at = new, reason, self.clock.now()
        c.state_changed(name, old, new)
        for key, value in extra.items():
            setattr(row, key, value)
        self.bus.publish(
            "task", c.spec.name, task=name, state=new.value, old=old.value, run=row.run_number, reason=reason
        )
        return replace(row), old

    async def _persist(self, c: LiveCascade, writes: list[tuple[TaskRow, State]]) -> None:
        for row, expected in writes:
            if not await self.store.update_task(row, expected):
                raise Conflict(
                    f"task '{row.name}' of '{c.spec.name}' was changed by another process; "
                    "is a second scaffold using this data directory?"
                )

    def _reset(self, c: LiveCascade, names: Iterable[str], reason: str) -> list[tuple[TaskRow, State]]:
        writes = []
        for name in names:
            row = c.rows[name]
            if row.state is not State.NOT_STARTED:
                writes.append(self._transition(c, name, State.NOT_STARTED, reason))
                self._cancel_check(c.spec.name, name)
        return writes

    # ---------------------------------------------------------------------------------- apply

    async def apply(self, spec: CascadeSpec, source: str, by: str | None = None) -> ApplyResult:
        """Store a new version of a cascade and update its board in place (SPEC 1, re-apply)."""
        from scaffold.engine.definitions import apply_cascade

        return await apply_cascade(self, spec, source, by)

    async def delete(self, cascade: str, by: str | None = None) -> None:
        c = self.cascade(cascade)
        if self.is_active(cascade):
            busy = next(k[1] for k in self._active if k[0] == cascade)
            raise Conflict(f"task '{busy}' of '{cascade}' is active; kill it before deleting the cascade")
        for name in c.rows:
            self._cancel_check(cascade, name)
        del self.cascades[cascade]
        await self.store.delete_cascade(cascade)
        self.bus.publish("cascade", cascade, action="deleted", by=by, groups=list(c.spec.groups))

    # ---------------------------------------------------------------------------------- start

    def _start_targets(self, c: LiveCascade, task: str | None) -> list[str]:
        if task is not None:
            self._task(c, task)
            return [task]
        return [n for n in graph.roots(c.spec) if not c.rows[n].disabled and c.rows[n].auto_execute]

    def _refusal(self, c: LiveCascade, targets: list[str], reset: list[str], force: bool) -> str | None:
        """Rule 1's refusals; ``reset`` is what the start would reset (the descendants, or for a
        whole-cascade start every other task)."""
        for name in targets:
            row = c.rows[name]
            if row.state.active:
                return f"task '{name}' is {row.state.value}; wait for it to finish or kill it first"
            if row.disabled:
                return f"task '{name}' is disabled; enable it before starting it"
        for name in c.ancestors(targets):
            if c.rows[name].state.active:
                state = c.rows[name].state.value
                return f"'{name}' (upstream of {', '.join(targets)}) is {state}; wait for it to finish"
        if not force:
            downstream = set(c.descendants(targets))
            for name in reset:
                if c.rows[name].state.active:
                    where = (
                        f"downstream of {', '.join(targets)}" if name in downstream else "reset by this start"
                    )
                    return (
                        f"'{name}' ({where}) is {c.rows[name].state.value}; "
                        "wait for it, kill it, or start with force"
                    )
        return None

    def preview(self, cascade: str, task: str | None = None, *, force: bool = False) -> board.StartPreview:
        c = self.cascade(cascade)
        targets = self._start_targets(c, task)
        reset = (
            [n for n in c.spec.task_names if n not in targets]
            if task is None
            else [n for n in c.spec.task_names if n in set(c.descendants(targets))]
        )
        refused = self._refusal(c, targets, reset, force)
        if task is None and not targets:
            refused = "nothing to start: every root task is disabled or waits for approval"
        affected = [*targets, *reset]
        return board.StartPreview(
            cascade=cascade,
            task=task,
            start=targets,
            reset=reset,
            overwrites=board.overwrites(c.spec, affected),
            will_run=board.simulate_runs(c.spec, c.rows, targets, set(reset)),
            refused=refused,
        )

    async def start(
        self,
        cascade: str,
        task: str | None = None,
        *,
        force: bool = False,
        trigger: Trigger = Trigger.USER,
        by: str | None = None,
        webhook_body: bytes | None = None,
    ) -> WaveRow:
        """Rule 1: reset every descendant, then start the task (or every root of the cascade)."""
        c = self.cascade(cascade)
        plan = self.preview(cascade, task, force=force)
        if plan.refused:
            raise Conflict(plan.refused)
        if force:
            await self._kill_all([n for n in plan.reset if c.rows[n].state.active], by)
            plan = self.preview(cascade, task)
            if plan.refused:
                raise Conflict(plan.refused)
        wave = LiveWave(
            WaveRow(
                cascade,
                trigger=trigger,
                triggered_by=by,
                started_tasks=list(plan.start),
                started_at=self.clock.now(),
            )
        )
        reason = f"reset: {task} was started" if task else "reset: the cascade was started"
        writes = self._reset(c, plan.reset, reason)
        acts = [self._launch(c, name, wave, trigger, by, webhook_body) for name in plan.start]
        wave.row.id = await self.store.insert_wave(wave.row)
        self._waves[wave.row.id] = wave
        for act in acts:
            act.run.wave_id = wave.row.id
        self.bus.publish("wave", cascade, wave=wave.row.id, state="started", tasks=plan.start, by=by)
        await self._persist(c, writes)
        for act in acts:
            self.spawn(self._drive(c, act, wave, persist_start=True))
        return wave.row

    def _launch(
        self,
        c: LiveCascade,
        name: str,
        wave: LiveWave,
        trigger: Trigger,
        by: str | None,
        webhook_body: bytes | None = None,
    ) -> ActiveRun:
        """Synchronously put a task in ``waiting`` with a new run; its coroutine persists it."""
        row = c.rows[name]
        run = RunRow(
            c.spec.name,
            name,
            row.run_number + 1,
            trigger=trigger,
            triggered_by=by,
            wave_id=wave.row.id or None,
            image=c.spec.task(name).image,
            queued_at=self.clock.now(),
        )
        self._cancel_check(c.spec.name, name)
        act = ActiveRun(c.spec.name, name, run, webhook_body=webhook_body)
        stale = [n for n in c.touched_descendants(name) if not c.rows[n].state.active]
        act.pending = self._reset(c, stale, f"reset: {name} was started")
        act.pending.append(self._transition(c, name, State.WAITING, None, run_number=run.number))
        self._active[(c.spec.name, name)] = act
        wave.active += 1
        return act

    # ----------------------------------------------------------------------------------- runs

    async def mark_running(self, c: LiveCascade, act: ActiveRun) -> None:
        act.run.state = State.RUNNING
        write = self._transition(c, act.task, State.RUNNING, None)
        self.bus.publish("run", c.spec.name, task=act.task, run=act.run.number, state="running")
        await asyncio.gather(self._persist(c, [write]), self.store.update_run(replace(act.run)))

    async def time_out(self, act: ActiveRun) -> None:
        if act.phase == "running" and not act.kill_requested:
            act.timed_out = True
            await self.executor.cancel(act.run.run_id, self.kill_grace)

    async def _drive(self, c: LiveCascade, act: ActiveRun, wave: LiveWave, *, persist_start: bool) -> None:
        """Carry one active task through its attempts, then propagate (rules 3, 7)."""
        task = c.spec.task(act.task)
        try:
            if persist_start:
                await asyncio.gather(self._persist(c, act.pending), self.store.insert_run(replace(act.run)))
            while True:
                try:
                    state, reason, _ = await execute(self, c, act)
                except Exception as exc:  # a bug or an executor fault must not leave the task running
                    log.exception("run %s failed inside scaffold", act.run.run_id)
                    state, reason = State.ERROR, f"internal error: {exc.__class__.__name__}: {exc}"
                    if c.rows[act.task].state is State.WAITING:
                        await self.mark_running(c, act)
                run = act.run
                run.state, run.reason, run.ended_at = state, reason, self.clock.now()
                retry = state is State.ERROR and run.attempt <= task.retries.count and not self._closing
                self.bus.publish(
                    "run",
                    c.spec.name,
                    task=act.task,
                    run=run.number,
                    state=state.value,
                    reason=reason,
                    exit_code=run.exit_code,
                )
                if not retry:
                    write = self._transition(c, act.task, state, reason)
                    if not self._closing:  # children start in the same step: no moment with nothing active
                        self._propagate(c, act.task, wave)
                    await asyncio.gather(self.store.update_run(replace(run)), self._persist(c, [write]))
                    break
                await self._retry(c, act, task.retries.delay, reason)
                if act.kill_requested:
                    act.run.state = State.KILLED
                    write = self._transition(c, act.task, State.KILLED, f"killed by {act.killed_by}")
                    await asyncio.gather(self.store.update_run(replace(act.run)), self._persist(c, [write]))
                    break
        finally:
            self._active.pop((c.spec.name, act.task), None)
            act.done.set()
        if not self._closing and c.rows[act.task].state is State.SUCCESS and task.check is not None:
            self._schedule_check(c, act.task)
        await self._wave_step(wave)

    async def _retry(self, c: LiveCascade, act: ActiveRun, delay: float, reason: str | None) -> None:
        failed = act.run
        act.run = next_attempt(failed, self.clock.now())
        count = c.spec.task(act.task).retries.count
        note = f"attempt {failed.attempt} failed ({reason}); retry {failed.attempt}/{count}"
        write = self._transition(c, act.task, State.WAITING, note, run_number=act.run.number)
        await asyncio.gather(
            self.store.update_run(replace(failed)),
            self.store.insert_run(replace(act.run)),
            self._persist(c, [write]),
        )
        act.phase = "retry_wait"
        act.wake.clear()
        timer = self.clock.call_later(delay, act.wake.set)
        await act.wake.wait()
        timer.cancel()
        act.phase = "queued"

    def _propagate(self, c: LiveCascade, name: str, wave: LiveWave) -> None:
        if c.rows[name].state not in (State.SUCCESS, State.ERROR) or self.cascades.get(c.spec.name) is not c:
            return
        for child in c.children[name]:
            if board.ready_to_start(c.spec.task(child), c.rows):
                act = self._launch(c, child, wave, Trigger.PARENT, name)
                act.run.wave_id = wave.row.id
                self.spawn(self._drive(c, act, wave, persist_start=True))

    async def _wave_step(self, wave: LiveWave) -> None:
        wave.active -= 1
        if wave.active == 0 and not wave.done.is_set():
            wave.row.ended_at = self.clock.now()
            wave.done.set()
            self.bus.publish("wave", wave.row.cascade, wave=wave.row.id, state="ended")
            await self.store.update_wave(replace(wave.row))

    # ----------------------------------------------------------------------------------- kill

    async def kill(self, cascade: str, task: str, by: str | None = None) -> None:
        """Rule 8: stop a waiting or running task; it ends in ``killed``; children stay put."""
        c = self.cascade(cascade)
        self._task(c, task)
        act = self._active.get((cascade, task))
        if act is None:
            raise Conflict(
                f"task '{task}' is {c.rows[task].state.value}, not waiting or running; nothing to kill"
            )
        if not act.kill_requested:
            act.kill_requested, act.killed_by = True, by
            if act.phase == "running":
                await self.executor.cancel(act.run.run_id, self.kill_grace)
            elif act.phase == "retry_wait":
                act.wake.set()
            elif act.slot is not None:
                self.slots.withdraw(act.slot)
        await act.done.wait()

    async def _kill_all(self, names: list[str], by: str | None) -> None:
        cascade_names = {(a.cascade, a.task) for a in self._active.values() if a.task in names}
        await asyncio.gather(*(self.kill(c, t, by) for c, t in cascade_names))

    # ---------------------------------------------------------------------------- task flags

    async def set_task_flags(
        self, cascade: str, task: str, *, disabled: bool | None = None, auto_execute: bool | None = None
    ) -> board.TaskView:
        c = self.cascade(cascade)
        self._task(c, task)
        row = c.rows[task]
        if disabled is not None:
            row.disabled = disabled
        if auto_execute is not None:
            row.auto_execute = auto_execute
        await self.store.put_tasks([replace(row)])
        self.bus.publish(
            "task",
            cascade,
            task=task,
            state=row.state.value,
            disabled=row.disabled,
            auto_execute=row.auto_execute,
        )
        return next(v for v in self.board(cascade) if v.name == task)

    # --------------------------------------------------------------------------------- inputs

    async def set_inputs(self, cascade: str, values: dict[str, str], by: str | None = None) -> list[str]:
        """Rule 5: changed inputs reset every task that maps them and all their descendants.
        Returns the tasks that were reset."""
        from scaffold.engine.definitions import set_inputs

        return await set_inputs(self, cascade, values, by)

    # --------------------------------------------------------------------------------- checks

    def _cancel_check(self, cascade: str, task: str) -> None:
        timer = self._checks.pop((cascade, task), None)
        if timer is not None:
            timer.cancel()

    def _schedule_check(self, c: LiveCascade, task: str) -> None:
        from scaffold.engine.checks import run_check

        check = c.spec.task(task).check
        if check is None or self._closing:
            return
        self._cancel_check(c.spec.name, task)
        self._checks[(c.spec.name, task)] = self.clock.call_later(
            check.interval, lambda: self.spawn(run_check(self, c, task))
        )


__all__ = ["ApplyResult", "Engine", "LiveCascade", "LiveWave"]
