"""The web UI's cascade page for a 1,000-task cascade: server time and browser rendering time.

    python bench/ui_page.py [--tasks 1000] [--requests 20] [--loads 5] [--no-browser]

Everything talks to a real ``scaffold serve`` process (fresh data directory, loopback, the default
executor; the cascade is only applied, never run). Nothing here asserts a time (issue 4,
acceptance 3):

1. **Server** (target < 300 ms): ``GET /cascades/<name>`` with a logged-in session cookie, timed in
   the client (httpx over loopback, from sending to the whole body read), ``--requests`` requests
   after 2 untimed ones (the first computes and caches the layout; its time is printed apart, as the
   cost of a first view after each apply). Median and p95 (nearest rank). Also
   ``GET /cascades/<name>/states`` (the JSON the page fetches after live events).
   The layout alone (target well under 100 ms): ``scaffold.web.ui.graph.layout`` in this process
   with the server's GC settings, wall and CPU time, median of 7.
2. **Browser** (target < 2 s): headless Chromium (Playwright, ``/usr/bin/chromium`` or
   ``$SCAFFOLD_CHROMIUM``) logged in, one new tab per load: the time from navigation start until
   the page says the graph is drawn -- ``performance.mark("cascade-ready")``, set by cascade.js two
   animation frames after it fitted the graph, i.e. after the first paint of the whole SVG. Median
   of ``--loads``; the first load (cold cache) is printed apart, and the load event for reference.

The cascade is generated: ``--tasks`` tasks (image ``scaffold-test/busybox:latest``, script
``true``) in segments of a fan-out from one task to 40, two layers where each task depends on 1-3
tasks of the layer above (some by ``always`` or ``error``), and a fan-in of the 40 into the next
segment's first task.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, print_machine, verdict

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "bench-ui-password"
IMAGE = "scaffold-test/busybox:latest"
VERBS = ("deploy", "migrate", "check", "build", "push", "sync", "verify", "rollout")
NOUNS = ("api", "db", "cache", "frontend", "worker", "queue", "edge_proxy", "search_index")


def big_shape(n: int = 1000, width: int = 40, seed: int = 7) -> list[tuple[str, list[tuple[str, str]]]]:
    """``n`` tasks as ``(name, [(parent, kind), ...])`` in file order (see the module doc)."""
    rng = random.Random(seed)
    tasks: list[tuple[str, list[tuple[str, str]]]] = [("start", [])]
    hub, segment = "start", 0
    while len(tasks) < n:
        above = [hub]
        for depth in range(3):
            row = []
            for i in range(width):
                if len(tasks) >= n:
                    break
                name = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}_{segment}_{depth}_{i}"
                if depth == 0:
                    deps = [(hub, "success")]
                else:
                    picks = rng.sample(above, min(len(above), rng.choice((1, 1, 2, 3))))
                    deps = [(p, "success") for p in picks]
                    roll = rng.random()
                    if roll < 0.08:
                        deps[0] = (deps[0][0], "always")
                    elif roll < 0.12:
                        deps[0] = (deps[0][0], "error")
                tasks.append((name, deps))
                row.append(name)
            above = row
        if len(tasks) >= n:
            break
        segment += 1
        hub = f"join_{segment}"
        tasks.append((hub, [(p, "success") for p in above]))
    return tasks[:n]


def big_cascade_yaml(name: str = "big-ui", n: int = 1000) -> str:
    lines = ["version: v1", f"name: {name}", "description: generated for the UI benchmark", "tasks:"]
    for task, deps in big_shape(n):
        lines += [f"  - name: {task}", f"    image: {IMAGE}", "    run: 'true'"]
        if deps:
            by_kind: dict[str, list[str]] = {}
            for parent, kind in deps:
                by_kind.setdefault(kind, []).append(parent)
            lines.append("    depends_on:")
            for kind, parents in by_kind.items():
                lines.append(f"      {kind}: [{', '.join(parents)}]")
    return "\n".join(lines) + "\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


def login_cookie(url: str, password: str) -> httpx.Cookies:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
        response = client.post("/login", data={"username": "admin", "password": password, "next": "/"})
        assert response.status_code == 303, response.text
        return client.cookies


def bench_server(url: str, cascade: str, cookies: httpx.Cookies, count: int) -> dict[str, object]:
    out: dict[str, object] = {}
    with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:

        def timed(path: str) -> tuple[float, int]:
            t0 = time.perf_counter()
            response = client.get(path)
            body = response.content
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, (path, response.status_code, body[:300])
            return elapsed, len(body)

        first, size = timed(f"/cascades/{cascade}")
        timed(f"/cascades/{cascade}")
        page = [timed(f"/cascades/{cascade}")[0] for _ in range(count)]
        states = [timed(f"/cascades/{cascade}/states")[0] for _ in range(count)]
        out.update(first=first, size=size, page=page, states=states)
    return out


def bench_layout(n: int, repeats: int = 7) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``graph.layout`` in this process (the server's GC settings)."""
    from scaffold.app import tune_garbage_collector
    from scaffold.web.ui import graph

    tune_garbage_collector()
    tasks = big_shape(n)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        graph.layout(tasks)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def bench_browser(url: str, cascade: str, password: str, loads: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("SCAFFOLD_CHROMIUM", "/usr/bin/chromium")
    ready, onload, received, parsed = [], [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url + "/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda u: "/login" not in u)
        page.close()
        for _ in range(loads + 1):
            tab = context.new_page()
            tab.goto(f"{url}/cascades/{cascade}", wait_until="load")
            tab.wait_for_function(
                "document.getElementById('cascade-page').dataset.ready === '1'", timeout=60_000
            )
            mark = tab.evaluate("performance.getEntriesByName('cascade-ready')[0].startTime")
            nav = tab.evaluate(
                "(() => { const n = performance.getEntriesByType('navigation')[0];"
                " return [n.responseEnd, n.domInteractive, n.loadEventEnd]; })()"
            )
            received.append(nav[0] / 1000)
            parsed.append(nav[1] / 1000)
            load = nav[2]
            nodes = tab.evaluate("document.querySelectorAll('#graph g.node').length")
            assert nodes > 0, "no node drawn"
            ready.append(mark / 1000)
            onload.append(load / 1000)
            tab.close()
        browser.close()
    return {"ready": ready, "load": onload, "received": received, "parsed": parsed}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    from tests.e2e.test_serve import ADMIN_PASSWORD, ServeProcess
    from tests.web.conftest import free_port

    print_machine()
    load_before = machine()["loadavg"]
    cascade = "big-ui"
    text = big_cascade_yaml(cascade, args.tasks)
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        process = ServeProcess(Path(tmp) / "data", free_port()).start()
        try:
            with process.client() as admin:
                response = admin.post(
                    "/api/v1/cascades", content=text, headers={"Content-Type": "application/yaml"}
                )
                assert response.status_code == 201, response.text
            cookies = login_cookie(process.url, ADMIN_PASSWORD)
            layout = bench_layout(args.tasks)
            server = bench_server(process.url, cascade, cookies, args.requests)
            browser = (
                None if args.no_browser else bench_browser(process.url, cascade, ADMIN_PASSWORD, args.loads)
            )
        finally:
            process.stop(signal.SIGTERM)

    ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
    page, states = server["page"], server["states"]
    print(f"\ncascade: {args.tasks} tasks; page HTML {server['size'] / 1024:.0f} KiB")
    rows = [
        (
            "layout alone, in process: wall / CPU (median of 7)",
            f"{ms(statistics.median(layout[0]))} / {ms(statistics.median(layout[1]))}",
            "< 100 ms",
            verdict(statistics.median(layout[0]) < 0.1),
        ),
        (
            "GET /cascades/{c}: first request after apply (computes the layout)",
            ms(server["first"]),
            "(info)",
            "",
        ),
        (
            f"GET /cascades/{{c}}: median of {len(page)}",
            ms(statistics.median(page)),
            "< 300 ms",
            verdict(statistics.median(page) < 0.3),
        ),
        (
            f"GET /cascades/{{c}}: p95 of {len(page)}",
            ms(percentile(page, 0.95)),
            "< 300 ms",
            verdict(percentile(page, 0.95) < 0.3),
        ),
        (
            f"GET /cascades/{{c}}/states: median / p95 of {len(states)}",
            f"{ms(statistics.median(states))} / {ms(percentile(states, 0.95))}",
            "(info)",
            "",
        ),
    ]
    if browser:
        ready = browser["ready"]
        warm = ready[1:]
        rows += [
            ("browser: navigation start to graph drawn, first load (cold cache)", ms(ready[0]), "(info)", ""),
            (
                f"browser: navigation start to graph drawn, median of {len(warm)}",
                f"{ms(statistics.median(warm))} ({ms(min(warm))}-{ms(max(warm))})",
                "< 2 s",
                verdict(statistics.median(warm) < 2.0),
            ),
            (
                "browser: HTML received / DOM parsed / load event, medians",
                " / ".join(ms(statistics.median(browser[k][1:])) for k in ("received", "parsed", "load")),
                "(info)",
                "",
            ),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure'.ljust(width)}  {'measured':>28}  {'target':>9}")
    for name, value, target, result in rows:
        print(f"{name.ljust(width)}  {value:>28}  {target:>9}  {result}")
    info = machine()
    print(
        f"\nmachine: nproc {info['nproc']}, CPU {info['cpu']}, "
        f"load average {load_before} before, {info['loadavg']} after"
    )


if __name__ == "__main__":
    main()
