"""Password values never reach the browser: every page of the web UI, every fragment and asset it
loads and every request it sends are searched for the password inputs of ``application-deploy``
after the cascade ran in real containers (its tasks print them; logs keep them masked)."""

from __future__ import annotations

import time
from urllib.parse import quote

from tests.browser.conftest import example
from tests.e2e.test_serve import APP_PASSWORDS

CASCADE = "application-deploy"


def test_no_password_value_in_any_page_or_request(ui, login, shot):
    ui.apply(example(CASCADE), groups=["team"])
    assert ui.admin.post(f"/api/v1/cascades/{CASCADE}/start", json={}).status_code == 200
    deadline = time.monotonic() + 240
    while set(ui.board(CASCADE).values()) != {"success"}:
        assert time.monotonic() < deadline, ui.board(CASCADE)
        time.sleep(0.5)

    page = login("admin")
    seen: list[tuple[str, str]] = []  # (what, text) of everything that crossed the wire

    def on_request(request) -> None:
        seen.append((f"request {request.method} {request.url}", request.url + (request.post_data or "")))

    def on_response(response) -> None:
        if "/api/v1/events" in response.url:
            return  # never ends; the event stream is searched by tests/e2e/test_serve.py
        try:
            seen.append((f"response {response.url}", response.text()))
        except Exception:  # a redirect has no body
            pass

    page.on("request", on_request)
    page.on("response", on_response)
    tasks = sorted(ui.board(CASCADE))
    base = f"/cascades/{CASCADE}"
    paths = [
        "/",
        "/cascades",
        base,
        f"{base}?view=grid",
        f"{base}?view=timeline",
        f"{base}/inputs",
        f"{base}/datastore",
        f"{base}/webhooks",
        f"{base}/definition",
        f"{base}/definition?version=1",
        f"{base}/start-dialog",
        "/tokens",
        "/admin/users",
        "/admin/groups",
        "/admin/audit",
        "/nodes",
    ]
    for task in tasks:
        paths += [f"{base}/tasks/{quote(task)}", f"{base}/tasks/{quote(task)}/runs/1/log.txt"]
    pages = 0
    for path in paths:
        if path.endswith(".txt"):  # an attachment: fetched with the page's session, not shown
            download = page.request.get(ui.url + path)
            assert download.status == 200, (path, download.status)
            seen.append((f"download {path}", download.text()))
        else:
            response = page.goto(ui.url + path)
            assert response is not None and response.status == 200, (path, response and response.status)
            page.wait_for_load_state("networkidle")
            seen.append((f"DOM of {path}", page.content()))
        pages += 1
    # the task panel as the cascade page loads it (htmx), and the shell page of a finished task
    page.goto(f"{ui.url}{base}?task=create_db_schemas")
    page.wait_for_selector("#task-panel [data-task-panel][data-ready]")
    page.wait_for_timeout(500)
    seen.append(("DOM of the cascade page with a task panel", page.content()))
    shot(page, "secrets-task-panel")

    assert pages == len(paths) and len(seen) > 3 * len(paths)
    for secret in APP_PASSWORDS:
        found = [what for what, text in seen if secret in text]
        assert not found, f"{secret!r} reached the browser in: {found}"
    # the logs that printed the passwords were shown, masked
    masked = [what for what, text in seen if "Admin password: ********" in text]
    assert masked, "the masked log line of create_db_schemas was never shown"
