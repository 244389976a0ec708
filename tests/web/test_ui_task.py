"""The task panel, the start dialog, the log download and the shell page (scaffold/web/ui/task.py)
without a browser: on a real server with the fake executor and the memory store. The browser
tests (tests/browser/test_task_panel.py, test_shell_page.py) drive the same pages with Docker."""

from __future__ import annotations

import asyncio
import json
import re

from scaffold.web.ui import task as task_ui
from tests.web.conftest import PASSWORD, Server

PANEL = "/cascades/ops-deploy/tasks/apply"
HTMX = {"HX-Request": "true"}


async def session(server: Server, username: str):
    client = server.client(follow_redirects=False)
    r = await client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    return client


async def settle(server: Server, cascade: str = "ops-deploy") -> None:
    for _ in range(200):
        if not server.core.engine.is_active(cascade):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cascade never settled")


async def run_all(server: Server) -> None:
    r = await server.client("admin").post("/api/v1/cascades/ops-deploy/start", json={})
    assert r.status_code == 200, r.text
    await settle(server)


async def test_panel_is_a_fragment_for_htmx_and_a_page_otherwise(server: Server):
    writer = await session(server, "writer_in")
    page = await writer.get(PANEL)
    assert page.status_code == 200
    assert page.text.startswith("<!doctype html>") and 'id="task-panel"' in page.text
    fragment = await writer.get(PANEL, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<!doctype" not in fragment.text and "<body" not in fragment.text
    assert "data-task-panel" in fragment.text and '<script src="/static/task.js"' in fragment.text
    assert "This task has not run yet." in fragment.text
    assert (
        "data-tp-start" in fragment.text
        and '>\n        <span aria-hidden="true">▶</span> Start</button>' in fragment.text
    )
    assert (
        "data-tp-kill" not in fragment.text and "data-tp-shell" not in fragment.text
    )  # nothing to kill or enter
    assert ">waits for plan</p>" in fragment.text  # the derived reason


async def test_panel_shows_the_run_its_log_and_history(server: Server):
    server.executor.behave("apply", logs=[b"connecting with hunter2-db-password\n", b"<b>done</b>\n"])
    server.executor.behave(
        "plan",
        display=json.dumps(
            [
                {"kind": "table", "name": "<i>t</i>", "header": ["a"], "data": [["<script>x</script>"]]},
                {"kind": "value", "name": "count", "data": "3", "color": "green"},
            ]
        ).encode(),
    )
    await run_all(server)
    await run_all(server)
    writer = await session(server, "writer_in")
    html = (await writer.get(PANEL, headers={"HX-Request": "true"})).text
    assert "hunter2-db-password" not in html and "connecting with ********" in html  # masked when stored
    assert "&lt;b&gt;done&lt;/b&gt;" in html  # logs are data
    assert re.search(r"<h3 id=\"tp-run-h\">Run 2", html)
    assert html.count("data-tp-load>run ") == 2  # runs 2 and 1
    assert 'href="/cascades/ops-deploy/tasks/apply/runs/2/log.txt"' in html
    assert 'href="/cascades/ops-deploy/tasks/apply/shell?run=2"' in html
    assert "by admin" not in html and "after plan" in html  # the trigger: its parent
    plan = (await writer.get("/cascades/ops-deploy/tasks/plan", headers={"HX-Request": "true"})).text
    assert "&lt;script&gt;x&lt;/script&gt;" in plan and "<script>x" not in plan  # display items escaped
    assert "&lt;i&gt;t&lt;/i&gt;" in plan and 'class="dsp dsp-k-value dc-green"' in plan
    assert (
        "</span> PLAN_ID</span>" in plan and "</span> plan.txt</span>" in plan
    )  # what it stored (names only)
    older = (await writer.get(PANEL + "?run=1", headers={"HX-Request": "true"})).text
    assert 'data-pinned="true"' in older and "An earlier run." in older
    assert (await writer.get(PANEL + "?run=9")).status_code == 404
    assert (await writer.get(PANEL + "?run=x")).status_code == 400


async def test_log_download_is_the_whole_stored_log(server: Server, monkeypatch):
    lines = [f"line {i:04d} {'x' * 60}\n".encode() for i in range(400)]
    server.executor.behave("plan", logs=[*lines, b"my password is hunter2-db-password\n"])
    await run_all(server)
    monkeypatch.setattr(task_ui, "LOG_TAIL", 1000)
    monkeypatch.setattr(task_ui, "DOWNLOAD_CHUNK", 777)
    writer = await session(server, "writer_in")
    r = await writer.get("/cascades/ops-deploy/tasks/plan/runs/1/log.txt")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="ops-deploy-plan-run1.log"')
    stored = (await server.client("admin").get("/api/v1/cascades/ops-deploy/tasks/plan/runs/1/logs")).json()
    assert r.text == stored["text"] and r.text.startswith("line 0000") and len(r.text) > 20000
    assert "hunter2-db-password" not in r.text and r.text.endswith("my password is ********\n")
    html = (await writer.get("/cascades/ops-deploy/tasks/plan", headers={"HX-Request": "true"})).text
    assert "are left out here: download it" in html
    assert "line 0000" not in html and "line 0399" in html  # the end of the log, from a line's start
    offset = int(re.search(r'data-log-offset="(\d+)"', html).group(1))
    assert offset == len(stored["text"])  # the live log goes on from there
    outsider = await session(server, "writer_out")
    assert (await outsider.get("/cascades/ops-deploy/tasks/plan/runs/1/log.txt")).status_code == 404
    assert (await writer.get("/cascades/ops-deploy/tasks/plan/runs/2/log.txt")).status_code == 404


async def test_readers_see_no_actions_and_outsiders_nothing(server: Server):
    server.executor.behave("plan", hang=True)
    r = await server.client("admin").post("/api/v1/cascades/ops-deploy/start", json={})
    assert r.status_code == 200
    writer = await session(server, "writer_in")
    for _ in range(100):
        html = (await writer.get("/cascades/ops-deploy/tasks/plan", headers={"HX-Request": "true"})).text
        if 'data-run-active="true"' in html:
            break
        await asyncio.sleep(0.02)
    assert "data-tp-kill" in html and "data-tp-kill-dialog" in html and "data-tp-shell" in html
    assert "data-tp-auto" in html and "data-tp-toggle-disabled" in html
    reader = await session(server, "reader_in")
    html = (await reader.get("/cascades/ops-deploy/tasks/plan", headers={"HX-Request": "true"})).text
    assert 'data-run-active="true"' in html
    for action in ("start", "kill", "shell", "auto", "toggle-disabled"):
        assert f"data-tp-{action}" not in html, action
    assert (await reader.get("/cascades/ops-deploy/start-dialog?task=plan")).status_code == 403
    assert (await reader.get("/cascades/ops-deploy/tasks/plan/shell")).status_code == 403
    outsider = await session(server, "writer_out")
    for path in ("/tasks/plan", "/start-dialog", "/tasks/plan/shell"):
        assert (await outsider.get(f"/cascades/ops-deploy{path}")).status_code == 404, path
    assert (await writer.get("/cascades/ops-deploy/tasks/nope")).status_code == 404
    anonymous = server.client(follow_redirects=False)
    r = await anonymous.get("/cascades/ops-deploy/tasks/plan")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    await server.client("admin").post("/api/v1/cascades/ops-deploy/tasks/plan/kill")


async def test_start_dialog_is_the_api_preview(server: Server):
    await run_all(server)
    writer = await session(server, "writer_in")
    api = server.client("writer_in")
    for task, query in (("plan", "?task=plan"), ("apply", "?task=apply"), (None, "")):
        body = {"dry_run": True, **({"task": task} if task else {})}
        preview = (await api.post("/api/v1/cascades/ops-deploy/start", json=body)).json()["preview"]
        html = (
            await writer.get(f"/cascades/ops-deploy/start-dialog{query}", headers={"HX-Request": "true"})
        ).text
        assert "<!doctype" not in html and "<dialog" in html
        reset = re.findall(r'<li><span class="sd-name">([^<]+)</span> <span class="small muted">now', html)
        assert reset == preview["reset"], (task, reset)
        start = re.search(r"data-sd-start>(.*?)</ul>", html, re.S).group(1)
        assert re.findall(r'class="sd-name">([^<]+)<', start) == preview["start"]
        assert "data-sd-refused" not in html and "data-sd-force" not in html
    plan = (await writer.get("/cascades/ops-deploy/start-dialog?task=plan")).text
    assert plan.startswith("<!doctype html>") and "data-standalone" in plan  # a page of its own
    assert "plan.txt" in plan and "PLAN_ID" in plan  # the datastore entries a re-run may overwrite
    assert (await writer.get("/cascades/ops-deploy/start-dialog?task=nope")).status_code == 404


async def test_start_dialog_offers_force_only_when_it_helps(server: Server):
    await run_all(server)
    server.executor.behave("verify", hang=True)
    admin = server.client("admin")
    assert (await admin.post("/api/v1/cascades/ops-deploy/start", json={"task": "apply"})).status_code == 200
    for _ in range(100):
        if (await admin.get("/api/v1/cascades/ops-deploy/tasks/verify")).json()["state"] == "running":
            break
        await asyncio.sleep(0.02)
    writer = await session(server, "writer_in")
    html = (
        await writer.get("/cascades/ops-deploy/start-dialog?task=plan", headers={"HX-Request": "true"})
    ).text
    assert "data-sd-refused" in html and "verify" in html
    assert "data-sd-force" in html and "kill verify first" in html
    assert re.search(r"data-sd-confirm disabled>", html) and "data-never" not in html
    html = (
        await writer.get("/cascades/ops-deploy/start-dialog?task=verify", headers={"HX-Request": "true"})
    ).text
    assert (
        "data-sd-refused" in html and "data-sd-force" not in html and "data-never" in html
    )  # force can't help
    await admin.post("/api/v1/cascades/ops-deploy/tasks/verify/kill")


async def test_shell_page(server: Server):
    writer = await session(server, "writer_in")
    assert (await writer.get("/cascades/ops-deploy/tasks/plan/shell")).status_code == 409  # no run yet
    await run_all(server)
    r = await writer.get("/cascades/ops-deploy/tasks/plan/shell")
    assert r.status_code == 200
    assert 'data-socket="/api/v1/cascades/ops-deploy/tasks/plan/shell"' in r.text and 'data-run="1"' in r.text
    assert "/static/vendor/xterm-5.5.0/xterm.js" in r.text and "/static/shell.js" in r.text
    assert 'href="/cascades/ops-deploy?task=plan"' in r.text  # back to the task
    assert (await writer.get("/cascades/ops-deploy/tasks/plan/shell?run=7")).status_code == 404


CHECKED = """\
version: v1
name: checked
tasks:
  - name: service
    image: img
    run: echo deployed
    check: {interval: 1s, run: echo checking}
"""


async def test_check_runs_are_listed_and_open_in_the_panel(server: Server):
    from scaffold.engine.spec import parse_cascade
    from scaffold.executors.fake import Behavior

    server.executor.check_behaviors["service"] = Behavior(logs=[b"a check line\n"])
    await server.core.engine.apply(parse_cascade(CHECKED), CHECKED, by="admin")
    await server.client("admin").post("/api/v1/cascades/checked/start", json={})
    await settle(server, "checked")
    admin = server.client("admin")
    for _ in range(300):
        checks = (await admin.get("/api/v1/cascades/checked/tasks/service/runs?kind=check")).json()
        if checks and checks[0]["state"] == "success":
            break
        await asyncio.sleep(0.02)
    writer = await session(server, "writer_in")
    html = (await writer.get("/cascades/checked/tasks/service", headers=HTMX)).text
    assert "Check runs" in html and "every 1.0 s" in html
    assert 'href="/cascades/checked/tasks/service?run=1&amp;kind=check"' in html
    check = (await writer.get("/cascades/checked/tasks/service?run=1&kind=check", headers=HTMX)).text
    assert (
        "Check run 1" in check
        and 'data-kind="check"' in check
        and 'data-run-id="checked:service:check-1"' in check
    )
    assert 'href="/cascades/checked/tasks/service/runs/1/log.txt?kind=check"' in check
    r = await writer.get("/cascades/checked/tasks/service/runs/1/log.txt?kind=check")
    assert r.status_code == 200 and "check" in r.headers["content-disposition"] and "a check line" in r.text
    await server.core.engine.delete("checked", by="admin")
