"""The small Protocols through which the engine talks to the outside world.

The engine imports nothing from the store, the executors, the web or the TUI: it is handed objects
that satisfy these Protocols by the composition root (``scaffold.app``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from scaffold.engine.model import CascadeSpec
from scaffold.engine.records import (
    CascadeRecord,
    FileVersion,
    RunKind,
    RunRow,
    TaskRow,
    ValueVersion,
    WaveRow,
)
from scaffold.engine.states import State

# --------------------------------------------------------------------------------------- executors


@dataclass
class RunRequest:
    """Everything an executor needs to run one task (or check) script. Built by the scheduler."""

    run_id: str  # unique, e.g. "application-deploy:deploy_terraform:3"
    cascade: str
    task: str
    number: int
    script: str
    image: str | None = None
    shell: str = "/bin/sh"
    env: dict[str, str] = field(default_factory=dict)  # inputs + literal env + SCAFFOLD_* (strings)
    load_env: dict[str, bytes] = field(default_factory=dict)  # datastore values, any bytes
    files: dict[str, bytes] = field(default_factory=dict)  # placed at /tmp/run/<name>
    store_env: tuple[str, ...] = ()  # shell variables to capture after the script
    store_files: tuple[str, ...] = ()  # files under /tmp/run to collect after success
    secrets: tuple[str, ...] = ()  # values that must never appear in logs or display items
    kind: RunKind = RunKind.TASK
    webhook_body: bytes | None = None  # given to the run as /tmp/run/.scaffold/webhook.json


@dataclass
class RunResult:
    """What came out of a run. ``reason`` is set when the run failed for a reason other than the
    script's exit code (image missing, engine unreachable, store file missing, cancelled...)."""

    exit_code: int | None
    reason: str | None = None
    stored_env: dict[str, bytes] = field(default_factory=dict)
    stored_files: dict[str, bytes] = field(default_factory=dict)
    missing_files: tuple[str, ...] = ()
    display_raw: bytes | None = None  # last content of /tmp/run/.display, if any
    image_digest: str | None = None
    node: str | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.reason is None and not self.missing_files and not self.cancelled


class LogSink(Protocol):
    """Where an executor sends a run's output while it runs."""

    def write(self, data: bytes) -> None:
        """A chunk of interleaved stdout/stderr, in the order it was produced."""

    def display(self, raw: bytes) -> None:
        """The current content of /tmp/run/.display (called whenever it changed)."""

    def started(self, info: dict[str, str]) -> None:
        """The container/process is up; ``info`` may hold "image_digest", "node", "container"."""


class Executor(Protocol):
    """Runs scripts. Never touches the store or task states."""

    name: str

    async def run(self, request: RunRequest, sink: LogSink) -> RunResult:
        """Run to completion (or cancellation) and return the result. Must not raise for a failing
        script; infrastructure failures come back as ``RunResult(exit_code=None, reason=...)``."""

    async def cancel(self, run_id: str, grace: float = 10.0) -> None:
        """Stop a run: SIGTERM, then SIGKILL after ``grace`` seconds. Idempotent."""

    async def adopt(self, request: RunRequest, sink: LogSink) -> RunResult | None:
        """After a restart: reattach to the run if its container/process still exists and return
        its result when it ends (or at once if it already exited); None if nothing is left."""

    async def check_available(self) -> None:
        """Raise ``ExecutorUnavailable`` with what to do if this executor cannot run here."""


