"""Rules shared by every store: copying rows, the per-run log cap, content-type defaults, token touches.

Kept here so :class:`~scaffold.store.memory.MemoryStore` (the reference) and
:class:`~scaffold.store.sqlite.SqliteStore` cannot disagree on them.
"""

from __future__ import annotations

import copy
import dataclasses

from scaffold.engine.records import RunRow, TaskRow, WaveRow

DEFAULT_LOG_CAP_CHARS = 5_000_000
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# ``touch_token`` records a use only when the recorded one is older than this (seconds): a token used
# on every request then costs one write a minute, not one per request.
TOKEN_TOUCH_INTERVAL = 60.0


def truncation_marker(cap: int) -> str:
    return f"[scaffold: log truncated at {cap} characters]\n"


def cap_chunk(data: str, size: int, cap: int, ends_with_newline: bool) -> tuple[str, bool]:
    """What to append to a log of ``size`` characters so it never grows past ``cap`` (plus the
    marker). Returns (text to append, truncated now). ``ends_with_newline`` describes the stored log.
    """
    room = cap - size
    if len(data) <= room:
        return data, False
    kept = data[: max(room, 0)]
    last_newline = kept.endswith("\n") if kept else (ends_with_newline or size == 0)
    return kept + ("" if last_newline else "\n") + truncation_marker(cap), True


def copy_task(row: TaskRow) -> TaskRow:
    return dataclasses.replace(row)


def copy_run(run: RunRow) -> RunRow:
    return dataclasses.replace(
        run,
        display=copy.deepcopy(run.display) if run.display is not None else None,
        loaded={k: list(v) for k, v in run.loaded.items()},
        stored={k: list(v) for k, v in run.stored.items()},
    )


def copy_wave(wave: WaveRow) -> WaveRow:
    return dataclasses.replace(wave, started_tasks=list(wave.started_tasks))
