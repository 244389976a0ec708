"""Every waterfall rule of SPEC 3, with the fake executor and a fake clock (no sleeps)."""

from __future__ import annotations

import pytest

from scaffold.engine.records import RunKind, Trigger
from scaffold.errors import Conflict, NotFound
from tests.engine.harness import Harness, cascade_yaml

# a -> b -> c, plus a -> d (two branches), e independent
CHAIN = cascade_yaml(
    "chain",
    """
    - {name: a, image: img, run: "true", store: {env: [A_OUT]}}
    - {name: b, image: img, run: "true", depends_on: [a]}
    - {name: c, image: img, run: "true", depends_on: [b], store: {file: [c.txt]}}
    - {name: d, image: img, run: "true", depends_on: [a]}
    - {name: e, image: img, run: "true"}
    """,
)

FAN_IN = cascade_yaml(
    "fanin",
    """
    - {name: a, image: img, run: "true"}
    - {name: b, image: img, run: "true"}
    - {name: c, image: img, run: "true", depends_on: [a, b]}
    """,
)

BRANCHES = cascade_yaml(
    "branches",
    """
    - {name: deploy, image: img, run: "true"}
    - {name: on_success, image: img, run: "true", depends_on: [deploy]}
    - name: on_error
      image: img
      run: "true"
      depends_on: {error: [deploy]}
    - name: cleanup
      image: img
      run: "true"
      depends_on: {always: [deploy]}
    """,
)


# ------------------------------------------------------------------ rule 1: start and reset


async def test_whole_cascade_runs_in_dependency_order():
    async with Harness(CHAIN) as h:
        wave = await h.start()
        assert h.states() == dict.fromkeys("abcde", "success")
        order = h.started_order()
        assert order.index("a") < order.index("b") < order.index("c")
        assert order.index("a") < order.index("d")
        assert h.engine.wave(wave.id).ended_at is not None
        runs = await h.runs("b")
        assert runs[0].trigger is Trigger.PARENT and runs[0].triggered_by == "a"
        assert runs[0].wave_id == wave.id


async def test_start_middle_task_resets_exactly_its_descendants_and_reruns_them():
    async with Harness(CHAIN) as h:
        await h.start()
        h.events.clear()
        await h.engine.start(h.name, "b", by="alice")
        # Right after the start (before anything ran) the descendants are reset, nothing else.
        assert h.state("c") == "not_started"
        assert h.state("a") == "success" and h.state("d") == "success" and h.state("e") == "success"
        resets = {e.data["task"] for e in h.events if e.kind == "task" and e.data["state"] == "not_started"}
        assert resets == {"c"}
        await h.settle()
        assert h.states() == dict.fromkeys("abcde", "success")
        assert [r.number for r in await h.runs("b")] == [2, 1]
        assert [r.number for r in await h.runs("a")] == [1]
        assert (await h.runs("b"))[0].triggered_by == "alice"


async def test_preview_lists_the_same_reset_set_before_anything_happens():
    async with Harness(CHAIN) as h:
        await h.start()
        before = h.states()
        preview = h.engine.preview(h.name, "b")
        assert h.states() == before  # a preview changes nothing
        assert preview.start == ["b"]
        assert preview.reset == ["c"]
        assert preview.will_run == ["c"]
        assert preview.overwrites == {"env": [], "file": [{"name": "c.txt", "task": "c"}]}
        assert preview.refused is None
        whole = h.engine.preview(h.name)
        assert whole.start == ["a", "e"] and whole.reset == ["b", "c", "d"]
        assert whole.overwrites["env"] == [{"name": "A_OUT", "task": "a"}]


async def test_start_refused_while_task_running_with_reason():
    async with Harness(CHAIN) as h:
        h.executor.behave("b", hang=True)
        await h.start()
        assert h.state("b") == "running"
        with pytest.raises(Conflict, match="task 'b' is running"):
            await h.engine.start(h.name, "b")
        with pytest.raises(Conflict, match=r"'b' \(downstream of a\) is running.*force"):
            await h.engine.start(h.name, "a")
        with pytest.raises(Conflict, match=r"'b' \(upstream of c\) is running"):
            await h.engine.start(h.name, "c")
        assert h.engine.preview(h.name, "a").refused is not None
        # e is independent: it may start
        await h.engine.start(h.name, "e")
        await h.engine.kill(h.name, "b")


