"""One contract for every Store: the same tests run against MemoryStore and SqliteStore."""

from __future__ import annotations

import asyncio
import io

import pytest

from scaffold.engine.model import CascadeSpec, TaskSpec
from scaffold.engine.records import RunKind, RunRow, TaskRow, Trigger, WaveRow
from scaffold.engine.states import State
from scaffold.errors import Conflict, NotFound
from scaffold.store.common import truncation_marker
from tests.store.conftest import LOG_CAP


def spec(name: str = "deploy", tasks: tuple[str, ...] = ("a", "b")) -> CascadeSpec:
    return CascadeSpec(name=name, tasks=tuple(TaskSpec(name=t, run="true") for t in tasks))


def run(task: str = "a", number: int = 1, cascade: str = "deploy", **kw) -> RunRow:
    return RunRow(cascade=cascade, task=task, number=number, **kw)


# ---------------------------------------------------------------------------------- cascades


async def test_save_cascade_numbers_versions_and_keeps_history(store):
    assert await store.get_cascade("deploy") is None
    assert await store.save_cascade(spec(), "v1 text", "alice") == 1
    assert await store.save_cascade(spec(), "v2 text", None) == 2
    current = await store.get_cascade("deploy")
    assert (current.name, current.version, current.source, current.applied_by) == (
        "deploy",
        2,
        "v2 text",
        None,
    )
    history = await store.cascade_versions("deploy")
    assert [(r.version, r.source, r.applied_by) for r in history] == [
        (2, "v2 text", None),
        (1, "v1 text", "alice"),
    ]
    assert all(r.applied_at > 0 for r in history)
    assert await store.cascade_versions("nope") == []


async def test_list_cascades_gives_the_current_version_of_each(store):
    await store.save_cascade(spec("b"), "b1", None)
    await store.save_cascade(spec("a"), "a1", None)
    await store.save_cascade(spec("a"), "a2", None)
    assert [(r.name, r.version, r.source) for r in await store.list_cascades()] == [
        ("a", 2, "a2"),
        ("b", 1, "b1"),
    ]


async def test_delete_cascade_removes_everything_of_it_and_nothing_else(store):
    for name in ("deploy", "other"):
        await store.save_cascade(spec(name), "src", None)
        await store.put_tasks([TaskRow(name, "a")])
        await store.insert_run(run(cascade=name, state=State.RUNNING))
        await store.append_log(f"{name}:a:1", "log line\n")
        await store.insert_wave(WaveRow(name))
        await store.put_values(name, {"K": b"v"}, None)
        await store.put_files(name, {"f": b"data"}, None)
        await store.set_inputs(name, {"PW": "secret", "T": "text"}, {"PW"}, None)

    await store.delete_cascade("deploy")

    assert await store.get_cascade("deploy") is None
    assert await store.cascade_versions("deploy") == []
    assert await store.load_tasks("deploy") == {}
    assert await store.list_runs("deploy") == []
    assert await store.last_run_number("deploy", "a") == 0
    assert await store.read_log("deploy:a:1") == ("", 0, False)
    assert await store.list_waves("deploy") == []
    assert await store.get_values("deploy") == {}
    assert await store.value_versions("deploy", "K") == []
    assert await store.list_files("deploy") == []
    assert await store.file_versions("deploy", "f") == []
    assert await store.get_inputs("deploy") == {}
    assert [r.cascade for r in await store.active_runs()] == ["other"]

    assert (await store.get_cascade("other")).version == 1
    assert list(await store.load_tasks("other")) == ["a"]
    assert len(await store.list_runs("other")) == 1
    assert (await store.read_log("other:a:1"))[0] == "log line\n"
    assert len(await store.list_waves("other")) == 1
    assert await store.get_values("other") == {"K": b"v"}
    assert await store.get_files("other") == {"f": b"data"}
    assert await store.get_inputs("other") == {"PW": "secret", "T": "text"}

    # a cascade applied again after deletion starts over
    assert await store.save_cascade(spec("deploy"), "again", None) == 1


# ------------------------------------------------------------------------------------- board


async def test_put_and_load_tasks_round_trip_every_field(store):
    row = TaskRow("deploy", "a", State.ERROR, 3, "boom", disabled=True, auto_execute=False, updated_at=12.5)
    await store.put_tasks([row, TaskRow("deploy", "b")])
    board = await store.load_tasks("deploy")
    assert board == {"a": row, "b": TaskRow("deploy", "b")}
    assert isinstance(board["a"].state, State)
    assert await store.load_tasks("other") == {}


