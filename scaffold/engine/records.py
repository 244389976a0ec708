"""Plain records the engine keeps and the store persists: tasks on the board, runs, waves."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from scaffold.engine.states import State


class Trigger(StrEnum):
    """Who or what started a run (SPEC 4)."""

    USER = "user"
    PARENT = "parent"
    WEBHOOK = "webhook"
    CHECK = "check"
    RETRY = "retry"


class RunKind(StrEnum):
    TASK = "task"
    CHECK = "check"


@dataclass
class TaskRow:
    """A task on a cascade's board: its current state is the state of its latest run."""

    cascade: str
    name: str
    state: State = State.NOT_STARTED
    run_number: int = 0  # number of the latest run (0 = never run)
    reason: str | None = None  # why it is in this state (error reason, reset cause...)
    disabled: bool = False
    auto_execute: bool = True
    updated_at: float = 0.0


@dataclass
class RunRow:
    """One run of a task (or of its check). ``run_id`` is unique across the data directory."""

    cascade: str
    task: str
    number: int
    kind: RunKind = RunKind.TASK
    state: State = State.WAITING
    trigger: Trigger = Trigger.USER
    triggered_by: str | None = None  # user name, parent task, webhook id...
    wave_id: int | None = None
    attempt: int = 1  # 1 + the retries used so far
    node: str | None = None
    image: str | None = None
    image_digest: str | None = None
    queued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    display: list[dict[str, Any]] | None = None
    display_error: str | None = None
    loaded: dict[str, list[str]] = field(default_factory=dict)  # {"env": [...], "file": [...]}
    stored: dict[str, list[str]] = field(default_factory=dict)
    executor: str | None = None
    log_size: int = 0
    log_truncated: bool = False

    @property
    def run_id(self) -> str:
        """``cascade:task:3`` (``cascade:task:check-3`` for a check). ':' is in no name, so two
        runs never share an id (names may contain '.', '-' and '_')."""
        number = str(self.number) if self.kind is RunKind.TASK else f"check-{self.number}"
        return f"{self.cascade}:{self.task}:{number}"


@dataclass
class WaveRow:
    """Everything one start set in motion (SPEC 8)."""

    cascade: str
    id: int = 0  # assigned by the store, unique across the data directory
    trigger: Trigger = Trigger.USER
    triggered_by: str | None = None
    started_tasks: list[str] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float | None = None


@dataclass
class CascadeRecord:
    name: str
    version: int  # how many times it was applied
    source: str  # the YAML (or JSON) text as applied
    applied_at: float = 0.0
    applied_by: str | None = None


@dataclass
class ValueVersion:
    key: str
    version: int
    value: bytes
    written_at: float
    written_by: str | None  # a user name or a run id like "run:cascade.task.3"


@dataclass
class FileVersion:
    name: str
    version: int
    size: int
    written_at: float
    written_by: str | None
    content_type: str = "application/octet-stream"
    data: bytes | None = None  # filled only when asked for