async def test_force_kills_running_descendants_first():
    async with Harness(CHAIN) as h:
        h.executor.behave("b", hang=True)
        await h.start()
        assert h.state("b") == "running"
        h.executor.behave("b")  # the re-run succeeds
        await h.engine.start(h.name, "a", force=True, by="bob")
        await h.settle()
        runs = await h.runs("b")
        assert runs[1].state.value == "killed" and runs[1].reason == "killed by bob"
        assert runs[0].state.value == "success"
        assert h.states() == dict.fromkeys("abcde", "success")


async def test_disabled_task_refuses_to_start_by_hand_and_on_its_own():
    async with Harness(CHAIN) as h:
        await h.engine.set_task_flags(h.name, "b", disabled=True)
        with pytest.raises(Conflict, match="disabled"):
            await h.engine.start(h.name, "b")
        await h.start()
        assert h.state("b") == "not_started" and h.state("c") == "not_started"
        assert h.view("b").reason == "disabled"
        assert h.view("c").display.value == "blocked"
        assert h.view("c").reason == "waits for b: disabled"


async def test_unknown_cascade_and_task_are_not_found():
    async with Harness(CHAIN) as h:
        with pytest.raises(NotFound):
            await h.engine.start("nope")
        with pytest.raises(NotFound, match="no task 'zz'"):
            await h.engine.start(h.name, "zz")


# -------------------------------------------------------------- rule 3: propagation, kinds


async def test_success_branch_runs_and_error_branch_is_skipped():
    async with Harness(BRANCHES) as h:
        await h.start()
        assert h.state("on_success") == "success"
        assert h.state("cleanup") == "success"
        assert h.state("on_error") == "not_started"
        assert h.view("on_error").display.value == "skipped"


async def test_error_branch_and_always_run_when_parent_fails():
    async with Harness(BRANCHES) as h:
        h.executor.behave("deploy", exit_code=3)
        await h.start()
        assert h.state("deploy") == "error"
        runs = await h.runs("deploy")
        assert runs[0].reason == "exit code 3" and runs[0].exit_code == 3
        assert h.state("on_error") == "success"
        assert h.state("cleanup") == "success"
        assert h.state("on_success") == "not_started"
        assert h.view("on_success").display.value == "blocked"
        assert h.view("on_success").reason == "waits for deploy: error"


async def test_killed_parent_satisfies_nothing():
    async with Harness(BRANCHES) as h:
        h.executor.behave("deploy", hang=True)
        await h.start()
        await h.engine.kill(h.name, "deploy", by="carol")
        await h.settle()
        assert h.state("deploy") == "killed"
        for child in ("on_success", "on_error", "cleanup"):
            assert h.state(child) == "not_started", child
            assert h.view(child).display.value == "blocked"
        assert h.view("cleanup").reason == "waits for deploy: killed"


async def test_child_starts_on_the_event_without_any_clock_advance():
    async with Harness(CHAIN) as h:
        h.executor.behave("a", duration=5)
        await h.start()
        assert h.state("a") == "running" and h.state("b") == "not_started"
        await h.advance(5)  # a ends at t+5; b follows in the same event-loop turns, no poll interval
        assert h.state("b") == "success"
        assert h.clock.pending == 0


# --------------------------------------------------------------------------- rule 4: fan-in


async def test_fan_in_waits_for_both_parents_again_after_rerun():
    async with Harness(FAN_IN) as h:
        await h.start()
        assert h.state("c") == "success"
        h.executor.behave("a", duration=10)
        await h.start("a")
        assert h.state("c") == "not_started"
        assert h.view("c").reason.startswith("reset: a was started") or "waits for a" in h.view("c").reason
        await h.advance(10)
        assert h.state("c") == "success"
        assert len(await h.runs("c")) == 2


