"""The task panel, the start dialog with its reset preview, kill and the task toggles, in a real
browser against a real ``scaffold serve`` with real Docker.

The cascade page loads the panel with htmx into its ``<aside id="task-panel">`` and the start
dialog into its ``<div id="dialog-slot">``; ``open_panel`` opens it there with ``?task=`` (so these
tests do not depend on the graph's markup). ``/cascades/{c}/tasks/{t}`` opened directly is the same
panel on a page of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from tests.browser.conftest import example

SLOW = """\
version: v1
name: {name}
tasks:
  - name: ticker
    image: busybox:latest
    run: |
      echo "starting to tick"
      for i in 1 2 3 4 5 6 7 8 9 10; do echo "tick $i"; sleep 0.6; done
      echo "done ticking"
  - name: sleeper
    image: busybox:latest
    run: |
      trap 'echo "got TERM"; exit 143' TERM
      echo "sleeping for a long time"
      i=0; while [ $i -lt 900 ]; do sleep 0.2; i=$((i+1)); done
  - name: after
    image: busybox:latest
    depends_on: [ticker]
    run: echo "after the ticker"
  - name: chatty
    image: busybox:latest
    run: |
      i=0; while [ $i -lt 300 ]; do echo "line $i of a long log"; i=$((i+1)); done
      echo '[{{"kind": "value", "name": "progress", "data": "half way", "color": "blue"}}]' >/tmp/run/.display
      i=0; while [ $i -lt 25 ]; do echo "more $i"; sleep 0.4; i=$((i+1)); done
  - name: gate
    image: busybox:latest
    run: echo "gate open"
  - name: long_child
    image: busybox:latest
    depends_on: [gate]
    run: |
      trap 'exit 143' TERM
      echo "a long child"
      i=0; while [ $i -lt 900 ]; do sleep 0.2; i=$((i+1)); done
"""


def wait_board(ui, cascade: str, ok: Callable[[dict[str, str]], bool], timeout: float = 90) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        board = ui.board(cascade)
        if ok(board):
            return board
        assert time.monotonic() < deadline, f"the board never got there: {board}"
        time.sleep(0.2)


def run_numbers(ui, cascade: str) -> dict[str, int]:
    response = ui.admin.get(f"/api/v1/cascades/{cascade}/tasks")
    assert response.status_code == 200, response.text
    return {t["name"]: t["run"] for t in response.json()}


def open_panel(ui, page, cascade: str, task: str, query: str = "") -> object:
    """The cascade page with the task's panel open (``?task=``: as after a click on its node)."""
    page.goto(f"{ui.url}/cascades/{quote(cascade)}?task={quote(task)}{query}")
    page.wait_for_selector("#task-panel [data-task-panel][data-ready]")
    page.wait_for_timeout(250)  # the slide-in
    return page.locator("#task-panel")


def state_chip(page):
    return page.locator("#task-panel .tp-state")


