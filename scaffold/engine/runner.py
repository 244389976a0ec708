"""The life of one active task: queue for a slot, build the request, run it, settle the result.

One :class:`ActiveRun` exists per task that is ``waiting`` or ``running``; its coroutine carries the
task through retries until it settles in ``success``, ``error`` or ``killed``. The engine then
propagates (rule 3) from the same coroutine, so a child starts as soon as its parent's result is
recorded.
"""

from __future__ import annotations

import asyncio
import codecs
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scaffold.engine.display import DisplayError, parse_display
from scaffold.engine.masking import Masker
from scaffold.engine.model import TaskSpec
from scaffold.engine.ports import RunRequest, RunResult, TimerHandle
from scaffold.engine.records import RunKind, RunRow
from scaffold.engine.slots import Withdrawn
from scaffold.engine.states import State

if TYPE_CHECKING:
    from scaffold.engine.live import LiveCascade
    from scaffold.engine.scheduler import Engine


class LoadFailed(Exception):
    pass


@dataclass
class ActiveRun:
    cascade: str
    task: str
    run: RunRow
    kill_requested: bool = False
    killed_by: str | None = None
    timed_out: bool = False
    phase: str = "queued"  # queued | running | retry_wait | settling
    slot: asyncio.Future[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    timer: TimerHandle | None = None
    adopt: bool = False  # the first attempt re-attaches to a run of a previous process
    webhook_body: bytes | None = None
    pending: list[tuple[Any, State]] = field(default_factory=list)  # task writes not yet persisted


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class RunSink:
    """Receives a run's output from the executor: decodes, masks, stores and publishes it."""

    def __init__(self, engine: Engine, run: RunRow, masker: Masker):
        self._engine = engine
        self._run = run
        self._masker = masker
        self._stream = masker.stream()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending: list[str] = []
        self._flusher: asyncio.Task[None] | None = None

    def write(self, data: bytes) -> None:
        self._emit(self._stream.feed(self._decoder.decode(data)))

    def display(self, raw: bytes) -> None:
        try:
            self._run.display = self._masker.mask_json(parse_display(raw))
            self._run.display_error = None
        except DisplayError as exc:
            self._run.display_error = f"invalid .display: {exc}"
        self._engine.bus.publish(
            "display",
            self._run.cascade,
            task=self._run.task,
            run=self._run.number,
            items=self._run.display,
            error=self._run.display_error,
        )

    def started(self, info: dict[str, str]) -> None:
        self._run.image_digest = info.get("image_digest") or self._run.image_digest
        self._run.node = info.get("node") or self._run.node

    def _emit(self, text: str) -> None:
        if not text:
            return
        self._engine.bus.publish(
            "log",
            self._run.cascade,
            task=self._run.task,
            run=self._run.number,
            run_kind=self._run.kind.value,
            text=text,
        )
        self._pending.append(text)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            await self._engine.store.append_log(self._run.run_id, text)

    async def close(self) -> None:
        self._emit(self._stream.feed(self._decoder.decode(b"", final=True)))
        self._emit(self._stream.flush())
        if self._flusher is not None:
            await self._flusher
        await self._flush()


# ----------------------------------------------------------------------------- building a request


async def build_request(engine: Engine, c: LiveCascade, run: RunRow, act: ActiveRun | None) -> RunRequest:
    """Gather inputs, datastore values and files for one run (rule: later sources win)."""
    task = c.spec.task(run.task)
    check = task.check if run.kind is RunKind.CHECK else None
    input_refs = check.inputs if check else task.inputs
    literal_env = check.env if check else task.env
    load = check.load if check else task.load
    merged: dict[str, str | bytes] = {}
    for env_name, input_name in input_refs:
        value = c.inputs.get(input_name)
        if value is None:
            raise LoadFailed(f"input '{input_name}' has no value: set it before starting")
        merged[env_name] = value
    values = await engine.store.get_values(c.spec.name, list(load.env)) if load.env else {}
    for key in load.env:
        if key not in values:
            raise LoadFailed(
                f"load failed: env value '{key}' is not in the datastore (no task stored it yet)"
            )
        merged[key] = values[key]
    merged.update(dict(literal_env))
    merged.update(SCAFFOLD_CASCADE=c.spec.name, SCAFFOLD_TASK=task.name, SCAFFOLD_RUN=str(run.number))
    files = await engine.store.get_files(c.spec.name, list(load.file)) if load.file else {}
    missing = [name for name in load.file if name not in files]
    if missing:
        raise LoadFailed(f"load failed: file '{missing[0]}' is not in the datastore (no task stored it yet)")
    run.loaded = {"env": list(load.env), "file": list(load.file)}
    return RunRequest(
        run_id=run.run_id,
        cascade=c.spec.name,
        task=task.name,
        number=run.number,
        script=check.run if check else task.run,
        image=(check.image if check and check.image else task.image),
        shell=task.shell,
        env={k: v for k, v in merged.items() if isinstance(v, str)},
        load_env={k: v for k, v in merged.items() if isinstance(v, bytes)},
        files=files,
        store_env=() if check else task.store.env,
        store_files=() if check else task.store.file,
        secrets=tuple(c.secrets()),
        kind=run.kind,
        webhook_body=act.webhook_body if act else None,
    )


# ------------------------------------------------------------------------------ settling a result


def verdict(task: TaskSpec, act: ActiveRun | None, result: RunResult) -> tuple[State, str | None]:
    """Map an executor result to the run's final state and reason (before storing outputs)."""
    if act is not None and act.kill_requested:
        return State.KILLED, f"killed by {act.killed_by}" if act.killed_by else "killed"
    if act is not None and act.timed_out and task.timeout is not None:
        return State.ERROR, f"timed out after {format_duration(task.timeout)}"
    if result.reason:
        return State.ERROR, result.reason
    if result.cancelled:
        return State.ERROR, "cancelled"
    if result.exit_code != 0:
        return State.ERROR, f"exit code {result.exit_code}"
    if result.missing_files:
        return State.ERROR, f"store failed: file '{result.missing_files[0]}' was not written to /tmp/run"
    unset = [key for key in task.store.env if key not in result.stored_env]
    if unset:
        return State.ERROR, f"store failed: variable '{unset[0]}' was not set by the script"
    return State.SUCCESS, None


async def store_outputs(engine: Engine, c: LiveCascade, run: RunRow, result: RunResult) -> None:
    task = c.spec.task(run.task)
    writer = f"run:{run.run_id}"
    env = {k: result.stored_env[k] for k in task.store.env}
    files = {k: result.stored_files[k] for k in task.store.file}
    if env:
        await engine.store.put_values(c.spec.name, env, writer)
    if files:
        await engine.store.put_files(c.spec.name, files, writer)
    run.stored = {"env": list(env), "file": list(files)}


async def execute(
    engine: Engine, c: LiveCascade, act: ActiveRun
) -> tuple[State, str | None, RunResult | None]:
    """One attempt of an active run: slot, request, executor, verdict. Returns the final state."""
    run = act.run
    task = c.spec.task(run.task)
    killed = f"killed by {act.killed_by}" if act.killed_by else "killed"
    if act.kill_requested:
        return State.KILLED, killed, None
    if not act.adopt:
        act.slot = engine.slots.acquire()
        try:
            await act.slot
        except Withdrawn:
            return State.KILLED, killed, None
    sink = RunSink(engine, run, Masker(c.secrets()))
    try:
        try:
            request = await build_request(engine, c, run, act)
        except LoadFailed as exc:
            return State.ERROR, str(exc), None
        if act.kill_requested:
            return State.KILLED, killed, None
        act.phase = "running"
        run.image = request.image
        run.executor = engine.executor.name
        if not act.adopt:
            run.started_at = engine.clock.now()
            await engine.mark_running(c, act)
        if task.timeout is not None:
            act.timer = engine.clock.call_later(
                task.timeout - (engine.clock.now() - (run.started_at or engine.clock.now())),
                lambda: engine.spawn(engine.time_out(act)),
            )
        result: RunResult | None
        if act.adopt:
            act.adopt = False
            result = await engine.executor.adopt(request, sink)
            if result is None:
                return State.ERROR, "lost: the server restarted and the container is gone", None
        else:
            result = await engine.executor.run(request, sink)
    finally:
        if act.timer is not None:
            act.timer.cancel()
            act.timer = None
        if act.slot is not None:
            engine.slots.withdraw(act.slot)
            act.slot = None
        act.phase = "settling"
        await sink.close()
    run.exit_code = result.exit_code
    run.node = result.node or run.node
    run.image_digest = result.image_digest or run.image_digest
    if result.display_raw is not None:
        sink.display(result.display_raw)
    state, reason = verdict(task, act, result)
    if state is State.SUCCESS:
        try:
            await store_outputs(engine, c, run, result)
        except Exception as exc:  # the datastore refused: the run did not store everything
            state, reason = State.ERROR, f"store failed: {exc}"
    return state, reason, result


def next_attempt(run: RunRow, now: float) -> RunRow:
    from scaffold.engine.records import Trigger

    return replace(
        run,
        number=run.number + 1,
        state=State.WAITING,
        trigger=Trigger.RETRY,
        triggered_by=f"run {run.number}",
        attempt=run.attempt + 1,
        queued_at=now,
        started_at=None,
        ended_at=None,
        exit_code=None,
        reason=None,
        display=None,
        display_error=None,
        loaded={},
        stored={},
        node=None,
        image_digest=None,
    )