async def test_fan_in_blocked_by_failed_parent():
    async with Harness(FAN_IN) as h:
        h.executor.behave("b", exit_code=1)
        await h.start()
        assert h.state("a") == "success" and h.state("b") == "error"
        assert h.state("c") == "not_started"
        view = h.view("c")
        assert view.display.value == "blocked" and view.reason == "waits for b: error"
        # fixing b and re-running it unblocks c
        h.executor.behave("b")
        await h.start("b")
        assert h.state("c") == "success"


async def test_blocked_propagates_down_a_chain():
    async with Harness(CHAIN) as h:
        h.executor.behave("a", exit_code=1)
        await h.start()
        assert h.view("b").reason == "waits for a: error"
        assert h.view("c").display.value == "blocked" and h.view("c").reason == "waits for b: blocked"


# -------------------------------------------------------------------- approval (manual gate)


async def test_manual_gate_awaits_approval_then_runs_by_hand():
    text = cascade_yaml(
        "gate",
        """
        - {name: plan, image: img, run: "true"}
        - {name: apply, image: img, run: "true", depends_on: [plan], auto_execute: false}
        - {name: verify, image: img, run: "true", depends_on: [apply]}
        """,
    )
    async with Harness(text) as h:
        await h.start()
        assert h.state("plan") == "success" and h.state("apply") == "not_started"
        assert h.view("apply").display.value == "awaiting_approval"
        assert h.view("verify").display.value == "not_started"
        await h.start("apply")
        assert h.state("apply") == "success" and h.state("verify") == "success"


# ----------------------------------------------------------------------- rule 5: inputs


async def test_input_change_resets_users_and_descendants_without_starting_them():
    text = cascade_yaml(
        "inputs",
        """
        - {name: a, image: img, run: "true"}
        - {name: b, image: img, run: "true", depends_on: [a], inputs: [TOKEN]}
        - {name: c, image: img, run: "true", depends_on: [b]}
        - {name: d, image: img, run: "true", depends_on: [a], inputs: {REGION: REGION}}
        """,
        inputs="""
        - {name: TOKEN, type: password, default: s3cret-value}
        - {name: REGION, default: eu-west-1}
        """,
    )
    async with Harness(text) as h:
        await h.start()
        assert h.executor.requests[1].env["TOKEN"] == "s3cret-value"
        reset = await h.engine.set_inputs(h.name, {"TOKEN": "n3w-secret"}, by="dave")
        assert reset == ["b", "c"]
        await h.settle()
        assert h.state("a") == "success" and h.state("d") == "success"
        assert h.state("b") == "not_started" and h.state("c") == "not_started"
        assert h.view("b").reason == "input TOKEN changed"
        assert await h.engine.set_inputs(h.name, {"TOKEN": "n3w-secret"}) == []  # unchanged value
        await h.start("b")
        assert h.executor.requests[-2].env["TOKEN"] == "n3w-secret"
        assert (await h.store.get_inputs(h.name))["TOKEN"] == "n3w-secret"


async def test_input_change_refused_while_a_user_runs():
    text = cascade_yaml(
        "inputs2",
        "- {name: b, image: img, run: 'true', inputs: [TOKEN]}",
        inputs="- {name: TOKEN, default: x}",
    )
    async with Harness(text) as h:
        h.executor.behave("b", hang=True)
        await h.start()
        with pytest.raises(Conflict, match="'b' uses this input"):
            await h.engine.set_inputs(h.name, {"TOKEN": "y"})
        with pytest.raises(NotFound, match="no input 'NOPE'"):
            await h.engine.set_inputs(h.name, {"NOPE": "y"})
        await h.engine.kill(h.name, "b")


# ------------------------------------------------------------------------- rule 6: checks


CHECKED = cascade_yaml(
    "checked",
    """
    - name: deploy
      image: img
      run: "true"
      check: {interval: 60s, run: "curl -f http://svc/health"}
    - {name: page_oncall, image: img, run: "true", depends_on: {error: [deploy]}}
    """,
)