async def test_put_tasks_replaces_rows(store):
    await store.put_tasks([TaskRow("deploy", "a", State.SUCCESS, 2)])
    await store.put_tasks([TaskRow("deploy", "a", State.NOT_STARTED, 2, "definition changed")])
    assert (await store.load_tasks("deploy"))["a"].reason == "definition changed"


async def test_rows_are_copied_in_and_out(store):
    row = TaskRow("deploy", "a")
    await store.put_tasks([row])
    row.state = State.RUNNING
    loaded = (await store.load_tasks("deploy"))["a"]
    assert loaded.state is State.NOT_STARTED
    loaded.state = State.ERROR
    assert (await store.load_tasks("deploy"))["a"].state is State.NOT_STARTED

    r = run(display=[{"kind": "value", "name": "x", "data": "1"}], loaded={"env": ["A"]})
    await store.insert_run(r)
    r.display[0]["data"] = "changed"
    r.loaded["env"].append("B")
    got = await store.get_run("deploy", "a", 1)
    assert got.display == [{"kind": "value", "name": "x", "data": "1"}]
    assert got.loaded == {"env": ["A"]}
    got.display.append({})
    assert len((await store.get_run("deploy", "a", 1)).display) == 1

    wave = WaveRow("deploy", started_tasks=["a"])
    wave_id = await store.insert_wave(wave)
    wave.started_tasks.append("b")
    assert (await store.list_waves("deploy"))[0].started_tasks == ["a"]
    assert wave.id == 0  # the caller's object is not changed; the id is returned
    assert wave_id >= 1


async def test_update_task_is_a_compare_and_swap(store):
    await store.put_tasks([TaskRow("deploy", "a")])
    won = TaskRow("deploy", "a", State.WAITING, 1, updated_at=1.0)
    assert await store.update_task(won, State.NOT_STARTED) is True
    lost = TaskRow("deploy", "a", State.KILLED, 1)
    assert await store.update_task(lost, State.NOT_STARTED) is False
    assert (await store.load_tasks("deploy"))["a"] == won
    assert await store.update_task(TaskRow("deploy", "a", State.RUNNING, 1), State.WAITING) is True
    assert (await store.load_tasks("deploy"))["a"].state is State.RUNNING


async def test_update_task_of_a_missing_task_loses(store):
    assert await store.update_task(TaskRow("deploy", "ghost", State.WAITING), State.NOT_STARTED) is False
    assert await store.load_tasks("deploy") == {}


async def test_concurrent_compare_and_swap_has_exactly_one_winner(store):
    await store.put_tasks([TaskRow("deploy", "a")])
    attempts = [TaskRow("deploy", "a", State.WAITING, i) for i in range(50)]
    results = await asyncio.gather(*(store.update_task(r, State.NOT_STARTED) for r in attempts))
    assert sum(results) == 1
    winner = results.index(True)
    assert (await store.load_tasks("deploy"))["a"].run_number == winner


async def test_remove_tasks_keeps_their_runs_and_last_number(store):
    await store.put_tasks([TaskRow("deploy", "a"), TaskRow("deploy", "b")])
    for n in (1, 2, 3):
        await store.insert_run(run("a", n, state=State.SUCCESS))
    await store.append_log("deploy:a:3", "kept\n")
    await store.remove_tasks("deploy", ["a", "missing"])
    assert list(await store.load_tasks("deploy")) == ["b"]
    assert await store.last_run_number("deploy", "a") == 3
    assert [r.number for r in await store.list_runs("deploy", "a")] == [3, 2, 1]
    assert (await store.read_log("deploy:a:3"))[0] == "kept\n"


# -------------------------------------------------------------------------------------- runs


