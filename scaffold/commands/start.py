"""``scaffold start [CASCADE] [TASK]``: preview what a start resets, ask, start, and optionally
follow the wave live until it ends (exit 1 if a task failed, like ``scaffold run``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from scaffold.commands.client import (
    EXIT_CONFLICT,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TASK_FAILED,
    Api,
    CliError,
    cascade_or_context,
    client_command,
    open_api,
    seg,
)
from scaffold.commands.confirm import confirm, yes_option
from scaffold.commands.output import emit, output_option

EXPLAINED = {"error", "killed", "blocked", "skipped", "awaiting_approval"}


@click.command("start")
@click.argument("cascade", required=False)
@click.argument("task", required=False)
@yes_option
@click.option("--force", is_flag=True, help="Kill running tasks downstream of the started task first.")
@click.option("--dry-run", is_flag=True, help="Only show what the start would do.")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Show task states and logs live until the wave ends; exit 1 if a task failed.",
)
@output_option
@client_command
def command(
    cascade: str | None, task: str | None, yes: bool, force: bool, dry_run: bool, follow: bool, output: str
) -> None:
    """Start CASCADE (the context's by default), or only its TASK and what follows it.

    First shows the preview -- the tasks that start now, those reset, the datastore values and
    files that will be overwritten, what is expected to run afterwards -- and asks (--yes for
    scripts: the preview is printed with the result). A refused start (e.g. a task downstream is
    running) exits 5 with the server's reason; --force kills those tasks instead.

    With --follow, shows the wave live (states, log lines, display items) until it ends and exits
    0 if every task that ran succeeded and none is blocked, 1 otherwise; Ctrl-C stops following
    (exit 130), the wave goes on. With --output json the final document (as `scaffold run -o
    json`) is printed on stdout and the progress on stderr.
    """
    with open_api() as api:
        cascade = cascade_or_context(cascade, api.conn)
        path = f"/cascades/{seg(cascade)}/start"
        body: dict[str, Any] = {"force": force, **({"task": task} if task else {})}
        progress_err = output != "table"
        if dry_run or not yes:
            preview = api.post(path, json={**body, "dry_run": True})["preview"]
            if dry_run:
                if progress_err:
                    emit({"wave": None, "preview": preview}, output)
                else:
                    print_preview(preview)
                return
            print_preview(preview, err=progress_err)
            if preview["refused"]:
                raise CliError(preview["refused"], EXIT_CONFLICT)
            confirm("Start?", yes, "nothing was started")
        if follow:
            sys.exit(follow_start(api, cascade, path, body, output, show_preview=yes))
        result = api.post(path, json=body)
        if yes:
            print_preview(result["preview"], err=progress_err)
        if progress_err:
            emit(result, output)
        else:
            wave = result["wave"]
            click.echo(
                f"wave {wave['id']} of '{cascade}' started: {', '.join(wave['started_tasks']) or 'nothing'}"
            )


def print_preview(preview: dict[str, Any], err: bool = False) -> None:
    what = (
        f"task '{preview['task']}' of '{preview['cascade']}'"
        if preview["task"]
        else f"'{preview['cascade']}'"
    )
    overwrites = [
        f"{kind} {o['name']} (by {o['task']})" for kind, items in preview["overwrites"].items() for o in items
    ]
    lines = [
        f"Starting {what}:",
        f"  start now:     {', '.join(preview['start']) or 'nothing'}",
        f"  reset:         {', '.join(preview['reset']) or 'nothing'}",
        f"  overwrites:    {', '.join(overwrites) or 'nothing'}",
        f"  then expected: {', '.join(preview['will_run']) or 'nothing'}",
    ]
    if preview["refused"]:
        lines.append(f"  refused:       {preview['refused']}")
    for line in lines:
        click.echo(line, err=err)


# ------------------------------------------------------------------------------------ follow


def follow_start(
    api: Api, cascade: str, path: str, body: dict[str, Any], output: str, show_preview: bool
) -> int:
    from scaffold.commands.events import EventStream
    from scaffold.commands.follow_view import FollowView

    tasks_path = f"/cascades/{seg(cascade)}/tasks"
    stream = EventStream(api, cascade).open()  # subscribed before the start: nothing is missed
    try:
        board = api.get(tasks_path)
        result = api.post(path, json=body)
        if show_preview:
            print_preview(result["preview"], err=output != "table")
        wave = result["wave"]
        view = FollowView(cascade, board, to_stderr=output != "table")
        with view:
            view.note(
                f"wave {wave['id']} of '{cascade}' started: {', '.join(wave['started_tasks']) or 'nothing'}"
            )
            try:
                if wave["started_tasks"]:  # a wave that started nothing has already ended
                    _watch(api, stream, cascade, wave["id"], view)
            except KeyboardInterrupt:
                view.note(f"stopped following; wave {wave['id']} goes on on the server")
                raise
            board = api.get(tasks_path)
            view.set_board(board)
        ok, document = summarize(api, cascade, wave["id"], board)
        view.verdict(ok)
    finally:
        stream.close()
    if output != "table":
        emit(document, output)
    return EXIT_OK if ok else EXIT_TASK_FAILED


def _watch(api: Api, stream: Any, cascade: str, wave_id: int, view: Any) -> None:
    """Feed the view until the wave ends, subscribing to each run's logs as it starts."""
    waves = f"/cascades/{seg(cascade)}/waves/{wave_id}"
    for event in stream:
        data = event.data
        if event.kind == "keepalive":  # quiet for 15 s: make sure the end was not missed
            if api.get(waves)["ended_at"] is not None:
                return
            continue
        if event.kind == "resync":
            view.set_board(api.get(f"/cascades/{seg(cascade)}/tasks"))
            if api.get(waves)["ended_at"] is not None:
                return
            continue
        if event.kind == "cascade" and data.get("action") == "deleted":
            raise CliError(f"cascade '{cascade}' was deleted while it ran", EXIT_NOT_FOUND)
        view.on_event(event.kind, data)
        if event.kind == "run" and data.get("state") == "running":
            stream.subscribe(f"{cascade}:{data['task']}:{data['run']}")
        elif event.kind == "run":  # ended: its last log lines came before this event
            stream.forget(f"{cascade}:{data['task']}:{data['run']}")
        if event.kind == "wave" and data.get("wave") == wave_id and data.get("state") == "ended":
            return


def summarize(
    api: Api, cascade: str, wave_id: int, board: list[dict[str, Any]]
) -> tuple[bool, dict[str, Any]]:
    """Whether the wave succeeded, and the document of `scaffold run --output json` (SPEC 10)."""
    runs = api.get(f"/cascades/{seg(cascade)}/waves/{wave_id}")["runs"]
    exit_codes = {(r["task"], r["number"]): r["exit_code"] for r in runs if r["kind"] == "task"}
    ran = {task for task, _ in exit_codes}
    by_name = {t["name"]: t for t in board}
    ok = all(by_name[t]["state"] == "success" for t in ran if t in by_name)
    ok = ok and not any(t["display"] == "blocked" for t in board)
    tasks = []
    for t in board:
        number = t["run"] or None  # the latest run, even if the task was reset since (SPEC 10)
        exit_code = None
        if number is not None:
            key = (t["name"], number)
            if key not in exit_codes:
                run = api.get(f"/cascades/{seg(cascade)}/tasks/{seg(t['name'])}/runs/{number}")
                exit_codes[key] = run["exit_code"]
            exit_code = exit_codes[key]
        tasks.append(
            {
                "name": t["name"],
                "state": t["state"],
                "reason": t["reason"] if t["display"] in EXPLAINED else None,
                "run": number,
                "exit_code": exit_code,
            }
        )
    return ok, {"cascade": cascade, "wave": wave_id, "tasks": tasks}