# ---------------------------------------------------------------------------------------- clock


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` (a plain function, on the event loop) after ``delay`` seconds."""


# ---------------------------------------------------------------------------------------- store


class Store(Protocol):
    """Persistence for everything the engine keeps. Every write is durable when the call returns."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # cascades and their definition history
    async def save_cascade(self, spec: CascadeSpec, source: str, applied_by: str | None) -> int:
        """Store a new version of the definition; returns the version number (1, 2, ...)."""

    async def get_cascade(self, name: str) -> CascadeRecord | None: ...

    async def list_cascades(self) -> list[CascadeRecord]: ...

    async def cascade_versions(self, name: str) -> list[CascadeRecord]: ...

    async def delete_cascade(self, name: str) -> None:
        """Drop the cascade, its board, runs, logs, waves, values, files and inputs."""

    # the board
    async def load_tasks(self, cascade: str) -> dict[str, TaskRow]: ...

    async def put_tasks(self, rows: Sequence[TaskRow]) -> None:
        """Insert or replace rows unconditionally (used by apply)."""

    async def remove_tasks(self, cascade: str, names: Sequence[str]) -> None:
        """Drop tasks from the board; their runs and logs stay readable."""

    async def update_task(self, row: TaskRow, expected: State) -> bool:
        """Compare-and-swap: write ``row`` only if the stored state is still ``expected``."""

    # runs
    async def insert_run(self, run: RunRow) -> None: ...

    async def update_run(self, run: RunRow) -> None: ...

    async def get_run(
        self, cascade: str, task: str, number: int, kind: RunKind = RunKind.TASK
    ) -> RunRow | None: ...

    async def list_runs(
        self, cascade: str, task: str | None = None, kind: RunKind | None = None, wave_id: int | None = None
    ) -> list[RunRow]:
        """Newest first."""

    async def last_run_number(self, cascade: str, task: str, kind: RunKind = RunKind.TASK) -> int:
        """Highest number ever used (runs of removed tasks included), 0 if none."""

    async def active_runs(self) -> list[RunRow]:
        """Runs still ``waiting`` or ``running`` (what a restarted process must settle)."""

    # logs: appended in chunks, capped per run
    async def append_log(self, run_id: str, data: str) -> None: ...

    async def read_log(self, run_id: str, offset: int = 0, limit: int | None = None) -> tuple[str, int, bool]:
        """Return (text, next_offset, truncated) where offsets count characters."""

    # waves
    async def insert_wave(self, wave: WaveRow) -> int:
        """Assign and return the wave id."""

    async def update_wave(self, wave: WaveRow) -> None: ...

    async def list_waves(self, cascade: str) -> list[WaveRow]:
        """Newest first."""

    # datastore env values
    async def get_values(self, cascade: str, keys: Sequence[str] | None = None) -> dict[str, bytes]:
        """Current values; all of them when ``keys`` is None (missing keys are left out)."""

    async def put_values(self, cascade: str, values: dict[str, bytes], written_by: str | None) -> None:
        """Write each value as a new version (keeping the previous ones)."""

    async def value_versions(self, cascade: str, key: str) -> list[ValueVersion]:
        """Newest first."""

    # datastore files
    async def get_files(self, cascade: str, names: Sequence[str] | None = None) -> dict[str, bytes]: ...

    async def put_files(
        self, cascade: str, files: dict[str, bytes], written_by: str | None, content_type: str | None = None
    ) -> None: ...

    async def put_file_from(
        self,
        cascade: str,
        name: str,
        source: BinaryIO,
        size: int,
        written_by: str | None,
        content_type: str | None = None,
    ) -> None:
        """Write ``size`` bytes read from ``source`` (a file object at offset 0) as a new version of
        one file, without holding the whole content in memory (uploads of large files)."""

    async def read_file_range(self, cascade: str, name: str, version: int, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of one version of a file from ``offset`` (downloads in chunks)."""

    async def list_files(self, cascade: str) -> list[FileVersion]:
        """The current version of every file (without data)."""

    async def delete_file(self, cascade: str, name: str, deleted_by: str | None) -> None: ...

    async def file_versions(self, cascade: str, name: str) -> list[FileVersion]: ...

    # inputs: current values; password values are encrypted at rest by the store
    async def get_inputs(self, cascade: str) -> dict[str, str]: ...

    async def set_inputs(
        self, cascade: str, values: dict[str, str | None], secret: set[str], by: str | None
    ) -> None:
        """Set current values (None removes the value); names in ``secret`` are encrypted."""