async def test_run_round_trips_every_field(store):
    full = RunRow(
        cascade="deploy",
        task="a",
        number=4,
        kind=RunKind.CHECK,
        state=State.ERROR,
        trigger=Trigger.WEBHOOK,
        triggered_by="hook-1",
        wave_id=7,
        attempt=2,
        node="node-1",
        image="ubuntu:20.04",
        image_digest="sha256:abc",
        queued_at=1.5,
        started_at=2.5,
        ended_at=3.5,
        exit_code=3,
        reason="non-zero exit",
        display=[{"kind": "table", "name": "t", "header": ["a"], "data": [["1"]], "color": "red"}],
        display_error="bad json at 1:2",
        loaded={"env": ["A"], "file": ["f"]},
        stored={"env": ["B"], "file": []},
        executor="docker",
    )
    await store.insert_run(full)
    got = await store.get_run("deploy", "a", 4, RunKind.CHECK)
    assert got == full
    assert isinstance(got.kind, RunKind) and isinstance(got.state, State) and isinstance(got.trigger, Trigger)
    assert await store.get_run("deploy", "a", 4) is None  # the task run 4 is another run


async def test_insert_run_twice_is_refused(store):
    await store.insert_run(run())
    with pytest.raises(Conflict):
        await store.insert_run(run(state=State.RUNNING))
    assert (await store.get_run("deploy", "a", 1)).state is State.WAITING


async def test_update_run_replaces_the_row(store):
    await store.insert_run(run())
    await store.update_run(run(state=State.SUCCESS, exit_code=0, ended_at=9.0, stored={"env": ["X"]}))
    got = await store.get_run("deploy", "a", 1)
    assert (got.state, got.exit_code, got.ended_at, got.stored) == (State.SUCCESS, 0, 9.0, {"env": ["X"]})
    with pytest.raises(NotFound):
        await store.update_run(run(number=99))


async def test_list_runs_is_newest_first_and_filters(store):
    await store.insert_run(run("a", 1, wave_id=1))
    await store.insert_run(run("b", 1, wave_id=1))
    await store.insert_run(run("a", 1, kind=RunKind.CHECK))
    await store.insert_run(run("a", 2, wave_id=2))
    await store.insert_run(run("a", 1, cascade="other"))
    ids = [r.run_id for r in await store.list_runs("deploy")]
    assert ids == ["deploy:a:2", "deploy:a:check-1", "deploy:b:1", "deploy:a:1"]
    assert [r.run_id for r in await store.list_runs("deploy", "a")] == [
        "deploy:a:2",
        "deploy:a:check-1",
        "deploy:a:1",
    ]
    assert [r.run_id for r in await store.list_runs("deploy", "a", RunKind.TASK)] == [
        "deploy:a:2",
        "deploy:a:1",
    ]
    assert [r.run_id for r in await store.list_runs("deploy", kind=RunKind.CHECK)] == ["deploy:a:check-1"]
    assert [r.run_id for r in await store.list_runs("deploy", wave_id=1)] == ["deploy:b:1", "deploy:a:1"]


async def test_last_run_number_per_kind(store):
    assert await store.last_run_number("deploy", "a") == 0
    await store.insert_run(run("a", 1))
    await store.insert_run(run("a", 2))
    await store.insert_run(run("a", 5, kind=RunKind.CHECK))
    assert await store.last_run_number("deploy", "a") == 2
    assert await store.last_run_number("deploy", "a", RunKind.CHECK) == 5
    assert await store.last_run_number("deploy", "b") == 0


async def test_active_runs_are_waiting_or_running_across_cascades(store):
    await store.insert_run(run("a", 1, state=State.WAITING))
    await store.insert_run(run("b", 1, state=State.RUNNING, cascade="other"))
    await store.insert_run(run("c", 1, state=State.SUCCESS))
    await store.insert_run(run("d", 1, state=State.RUNNING, kind=RunKind.CHECK))
    assert sorted(r.run_id for r in await store.active_runs()) == [
        "deploy:a:1",
        "deploy:d:check-1",
        "other:b:1",
    ]
    await store.update_run(run("a", 1, state=State.ERROR, reason="lost"))
    assert sorted(r.run_id for r in await store.active_runs()) == ["deploy:d:check-1", "other:b:1"]


# -------------------------------------------------------------------------------------- logs


async def test_logs_append_and_read_by_character_offsets(store):
    assert await store.read_log("deploy:a:1") == ("", 0, False)
    await store.append_log("deploy:a:1", "héllo ")
    await store.append_log("deploy:a:1", "wörld\n")
    await store.append_log("deploy:a:1", "")
    assert await store.read_log("deploy:a:1") == ("héllo wörld\n", 12, False)
    assert await store.read_log("deploy:a:1", 3) == ("lo wörld\n", 12, False)
    assert await store.read_log("deploy:a:1", 4, 4) == ("o wö", 8, False)
    assert await store.read_log("deploy:a:1", 12) == ("", 12, False)
    assert await store.read_log("deploy:a:1", 50) == ("", 12, False)
    assert await store.read_log("deploy:a:1", 0, 0) == ("", 0, False)