async def test_check_runs_every_interval_and_failure_moves_task_to_error():
    async with Harness(CHECKED) as h:
        await h.start()
        assert h.state("deploy") == "success"
        await h.advance(59)
        assert await h.runs("deploy", kind=RunKind.CHECK) == []
        await h.advance(1)
        checks = await h.runs("deploy", kind=RunKind.CHECK)
        assert [c.state.value for c in checks] == ["success"]
        assert checks[0].trigger is Trigger.CHECK
        await h.advance(60)
        assert len(await h.runs("deploy", kind=RunKind.CHECK)) == 2
        h.executor.check_behaviors["deploy"] = __import__(
            "scaffold.executors.fake", fromlist=["Behavior"]
        ).Behavior(exit_code=7)
        await h.advance(60)
        assert h.state("deploy") == "error"
        assert h.view("deploy").reason == "check failed: exit code 7"
        assert h.state("page_oncall") == "success"
        runs = await h.runs("page_oncall")
        assert runs[0].trigger is Trigger.PARENT
        # no more checks once the task is no longer in success
        await h.advance(600)
        assert len(await h.runs("deploy", kind=RunKind.CHECK)) == 3
        assert len(await h.runs("deploy")) == 1  # check runs have their own history


async def test_check_stops_when_task_is_reset():
    async with Harness(CHECKED) as h:
        await h.start()
        h.executor.behave("deploy", hang=True)
        await h.start("deploy")
        await h.advance(120)
        assert await h.runs("deploy", kind=RunKind.CHECK) == []
        await h.engine.kill(h.name, "deploy")


# ---------------------------------------------------------------- rule 7: timeouts, retries


async def test_timeout_kills_the_run_and_ends_in_error():
    text = cascade_yaml("slow", "- {name: t, image: img, run: 'sleep 1000', timeout: 30m}")
    async with Harness(text) as h:
        h.executor.behave("t", hang=True)
        await h.start()
        await h.advance(30 * 60 - 1)
        assert h.state("t") == "running"
        await h.advance(1)
        assert h.state("t") == "error"
        assert h.view("t").reason == "timed out after 30m"


async def test_retries_keep_every_attempt_in_history():
    text = cascade_yaml(
        "flaky",
        """
        - {name: t, image: img, run: "true", retries: {count: 2, delay: 10s}}
        - {name: after, image: img, run: "true", depends_on: [t]}
        """,
    )
    async with Harness(text) as h:
        h.executor.behave("t", exit_code=1)
        await h.start()
        assert h.state("t") == "waiting"  # waiting for the retry, children untouched
        assert h.state("after") == "not_started"
        await h.advance(10)
        h.executor.behave("t")  # third attempt succeeds
        await h.advance(10)
        runs = await h.runs("t")
        assert [(r.number, r.attempt, r.state.value, r.trigger.value) for r in runs] == [
            (3, 3, "success", "retry"),
            (2, 2, "error", "retry"),
            (1, 1, "error", "user"),
        ]
        assert h.state("t") == "success" and h.state("after") == "success"
        assert len({r.wave_id for r in runs}) == 1


async def test_retries_exhausted_settles_in_error():
    text = cascade_yaml("flaky2", "- {name: t, image: img, run: 'false', retries: 1}")
    async with Harness(text) as h:
        h.executor.behave("t", exit_code=2)
        await h.start()
        await h.advance(0)
        assert h.state("t") == "error"
        assert len(await h.runs("t")) == 2


async def test_kill_during_retry_wait():
    text = cascade_yaml("flaky3", "- {name: t, image: img, run: 'false', retries: {count: 5, delay: 1h}}")
    async with Harness(text) as h:
        h.executor.behave("t", exit_code=2)
        await h.start()
        await h.engine.kill(h.name, "t", by="erin")
        assert h.state("t") == "killed"
        assert [r.state.value for r in await h.runs("t")] == ["killed", "error"]


# ---------------------------------------------------------------------------- rule 8: kill


async def test_kill_running_task_children_stay_not_started():
    async with Harness(CHAIN) as h:
        h.executor.behave("a", hang=True)
        await h.start()
        await h.engine.kill(h.name, "a", by="frank")
        await h.settle()
        assert h.state("a") == "killed"
        assert h.state("b") == "not_started" and h.state("d") == "not_started"
        run = (await h.runs("a"))[0]
        assert run.reason == "killed by frank"
        with pytest.raises(Conflict, match="nothing to kill"):
            await h.engine.kill(h.name, "a")


