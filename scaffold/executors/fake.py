"""An executor with scripted results, for tests and engine benchmarks. It runs nothing.

Each task name can be given a :class:`Behavior`; by default a run succeeds at once and stores
``b"fake"`` for every value and file it was asked to store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from scaffold.engine.ports import Clock, LogSink, RunRequest, RunResult


@dataclass
class Behavior:
    exit_code: int = 0
    duration: float = 0.0  # seconds on the executor's clock (a FakeClock in tests)
    hang: bool = False  # run until cancelled
    logs: list[bytes] = field(default_factory=list)
    stored_env: dict[str, bytes] | None = None  # None: b"fake" for every requested name
    stored_files: dict[str, bytes] | None = None
    missing_files: tuple[str, ...] = ()
    display: bytes | None = None
    reason: str | None = None  # an infrastructure failure (exit_code is then None)


class FakeExecutor:
    name = "fake"

    def __init__(self, clock: Clock | None = None, behaviors: dict[str, Behavior] | None = None):
        self.clock = clock
        self.behaviors: dict[str, Behavior] = dict(behaviors or {})
        self.check_behaviors: dict[str, Behavior] = {}
        self.requests: list[RunRequest] = []
        self.adoptable: dict[str, RunResult | None] = {}
        self.running: set[str] = set()
        self._stops: dict[str, asyncio.Future[None]] = {}

    def behave(self, task: str, **kwargs: object) -> None:
        self.behaviors[task] = Behavior(**kwargs)  # type: ignore[arg-type]

    def ran(self, task: str | None = None) -> list[str]:
        """Names of the tasks run so far, in order (or the run ids of one task)."""
        if task is None:
            return [r.task for r in self.requests if r.kind == "task"]
        return [r.run_id for r in self.requests if r.task == task and r.kind == "task"]

    async def check_available(self) -> None:
        return None

    async def run(self, request: RunRequest, sink: LogSink) -> RunResult:
        self.requests.append(request)
        table = self.check_behaviors if request.kind == "check" else self.behaviors
        behavior = table.get(request.task, Behavior())
        sink.started({"node": "fake", "image_digest": "sha256:fake"})
        for chunk in behavior.logs:
            sink.write(chunk)
        if behavior.display is not None:
            sink.display(behavior.display)
        self.running.add(request.run_id)
        stop = asyncio.get_running_loop().create_future()
        self._stops[request.run_id] = stop
        try:
            if behavior.hang or behavior.duration > 0:
                if not behavior.hang and self.clock is not None:
                    self.clock.call_later(behavior.duration, lambda: stop.done() or stop.set_result(None))
                elif not behavior.hang:
                    asyncio.get_running_loop().call_later(
                        behavior.duration, lambda: stop.done() or stop.set_result(None)
                    )
                cancelled = await stop
            else:
                await asyncio.sleep(0)
                cancelled = stop.done() and stop.result()
        finally:
            self.running.discard(request.run_id)
            self._stops.pop(request.run_id, None)
        if cancelled:
            return RunResult(exit_code=143, cancelled=True, node="fake")
        return self._result(request, behavior)

    def _result(self, request: RunRequest, behavior: Behavior) -> RunResult:
        env = behavior.stored_env
        files = behavior.stored_files
        if env is None:
            env = dict.fromkeys(request.store_env, b"fake")
        if files is None:
            files = {n: b"fake" for n in request.store_files if n not in behavior.missing_files}
        return RunResult(
            exit_code=None if behavior.reason else behavior.exit_code,
            reason=behavior.reason,
            stored_env=env,
            stored_files=files,
            missing_files=behavior.missing_files,
            display_raw=behavior.display,
            image_digest="sha256:fake",
            node="fake",
        )

    async def cancel(self, run_id: str, grace: float = 10.0) -> None:
        stop = self._stops.get(run_id)
        if stop is not None and not stop.done():
            stop.set_result(True)  # type: ignore[arg-type]

    async def adopt(self, request: RunRequest, sink: LogSink) -> RunResult | None:
        self.requests.append(request)
        return self.adoptable.get(request.run_id)
