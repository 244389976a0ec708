"""API tokens, the admin pages (users, groups and roles, audit log) and the nodes page, in a real
browser against a real ``scaffold serve``."""

from __future__ import annotations

import httpx

from tests.browser.conftest import PASSWORD, example


def snap(page, shot, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, name)


def test_create_a_token_see_it_once_and_revoke_it(ui, login, shot):
    page = login("writer")
    page.goto(ui.url + "/tokens")
    assert page.locator("text=Show everyone's tokens").count() == 0  # admins only
    page.fill("#token-form input[name=name]", "ci-deploy")
    page.fill("#token-form input[name=expires_in_days]", "30")
    page.click("#token-form button[type=submit]")
    dialog = page.locator("#token-created")
    dialog.wait_for()
    token = dialog.locator("[data-token-value]").input_value()
    assert token.startswith("scf_")
    shot(page, "token-created")
    me = httpx.get(ui.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "writer"
    dialog.locator("[data-close]").click()
    page.wait_for_function("document.querySelector('#token-created [data-token-value]').value === ''")
    row = page.locator("#tokens-list tr", has_text="ci-deploy")
    row.wait_for()
    assert "active" in row.locator("td[data-label=State]").inner_text()
    assert "never" not in row.locator("td[data-label=Expires]").inner_text()
    page.reload()
    assert token not in page.content()
    snap(page, shot, "tokens-1280")

    page.locator("#tokens-list tr", has_text="ci-deploy").locator("[data-revoke-token]").click()
    page.locator("#token-revoke-dialog button[value=confirm]").click()
    page.wait_for_function(
        "[...document.querySelectorAll('#tokens-list tr')].some(r => r.textContent.includes('ci-deploy')"
        " && r.textContent.includes('revoked'))"
    )
    assert page.locator("#tokens-list tr", has_text="ci-deploy").locator("[data-revoke-token]").count() == 0
    gone = httpx.get(ui.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401


def test_an_admin_sees_everyones_tokens(ui, login):
    ui.admin.post("/api/v1/tokens", json={"name": "admin-own-token"})
    page = login("admin")
    page.goto(ui.url + "/tokens")
    page.click("text=Show everyone's tokens")
    page.wait_for_url("**/tokens?all=1")
    assert page.locator("#tokens-list th", has_text="User").count() == 1
    assert page.locator("#tokens-list td[data-label=User]", has_text="admin").count() >= 1


def test_admin_creates_a_user_who_is_logged_out_when_disabled(ui, login, shot):
    admin = login("admin")
    admin.goto(ui.url + "/admin/users")
    form = admin.locator("#user-form")
    form.locator("input[name=username]").fill("dora")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("select[name=role]").select_option("write")
    form.locator("input[name=groups]").fill("team, ops")
    form.locator("button[type=submit]").click()
    row = admin.locator("tr[data-user=dora]")
    row.wait_for()
    assert row.locator("td[data-label=Role]").inner_text().strip() == "write"
    assert row.locator("td[data-label=Groups] .tag").all_inner_texts() == ["team", "ops"]
    assert form.locator("input[name=password]").input_value() == ""

    dora = login("dora")
    dora.goto(ui.url + "/cascades")
    assert "/login" not in dora.url

    row.locator("[data-toggle-user]").click()
    admin.wait_for_function("document.querySelector('tr[data-user=dora]').classList.contains('disabled')")
    assert "disabled" in admin.locator("tr[data-user=dora] td[data-label=State]").inner_text()
    snap(admin, shot, "admin-users")
    # dora's next request finds her session ended
    dora.goto(ui.url + "/cascades")
    assert "/login" in dora.url

    # enable again, change the role and groups, reset the password, then delete
    admin.locator("tr[data-user=dora] [data-toggle-user]").click()
    admin.wait_for_function("!document.querySelector('tr[data-user=dora]').classList.contains('disabled')")
    admin.locator("tr[data-user=dora] [data-edit-user]").click()
    edit = admin.locator("#user-edit-dialog")
    assert edit.locator("input[name=groups]").input_value() == "team, ops"
    edit.locator("select[name=role]").select_option("read")
    edit.locator("input[name=groups]").fill("ops")
    shot(admin, "admin-user-edit")
    edit.locator("button[value=confirm]").click()
    admin.wait_for_function("document.querySelector('tr[data-user=dora]').dataset.role === 'read'")
    assert ui.admin.get("/api/v1/users/dora").json()["groups"] == ["ops"]

    admin.locator("tr[data-user=dora] [data-password-user]").click()
    admin.locator("#user-password-dialog input[name=password]").fill("a-brand-new-password")
    admin.locator("#user-password-dialog button[value=confirm]").click()
    admin.locator("#user-password-dialog").wait_for(state="hidden")
    assert httpx.post(
        ui.url + "/api/v1/login", json={"username": "dora", "password": "a-brand-new-password"}
    ).is_success

    admin.locator("tr[data-user=dora] [data-delete-user]").click()
    admin.locator("#user-delete-dialog button[value=confirm]").click()
    admin.wait_for_function("!document.querySelector('tr[data-user=dora]')")
    assert ui.admin.get("/api/v1/users/dora").status_code == 404


def test_groups_and_roles_page(ui, login, shot):
    ui.apply(example("simple"), groups=["team"])
    page = login("admin")
    page.goto(ui.url + "/admin/groups")
    team = page.locator("tr[data-group=team]")
    assert {"reader", "writer"} <= set(
        team.locator("td[data-label=Members]").inner_text().replace(",", " ").split()
    )
    assert "foobar" in team.locator("td[data-label=Cascades]").inner_text()
    roles = page.locator(".roles-table")
    apply_row = roles.locator("tr", has=page.locator("th code", has_text="apply"))
    assert apply_row.locator("td").all_inner_texts() == ["—", "✓", "✓"]  # read, write, admin
    snap(page, shot, "admin-groups")


def test_audit_log_filters_and_pages(ui, login, shot):
    for i in range(60):
        assert ui.admin.post("/api/v1/tokens", json={"name": f"bulk-{i}"}).status_code == 201
    page = login("admin")
    page.goto(ui.url + "/admin/audit")
    rows = page.locator(".audit-table tbody tr")
    assert rows.count() == 50
    first_ids = [int(r.get_attribute("data-audit")) for r in rows.all()]
    assert first_ids == sorted(first_ids, reverse=True)  # newest first
    snap(page, shot, "admin-audit")
    page.click("a[rel=next]")
    page.wait_for_url("**before=*")
    older = [int(r.get_attribute("data-audit")) for r in page.locator(".audit-table tbody tr").all()]
    assert older and max(older) < min(first_ids)

    page.goto(ui.url + "/admin/audit")
    page.select_option("select[name=user]", "admin")
    page.fill("input[name=action]", "user")
    page.click(".filter-bar button[type=submit]")
    page.wait_for_url("**action=user*")
    actions = page.locator(".audit-table td[data-label=Action]").all_inner_texts()
    assert actions and all(a.startswith("user.") for a in actions)
    assert set(page.locator(".audit-table td[data-label=Who]").all_inner_texts()) == {"admin"}


def test_non_admins_get_403_for_the_admin_pages(ui, login):
    page = login("writer")
    assert page.locator(".mainnav a", has_text="Users").count() == 0
    for path in ("/admin/users", "/admin/groups", "/admin/audit"):
        response = page.goto(ui.url + path)
        assert response.status == 403, path
        assert page.locator("h1").inner_text() == "Not allowed"


def test_nodes_page_shows_the_local_node_and_its_load(ui, login, shot):
    page = login("reader")
    page.goto(ui.url + "/nodes")
    cards = page.locator(".node-card")
    assert cards.count() == 1
    card = cards.first
    assert "up" in card.locator(".chip").inner_text()
    node = ui.admin.get("/api/v1/nodes").json()[0]
    assert node["name"] in card.locator("h2").inner_text()
    assert node["version"] in card.inner_text()
    assert f"of {node['max_running']} slots" in card.inner_text()
    assert page.locator("#nodes[data-live-refresh]").count() == 1
    snap(page, shot, "nodes-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    snap(page, shot, "nodes-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_pages_at_phone_width_and_in_the_dark_theme(ui, login, shot):
    ui.apply(example("application-deploy"), groups=["team"])
    page = login("admin", viewport=(390, 844), color_scheme="dark")
    for path, name in (
        ("/cascades", "cascades"),
        ("/cascades/application-deploy/inputs", "inputs"),
        ("/cascades/application-deploy/definition", "definition"),
        ("/cascades/application-deploy/webhooks", "webhooks"),
        ("/tokens", "tokens"),
        ("/admin/users", "admin-users"),
        ("/admin/audit", "admin-audit"),
    ):
        page.goto(ui.url + path)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        snap(page, shot, f"{name}-phone-dark")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways at phone width ({width}px)"
