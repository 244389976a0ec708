"""``scaffold describe cascade|task|run NAME``: one object in detail, with what belongs to it."""

from __future__ import annotations

from typing import Any

import click

from scaffold.commands.client import (
    EXIT_NOT_FOUND,
    Api,
    CliError,
    cascade_or_context,
    client_command,
    open_api,
    seg,
)
from scaffold.commands.output import (
    counts,
    duration,
    output_option,
    print_fields,
    print_table,
    section,
    show,
    state,
    when,
)

RECENT = 10


@click.command("describe")
@click.argument("kind", type=click.Choice(["cascade", "task", "run"]), metavar="KIND")
@click.argument("name", required=False)
@click.option("--cascade", "-c", metavar="CASCADE", help="The task's cascade [default: the context's].")
@click.option(
    "--run", "-r", "number", type=int, metavar="N", help="describe run: this run [default: the latest]."
)
@click.option("--check", is_flag=True, help="describe run: the task's check run, not its task run.")
@output_option
@client_command
def command(
    kind: str, name: str | None, cascade: str | None, number: int | None, check: bool, output: str
) -> None:
    """Show a cascade, a task or a run in detail (KIND: cascade, task or run).

    
    describe cascade [NAME]       summary, tasks, inputs, recent waves
    describe task TASK            state, dependencies, recent runs
    describe run TASK [--run N]   one run: trigger, times, exit code,
                                  datastore use, display items

    A task's cascade is given with -c, or is the one set with `scaffold context`.
    """
    with open_api() as api:
        if kind == "cascade":
            name = cascade_or_context(name or cascade, api.conn)
            data = _cascade(api, name)
            show(data, output, lambda: _print_cascade(data))
            return
        if not name:
            raise click.UsageError(f"describe {kind} needs the TASK name")
        where = cascade_or_context(cascade, api.conn)
        if kind == "task":
            data = _task(api, where, name)
            show(data, output, lambda: _print_task(data))
        else:
            data = _run(api, where, name, number, check)
            show(data, output, lambda: _print_run(data))


def _cascade(api: Api, name: str) -> dict[str, Any]:
    detail = api.get(f"/cascades/{seg(name)}")
    detail["waves"] = api.get(f"/cascades/{seg(name)}/waves")[:RECENT]
    return detail


def _task(api: Api, cascade: str, name: str) -> dict[str, Any]:
    task = api.get(f"/cascades/{seg(cascade)}/tasks/{seg(name)}")
    task["cascade"] = cascade
    task["runs"] = api.get(f"/cascades/{seg(cascade)}/tasks/{seg(name)}/runs")[:RECENT]
    return task


def _run(api: Api, cascade: str, task: str, number: int | None, check: bool) -> dict[str, Any]:
    kind = "check" if check else "task"
    base = f"/cascades/{seg(cascade)}/tasks/{seg(task)}/runs"
    if number is None:
        runs = api.get(base, params={"kind": kind})
        if not runs:
            raise CliError(f"task '{task}' of '{cascade}' has no {kind} runs yet", EXIT_NOT_FOUND)
        return runs[0]
    return api.get(f"{base}/{number}", params={"kind": kind})


def _print_cascade(c: dict[str, Any]) -> None:
    links = ", ".join(f"{k}: {v}" for k, v in c["links"].items())
    print_fields(
        [
            ("Name", c["name"]),
            ("Description", (c["description"] or "").strip()),
            ("Version", f"{c['version']} (applied {when(c['applied_at'])} by {c['applied_by'] or '-'})"),
            ("Groups", c["groups"]),
            ("Links", links),
            ("Tasks", f"{c['tasks']}: {counts(c['states'])}"),
            ("Active", c["active"]),
        ]
    )
    from scaffold.commands.resources import INPUT_COLUMNS, TASK_COLUMNS, WAVE_COLUMNS

    section("Tasks")
    print_table(c["board"], TASK_COLUMNS, empty="no tasks")
    section("Inputs")
    print_table(c["inputs"], INPUT_COLUMNS, empty="no inputs")
    section("Recent waves")
    print_table(c["waves"], WAVE_COLUMNS, empty="never started")


def _print_task(t: dict[str, Any]) -> None:
    deps = [f"{d['task']} ({d['kind']})" for d in t["depends_on"]]
    print_fields(
        [
            ("Task", f"{t['cascade']}/{t['name']}"),
            ("State", state(t["display"])),
            ("Reason", t["reason"]),
            ("Latest run", t["run"] or None),
            ("Image", t["image"]),
            ("Depends on", deps),
            ("Inputs", t["inputs"]),
            ("Disabled", t["disabled"]),
            ("Auto-execute", t["auto_execute"]),
            ("Has check", t["has_check"]),
        ]
    )
    from scaffold.commands.resources import KINDS

    section("Recent runs")
    print_table(t["runs"], KINDS["runs"].columns, empty="never ran")


def _print_run(r: dict[str, Any]) -> None:
    stored = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["stored"].items() if v)
    loaded = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["loaded"].items() if v)
    label = r["number"] if r["kind"] == "task" else f"check-{r['number']}"
    print_fields(
        [
            ("Run", f"{r['cascade']}/{r['task']} #{label}"),
            ("State", state(r["state"])),
            ("Reason", r["reason"]),
            ("Exit code", r["exit_code"]),
            ("Trigger", f"{r['trigger']} by {r['triggered_by'] or '-'}"),
            ("Wave", r["wave"]),
            ("Attempt", r["attempt"]),
            ("Node", f"{r['node'] or '-'} ({r['executor'] or '-'})"),
            ("Image", f"{r['image'] or '-'} {r['image_digest'] or ''}".strip()),
            ("Queued", when(r["queued_at"])),
            ("Started", when(r["started_at"])),
            ("Ended", when(r["ended_at"])),
            ("Duration", duration(r["started_at"], r["ended_at"])),
            ("Loaded", loaded),
            ("Stored", stored),
            ("Log", f"{r['log_size']} characters" + (" (truncated)" if r["log_truncated"] else "")),
            ("Display error", r["display_error"]),
        ]
    )
    if r["display"]:
        from scaffold.commands.follow_view import print_display

        section("Display")
        print_display(r["task"], r["display"])