async def test_kill_waiting_task_queued_behind_the_concurrency_limit():
    text = cascade_yaml(
        "wide",
        "\n".join(f"- {{name: t{i}, image: img, run: 'true'}}" for i in range(5)),
    )
    async with Harness(text, max_running=2) as h:
        for i in range(5):
            h.executor.behave(f"t{i}", hang=True)
        await h.start()
        running = [n for n, s in h.states().items() if s == "running"]
        waiting = [n for n, s in h.states().items() if s == "waiting"]
        assert len(running) == 2 and len(waiting) == 3
        await h.engine.kill(h.name, waiting[0])
        assert h.state(waiting[0]) == "killed"
        await h.engine.kill(h.name, running[0])
        await h.settle()
        assert sum(s == "running" for s in h.states().values()) == 2
        for name in [n for n, s in h.states().items() if s in ("running", "waiting")]:
            await h.engine.kill(h.name, name)


# ----------------------------------------------------------------------------------- waves


async def test_each_start_is_a_wave_that_ends_when_nothing_is_active():
    async with Harness(CHAIN) as h:
        h.executor.behave("c", duration=5)
        w1 = await h.start()
        assert h.engine.wave(w1.id).ended_at is None
        await h.advance(5)
        assert h.engine.wave(w1.id).ended_at is not None
        w2 = await h.start("e")
        assert w2.id != w1.id
        waves = await h.store.list_waves(h.name)
        assert [w.id for w in waves] == [w2.id, w1.id]
        assert {r.wave_id for r in await h.store.list_runs(h.name, wave_id=w1.id)} == {w1.id}
        assert len(await h.store.list_runs(h.name, wave_id=w1.id)) == 5


# ------------------------------------------------------------------- datastore load / store


async def test_stored_values_and_files_are_loaded_by_children():
    text = cascade_yaml(
        "data",
        """
        - {name: w, image: img, run: "true", store: {env: [MESSAGE], file: [f.txt]}}
        - {name: r, image: img, run: "true", depends_on: [w], load: {env: [MESSAGE], file: [f.txt]}}
        """,
    )
    async with Harness(text) as h:
        h.executor.behave("w", stored_env={"MESSAGE": b"Hello\nworld"}, stored_files={"f.txt": b"FOOBAR\n"})
        await h.start()
        req = h.executor.requests[-1]
        assert req.load_env == {"MESSAGE": b"Hello\nworld"} and req.files == {"f.txt": b"FOOBAR\n"}
        assert req.env["SCAFFOLD_TASK"] == "r" and req.env["SCAFFOLD_RUN"] == "1"
        versions = await h.store.value_versions(h.name, "MESSAGE")
        assert versions[0].written_by == "run:data:w:1"
        run = (await h.runs("r"))[0]
        assert run.loaded == {"env": ["MESSAGE"], "file": ["f.txt"]}


async def test_missing_store_file_ends_in_error_and_loads_missing_value_fail():
    text = cascade_yaml(
        "data2",
        """
        - {name: w, image: img, run: "true", store: {file: [out.txt]}}
        - {name: r, image: img, run: "true", load: {env: [NEVER_STORED]}}
        """,
    )
    async with Harness(text) as h:
        h.executor.behave("w", missing_files=("out.txt",))
        await h.start()
        assert h.view("w").reason == "store failed: file 'out.txt' was not written to /tmp/run"
        assert h.state("r") == "error"
        assert "env value 'NEVER_STORED' is not in the datastore" in h.view("r").reason


async def test_env_precedence_literal_env_beats_inputs_and_scaffold_vars_win():
    text = cascade_yaml(
        "prec",
        "- {name: t, image: img, run: 'true', inputs: {X: IN}, env: {X: literal, SCAFFOLD_TASK: spoof}}",
        inputs="- {name: IN, default: from-input}",
    )
    async with Harness(text) as h:
        await h.start()
        env = h.executor.requests[0].env
        assert env["X"] == "literal" and env["SCAFFOLD_TASK"] == "t"


# ----------------------------------------------------------------------- secrets in logs


