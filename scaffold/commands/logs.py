"""``scaffold logs CASCADE TASK [--run N] [-f]``: print a run's (masked) log; follow it live.

The log is read by ranges (``.../logs?offset=``), so nothing is printed twice or skipped. With
``-f``, the server's event stream for the run says when there is more: each event (a log chunk,
the end of the run) leads to reading the next range, until the log is complete.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import Any

import click

from scaffold.commands.client import EXIT_NOT_FOUND, Api, CliError, client_command, open_api, seg

ENDED = {"success", "error", "killed"}
SOON = 0.3  # seconds before reading again when an event came but its text was not stored yet


@click.command("logs")
@click.argument("cascade")
@click.argument("task")
@click.option("--run", "-r", "number", type=int, metavar="N", help="The run [default: the latest].")
@click.option("--check", is_flag=True, help="The task's check runs instead of its task runs.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run has ended.")
@client_command
def command(cascade: str, task: str, number: int | None, check: bool, follow: bool) -> None:
    """Print the log of TASK's latest run (or run N) in CASCADE, as stored: password values
    appear as ********. With -f, keep printing as the run writes, until it ends."""
    kind = "check" if check else "task"
    with open_api() as api:
        base = f"/cascades/{seg(cascade)}/tasks/{seg(task)}/runs"
        if number is None:
            number = _latest(api, base, kind, cascade, task)
        path = f"{base}/{number}/logs"
        offset, complete = _read(api, path, kind, 0)
        if follow and not complete:
            run_id = f"{cascade}:{task}:{'check-' if check else ''}{number}"
            _follow(api, cascade, run_id, path, kind, offset)


def _latest(api: Api, base: str, kind: str, cascade: str, task: str) -> int:
    runs = api.get(base, params={"kind": kind})
    if not runs:
        raise CliError(f"task '{task}' of '{cascade}' has no {kind} runs yet", EXIT_NOT_FOUND)
    return int(runs[0]["number"])


def _read(api: Api, path: str, kind: str, offset: int) -> tuple[int, bool]:
    """Print from ``offset`` to what is stored now; the new offset and whether the log is complete."""
    while True:
        page = api.get(path, params={"offset": offset, "kind": kind})
        if page["text"]:
            sys.stdout.write(page["text"])
            sys.stdout.flush()
        if page["complete"] or page["next_offset"] == offset:
            return page["next_offset"], page["complete"]
        offset = page["next_offset"]


def _follow(api: Api, cascade: str, run_id: str, path: str, kind: str, offset: int) -> None:
    from scaffold.commands.events import EventStream

    stream_api = Api(api.conn)  # the reader thread has its own connection
    stream = EventStream(stream_api, cascade, {run_id}).open()
    events: queue.Queue[Any] = queue.Queue()

    def reader() -> None:
        try:
            for event in stream:
                events.put(event)
        except BaseException as exc:  # handed to the main thread (or dropped at exit)
            events.put(exc)

    threading.Thread(target=reader, name="scaffold-events", daemon=True).start()
    try:
        offset, complete = _read(api, path, kind, offset)  # what came before the stream opened
        ended = lagging = False
        while not complete:
            try:
                item = events.get(timeout=SOON if (ended or lagging) else 30)
            except queue.Empty:
                item = None
            if isinstance(item, BaseException):
                raise item
            ended = ended or _ends(item, run_id)
            while not events.empty():  # several chunks at once: one read
                extra = events.get_nowait()
                if isinstance(extra, BaseException):
                    raise extra
                ended = ended or _ends(extra, run_id)
            new_offset, complete = _read(api, path, kind, offset)
            lagging = item is not None and new_offset == offset
            offset = new_offset
    finally:
        stream.close()
        stream_api.close()


def _ends(event: Any, run_id: str) -> bool:
    if event is None or event.kind not in ("run", "check"):
        return False
    _, task, number = run_id.split(":")
    return (
        event.data.get("task") == task
        and str(event.data.get("run")) == number.removeprefix("check-")
        and event.data.get("state") in ENDED
    )
