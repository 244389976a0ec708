"""The cascades list (search, apply, delete) and a cascade's definition page, in a real browser
against a real ``scaffold serve``."""

from __future__ import annotations

import re

import httpx

from scaffold.engine.spec import SpecInvalid, parse_cascade
from tests.browser.conftest import example

BROKEN = """version: v1
name: broken-one
tasks:
  - name: a
    image: alpine:3.20
    run: echo a
    depends_on: [b_typo]
  - name: c
    imagee: alpine:3.20
    run: echo c
    timeout: forever
  - name: a
    image: alpine:3.20
    run: echo again
"""

DEMO = """version: v1
name: def-demo
description: a cascade to update and delete
groups: [team]
tasks:
  - name: first
    image: busybox:latest
    run: echo first
  - name: second
    image: busybox:latest
    run: echo second
    depends_on: [first]
  - name: third
    image: busybox:latest
    run: echo third
"""

SECRET_DEFAULTS = (
    "myCoolArtifactoryPassword",
    "myCoolAdminPostgresPassword",
    "myCoolPortalPostgresPassword",
    "myCoolApiPostgresPassword",
)


def row_names(page) -> list[str]:
    return [n.strip() for n in page.locator("#cascade-list .cc-name").all_inner_texts()]


def test_apply_by_upload_shows_the_summary_and_a_broken_file_every_error(ui, login, shot):
    page = login("writer")
    page.goto(ui.url + "/cascades")
    page.set_input_files("#apply-file", str(example("application-deploy")))
    textarea = page.locator("#apply-source")
    page.wait_for_function("document.getElementById('apply-source').value.includes('application-deploy')")
    page.click("#apply-form button[type=submit]")
    result = page.locator("#apply-result .result.ok")
    result.wait_for()
    assert "Created application-deploy (version 1)" in result.inner_text()
    assert "added task deploy_terraform" in result.inner_text()
    assert result.locator("a", has_text="Open application-deploy").get_attribute("href") == (
        "/cascades/application-deploy"
    )
    # the list was re-read: the new cascade is in it
    page.locator("#cascade-list .cc-name", has_text="application-deploy").wait_for()
    shot(page, "cascades-apply-ok")

    textarea.fill(BROKEN)
    page.click("#apply-form button[type=submit]")
    errors = page.locator("#apply-result .result.error")
    errors.wait_for()
    try:
        parse_cascade(BROKEN)
        raise AssertionError("the broken file parsed")
    except SpecInvalid as exc:
        expected = exc.problems
    assert "5 problems" in errors.locator("h3").inner_text()
    items = errors.locator("li.problem")
    assert items.count() == len(expected) == 5
    for item, problem in zip(items.all(), expected, strict=True):
        text = item.inner_text()
        assert f"line {problem.line}, col {problem.col}" in text
        assert problem.path in text
        assert problem.message in text
    # a problem's line button puts the cursor on that line of the text
    items.nth(0).locator("button.where").click()
    assert page.evaluate("document.activeElement.id") == "apply-source"
    selected = page.evaluate(
        "(() => { const t = document.getElementById('apply-source');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); })()"
    )
    assert selected == "b_typo]"  # from the column of the problem to the end of its line
    shot(page, "cascades-apply-errors")
    # nothing of the broken file was stored
    assert ui.admin.get("/api/v1/cascades/broken-one").status_code == 404