async def test_password_inputs_are_masked_in_logs_even_across_chunks():
    text = cascade_yaml(
        "secret",
        "- {name: t, image: img, run: 'echo $P', inputs: [P]}",
        inputs="- {name: P, type: password, default: hunter2-very-secret}",
    )
    async with Harness(text) as h:
        h.executor.behave(
            "t",
            logs=[b"pass: hunter2-ve", b"ry-secret\nagain hunter2-very-secret", b" end\n"],
            display=b'[{"kind": "value", "name": "pw", "data": "hunter2-very-secret"}]',
        )
        await h.start()
        text_log, _, _ = await h.store.read_log("secret:t:1")
        assert "hunter2" not in text_log
        assert text_log == "pass: ********\nagain ******** end\n"
        streamed = "".join(e.data["text"] for e in h.events if e.kind == "log")
        assert streamed == text_log
        run = (await h.runs("t"))[0]
        assert run.display == [{"kind": "value", "name": "pw", "data": "********"}]
        assert h.executor.requests[0].secrets == ("hunter2-very-secret",)


async def test_invalid_display_is_reported_on_the_run_not_fatal():
    text = cascade_yaml("disp", "- {name: t, image: img, run: 'true'}")
    async with Harness(text) as h:
        h.executor.behave("t", display=b"[{not json")
        await h.start()
        run = (await h.runs("t"))[0]
        assert run.state.value == "success"
        assert run.display_error.startswith("invalid .display: invalid JSON at line 1")


# --------------------------------------------------------------------- rule 9: recovery


async def test_restart_adopts_finishes_or_loses_active_runs():
    text = cascade_yaml(
        "restart",
        """
        - {name: adopted, image: img, run: "true"}
        - {name: gone, image: img, run: "true"}
        - {name: queued, image: img, run: "true"}
        - {name: child, image: img, run: "true", depends_on: [adopted]}
        """,
    )
    from scaffold.engine.ports import RunResult
    from scaffold.engine.scheduler import Engine
    from scaffold.executors.fake import FakeExecutor

    async with Harness(text, max_running=2) as h:
        for name in ("adopted", "gone", "queued"):
            h.executor.behave(name, hang=True)
        await h.start()
        assert h.states() == {
            "adopted": "running",
            "gone": "running",
            "queued": "waiting",
            "child": "not_started",
        }
        # The process dies: drop the engine without killing anything.
        await h.engine.close()
        executor = FakeExecutor(h.clock)
        executor.adoptable["restart:adopted:1"] = RunResult(exit_code=0)
        executor.adoptable["restart:gone:1"] = None
        engine = Engine(h.store, executor, clock=h.clock, max_running=2)
        await engine.open()
        await h.settle()
        rows = engine.cascades["restart"].rows
        assert rows["adopted"].state.value == "success"
        assert rows["child"].state.value == "success"  # propagation continues after adoption
        assert rows["gone"].state.value == "error"
        assert rows["gone"].reason == "lost: the server restarted and the container is gone"
        assert rows["queued"].state.value == "success"  # re-queued and run
        assert not any(r.state.active for r in rows.values())
        assert await h.store.active_runs() == []
        waves = await h.store.list_waves("restart")
        assert waves[0].ended_at is not None
        await engine.close()


# ------------------------------------------------------------------------ re-apply (SPEC 1)


async def test_reapply_resets_changed_tasks_and_descendants_keeps_others():
    async with Harness(CHAIN) as h:
        await h.start()
        changed = CHAIN.replace('{name: b, image: img, run: "true"', '{name: b, image: img2, run: "true"')
        result = await h.apply(changed)
        assert result.version == 2
        assert list(result.changes.changed) == ["b"]
        assert h.state("b") == "not_started" and h.state("c") == "not_started"
        assert h.state("a") == "success" and h.state("d") == "success"
        assert h.view("b").reason == "definition changed: image"
        assert h.view("c").reason == "waits for b (reset: downstream of b)"
        removed = changed.replace('  - {name: e, image: img, run: "true"}\n', "")
        result = await h.apply(removed)
        assert list(result.changes.removed) == ["e"]
        assert "e" not in h.engine.cascades[h.name].rows
        assert len(await h.runs("e")) == 1  # history stays readable
        # re-adding keeps numbering after the old history
        await h.apply(changed)
        await h.start("e")
        assert [r.number for r in await h.runs("e")] == [2, 1]


