"""Browser tests: headless Debian Chromium driven by Playwright against a real ``scaffold serve``
process with real Docker.

Without Chromium or Playwright the tests skip, unless ``SCAFFOLD_REQUIRE_BROWSER=1`` (CI), where
that is a failure. Every test can save screenshots with ``shot(page, name)`` into
``$SCAFFOLD_SCREENSHOTS`` (default ``build/screenshots``) for review. A page that logs a
JavaScript error fails its test.

    def test_something(ui, login):
        page = login("writer")
        page.goto(ui.url + "/cascades/foobar")
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import EXAMPLES, REPO
from tests.web.conftest import free_port

CHROMIUM = os.environ.get("SCAFFOLD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(os.environ.get("SCAFFOLD_SCREENSHOTS", REPO / "build" / "screenshots"))
PASSWORD = "browser-test-password"
#: name -> (role, groups). Example cascades without groups are visible to every user; the tests
#: apply their cascades with ``groups: [team]`` to check who may see and do what.
USERS = {
    "writer": ("write", ["team"]),
    "reader": ("read", ["team"]),
    "outsider": ("write", ["elsewhere"]),
}

pytestmark = pytest.mark.slow


def browser_problem() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Playwright is not installed ({exc}): pip install -e '.[test]'"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: bash scripts/setup-browser.sh (apt-get install chromium)"
    return None


def require_browser() -> None:
    problem = browser_problem()
    if problem is None:
        return
    if os.environ.get("SCAFFOLD_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests cannot run: {problem}")
    pytest.skip(problem)


class UiServer:
    """A running ``scaffold serve`` (real process, real Docker) and an admin API client."""

    def __init__(self, process, admin: httpx.Client):
        self.process, self.admin = process, admin
        self.url = process.url
        self.data_dir = process.data_dir

    def apply(self, path_or_text: Path | str, groups: list[str] | None = ("team",)) -> dict:
        """Apply a cascade file (a path or its text), optionally with ``groups`` set in it."""
        text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
        if groups:
            text = re.sub(r"^groups:.*\n", "", text, flags=re.M)
            text = f"groups: [{', '.join(groups)}]\n" + text
        response = self.admin.post(
            "/api/v1/cascades", content=text, headers={"Content-Type": "application/yaml"}
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def board(self, cascade: str) -> dict[str, str]:
        response = self.admin.get(f"/api/v1/cascades/{cascade}/tasks")
        assert response.status_code == 200, response.text
        return {t["name"]: t["display"] for t in response.json()}


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """One real server per test module, with the users of ``USERS``."""
    from tests.docker_helpers import remove_containers, require_docker
    from tests.e2e.test_serve import ServeProcess

    require_browser()
    require_docker()
    data_dir = tmp_path_factory.mktemp("ui") / "data"
    process = ServeProcess(data_dir, free_port()).start()
    admin = process.client()
    for name, (role, groups) in USERS.items():
        response = admin.post(
            "/api/v1/users", json={"username": name, "password": PASSWORD, "role": role, "groups": groups}
        )
        assert response.status_code == 201, response.text
    try:
        yield UiServer(process, admin)
    finally:
        admin.close()
        process.stop(signal.SIGKILL)
        id_file = data_dir / "instance-id"
        if id_file.exists():
            remove_containers(f"scaffold.instance={id_file.read_text().strip()}")


@pytest.fixture(scope="module")
def browser(ui: UiServer) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


class PageErrors(list):
    """JavaScript errors and failed same-origin requests a page logged."""


@pytest.fixture
def login(ui: UiServer, browser) -> Iterator[Callable[..., object]]:
    """``login(user, viewport=(1280, 800))`` -> a Playwright page logged in as ``user``
    ("admin" or a name of ``USERS``). JavaScript errors on any page fail the test."""
    from tests.e2e.test_serve import ADMIN_PASSWORD

    contexts, errors = [], PageErrors()

    def open_page(user: str = "writer", viewport: tuple[int, int] = (1280, 800), color_scheme: str = "light"):
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            color_scheme=color_scheme,
            accept_downloads=True,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on(
            "console", lambda msg: msg.type == "error" and errors.append(f"{page.url}: console: {msg.text}")
        )
        page.goto(ui.url + "/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", ADMIN_PASSWORD if user == "admin" else PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    # a 4xx the test provoked on purpose is logged by Chromium as a console error: tests that do so
    # clear ``login.errors``; anything else left here is a defect of the page
    unexpected = [e for e in errors if "the server responded with a status of 4" not in e]
    assert not unexpected, "the pages logged errors:\n" + "\n".join(unexpected)


@pytest.fixture(scope="session")
def shot() -> Callable[[object, str], Path]:
    """``shot(page, "name")`` saves a full-page screenshot for review and returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def example(name: str) -> Path:
    return EXAMPLES / f"{name}.yaml"
