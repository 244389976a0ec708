"""The shell page: xterm.js on the server's shell websocket, in a running task's container and in
a copy of a finished one, in a real browser against a real ``scaffold serve`` with real Docker."""

from __future__ import annotations

import time

SHELLS = """\
version: v1
name: ui-shell
tasks:
  - name: long
    image: busybox:latest
    run: |
      trap 'exit 143' TERM
      echo "long runner up"
      i=0; while [ $i -lt 900 ]; do sleep 0.2; i=$((i+1)); done
  - name: short
    image: busybox:latest
    run: |
      echo "left for later" > /tmp/run/marker-file
      echo "short one done"
"""

#: The terminal's text, line by line, from xterm's buffer (what a person sees, scrollback included).
BUFFER = """() => {
  const buffer = window.scaffoldTerminal.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
  return lines.join("\\n");
}"""


def wait_for(page, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = page.evaluate(BUFFER)
        if needle in text:
            return text
        assert time.monotonic() < deadline, f"{needle!r} never showed in the terminal:\n{text}"
        time.sleep(0.1)


def wait_state(ui, task: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while ui.board("ui-shell")[task] != state:
        assert time.monotonic() < deadline, ui.board("ui-shell")
        time.sleep(0.2)


def test_a_shell_in_a_running_task_and_in_a_copy_of_a_finished_one(ui, login, shot):
    from playwright.sync_api import expect

    ui.apply(SHELLS, groups=["team"])
    assert ui.admin.post("/api/v1/cascades/ui-shell/start", json={"task": "long"}).status_code == 200
    assert ui.admin.post("/api/v1/cascades/ui-shell/start", json={"task": "short"}).status_code == 200
    wait_state(ui, "long", "running")
    wait_state(ui, "short", "success")

    page = login("writer")
    response = page.goto(ui.url + "/cascades/ui-shell/tasks/long/shell?run=1")
    assert response.status == 200
    status = page.locator("[data-shell-status]")
    expect(status).to_have_text("connected", timeout=30_000)
    assert page.evaluate("document.activeElement.classList.contains('xterm-helper-textarea')")  # keys go in
    page.keyboard.type("echo hello-$((6*7))")
    page.keyboard.press("Enter")
    text = wait_for(page, "hello-42")
    assert "echo hello-$((6*7))" in text  # the echo of what was typed, then its output
    page.keyboard.type("echo $SCAFFOLD_TASK-$SCAFFOLD_RUN")
    page.keyboard.press("Enter")
    wait_for(page, "long-1")
    # the terminal fills the window: more than the default 80x24
    cols, rows = page.evaluate("[window.scaffoldTerminal.cols, window.scaffoldTerminal.rows]")
    assert cols > 80 and rows > 24, (cols, rows)
    page.keyboard.type("stty size")
    page.keyboard.press("Enter")
    wait_for(page, f"{rows} {cols}")  # the shell got the page's size
    shot(page, "shell-running-task")
    page.keyboard.type("exit")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("exited with code 0", timeout=30_000)
    assert ui.board("ui-shell")["long"] == "running"  # leaving the shell leaves the task alone

    # a finished task: a copy of its container, with its /tmp/run
    page.goto(ui.url + "/cascades/ui-shell/tasks/short/shell?run=1")
    expect(page.locator(".shell-mode")).to_contain_text("copy of the finished container")
    expect(status).to_have_text("connected", timeout=60_000)
    page.keyboard.type("ls /tmp/run; cat /tmp/run/marker-file")
    page.keyboard.press("Enter")
    wait_for(page, "left for later")
    assert "marker-file" in page.evaluate(BUFFER)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "shell-finished-task-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("[data-shell-back]").click()
    page.wait_for_url("**/cascades/ui-shell?task=short")
    assert ui.admin.post("/api/v1/cascades/ui-shell/tasks/long/kill").status_code == 200


def test_the_panel_links_the_shell_and_a_reader_is_refused(ui, login):
    from playwright.sync_api import expect

    ui.apply(SHELLS, groups=["team"])
    if ui.board("ui-shell")["short"] != "success":
        assert ui.admin.post("/api/v1/cascades/ui-shell/start", json={"task": "short"}).status_code == 200
        wait_state(ui, "short", "success")
    page = login("writer")
    page.goto(ui.url + "/cascades/ui-shell/tasks/short")
    link = page.locator("[data-tp-shell]")
    expect(link).to_be_visible()
    number = ui.admin.get("/api/v1/cascades/ui-shell/tasks/short").json()["run"]
    assert link.get_attribute("href") == f"/cascades/ui-shell/tasks/short/shell?run={number}"
    link.click()
    expect(page.locator("[data-shell-status]")).to_have_text("connected", timeout=60_000)

    reader = login("reader")
    response = reader.goto(ui.url + "/cascades/ui-shell/tasks/short/shell")
    assert response.status == 403
    expect(reader.locator(".error-page")).to_contain_text("may not open shells")
    assert reader.locator("[data-shell]").count() == 0
    outsider = login("outsider")
    assert outsider.goto(ui.url + "/cascades/ui-shell/tasks/short/shell").status == 404