async def test_run_reports_its_log_size(store):
    await store.insert_run(run())
    await store.append_log("deploy:a:1", "abc\n")
    got = await store.get_run("deploy", "a", 1)
    assert (got.log_size, got.log_truncated) == (4, False)
    await store.update_run(got)  # log fields belong to the log, not to the run row
    await store.append_log("deploy:a:1", "de")
    assert (await store.get_run("deploy", "a", 1)).log_size == 6


async def test_log_cap_truncates_once_with_a_marker(store):
    await store.insert_run(run())
    await store.append_log("deploy:a:1", "x" * (LOG_CAP - 5))
    await store.append_log("deploy:a:1", "0123456789")
    await store.append_log("deploy:a:1", "more that is dropped")
    text, end, truncated = await store.read_log("deploy:a:1")
    assert truncated is True
    assert text == "x" * (LOG_CAP - 5) + "01234\n" + truncation_marker(LOG_CAP)
    assert text.count("[scaffold: log truncated") == 1
    assert end == len(text)
    got = await store.get_run("deploy", "a", 1)
    assert (got.log_size, got.log_truncated) == (len(text), True)
    assert (await store.read_log("deploy:a:1", LOG_CAP - 2, 3)) == ("34\n", LOG_CAP + 1, True)


async def test_log_cap_exactly_reached_then_exceeded(store):
    await store.append_log("r", "y" * (LOG_CAP - 1) + "\n")
    assert (await store.read_log("r"))[2] is False
    await store.append_log("r", "z")
    text, _, truncated = await store.read_log("r")
    assert truncated and text.endswith("y\n" + truncation_marker(LOG_CAP))


async def test_many_small_log_chunks_read_in_pages(store):
    for i in range(200):
        await store.append_log("r", f"{i}\n")
    whole = "".join(f"{i}\n" for i in range(200))
    pages, offset = [], 0
    while True:
        text, offset, _ = await store.read_log("r", offset, 37)
        if not text:
            break
        pages.append(text)
    assert "".join(pages) == whole
    assert offset == len(whole)


# ------------------------------------------------------------------------------------- waves


async def test_waves_are_numbered_from_1_and_listed_newest_first(store):
    first = await store.insert_wave(
        WaveRow("deploy", trigger=Trigger.USER, triggered_by="bob", started_at=1.0)
    )
    second = await store.insert_wave(WaveRow("other", started_at=2.0))
    third = await store.insert_wave(
        WaveRow("deploy", trigger=Trigger.WEBHOOK, started_tasks=["a"], started_at=3.0)
    )
    assert (first, second, third) == (1, 2, 3)
    waves = await store.list_waves("deploy")
    assert [w.id for w in waves] == [3, 1]
    assert waves[0] == WaveRow("deploy", 3, Trigger.WEBHOOK, None, ["a"], 3.0, None)
    assert isinstance(waves[0].trigger, Trigger)


async def test_update_wave(store):
    wave_id = await store.insert_wave(WaveRow("deploy", started_tasks=["a"], started_at=1.0))
    await store.update_wave(
        WaveRow("deploy", wave_id, started_tasks=["a", "b"], started_at=1.0, ended_at=5.0)
    )
    assert (await store.list_waves("deploy"))[0].ended_at == 5.0
    assert (await store.list_waves("deploy"))[0].started_tasks == ["a", "b"]
    with pytest.raises(NotFound):
        await store.update_wave(WaveRow("deploy", 999))


async def test_wave_ids_are_not_reused_after_delete(store):
    await store.insert_wave(WaveRow("deploy"))
    await store.insert_wave(WaveRow("deploy"))
    await store.delete_cascade("deploy")
    assert await store.insert_wave(WaveRow("deploy")) == 3


# ------------------------------------------------------------------------------------ values