def test_search_filters_the_list_live_and_without_javascript(ui, login, shot):
    ui.apply(example("simple"), groups=["team"])
    ui.apply(example("health-check"), groups=["team"])
    page = login("writer")
    page.goto(ui.url + "/cascades")
    assert {"foobar", "health-check"} <= set(row_names(page))
    row = page.locator("tr.cascade-row", has_text="foobar")
    assert "not started" in row.locator(".statebar").get_attribute("aria-label")
    assert row.locator("td[data-label=Groups]").inner_text().strip() == "team"
    shot(page, "cascades-1280")

    page.fill("#cascade-search", "foob")
    page.wait_for_function("document.querySelectorAll('#cascade-list .cc-name').length === 1")
    assert row_names(page) == ["foobar"]
    assert "q=foob" in page.url  # the search is in the address: reload keeps it
    page.fill("#cascade-search", "no-such-cascade-anywhere")
    page.locator("#cascade-list .empty").wait_for()

    # the same search as a plain form submission (no JavaScript needed)
    page.goto(ui.url + "/cascades?q=health")
    assert row_names(page) == ["health-check"]

    page.goto(ui.url + "/cascades")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "cascades-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_definition_update_shows_changes_and_versions_then_delete_asks_for_the_name(ui, login, shot):
    ui.apply(DEMO, groups=None)
    page = login("writer")
    page.goto(ui.url + "/cascades/def-demo/definition")
    assert page.locator(".cn-name").inner_text() == "def-demo"
    assert page.locator(".cn-tabs a[aria-current=page]").inner_text() == "Definition"
    assert "echo second" in page.locator("pre.source").inner_text()
    assert page.locator(".version-list li").count() == 1

    page.click("[data-open-update]")
    source = page.locator("#update-source")
    source.fill(source.input_value().replace("echo first", "echo first, changed"))
    page.click("#update-form button[type=submit]")
    result = page.locator("#update-result .result.ok")
    result.wait_for()
    text = result.inner_text()
    assert "Applied def-demo (version 2)" in text
    assert "changed task first: run" in text
    reset = [t.strip() for t in result.locator(".reset-list li a").all_inner_texts()]
    assert reset == ["first", "second"]  # the changed task and its descendant, not 'third'
    page.locator(".version-list li").nth(1).wait_for()  # the versions list was re-read
    shot(page, "definition-updated")

    # any earlier version can be read
    page.click(".version-list a:text-is('v1')")
    page.wait_for_url(re.compile(r"version=1"))
    assert "echo first, changed" not in page.locator("pre.source").inner_text()
    assert "Version 1" in page.locator("#h-source").inner_text()
    page.click("text=Show current")
    assert "echo first, changed" in page.locator("pre.source").inner_text()
    shot(page, "definition-1280")

    # delete: the button stays disabled until the name is typed
    page.click(".def-source [data-delete-cascade]")
    dialog = page.locator("#delete-dialog")
    assert dialog.is_visible()
    confirm = dialog.locator("button[type=submit]")
    assert confirm.is_disabled()
    dialog.locator("input[name=confirm]").fill("def-dem")
    assert confirm.is_disabled()
    dialog.locator("input[name=confirm]").fill("def-demo")
    shot(page, "definition-delete-dialog")
    confirm.click()
    page.wait_for_url(ui.url + "/cascades")
    assert "def-demo" not in row_names(page)
    assert ui.admin.get("/api/v1/cascades/def-demo").status_code == 404


def test_delete_from_the_list_and_escape_cancels(ui, login):
    ui.apply(DEMO.replace("def-demo", "list-demo"), groups=None)
    page = login("writer")
    page.goto(ui.url + "/cascades")
    page.click("[data-delete-cascade='list-demo']")
    page.keyboard.press("Escape")
    assert not page.locator("#delete-dialog").is_visible()
    page.click("[data-delete-cascade='list-demo']")
    page.locator("#delete-dialog input[name=confirm]").fill("list-demo")
    page.keyboard.press("Enter")
    page.wait_for_function("!document.querySelector(\"tr[data-cascade='list-demo']\")")
    assert ui.admin.get("/api/v1/cascades/list-demo").status_code == 404


def test_definition_masks_password_defaults_and_guards_re_applying_them(ui, login):
    ui.apply(example("application-deploy"), groups=["team"])
    page = login("writer")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url} {r.post_data or ''}"))
    page.goto(ui.url + "/cascades/application-deploy/definition")
    html = page.content()
    assert "********" in page.locator("pre.source").inner_text()
    assert not [s for s in SECRET_DEFAULTS if s in html]
    page.click("[data-open-update]")
    page.click("#update-form button[type=submit]")
    guard = page.locator("dialog[aria-label='Apply masked password defaults?']")
    guard.wait_for()
    guard.locator("text=Cancel").click()
    assert not [r for r in requests if r.startswith("PUT ")]  # nothing was applied
    assert not [r for r in requests if any(s in r for s in SECRET_DEFAULTS)]


def test_reader_sees_no_apply_update_or_delete_controls(ui, login, shot):
    ui.apply(example("simple"), groups=["team"])
    page = login("reader")
    page.goto(ui.url + "/cascades")
    assert "foobar" in row_names(page)
    assert page.locator("#apply").count() == 0
    assert page.locator("[data-delete-cascade]").count() == 0
    page.goto(ui.url + "/cascades/foobar/definition")
    assert page.locator("pre.source").is_visible()
    assert page.locator("[data-open-update], #update, [data-delete-cascade]").count() == 0
    shot(page, "definition-reader")


def test_outsider_gets_404_for_a_team_cascades_pages(ui, login):
    ui.apply(example("simple"), groups=["team"])
    page = login("outsider")
    page.goto(ui.url + "/cascades")
    assert "foobar" not in row_names(page)
    for tab in ("definition", "inputs", "datastore", "webhooks"):
        response = page.goto(f"{ui.url}/cascades/foobar/{tab}")
        assert response.status == 404, tab
        assert page.locator("h1").inner_text() == "Not found"
    # same answer as for a cascade that does not exist
    response = page.goto(ui.url + "/cascades/no-such-cascade/inputs")
    assert response.status == 404
    # and the API agrees
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert httpx.get(ui.url + "/api/v1/cascades/foobar", cookies=cookies).status_code == 404
