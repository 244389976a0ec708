"""Logging in and out, the dashboard, themes and widths, in a real browser."""

from __future__ import annotations

from tests.browser.conftest import PASSWORD, example


def test_wrong_password_is_refused_and_login_reaches_the_page_asked_for(ui, browser, shot):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(ui.url + "/?from=bookmark")
    assert "/login?next=%2F%3Ffrom%3Dbookmark" in page.url
    page.fill("input[name=username]", "writer")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator(".alert.error").inner_text().strip() == "the username or password is wrong"
    shot(page, "login-refused")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(ui.url + "/?from=bookmark")
    context.close()


def test_login_never_redirects_to_another_host(ui, browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto(ui.url + "/login?next=//evil.example/x")
    page.fill("input[name=username]", "writer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(ui.url + "/")
    context.close()


def test_dashboard_shows_visible_cascades_with_their_states(ui, login, shot):
    ui.apply(example("simple"), groups=["team"])
    ui.apply(example("error-handling"), groups=["secret-team"])
    page = login("writer")
    cards = page.locator(".cascade-card")
    names = [n.strip() for n in page.locator(".cc-name").all_inner_texts()]
    assert "foobar" in names
    assert "error-handling" not in names  # another group's cascade is not even listed
    assert cards.count() == len(names)
    bar = page.locator(".cascade-card", has_text="foobar").locator(".statebar")
    assert "not started" in bar.get_attribute("aria-label")
    shot(page, "dashboard-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "dashboard-phone")
    # no horizontal scrolling at phone width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_theme_toggle_and_keyboard_only_navigation(ui, login, shot):
    page = login("writer")
    page.click("#theme-toggle")
    theme = page.evaluate("document.documentElement.dataset.theme")
    assert theme in ("dark", "light")
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == theme  # remembered
    if theme != "dark":
        page.click("#theme-toggle")
    shot(page, "dashboard-dark")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip()  # the first control of the page, reached without a mouse


def test_logout_ends_the_session(ui, login):
    page = login("reader")
    page.click("text=Log out")
    page.wait_for_url(ui.url + "/login")
    page.goto(ui.url + "/")
    assert "/login" in page.url