async def test_values_keep_versions_with_their_writers(store):
    await store.put_values("deploy", {"A": b"1", "B": b"\x00\xffbin"}, "alice")
    await store.put_values("deploy", {"A": b"2"}, "run:deploy:a:1")
    assert await store.get_values("deploy") == {"A": b"2", "B": b"\x00\xffbin"}
    assert await store.get_values("deploy", ["B", "missing"]) == {"B": b"\x00\xffbin"}
    assert await store.get_values("deploy", []) == {}
    versions = await store.value_versions("deploy", "A")
    assert [(v.key, v.version, v.value, v.written_by) for v in versions] == [
        ("A", 2, b"2", "run:deploy:a:1"),
        ("A", 1, b"1", "alice"),
    ]
    assert all(v.written_at > 0 for v in versions)
    assert await store.value_versions("deploy", "missing") == []
    assert await store.get_values("other") == {}


async def test_empty_value_is_a_value(store):
    await store.put_values("deploy", {"E": b""}, None)
    assert await store.get_values("deploy") == {"E": b""}


# ------------------------------------------------------------------------------------- files


async def test_files_keep_versions_sizes_and_content_types(store):
    await store.put_files("deploy", {"tfstate": b"v1", "b.txt": b"bee"}, "run:deploy:a:1")
    await store.put_files("deploy", {"tfstate": b"version2"}, "alice", "application/json")
    assert await store.get_files("deploy") == {"b.txt": b"bee", "tfstate": b"version2"}
    assert await store.get_files("deploy", ["tfstate", "nope"]) == {"tfstate": b"version2"}
    listed = await store.list_files("deploy")
    assert [(f.name, f.version, f.size, f.content_type, f.data) for f in listed] == [
        ("b.txt", 1, 3, "application/octet-stream", None),
        ("tfstate", 2, 8, "application/json", None),
    ]
    versions = await store.file_versions("deploy", "tfstate")
    assert [(f.version, f.size, f.written_by) for f in versions] == [
        (2, 8, "alice"),
        (1, 2, "run:deploy:a:1"),
    ]
    assert all(f.written_at > 0 and f.data is None for f in versions)


async def test_delete_file_keeps_history_and_a_new_write_continues_it(store):
    await store.put_files("deploy", {"f": b"one"}, "alice")
    await store.delete_file("deploy", "f", "bob")
    assert await store.get_files("deploy") == {}
    assert await store.list_files("deploy") == []
    assert [f.version for f in await store.file_versions("deploy", "f")] == [1]
    with pytest.raises(NotFound):
        await store.delete_file("deploy", "f", "bob")
    with pytest.raises(NotFound):
        await store.delete_file("deploy", "never", "bob")
    await store.put_files("deploy", {"f": b"two"}, "carol")
    assert await store.get_files("deploy") == {"f": b"two"}
    assert [f.version for f in await store.file_versions("deploy", "f")] == [2, 1]


async def test_files_written_from_a_stream_and_read_back_in_ranges(store):
    content = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: several blob chunks, an odd tail
    await store.put_file_from("deploy", "big.bin", io.BytesIO(content), len(content), "alice", "x/y")
    await store.put_file_from("deploy", "big.bin", io.BytesIO(b"v2"), 2, "bob")
    listed = await store.list_files("deploy")
    assert [(f.name, f.version, f.size, f.content_type) for f in listed] == [
        ("big.bin", 2, 2, "application/octet-stream")
    ]
    chunks, offset = [], 0
    while chunk := await store.read_file_range("deploy", "big.bin", 1, offset, 1_000_003):
        chunks.append(chunk)
        offset += len(chunk)
    assert b"".join(chunks) == content and len(chunks) == 4
    assert await store.read_file_range("deploy", "big.bin", 1, len(content) - 3, 100) == content[-3:]
    assert await store.read_file_range("deploy", "big.bin", 2, 0, 100) == b"v2"
    assert await store.get_files("deploy") == {"big.bin": b"v2"}
    with pytest.raises(NotFound):
        await store.read_file_range("deploy", "big.bin", 3, 0, 10)
    with pytest.raises(ValueError, match="ended after 3 of 10 bytes"):
        await store.put_file_from("deploy", "short.bin", io.BytesIO(b"abc"), 10, "alice")
    assert [f.name for f in await store.list_files("deploy")] == ["big.bin"]  # nothing half-written


# ------------------------------------------------------------------------------------ inputs