async def test_reapply_refused_when_it_would_reset_a_running_task():
    async with Harness(CHAIN) as h:
        h.executor.behave("b", hang=True)
        await h.start()
        changed = CHAIN.replace('{name: b, image: img, run: "true"', '{name: b, image: img2, run: "true"')
        with pytest.raises(Conflict, match="task 'b' is running"):
            await h.apply(changed)
        await h.engine.kill(h.name, "b")


async def test_reapply_toggling_disabled_or_auto_execute_updates_in_place_without_reset():
    async with Harness(CHAIN) as h:
        await h.start()
        toggled = CHAIN.replace(
            '{name: b, image: img, run: "true"', '{name: b, image: img, run: "true", disabled: true'
        )
        result = await h.apply(toggled)
        assert list(result.changes.changed) == ["b"] and list(result.changes.reset) == []
        assert h.states() == dict.fromkeys("abcde", "success")
        assert h.view("b").disabled
        with pytest.raises(Conflict, match="disabled"):
            await h.engine.start(h.name, "b")


async def test_reapply_input_description_change_keeps_the_value():
    text = cascade_yaml(
        "desc",
        "- {name: t, image: img, run: 'true', inputs: [X]}",
        inputs="- {name: X, default: one, description: old}",
    )
    async with Harness(text) as h:
        await h.engine.set_inputs(h.name, {"X": "custom"})
        await h.start()
        await h.apply(text.replace("description: old", "description: new"))
        assert (await h.store.get_inputs(h.name))["X"] == "custom"
        assert h.state("t") == "success"
        await h.apply(text.replace("default: one", "default: two"))
        assert (await h.store.get_inputs(h.name))["X"] == "two"
        assert h.state("t") == "not_started"


async def test_reapplying_the_identical_file_stores_no_new_version():
    async with Harness(CHAIN) as h:
        result = await h.apply(CHAIN)
        assert result.version == 1 and not result.changes
        assert len(await h.store.cascade_versions(h.name)) == 1
        result = await h.apply(CHAIN + "# a comment\n")
        assert result.version == 2  # the text changed, even if the definition did not


async def test_whole_cascade_start_refused_while_a_task_outside_the_roots_subtrees_runs():
    text = cascade_yaml(
        "gated_root",
        """
        - {name: auto_root, image: img, run: "true"}
        - {name: gate, image: img, run: "true", auto_execute: false}
        - {name: after_gate, image: img, run: "true", depends_on: [gate]}
        """,
    )
    async with Harness(text) as h:
        h.executor.behave("after_gate", hang=True)
        await h.start("gate")
        assert h.state("after_gate") == "running"
        before = h.states()
        with pytest.raises(Conflict, match=r"'after_gate' \(reset by this start\) is running.*force"):
            await h.engine.start(h.name)
        assert h.states() == before  # nothing half-done
        assert (await h.store.load_tasks(h.name))["gate"].state.value == "success"
        h.executor.behave("after_gate")
        await h.engine.start(h.name, force=True)
        await h.settle()
        assert h.state("after_gate") == "not_started" and h.state("gate") == "not_started"
        assert h.state("auto_root") == "success"
        stored = await h.store.load_tasks(h.name)
        assert {n: r.state.value for n, r in stored.items()} == h.states()


async def test_no_moment_with_nothing_active_between_a_parent_and_its_children():
    """Children start in the same step as their parent's result, not after it is written: an
    observer must never see nothing active while the wave still has tasks to run."""
    import asyncio

    async with Harness(CHAIN) as h:
        gate = asyncio.Event()
        original = h.store.update_task

        async def slow_update(row, expected):
            if row.name == "a" and row.state.value == "success":
                await gate.wait()  # the parent's result is slow to be written
            return await original(row, expected)

        h.store.update_task = slow_update
        await h.start()
        assert h.state("a") == "success"
        assert h.state("b") in ("waiting", "running", "success")  # already started
        gate.set()
        await h.settle()
        assert h.states() == dict.fromkeys("abcde", "success")
