"""A cascade's inputs, datastore and webhooks pages, in a real browser against a real
``scaffold serve`` with real Docker."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.browser.conftest import example

CASCADE = "application-deploy"
PASSWORD_DEFAULTS = (
    "myCoolArtifactoryPassword",
    "myCoolAdminPostgresPassword",
    "myCoolPortalPostgresPassword",
    "myCoolApiPostgresPassword",
)
# everything downstream of create_db_schemas, the only task reading POSTGRES_ADMIN_USERNAME
SCHEMA_AND_BELOW = {
    "create_db_schemas",
    "create_db_users",
    "deploy_application",
    "deploy_traefik",
    "run_tests",
    "register_new",
    "east_coast_check",
    "midwest_check",
    "west_coast_check",
    "deregister_old",
    "destroy_old_application",
    "destroy_old_traefik",
}


def snap(page, shot, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, name)


def wait_for(predicate, timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def run_to_success(ui) -> None:
    response = ui.admin.post(f"/api/v1/cascades/{CASCADE}/start", json={})
    assert response.status_code == 200, response.text
    wait_for(
        lambda: set(ui.board(CASCADE).values()) == {"success"},
        what=f"{CASCADE} to succeed: {ui.board(CASCADE)}",
    )


def test_edit_an_input_resets_exactly_the_tasks_that_use_it(ui, login, shot):
    ui.apply(example(CASCADE), groups=["team"])
    run_to_success(ui)
    page = login("writer")
    page.goto(f"{ui.url}/cascades/{CASCADE}/inputs")
    row = page.locator("tr[data-input=POSTGRES_ADMIN_USERNAME]")
    assert row.locator("td[data-label='Used by']").inner_text().strip() == "create_db_schemas"
    field = row.locator("input[name=POSTGRES_ADMIN_USERNAME]")
    assert field.input_value() == "myCoolAdminPostgresUsername"
    snap(page, shot, "inputs-1280")

    field.fill("new-admin-name")
    assert "1 input changed" in page.locator("[data-dirty-note]").inner_text()
    page.click("#inputs-form button[type=submit]")
    dialog = page.locator("#inputs-confirm")
    dialog.wait_for()
    # the confirmation says what the change will reset before anything happens
    assert set(dialog.locator("[data-resets] li").all_inner_texts()) == SCHEMA_AND_BELOW
    assert set(ui.board(CASCADE).values()) == {"success"}
    shot(page, "inputs-confirm")
    dialog.locator("button[value=confirm]").click()

    result = page.locator("#inputs-result .result.ok")
    result.wait_for()
    said = {t.strip() for t in result.locator("[data-reset] li").all_inner_texts()}
    assert said == SCHEMA_AND_BELOW
    board = ui.board(CASCADE)
    assert {t for t, d in board.items() if d != "success"} == said  # the board agrees
    assert {board[t] for t in said} == {"not_started"}
    # the table was re-read with the new value
    page.wait_for_function(
        "document.querySelector('input[name=POSTGRES_ADMIN_USERNAME]').dataset.original === 'new-admin-name'"
    )
    inputs = {i["name"]: i for i in ui.admin.get(f"/api/v1/cascades/{CASCADE}/inputs").json()}
    assert inputs["POSTGRES_ADMIN_USERNAME"]["value"] == "new-admin-name"
    snap(page, shot, "inputs-saved")


def test_replacing_a_password_never_shows_it_back(ui, login, shot):
    ui.apply(example(CASCADE), groups=["team"])
    new_secret = "Browser-Secret-" + os.urandom(6).hex()
    page = login("writer")
    sent, responses = [], []
    page.on("request", lambda r: sent.append((r.method, r.url, r.post_data or "")))
    page.on("response", lambda r: responses.append(r))
    page.goto(f"{ui.url}/cascades/{CASCADE}/inputs")
    row = page.locator("tr[data-input=ARTIFACTORY_PASSWORD]")
    secret_field = row.locator("input[type=password]")
    assert secret_field.input_value() == ""  # never pre-filled
    assert "set" in row.locator("[data-secret-state]").inner_text()
    assert row.locator("td[data-label=Default]").inner_text().strip() == "set"
    secret_field.fill(new_secret)
    page.click("#inputs-form button[type=submit]")
    page.locator("#inputs-confirm button[value=confirm]").click()
    result = page.locator("#inputs-result .result.ok")
    result.wait_for()
    assert "ARTIFACTORY_PASSWORD" in result.inner_text()
    page.wait_for_function("document.querySelector('input[name=ARTIFACTORY_PASSWORD]').value === ''")

    html = page.content()
    assert new_secret not in html
    for default in PASSWORD_DEFAULTS:
        assert default not in html
    # the only request carrying the new value is the one that set it; no answer carries it back
    carrying = [(m, u) for m, u, body in sent if new_secret in body]
    assert carrying == [("PUT", f"{ui.url}/api/v1/cascades/{CASCADE}/inputs")]
    for response in responses:
        if "/api/v1/events" in response.url or response.request.method == "OPTIONS":
            continue
        body = response.body().decode("utf-8", "replace")
        assert new_secret not in body, response.url
        assert not [d for d in PASSWORD_DEFAULTS if d in body], response.url
    for method, _, body in sent:
        assert not [d for d in PASSWORD_DEFAULTS if d in body], method
    # the API shows it masked, like the page
    inputs = {i["name"]: i for i in ui.admin.get(f"/api/v1/cascades/{CASCADE}/inputs").json()}
    assert inputs["ARTIFACTORY_PASSWORD"]["value"] == "********"


def test_set_a_value_and_read_its_history(ui, login, shot):
    ui.apply(example(CASCADE), groups=["team"])
    page = login("writer")
    page.goto(f"{ui.url}/cascades/{CASCADE}/datastore")
    form = page.locator("#value-form")
    form.locator("input[name=key]").fill("GREETING")
    form.locator("textarea[name=text]").fill("hello")
    form.locator("button[type=submit]").click()
    row = page.locator("tr[data-key=GREETING]")
    row.wait_for()
    assert row.locator("td[data-label=Value]").inner_text().strip() == "hello"
    # edit it: the form is filled from the row
    row.locator("[data-edit-value]").click()
    assert form.locator("input[name=key]").input_value() == "GREETING"
    assert form.locator("textarea[name=text]").input_value() == "hello"
    form.locator("textarea[name=text]").fill("hello again\nsecond line")
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "document.querySelector('tr[data-key=GREETING] td[data-label=Version]').textContent.trim() === '2'"
    )
    row = page.locator("tr[data-key=GREETING]")
    assert "writer" in row.locator("td[data-label=Updated]").inner_text()
    row.locator("[data-history]").click()
    history = page.locator("tr.history-row:not([hidden]) .versions-table")
    history.wait_for()
    rows = history.locator("tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").nth(0).inner_text() == "2"
    assert "hello again" in rows.nth(0).inner_text()
    assert rows.nth(1).locator("td").nth(0).inner_text() == "1"
    assert "hello" in rows.nth(1).inner_text()
    assert "writer" in rows.nth(1).inner_text()
    snap(page, shot, "datastore-values")


def test_upload_a_file_and_download_it_back(ui, login, shot, tmp_path):
    ui.apply(example(CASCADE), groups=["team"])
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "payload.bin"
    source.write_bytes(data)
    page = login("writer")
    page.goto(f"{ui.url}/cascades/{CASCADE}/datastore")
    form = page.locator("#upload-form")
    form.locator("input[type=file]").set_input_files(str(source))
    form.locator("input[name=name]").fill("blob.bin")
    form.locator("button[type=submit]").click()
    row = page.locator("tr[data-file='blob.bin']")
    row.wait_for()
    assert "Uploaded blob.bin (version 1" in form.locator("[data-progress-text]").inner_text()
    assert row.locator("td[data-label=Size]").get_attribute("title") == f"{len(data)} bytes"
    with page.expect_download() as info:
        row.locator("a.button", has_text="Download").click()
    download = info.value
    assert download.suggested_filename == "blob.bin"
    assert Path(download.path()).read_bytes() == data

    # a second upload is a new version; the versions list shows both
    small = tmp_path / "notes.txt"
    small.write_text("second version\n")
    form.locator("input[type=file]").set_input_files(str(small))
    form.locator("input[name=name]").fill("blob.bin")
    form.locator("button[type=submit]").click()
    version = "tr[data-file='blob.bin'] td[data-label=Version]"
    page.wait_for_function(f"document.querySelector(\"{version}\").textContent.trim() === '2'")
    row = page.locator("tr[data-file='blob.bin']")
    assert "text/plain" in row.locator("td[data-label=Type]").inner_text()
    row.locator("[data-history]").click()
    versions = page.locator("tr.history-row:not([hidden]) .versions-table tbody tr")
    versions.nth(1).wait_for()
    assert versions.count() == 2
    with page.expect_download() as info:
        row.locator("a[data-download]").click()
    assert Path(info.value.path()).read_bytes() == b"second version\n"
    snap(page, shot, "datastore-files")

    # delete, with a confirmation
    row.locator("[data-delete-file]").click()
    page.locator("#file-delete-dialog button[value=confirm]").click()
    page.wait_for_function("!document.querySelector(\"tr[data-file='blob.bin']\")")
    assert ui.admin.get(f"/api/v1/cascades/{CASCADE}/files/blob.bin").status_code == 404
    page.set_viewport_size({"width": 390, "height": 844})
    snap(page, shot, "datastore-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_webhook_url_and_secret_are_shown_once(ui, login, shot):
    ui.apply(example(CASCADE), groups=["team"])
    page = login("writer")
    page.goto(f"{ui.url}/cascades/{CASCADE}/webhooks")
    page.select_option("#hook-form select[name=task]", "build_images")
    page.click("#hook-form button[type=submit]")
    dialog = page.locator("#hook-created")
    dialog.wait_for()
    url = dialog.locator("[data-url]").input_value()
    secret = dialog.locator("[data-secret-value]").input_value()
    assert url.startswith(f"{ui.url}/api/v1/hooks/")
    assert len(secret) >= 20
    assert secret in dialog.locator("[data-curl]").input_value()
    shot(page, "webhook-created")
    dialog.locator("[data-close]").click()
    # gone from the page once the dialog is closed
    page.wait_for_function("document.querySelector('#hook-created [data-secret-value]').value === ''")
    assert dialog.locator("[data-curl]").input_value() == ""
    row = page.locator("#hooks-list tr", has_text="build_images")
    row.wait_for()
    assert secret not in page.content()

    # the URL and secret work (and only together)
    assert httpx.post(url, headers={"X-Scaffold-Secret": "wrong"}).status_code == 401
    triggered = httpx.post(url, headers={"X-Scaffold-Secret": secret}, json={"ref": "main"})
    assert triggered.status_code == 202, triggered.text
    page.reload()
    assert secret not in page.content()
    last = page.locator("#hooks-list tr", has_text="build_images").locator("td[data-label='Last triggered']")
    assert "never" not in last.inner_text()
    snap(page, shot, "webhooks-1280")

    page.locator("#hooks-list [data-delete-hook]").first.click()
    page.locator("#hook-delete-dialog button[value=confirm]").click()
    page.locator("#hooks-list .empty").wait_for()
    assert httpx.post(url, headers={"X-Scaffold-Secret": secret}).status_code in (401, 404)
    wait_for(
        lambda: "running" not in ui.board(CASCADE).values() and "waiting" not in ui.board(CASCADE).values()
    )


def test_reader_sees_the_data_but_no_edit_controls(ui, login, shot):
    ui.apply(example(CASCADE), groups=["team"])
    page = login("reader")
    page.goto(f"{ui.url}/cascades/{CASCADE}/inputs")
    assert page.locator("tr[data-input]").count() == 8
    assert page.locator("#inputs-form input, #inputs-form button").count() == 0
    assert "myCoolArtifactoryUsername" in page.locator("tr[data-input=ARTIFACTORY_USERNAME]").inner_text()
    snap(page, shot, "inputs-reader")
    page.goto(f"{ui.url}/cascades/{CASCADE}/datastore")
    assert page.locator("#value-form, #upload-form, [data-edit-value], [data-delete-file]").count() == 0
    page.goto(f"{ui.url}/cascades/{CASCADE}/webhooks")
    assert page.locator("#hook-form, [data-delete-hook]").count() == 0
    # and the API refuses the reader's changes anyway
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    csrf = page.evaluate("window.Scaffold.csrfToken()")
    refused = httpx.put(
        f"{ui.url}/api/v1/cascades/{CASCADE}/inputs",
        json={"values": {"ARTIFACTORY_USERNAME": "x"}},
        cookies=cookies,
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status_code == 403