def test_live_log_while_the_task_runs_then_search_and_download(ui, login, shot):
    from playwright.sync_api import expect

    ui.apply(SLOW.format(name="ui-live"), groups=["team"])
    page = login("writer")
    panel = open_panel(ui, page, "ui-live", "ticker")
    expect(panel).to_be_visible()
    expect(state_chip(page)).to_contain_text("not started")
    expect(panel.locator("[data-tp-start]")).to_contain_text("Start")

    # start it through the panel: the dialog says what starts and that nothing is reset but 'after'
    panel.locator("[data-tp-start]").click()
    dialog = page.locator("dialog[data-start-dialog][open]")
    expect(dialog).to_be_visible()
    assert dialog.locator("[data-sd-start] .sd-name").all_inner_texts() == ["ticker"]
    assert dialog.locator("[data-sd-reset] .sd-name").all_inner_texts() == ["after"]
    assert page.evaluate("document.activeElement.hasAttribute('data-sd-confirm')")  # focus on Start
    page.keyboard.press("Enter")
    expect(page.locator(".toast")).to_contain_text("started wave")
    expect(dialog).to_have_count(0)

    # the panel follows the new run live: state, then log lines while it still runs
    expect(state_chip(page)).to_contain_text("running", timeout=30_000)
    log = panel.locator("[data-tp-log]")
    expect(log).to_contain_text("tick 2", timeout=30_000)
    assert "running" in state_chip(page).inner_text()  # the lines came while it ran
    expect(panel.locator("[data-tp-live]")).to_be_visible()
    shot(page, "task-panel-live-log")
    expect(state_chip(page)).to_contain_text("success", timeout=30_000)
    expect(log).to_contain_text("done ticking")
    text = log.inner_text()
    for i in range(1, 11):
        assert text.count(f"tick {i}\n") == 1, text  # every line once, none lost or doubled
    stored = ui.admin.get("/api/v1/cascades/ui-live/tasks/ticker/runs/1/logs").json()["text"]
    assert text.strip() == stored.strip()
    expect(panel.locator("[data-tp-live]")).to_have_count(0)
    expect(panel.locator(".tp-exit")).to_have_text("0")

    # search: highlights, counts, next/previous
    search = panel.locator("[data-tp-search-input]")
    search.fill("tick")
    expect(panel.locator("[data-tp-count]")).to_have_text("1 of 12")
    assert panel.locator("mark.tp-hit").count() == 12
    search.press("Enter")
    expect(panel.locator("[data-tp-count]")).to_have_text("2 of 12")
    panel.locator("[data-tp-prev]").click()
    panel.locator("[data-tp-prev]").click()
    expect(panel.locator("[data-tp-count]")).to_have_text("12 of 12")
    assert panel.locator("mark.tp-hit.current").inner_text().lower() == "tick"
    search.fill("no such words")
    expect(panel.locator("[data-tp-count]")).to_have_text("no match")
    search.press("Escape")  # clears the search, keeps the panel
    expect(search).to_have_value("")
    expect(panel).to_be_visible()
    assert panel.locator("mark").count() == 0

    # download: the whole stored log as a text attachment
    with page.expect_download() as download:
        panel.locator("[data-tp-download]").click()
    path = download.value.path()
    assert download.value.suggested_filename == "ui-live-ticker-run1.log"
    assert Path(path).read_text(encoding="utf-8") == stored

    # Escape closes the panel (the aside is hidden again)
    page.locator("#tp-title").focus()
    page.keyboard.press("Escape")
    expect(page.locator("#task-panel")).to_be_hidden()


def test_the_log_follows_until_scrolled_up_and_display_items_come_live(ui, login, shot):
    from playwright.sync_api import expect

    ui.apply(SLOW.format(name="ui-follow"), groups=["team"])
    page = login("writer")
    panel = open_panel(ui, page, "ui-follow", "chatty")
    assert ui.admin.post("/api/v1/cascades/ui-follow/start", json={"task": "chatty"}).status_code == 200
    log = panel.locator("[data-tp-log]")
    expect(log).to_contain_text("more 1", timeout=30_000)
    at_bottom = "(el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 6"
    assert log.evaluate(at_bottom)  # following the end
    # the display item written while it runs shows up before the run ends
    expect(panel.locator(".dsp-k-value.dc-blue .dsp-value")).to_have_text("half way")
    assert "running" in state_chip(page).inner_text()
    # scrolling up stops following; new lines do not pull the view down
    log.hover()
    page.mouse.wheel(0, -3000)
    follow = panel.locator("[data-tp-follow]")
    expect(follow).not_to_be_checked()
    top = log.evaluate("(el) => el.scrollTop")
    seen = log.inner_text().count("more ")
    expect(log).to_contain_text(f"more {seen + 1}", timeout=30_000)
    assert log.evaluate("(el) => el.scrollTop") == top
    shot(page, "task-panel-scrolled-up")
    follow.check()  # following again: at the end, and it stays there
    assert log.evaluate(at_bottom)
    seen = log.inner_text().count("more ")
    expect(log).to_contain_text(f"more {seen + 1}", timeout=30_000)
    assert log.evaluate(at_bottom)
    expect(state_chip(page)).to_contain_text("success", timeout=30_000)
    text = log.inner_text()
    assert text.count("line 0 of a long log") == 1 and text.count("more 24") == 1


