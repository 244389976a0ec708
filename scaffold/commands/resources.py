"""The kinds of object ``scaffold get`` lists: where each is fetched and which columns its table
shows. ``users list`` and ``tokens list`` use the same definitions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scaffold.commands.client import EXIT_NOT_FOUND, Api, CliError, seg
from scaffold.commands.output import Column, counts, duration, size, state, when


@dataclass(frozen=True)
class Kind:
    name: str  # plural, as typed: "cascades"
    per_cascade: bool
    columns: list[Column]
    list: Callable[[Api, str | None], list[dict[str, Any]]]
    one: Callable[[Api, str | None, str], dict[str, Any]] | None = None
    key: str = "name"  # the field a NAME argument matches when there is no route for one object


def _runs_columns() -> list[Column]:
    return [
        ("task", lambda r: r["task"]),
        ("run", lambda r: r["number"] if r["kind"] == "task" else f"check-{r['number']}"),
        ("state", lambda r: state(r["state"])),
        ("trigger", lambda r: r["trigger"]),
        ("by", lambda r: r["triggered_by"]),
        ("wave", lambda r: r["wave"]),
        ("started", lambda r: when(r["started_at"])),
        ("duration", lambda r: duration(r["started_at"], r["ended_at"])),
        ("exit", lambda r: r["exit_code"]),
        ("reason", lambda r: r["reason"]),
    ]


def list_runs(api: Api, cascade: str | None, task: str | None = None) -> list[dict[str, Any]]:
    """A task's runs; without a task, the runs of the cascade's latest wave."""
    base = f"/cascades/{seg(cascade or '')}"
    if task:
        return api.get(f"{base}/tasks/{seg(task)}/runs")
    waves = api.get(f"{base}/waves")
    if not waves:
        return []
    return api.get(f"{base}/waves/{waves[0]['id']}")["runs"]


def _find(rows: list[dict[str, Any]], key: str, name: str, what: str) -> dict[str, Any]:
    for row in rows:
        if str(row.get(key)) == name:
            return row
    raise CliError(f"no {what} '{name}'", EXIT_NOT_FOUND)


CASCADE_COLUMNS: list[Column] = [
    ("name", lambda c: c["name"]),
    ("tasks", lambda c: c["tasks"]),
    ("states", lambda c: counts(c["states"])),
    ("active", lambda c: c["active"]),
    ("version", lambda c: c["version"]),
    ("description", lambda c: _short((c["description"] or "").strip().split("\n")[0])),
]
TASK_COLUMNS: list[Column] = [
    ("name", lambda t: t["name"]),
    ("state", lambda t: state(t["display"])),
    ("run", lambda t: t["run"] or None),
    ("flags", lambda t: _flags(t)),
    ("reason", lambda t: t["reason"]),
]
INPUT_COLUMNS: list[Column] = [
    ("name", lambda i: i["name"]),
    ("type", lambda i: i["type"]),
    ("value", lambda i: i["value"]),
    ("default", lambda i: i["default"]),
    ("used by", lambda i: i["used_by"]),
    ("description", lambda i: i["description"]),
]
VALUE_COLUMNS: list[Column] = [
    ("key", lambda v: v["key"]),
    ("value", lambda v: _short(v["text"]) if v["text"] is not None else f"({v['size']} bytes, binary)"),
    ("version", lambda v: v["version"]),
    ("written", lambda v: when(v["written_at"])),
    ("by", lambda v: v["written_by"]),
]
FILE_COLUMNS: list[Column] = [
    ("name", lambda f: f["name"]),
    ("size", lambda f: size(f["size"])),
    ("type", lambda f: f["content_type"]),
    ("version", lambda f: f["version"]),
    ("written", lambda f: when(f["written_at"])),
    ("by", lambda f: f["written_by"]),
]
USER_COLUMNS: list[Column] = [
    ("username", lambda u: u["username"]),
    ("role", lambda u: u["role"]),
    ("groups", lambda u: u["groups"]),
    ("disabled", lambda u: u["disabled"]),
    ("created", lambda u: when(u["created_at"])),
]
NODE_COLUMNS: list[Column] = [
    ("name", lambda n: n["name"]),
    ("state", lambda n: n["state"]),
    ("executor", lambda n: n["executor"]),
    ("running", lambda n: f"{n['running']}/{n['max_running']}"),
    ("queued", lambda n: n["queued"]),
    ("version", lambda n: n["version"]),
    ("labels", lambda n: n["labels"]),
]
WEBHOOK_COLUMNS: list[Column] = [
    ("id", lambda w: w["id"]),
    ("task", lambda w: w["task"]),
    ("url", lambda w: w["url"]),
    ("created by", lambda w: w["created_by"]),
    ("last triggered", lambda w: when(w["last_triggered_at"])),
]
WAVE_COLUMNS: list[Column] = [
    ("id", lambda w: w["id"]),
    ("trigger", lambda w: w["trigger"]),
    ("by", lambda w: w["triggered_by"]),
    ("started tasks", lambda w: w["started_tasks"]),
    ("started", lambda w: when(w["started_at"])),
    ("duration", lambda w: duration(w["started_at"], w["ended_at"]) or "running"),
]


def token_columns(current_id: str | None) -> list[Column]:
    return [
        ("id", lambda t: t["id"] + (" *" if t["id"] == current_id else "")),
        ("name", lambda t: t["name"]),
        ("user", lambda t: t["username"]),
        ("status", token_status),
        ("created", lambda t: when(t["created_at"])),
        ("expires", lambda t: when(t["expires_at"]) or "never"),
        ("last used", lambda t: when(t["last_used_at"])),
    ]


def token_status(t: dict[str, Any]) -> str:
    import time

    if t["revoked_at"]:
        return "revoked"
    if t["expires_at"] and t["expires_at"] <= time.time():
        return "expired"
    return "active"


def _flags(t: dict[str, Any]) -> str | None:
    flags = (["disabled"] if t["disabled"] else []) + ([] if t["auto_execute"] else ["manual"])
    flags += ["check"] if t["has_check"] else []
    return ", ".join(flags) or None


def _short(text: str, limit: int = 60) -> str:
    line = text.replace("\n", "\\n")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _c(cascade: str | None) -> str:
    return f"/cascades/{seg(cascade or '')}"


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind(
            "cascades",
            False,
            CASCADE_COLUMNS,
            lambda api, _: api.get("/cascades"),
            lambda api, _, name: api.get(_c(name)),
        ),
        Kind(
            "tasks",
            True,
            TASK_COLUMNS,
            lambda api, c: api.get(f"{_c(c)}/tasks"),
            lambda api, c, name: api.get(f"{_c(c)}/tasks/{seg(name)}"),
        ),
        Kind("runs", True, _runs_columns(), lambda api, c: list_runs(api, c)),
        Kind("waves", True, WAVE_COLUMNS, lambda api, c: api.get(f"{_c(c)}/waves"), key="id"),
        Kind("inputs", True, INPUT_COLUMNS, lambda api, c: api.get(f"{_c(c)}/inputs")),
        Kind(
            "values",
            True,
            VALUE_COLUMNS,
            lambda api, c: api.get(f"{_c(c)}/values"),
            lambda api, c, key: api.get(f"{_c(c)}/values/{seg(key)}"),
            key="key",
        ),
        Kind("files", True, FILE_COLUMNS, lambda api, c: api.get(f"{_c(c)}/files")),
        Kind(
            "users",
            False,
            USER_COLUMNS,
            lambda api, _: api.get("/users"),
            lambda api, _, name: api.get(f"/users/{seg(name)}"),
            key="username",
        ),
        Kind("tokens", False, token_columns(None), lambda api, _: api.get("/tokens"), key="id"),
        Kind("nodes", False, NODE_COLUMNS, lambda api, _: api.get("/nodes")),
        Kind("webhooks", True, WEBHOOK_COLUMNS, lambda api, c: api.get(f"{_c(c)}/webhooks"), key="id"),
    ]
}


def fetch(kind: Kind, api: Api, cascade: str | None, name: str | None) -> Any:
    """The list, or the one object called ``name`` (a task's run history for ``runs``)."""
    if name is None:
        return kind.list(api, cascade)
    if kind.name == "runs":
        return list_runs(api, cascade, name)
    if kind.one is not None:
        return kind.one(api, cascade, name)
    return _find(kind.list(api, cascade), kind.key, name, kind.name.rstrip("s"))