async def test_inputs_set_change_and_remove(store):
    await store.set_inputs("deploy", {"PW": "s3cr€t", "REGION": "eu"}, {"PW"}, "alice")
    assert await store.get_inputs("deploy") == {"PW": "s3cr€t", "REGION": "eu"}
    await store.set_inputs("deploy", {"REGION": "us", "PW": None}, set(), "bob")
    assert await store.get_inputs("deploy") == {"REGION": "us"}
    await store.set_inputs("deploy", {"REGION": "secret-now"}, {"REGION"}, None)
    assert await store.get_inputs("deploy") == {"REGION": "secret-now"}
    await store.set_inputs("deploy", {"EMPTY": ""}, set(), None)
    assert (await store.get_inputs("deploy"))["EMPTY"] == ""
    assert await store.get_inputs("other") == {}


# -------------------------------------------------------------------------------- durability


async def test_everything_survives_close_and_reopen(handle):
    s = handle.store
    await s.save_cascade(spec(), "source text", "alice")
    await s.put_tasks([TaskRow("deploy", "a", State.SUCCESS, 1)])
    await s.insert_run(run(state=State.RUNNING, display=[{"kind": "pre", "name": "p", "data": "x"}]))
    await s.append_log("deploy:a:1", "line\n")
    wave_id = await s.insert_wave(WaveRow("deploy", started_tasks=["a"]))
    await s.put_values("deploy", {"K": b"v"}, "alice")
    await s.put_files("deploy", {"f": b"data"}, "alice", "text/plain")
    await s.set_inputs("deploy", {"PW": "pw", "T": "t"}, {"PW"}, "alice")
    assert await s.update_task(TaskRow("deploy", "a", State.WAITING, 2), State.SUCCESS)

    s = await handle.reopen()

    assert (await s.get_cascade("deploy")).source == "source text"
    assert (await s.load_tasks("deploy"))["a"] == TaskRow("deploy", "a", State.WAITING, 2)
    assert (await s.get_run("deploy", "a", 1)).display == [{"kind": "pre", "name": "p", "data": "x"}]
    assert [r.run_id for r in await s.active_runs()] == ["deploy:a:1"]
    assert await s.read_log("deploy:a:1") == ("line\n", 5, False)
    assert [w.id for w in await s.list_waves("deploy")] == [wave_id]
    assert await s.get_values("deploy") == {"K": b"v"}
    assert (await s.list_files("deploy"))[0].content_type == "text/plain"
    assert await s.get_inputs("deploy") == {"PW": "pw", "T": "t"}
    assert await s.insert_wave(WaveRow("deploy")) == wave_id + 1


# ------------------------------------------------------------------------------- concurrency


async def test_concurrent_writers_all_land(store):
    await store.put_tasks([TaskRow("deploy", f"t{i}") for i in range(100)])

    async def lifecycle(i: int) -> None:
        name = f"t{i}"
        await store.insert_run(run(name, 1))
        assert await store.update_task(TaskRow("deploy", name, State.WAITING, 1), State.NOT_STARTED)
        assert await store.update_task(TaskRow("deploy", name, State.RUNNING, 1), State.WAITING)
        await store.append_log(f"deploy.{name}.1", f"hello from {name}\n")
        await store.put_values("deploy", {"shared": str(i).encode()}, f"run:deploy.{name}.1")
        assert await store.update_task(TaskRow("deploy", name, State.SUCCESS, 1), State.RUNNING)
        await store.update_run(run(name, 1, state=State.SUCCESS, exit_code=0))

    await asyncio.gather(*(lifecycle(i) for i in range(100)))
    board = await store.load_tasks("deploy")
    assert {r.state for r in board.values()} == {State.SUCCESS}
    assert len(await store.list_runs("deploy")) == 100
    assert await store.active_runs() == []
    assert len(await store.value_versions("deploy", "shared")) == 100
    assert [v.version for v in await store.value_versions("deploy", "shared")] == list(range(100, 0, -1))
    assert (await store.read_log("deploy.t42.1"))[0] == "hello from t42\n"


async def test_a_failing_write_does_not_spoil_concurrent_ones(store):
    await store.insert_run(run("a", 1))
    await store.put_tasks([TaskRow("deploy", "b")])
    results = await asyncio.gather(
        store.insert_run(run("a", 1)),  # refused: already exists
        store.update_task(TaskRow("deploy", "b", State.WAITING), State.NOT_STARTED),
        store.put_values("deploy", {"K": b"v"}, None),
        return_exceptions=True,
    )
    assert isinstance(results[0], Conflict)
    assert results[1] is True
    assert await store.get_values("deploy") == {"K": b"v"}