def test_the_panel_as_a_page_with_display_items_values_and_earlier_runs(ui, login, shot):
    from playwright.sync_api import expect

    ui.apply(example("report"), groups=["team"])
    assert ui.admin.post("/api/v1/cascades/report/start", json={}).status_code == 200
    wait_board(ui, "report", lambda b: set(b.values()) == {"success"})
    assert ui.admin.post("/api/v1/cascades/report/start", json={"task": "summarise"}).status_code == 200
    wait_board(
        ui, "report", lambda b: b["summarise"] == "success" and run_numbers(ui, "report")["summarise"] == 2
    )

    page = login("writer")
    response = page.goto(ui.url + "/cascades/report/tasks/summarise")
    assert response.status == 200
    panel = page.locator("[data-task-panel]")
    expect(panel.locator(".tp-run h3")).to_contain_text("Run 2")
    table = panel.locator(".dsp-k-table table")
    assert table.locator("th").all_text_contents() == ["host", "region", "status"]
    assert table.locator("tbody tr").count() == 2
    expect(panel.locator(".dsp-k-value.dc-green .dsp-value")).to_have_text("2")
    expect(panel.locator(".dsp-k-pre pre")).to_have_text("see the task log")
    loaded = panel.locator(".tp-datastore dd").first.inner_text()
    assert "HOST_COUNT" in loaded and "REGIONS" in loaded and "hosts.txt" in loaded
    assert panel.locator(".tp-runs tbody tr").count() == 2
    shot(page, "task-panel-page-display")

    # an earlier run opens in the same place, and says it is not the latest
    panel.locator(".tp-runs a", has_text="run 1").click()
    page.wait_for_url("**/tasks/summarise?run=1")
    expect(page.locator(".tp-run h3")).to_contain_text("Run 1")
    expect(page.locator(".tp-note", has_text="An earlier run")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "task-panel-page-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_rerun_a_middle_task_resets_exactly_its_descendants(ui, login, shot):
    from playwright.sync_api import expect

    cascade, task = "application-deploy", "create_db_users"
    ui.apply(example(cascade), groups=["team"])
    assert ui.admin.post(f"/api/v1/cascades/{cascade}/start", json={}).status_code == 200
    wait_board(ui, cascade, lambda b: set(b.values()) == {"success"}, timeout=180)
    before = run_numbers(ui, cascade)
    preview = ui.admin.post(f"/api/v1/cascades/{cascade}/start", json={"task": task, "dry_run": True})
    assert preview.status_code == 200, preview.text
    expected = preview.json()["preview"]

    page = login("writer")
    panel = open_panel(ui, page, cascade, task)
    expect(panel.locator("[data-tp-start]")).to_contain_text("Re-run")
    panel.locator("[data-tp-start]").click()
    dialog = page.locator("dialog[data-start-dialog][open]")
    expect(dialog).to_be_visible()
    assert dialog.locator("[data-sd-start] .sd-name").all_inner_texts() == expected["start"] == [task]
    reset = dialog.locator("[data-sd-reset] .sd-name").all_inner_texts()
    assert reset == expected["reset"]  # exactly the API's preview, in its order
    assert dialog.locator("[data-sd-reset-count]").inner_text() == str(len(reset))
    assert dialog.locator("[data-sd-will-run] .chip").all_inner_texts() == expected["will_run"]
    descendants = {"deploy_application", "deploy_traefik", "run_tests", "register_new", "east_coast_check",
                   "midwest_check", "west_coast_check", "deregister_old", "destroy_old_application",
                   "destroy_old_traefik"}  # fmt: skip
    assert set(reset) == descendants
    shot(page, "start-dialog-rerun-middle-task")

    dialog.locator("[data-sd-confirm]").click()
    expect(page.locator(".toast")).to_contain_text("started wave")
    board = ui.board(cascade)
    for name, display in board.items():
        if name in descendants:
            assert display in ("not_started", "blocked", "waiting", "running"), (name, board)
        elif name != task:
            assert display == "success", (name, board)
    expect(state_chip(page)).to_contain_text("success", timeout=60_000)
    wait_board(ui, cascade, lambda b: set(b.values()) == {"success"}, timeout=180)
    after = run_numbers(ui, cascade)
    rerun = {name for name in after if after[name] != before[name]}
    assert rerun == descendants | {task}  # exactly those ran again
    assert all(after[name] == before[name] + 1 for name in rerun)
    expect(panel.locator(".tp-run h3")).to_contain_text(f"Run {after[task]}")

    # a task that echoes a password input: masked in the panel and in the download
    secret = "myCoolAdminPostgresPassword"
    page.goto(f"{ui.url}/cascades/{cascade}/tasks/create_db_schemas")
    expect(page.locator("[data-tp-log]")).to_contain_text("Admin password: ********")
    assert secret not in page.content()
    number = run_numbers(ui, cascade)["create_db_schemas"]
    log_txt = page.request.get(f"{ui.url}/cascades/{cascade}/tasks/create_db_schemas/runs/{number}/log.txt")
    assert log_txt.ok and "Admin password: ********" in log_txt.text() and secret not in log_txt.text()


def test_start_dialog_refusal_and_force(ui, login, shot):
    from playwright.sync_api import expect

    ui.apply(SLOW.format(name="ui-force"), groups=["team"])
    assert ui.admin.post("/api/v1/cascades/ui-force/start", json={"task": "gate"}).status_code == 200
    wait_board(ui, "ui-force", lambda b: b["long_child"] == "running")
    page = login("writer")
    panel = open_panel(ui, page, "ui-force", "gate")
    panel.locator("[data-tp-start]").click()
    dialog = page.locator("dialog[data-start-dialog][open]")
    expect(dialog).to_be_visible()
    refused = dialog.locator("[data-sd-refused]")
    expect(refused).to_contain_text("'long_child' (downstream of gate) is running")
    confirm = dialog.locator("[data-sd-confirm]")
    expect(confirm).to_be_disabled()
    assert page.evaluate("document.activeElement.hasAttribute('data-sd-cancel')")  # nothing to confirm yet
    force = dialog.locator("[data-sd-force]")
    expect(dialog.locator(".sd-force")).to_contain_text("kill long_child first")
    shot(page, "start-dialog-force")
    force.check()
    expect(confirm).to_be_enabled()
    page.keyboard.press("Escape")  # cancels: nothing started
    expect(dialog).to_have_count(0)
    assert ui.board("ui-force")["long_child"] == "running"
    assert run_numbers(ui, "ui-force")["gate"] == 1

    # again, with force: the running child is killed, the gate runs again, the child starts again
    panel.locator("[data-tp-start]").click()
    expect(dialog).to_be_visible()
    dialog.locator("[data-sd-force]").check()
    dialog.locator("[data-sd-confirm]").click()
    expect(page.locator(".toast")).to_contain_text("started wave")
    rerun = lambda b: b["long_child"] == "running" and run_numbers(ui, "ui-force")["long_child"] == 2  # noqa: E731
    wait_board(ui, "ui-force", rerun)
    runs = ui.admin.get("/api/v1/cascades/ui-force/tasks/long_child/runs").json()
    assert [r["state"] for r in runs] == ["running", "killed"]
    assert ui.admin.post("/api/v1/cascades/ui-force/tasks/long_child/kill").status_code == 200


def test_start_errors_are_shown_in_the_dialog(ui, login):
    from playwright.sync_api import expect

    ui.apply(SLOW.format(name="ui-conflict"), groups=["team"])
    page = login("writer")
    panel = open_panel(ui, page, "ui-conflict", "sleeper")
    panel.locator("[data-tp-start]").click()
    dialog = page.locator("dialog[data-start-dialog][open]")
    expect(dialog).to_be_visible()
    # someone else starts it meanwhile: the API refuses (409) and the dialog says why
    assert ui.admin.post("/api/v1/cascades/ui-conflict/start", json={"task": "sleeper"}).status_code == 200
    dialog.locator("[data-sd-confirm]").click()
    error = dialog.locator("[data-sd-error]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("task 'sleeper' is")
    expect(dialog).to_be_visible()
    dialog.locator("[data-sd-cancel]").click()
    expect(dialog).to_have_count(0)
    assert ui.admin.post("/api/v1/cascades/ui-conflict/tasks/sleeper/kill").status_code == 200


def test_kill_a_running_task_and_the_toggles(ui, login, shot):
    from playwright.sync_api import expect

    ui.apply(SLOW.format(name="ui-kill"), groups=["team"])
    page = login("writer")
    panel = open_panel(ui, page, "ui-kill", "sleeper")
    expect(panel.locator("[data-tp-kill]")).to_have_count(0)  # nothing to kill yet
    assert ui.admin.post("/api/v1/cascades/ui-kill/start", json={"task": "sleeper"}).status_code == 200
    expect(state_chip(page)).to_contain_text("running", timeout=30_000)  # live, no reload
    expect(panel.locator("[data-tp-log]")).to_contain_text("sleeping for a long time", timeout=30_000)
    kill = panel.locator("[data-tp-kill]")
    expect(kill).to_be_visible()
    kill.click()
    confirm = page.locator("dialog[data-tp-kill-dialog][open]")
    expect(confirm).to_be_visible()
    shot(page, "task-panel-kill-confirm")
    confirm.locator("[data-tp-kill-confirm]").click()
    expect(state_chip(page)).to_contain_text("killed", timeout=30_000)
    assert ui.board("ui-kill")["sleeper"] == "killed"
    expect(panel.locator("[data-tp-kill]")).to_have_count(0)
    shot(page, "task-panel-killed")

    # disable / enable
    toggle = panel.locator("[data-tp-toggle-disabled]")
    expect(toggle).to_have_text("Disable")
    toggle.click()
    expect(panel.locator(".tp-flag", has_text="disabled")).to_be_visible()
    expect(panel.locator("[data-tp-toggle-disabled]")).to_have_text("Enable")
    state = ui.admin.get("/api/v1/cascades/ui-kill/tasks/sleeper").json()
    assert state["disabled"] is True
    panel.locator("[data-tp-toggle-disabled]").click()
    expect(panel.locator("[data-tp-toggle-disabled]")).to_have_text("Disable")
    assert ui.admin.get("/api/v1/cascades/ui-kill/tasks/sleeper").json()["disabled"] is False

    # auto-execute
    auto = panel.locator("[data-tp-auto]")
    expect(auto).to_be_checked()
    auto.uncheck()
    expect(panel.locator(".tp-flag", has_text="manual gate")).to_be_visible()
    assert ui.admin.get("/api/v1/cascades/ui-kill/tasks/sleeper").json()["auto_execute"] is False
    panel.locator("[data-tp-auto]").check()
    expect(panel.locator(".tp-flag", has_text="manual gate")).to_have_count(0)
    assert ui.admin.get("/api/v1/cascades/ui-kill/tasks/sleeper").json()["auto_execute"] is True


def test_a_reader_sees_no_actions_and_an_outsider_nothing(ui, login, shot):
    from playwright.sync_api import expect

    ui.apply(SLOW.format(name="ui-read"), groups=["team"])
    assert ui.admin.post("/api/v1/cascades/ui-read/start", json={"task": "ticker"}).status_code == 200
    page = login("reader")
    panel = open_panel(ui, page, "ui-read", "ticker")
    expect(state_chip(page)).to_contain_text("running", timeout=30_000)
    expect(panel.locator("[data-tp-log]")).to_contain_text("tick 1", timeout=30_000)
    for action in ("start", "kill", "shell", "toggle-disabled", "auto"):
        assert panel.locator(f"[data-tp-{action}]").count() == 0, action
    assert panel.locator(".tp-actions").count() == 0
    shot(page, "task-panel-reader")
    assert page.goto(ui.url + "/cascades/ui-read/start-dialog?task=ticker").status == 403
    assert page.goto(ui.url + "/cascades/ui-read/tasks/ticker/shell?run=1").status == 403
    expect(page.locator(".error-page")).to_contain_text("may not open shells")

    outsider = login("outsider")
    assert outsider.goto(ui.url + "/cascades/ui-read/tasks/ticker").status == 404
    assert outsider.goto(ui.url + "/cascades/ui-read/tasks/ticker/runs/1/log.txt").status == 404
    wait_board(ui, "ui-read", lambda b: b["ticker"] == "success" and b["after"] == "success")
