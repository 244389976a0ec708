"""Request and response bodies of the API (v1). The OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------------- errors


class ErrorBody(Model):
    code: str
    message: str
    details: list[Any] = []


class Error(Model):
    error: ErrorBody


# --------------------------------------------------------------------------------- cascades


class Dependency(Model):
    task: str
    kind: Literal["success", "error", "always"]


class TaskState(Model):
    name: str
    state: Literal["not_started", "waiting", "running", "success", "error", "killed"]
    display: Literal[
        "not_started",
        "waiting",
        "running",
        "success",
        "error",
        "killed",
        "blocked",
        "awaiting_approval",
        "skipped",
    ]
    reason: str | None
    run: int = Field(description="number of the latest run (0: never run)")
    disabled: bool
    auto_execute: bool
    image: str | None
    depends_on: list[Dependency]
    has_check: bool
    inputs: list[str] = Field(description="the inputs this task reads")


class InputView(Model):
    name: str
    type: Literal["text", "password"]
    description: str
    value: str | None = Field(description="the current value; always '********' for a set password")
    default: str | None = Field(description="'********' for passwords")
    used_by: list[str]


class CascadeSummary(Model):
    name: str
    description: str
    groups: list[str]
    links: dict[str, str]
    version: int
    applied_at: float
    applied_by: str | None
    tasks: int
    states: dict[str, int] = Field(description="how many tasks are in each display state")
    active: bool = Field(description="a task is waiting or running")


class CascadeDetail(CascadeSummary):
    board: list[TaskState]
    inputs: list[InputView]


class CascadeVersion(Model):
    version: int
    applied_at: float
    applied_by: str | None
    source: str = Field(description="the file as applied; password defaults are masked")


class TaskChange(Model):
    task: str
    fields: list[str]


class TaskReset(Model):
    task: str
    reason: str


class InputChange(Model):
    input: str
    fields: list[str]
    value_reset: bool


class Changes(Model):
    added: list[str]
    removed: list[str]
    changed: list[TaskChange]
    reset: list[TaskReset]
    inputs_added: list[str]
    inputs_removed: list[str]
    inputs_changed: list[InputChange]
    cascade_changed: list[str]
    summary: list[str]


class ApplyResponse(Model):
    cascade: str
    version: int
    created: bool
    changes: Changes


# ------------------------------------------------------------------------------ tasks, starts


class TaskPatch(Model):
    disabled: bool | None = None
    auto_execute: bool | None = None


class StartRequest(Model):
    task: str | None = Field(None, description="start this task; omit to start the whole cascade")
    force: bool = Field(False, description="kill running downstream tasks first")
    dry_run: bool = Field(False, description="only return the preview of what the start would do")


class Overwrite(Model):
    name: str
    task: str


class Preview(Model):
    cascade: str
    task: str | None
    start: list[str]
    reset: list[str]
    overwrites: dict[str, list[Overwrite]]
    will_run: list[str]
    refused: str | None


class Wave(Model):
    id: int
    cascade: str
    trigger: str
    triggered_by: str | None
    started_tasks: list[str]
    started_at: float
    ended_at: float | None


class StartResponse(Model):
    wave: Wave | None = Field(description="the wave the start began (null for a dry run)")
    preview: Preview


# -------------------------------------------------------------------------------------- runs


class DisplayItem(Model):
    model_config = ConfigDict(extra="allow")
    kind: Literal["table", "value", "pre"]
    name: str


class Run(Model):
    cascade: str
    task: str
    number: int
    kind: Literal["task", "check"]
    state: str
    trigger: str
    triggered_by: str | None
    wave: int | None
    attempt: int
    node: str | None
    executor: str | None
    image: str | None
    image_digest: str | None
    queued_at: float | None
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    reason: str | None
    display: list[DisplayItem] | None
    display_error: str | None
    loaded: dict[str, list[str]]
    stored: dict[str, list[str]]
    log_size: int
    log_truncated: bool


class LogRange(Model):
    text: str
    offset: int
    next_offset: int
    truncated: bool = Field(description="the log hit its size cap")
    complete: bool = Field(description="the run has ended: no more text will come")


class WaveDetail(Wave):
    runs: list[Run]
