"""``scaffold serve`` under load: start to ready, idle memory, and 50 API clients while a cascade runs.

    python bench/serve_load.py [--starts 5] [--clients 50] [--duration 20] [--repeats 3]
                               [--client wrk|raw|httpx[,...]] [--server-tree DIR]
                               [--max-running 8] [--skip-start] [--skip-load] [--no-baseline]
                               [--diagnose] [--profile pyinstrument|timing|stalls|gc] [--what-if A[,B]]...

Everything talks to the real server process (``python -m scaffold serve``, real SQLite, real Docker)
over loopback only, with a fresh data directory each time; nothing here asserts a time (targets from
issue 3, acceptance 5):

1. **Start to ready** (target < 1.5 s): wall time from spawning ``python -m scaffold serve --data-dir
   <fresh> --port <free>`` to the first 200 of ``GET /api/v1/health`` (polled every 5 ms), median of
   ``--starts`` starts; also with ``--examples``, and a restart on an existing data directory (info).
   Every start is a first start: it creates ``admin`` from ``SCAFFOLD_ADMIN_PASSWORD`` (one argon2 hash).
2. **Idle memory** (target < 100 MB): ``VmRSS`` of the server process (``/proc/<pid>/status``) idle for
   2 s after start, and again 2 s after applying every bundled example over the API; also started
   with ``--examples``.
3. **Load** (target p99 < 50 ms, zero errors): ``--clients`` keep-alive connections, each with its own
   API token, loop for ``--duration`` seconds over ``GET /cascades``, ``GET
   /cascades/application-deploy/tasks``, ``GET .../tasks/<task>/runs`` and ``GET .../runs/<n>/logs``
   while ``application-deploy`` runs in Docker (``--max-running``): a driver follows the SSE stream and
   starts the cascade again as soon as its wave ends, so tasks run during the whole window. Closed
   loop, no think time: every connection sends its next request as soon as the previous one answered.
   Errors are any non-2xx status or any exception. Latency is measured in the client, from sending to
   the whole body read. The CPU time of the server (``/proc/<pid>/stat``) and of the load generator in
   the window are printed, per request: they share the machine's cores, and the server's CPU per
   request is the figure that does not move with the machine's load. The load average (1, 5, 15 min)
   is printed at the start and end of each window. ``--client`` picks the load generator(s); with
   several, the runs alternate between them (``--repeats`` each), so that a drift of the machine's load
   falls on all alike:

   - ``wrk`` (default; the Debian package): C, 2 threads, epoll, ~0.03 ms of CPU per request. A Lua
     script cycles through the four routes for every task of the board (the logs of each task's newest
     run as of the start of the window) and through the clients' tokens; wrk reports overall
     percentiles only (its own histogram, from every request of the window).
   - ``raw``: hand-written HTTP/1.1 on asyncio streams in this process, ~0.1-0.16 ms of CPU per request;
     per-route percentiles (nearest rank); the logs of each task's newest run at the time of asking;
     1 s of untimed ramp-up.
   - ``httpx``: one ``httpx.AsyncClient`` per client, ~0.6-0.9 ms of CPU per request in this process:
     on a 2-core machine the load generator then takes more CPU than the server (kept to compare with
     the first recorded runs).

   ``--server-tree DIR`` runs the server from another copy of the code (a directory with a
   ``scaffold/`` package; it comes first on ``sys.path``), e.g. the code before a change, to measure
   before and after alternately in the same conditions.

   Baseline (info, ``--no-baseline`` skips it): the same clients against a minimal Starlette app on
   uvicorn (one route answering a 15-item JSON list; no auth, no store): the floor of the HTTP stack
   and of the load generator on this machine.

``--diagnose`` adds runs that split the latency between the load generator and the server: the same
load with raw-socket clients and the baseline with them, and the httpx load with think times of 50 and
200 ms (mean; uniform random) after each response.

``--profile pyinstrument`` runs only the load (the first ``--client``, raw instead of httpx, so that
the server gets the CPU) with the server started under pyinstrument, sampling during the window only
(SIGUSR1 starts it, SIGUSR2 stops it and writes the report), and prints the call tree and the largest
self times. ``--profile timing`` instead wraps the request dispatcher (``scaffold.web.routing._serve``),
the credential check and every store method in timers and prints the server-side wall time per route,
per store method, and the event loop's lag; ``--profile stalls`` samples what the event loop's thread
does while the loop is late; ``--profile gc`` times the cyclic garbage collector's pauses.
``--what-if NAME[,NAME]`` (repeatable) runs the load with each ``--client`` once as is and once per set
of experimental changes monkeypatched into the server process (``switch``, ``authcache``,
``syncread``, ``fastio``; see ``WHAT_IFS``). Nothing in ``scaffold/`` is edited by any of these.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import EXAMPLES, ROOT, median, print_machine, spread, verdict

TARGET_READY_S = 1.5
TARGET_RSS_MB = 100.0
TARGET_P99_MS = 50.0
ADMIN_PASSWORD = "bench-admin-password"
CASCADE = "application-deploy"
ROUTES = ("cascades", "tasks", "runs", "logs")
HERE = Path(__file__).resolve()
RAMP_UP_S = 1.0  # clients connect and loop this long before the measured window opens
SERVER_TREE: Path | None = None  # --server-tree: run the server from this copy of the code instead


# ---------------------------------------------------------------------------- the server process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` (or ``VmHWM``, the peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (``/proc/<pid>/stat``), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """One server process on a free loopback port. ``argv`` defaults to ``python -m scaffold serve``."""

    def __init__(self, data_dir: Path, *extra: str, argv: list[str] | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = argv or [sys.executable, "-m", "scaffold", "serve"]
        self.argv = [*self.argv, "--port", str(self.port), "--data-dir", str(data_dir), *extra]
        self.env = {**os.environ, "SCAFFOLD_ADMIN_PASSWORD": ADMIN_PASSWORD}
        self.env.pop("SCAFFOLD_CONFIG", None)
        self.cwd = ROOT
        if SERVER_TREE is not None:  # `-m scaffold` then imports that tree's package (cwd first)
            self.cwd = SERVER_TREE
            self.env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(SERVER_TREE), os.environ.get("PYTHONPATH")])
            )
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> float:
        """Spawn and poll ``/health`` until it answers 200; the seconds that took."""
        import httpx

        out = open(self.log, "ab")  # noqa: SIM115 - the child holds it; closed right after the spawn
        with httpx.Client(timeout=1.0) as client:  # made before the clock starts (SSL context etc.)
            began = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
            out.close()
            deadline = began + timeout
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited {self.proc.returncode}:\n{self.log.read_text()[-2000:]}"
                    )
                try:
                    if client.get(f"{self.url}/api/v1/health").status_code == 200:
                        return time.perf_counter() - began
                except httpx.TransportError:
                    pass
                time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"server did not answer in {timeout} s:\n{self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def admin_token(url: str, name: str = "bench") -> str:
    import httpx

    response = httpx.post(
        f"{url}/api/v1/tokens", json={"name": name}, auth=("admin", ADMIN_PASSWORD), timeout=30
    )
    if response.status_code != 201:
        raise RuntimeError(f"POST /tokens answered {response.status_code}: {response.text}")
    return response.json()["token"]


def apply_file(url: str, token: str, path: Path) -> None:
    import httpx

    response = httpx.post(
        f"{url}/api/v1/cascades",
        content=path.read_bytes(),
        headers={"Content-Type": "application/yaml", "Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"apply {path.name} answered {response.status_code}: {response.text}")


def remove_containers(data_dir: Path) -> None:
    """Containers left by a stopped server (SIGTERM leaves running tasks running, SPEC 3.9)."""
    instance = data_dir / "instance-id"
    if not instance.exists():
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        label = f"label=scaffold.instance={instance.read_text().strip()}"
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", label],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60)


# ----------------------------------------------------------------------------- 1. start to ready


def measure_starts(tmp: Path, starts: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"plain": [], "examples": [], "restart": []}
    for i in range(starts):
        for kind in ("plain", "examples"):
            server = Server(
                tmp / f"start-{kind}-{i}" / "data", *(["--examples"] if kind == "examples" else [])
            )
            server.data_dir.parent.mkdir()
            try:
                results[kind].append(server.start())
            finally:
                server.stop()
            if kind == "plain":  # the same data directory again: not a first start any more
                again = Server(server.data_dir)
                try:
                    results["restart"].append(again.start())
                finally:
                    again.stop()
    return results


# ------------------------------------------------------------------------------- 2. idle memory


def measure_memory(tmp: Path, idle: float = 2.0) -> dict[str, float]:
    out: dict[str, float] = {}
    (tmp / "mem").mkdir()
    server = Server(tmp / "mem" / "data")
    try:
        server.start()
        time.sleep(idle)
        out["after start"] = rss_mb(server.pid)
        peak = rss_mb(server.pid, "VmHWM")
        token = admin_token(server.url)
        for path in sorted(EXAMPLES.glob("*.yaml")):
            apply_file(server.url, token, path)
        time.sleep(idle)
        out["after applying the examples"] = rss_mb(server.pid)
        print(
            f"\nidle memory: peak RSS (VmHWM) {peak:.1f} MB after start, "
            f"{rss_mb(server.pid, 'VmHWM'):.1f} MB after applying the examples "
            "(argon2 hashes the admin password at start and checks it for the first token)"
        )
    finally:
        server.stop()
    (tmp / "mem-ex").mkdir()
    server = Server(tmp / "mem-ex" / "data", "--examples")
    try:
        server.start()
        time.sleep(idle)
        out["started with --examples"] = rss_mb(server.pid)
    finally:
        server.stop()
    return out


# -------------------------------------------------------------------------------------- 3. load


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    summary: dict[str, float] | None = None  # wrk: overall figures only (ms), no per-request samples
    command: str = ""


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class HttpxConnection:
    """One httpx.AsyncClient limited to one connection (what the brief asks for)."""

    def __init__(self, url: str, headers: dict[str, str]):
        import httpx

        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.client = httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30)

    async def get(self, path: str) -> tuple[int, bytes]:
        response = await self.client.get(path)
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


class RawConnection:
    """HTTP/1.1 keep-alive GETs written by hand on asyncio streams: a load generator that costs the
    shared CPU a few tens of microseconds per request instead of httpx's ~1 ms (diagnostic)."""

    def __init__(self, url: str, headers: dict[str, str]):
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}\r\n".encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding":
                raise RuntimeError("chunked responses are not handled by the raw client")
        if length is None:
            raise RuntimeError("response without Content-Length")
        return status, await asyncio.wait_for(self.reader.readexactly(length), 30)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


async def client_loop(
    index: int,
    conn: HttpxConnection | RawConnection,
    window: tuple[float, float],
    samples: Samples,
    *,
    baseline: bool,
    think: float,
) -> None:
    pause = random.Random(index)

    async def get(route: str, path: str) -> object:
        began = time.perf_counter()
        if began >= window[1]:  # the window has closed: no more requests
            return None
        counted = began >= window[0]  # requests of the ramp-up (connecting) are not timed
        samples.requests += counted
        try:
            status, content = await conn.get(path)
            elapsed = time.perf_counter() - began
            body = json.loads(content) if content else None
        except Exception as exc:  # every exception is an error of the run, ramp-up included
            samples.errors.append(f"{route} {path}: {type(exc).__name__}: {exc}")
            return None
        if not 200 <= status < 300:
            samples.errors.append(f"{route} {path}: HTTP {status} {content[:200]!r}")
            return None
        if counted:
            samples.latencies[route].append(elapsed)
        if think:
            await asyncio.sleep(min(pause.uniform(0, 2 * think), max(0.0, window[1] - time.perf_counter())))
        return body

    step = index
    try:
        while time.perf_counter() < window[1]:
            step += 1
            if baseline:
                for route in ROUTES:
                    await get(route, f"/b/{route}")
                continue
            await get("cascades", "/api/v1/cascades")
            board = await get("tasks", f"/api/v1/cascades/{CASCADE}/tasks")
            if not isinstance(board, list) or not board:
                continue
            task = board[step % len(board)]["name"]
            runs = await get("runs", f"/api/v1/cascades/{CASCADE}/tasks/{task}/runs")
            if isinstance(runs, list) and runs:
                number = runs[0]["number"]
                await get("logs", f"/api/v1/cascades/{CASCADE}/tasks/{task}/runs/{number}/logs")
    finally:
        await conn.close()


@dataclass
class Activity:
    """What the cascade did, from the event stream: waves, runs, and how many tasks were running."""

    window: tuple[float, float] = (0.0, float("inf"))
    waves_started: int = 0
    waves_ended: int = 0
    runs_ended: list[float] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[float, int]] = field(default_factory=list)  # (when, tasks running)
    errors: list[str] = field(default_factory=list)

    def update(self, task: str, state: str, now: float) -> None:
        self.states[task] = state
        self.changes.append((now, sum(1 for s in self.states.values() if s == "running")))

    def running_in_window(self) -> tuple[float, float, int]:
        """(seconds with at least one task running, time-weighted mean of running tasks, fewest
        running at any moment) inside the window."""
        start, end = self.window
        level = 0
        for when, count in self.changes:
            if when <= start:
                level = count
        busy = weighted = 0.0
        fewest, at = level, start
        for when, count in [*(c for c in self.changes if start < c[0] < end), (end, -1)]:
            busy += (when - at) if level > 0 else 0.0
            weighted += (when - at) * level
            fewest = min(fewest, level)
            level, at = count, when
        return busy, weighted / (end - start), fewest


async def driver(url: str, token: str, activity: Activity) -> None:
    """Start the cascade, and again each time its wave ends, until the window has closed."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def start() -> None:
            response = await client.post(f"/api/v1/cascades/{CASCADE}/start", json={})
            if response.status_code != 200:
                activity.errors.append(f"start answered {response.status_code}: {response.text[:200]}")
            else:
                activity.waves_started += 1

        timeout = httpx.Timeout(30, read=None)
        async with client.stream(
            "GET", "/api/v1/events", params={"cascade": CASCADE}, timeout=timeout
        ) as stream:
            await start()
            kind = None
            async for line in stream.aiter_lines():
                now = time.perf_counter()
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if kind == "task" and "state" in data:
                        activity.update(data["task"], data["state"], now)
                    elif kind == "run" and data.get("state") not in (None, "running", "waiting"):
                        activity.runs_ended.append(now)
                    elif kind == "wave" and data.get("state") == "ended":
                        activity.waves_ended += 1
                        if now >= activity.window[1]:
                            return
                        await start()
                if now > activity.window[1] + 120:
                    activity.errors.append("the last wave did not end within 120 s of the window")
                    return


async def run_load(
    url: str,
    tokens: list[str],
    duration: float,
    *,
    baseline: bool = False,
    think: float = 0.0,
    client: str = "httpx",
    on_start: object = None,
    on_end: object = None,
) -> tuple[Samples, Activity, float]:
    """One client per token after the first for ``duration`` seconds (after a ramp-up of
    ``RAMP_UP_S``); unless ``baseline``, the first token's driver runs the cascade in a loop from
    before the window opens to the first wave end after it closes. ``client`` is ``httpx``, ``raw``
    (hand-written HTTP on asyncio streams) or ``wrk`` (see :func:`run_wrk`)."""
    samples, activity = Samples(), Activity()
    driving = None
    if not baseline:
        driving = asyncio.ensure_future(driver(url, tokens[0], activity))
        await asyncio.sleep(3.0)  # the first wave gets going; its tasks start in Docker
    if client == "wrk":
        paths = ["/b/" + r for r in ROUTES] if baseline else await wrk_paths(url, tokens[0])
        began = time.perf_counter()
        activity.window = (began, began + duration)
        await run_wrk(url, tokens[1:], paths, duration, samples, on_start, on_end)
        if driving is not None:
            await asyncio.wait_for(driving, 180)
        return samples, activity, duration
    # an httpx.AsyncClient takes ~25 ms to make (its SSL context): all are made before the ramp-up
    kind = RawConnection if client == "raw" else HttpxConnection
    conns = [kind(url, {"Authorization": f"Bearer {t}"} if t else {}) for t in tokens[1:]]
    began = time.perf_counter() + RAMP_UP_S
    activity.window = (began, began + duration)
    clients = [
        client_loop(i, conn, activity.window, samples, baseline=baseline, think=think)
        for i, conn in enumerate(conns)
    ]
    running = asyncio.gather(*clients)
    await asyncio.sleep(max(0.0, began - time.perf_counter()))
    if callable(on_start):
        on_start()
    await running  # every request started in the window has been answered
    if callable(on_end):
        on_end()
    elapsed = duration
    if driving is not None:
        await asyncio.wait_for(driving, 180)
    return samples, activity, elapsed


WRK_SCRIPT = """
local paths = {%(paths)s}
local tokens = {%(tokens)s}
local i, t = 0, 0
local requests = {}
function setup(thread)
    thread:set("offset", math.random(#paths))
end
function init(args)
    i = offset
    t = offset
end
function request()
    i = i %% #paths + 1
    t = t %% #tokens + 1
    return wrk.format("GET", paths[i], {["Authorization"] = "Bearer " .. tokens[t]})
end
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK_RESULT %%d %%d %%d %%d %%d %%d %%d %%d %%d %%d %%d\\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
        latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, e.status))
end
"""


async def wrk_paths(url: str, token: str) -> list[str]:
    """The same four routes as the asyncio clients, as a fixed cycle for wrk: for each task of the
    board, ``/cascades``, ``/tasks``, the task's runs, and the log of its newest run (as of now; the
    run stays, so the path stays valid while newer runs are made)."""
    import httpx

    base = f"/api/v1/cascades/{CASCADE}"
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        board = (await client.get(f"{base}/tasks")).json()
        paths: list[str] = []
        for row in board:
            paths += ["/api/v1/cascades", f"{base}/tasks", f"{base}/tasks/{row['name']}/runs"]
            runs = (await client.get(f"{base}/tasks/{row['name']}/runs")).json()
            if runs:
                paths.append(f"{base}/tasks/{row['name']}/runs/{runs[0]['number']}/logs")
    return paths


async def run_wrk(
    url: str,
    tokens: list[str],
    paths: list[str],
    duration: float,
    samples: Samples,
    on_start: object,
    on_end: object,
) -> None:
    """``wrk`` (C, epoll, 2 threads) with one keep-alive connection per client, cycling ``paths``
    and the clients' tokens; closed loop like the asyncio clients. wrk reports only overall
    percentiles (its own histogram, microseconds): they go into ``samples.summary``."""
    quote = lambda v: '"' + v + '"'  # noqa: E731 - tokens and paths hold no quotes
    script = WRK_SCRIPT % {
        "paths": ", ".join(map(quote, paths)),
        "tokens": ", ".join(map(quote, [t for t in tokens if t] or [""])),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    argv = ["wrk", "-t", "2", "-c", str(len(tokens)), "-d", f"{duration:.0f}s", "--timeout", "30s"]
    argv += ["-s", handle.name, url]
    samples.command = " ".join(argv)
    try:
        if callable(on_start):
            on_start()
        proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
        if callable(on_end):
            on_end()
    finally:
        os.unlink(handle.name)
    text = out.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("WRK_RESULT ")), None)
    if proc.returncode or line is None:
        samples.errors.append(f"wrk exited {proc.returncode}: {text[-500:]}")
        return
    n, micros, p50, p95, p99, top, connect, read, write, timeout, status = map(int, line.split()[1:])
    samples.requests = n
    samples.summary = {"n": n, "p50": p50 / 1e3, "p95": p95 / 1e3, "p99": p99 / 1e3, "max": top / 1e3}
    samples.summary["seconds"] = micros / 1e6
    for name, count in (("connect", connect), ("read", read), ("write", write), ("timeout", timeout)):
        if count:
            samples.errors.append(f"wrk: {count} {name} errors")
    if status:
        samples.errors.append(f"wrk: {status} responses with a status >= 400")


def make_tokens(url: str, count: int) -> list[str]:
    """One token through basic auth, the others through the first one (no argon2 per token)."""
    import httpx

    first = admin_token(url)
    tokens = [first]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {first}"}, timeout=30) as client:
        for i in range(count):
            response = client.post("/api/v1/tokens", json={"name": f"client-{i}"})
            if response.status_code != 201:
                raise RuntimeError(f"POST /tokens answered {response.status_code}: {response.text}")
            tokens.append(response.json()["token"])
    return tokens


def print_latencies(title: str, samples: Samples, elapsed: float) -> dict[str, float]:
    every = [x for values in samples.latencies.values() for x in values]
    print(f"\n{title}")
    print(
        f"  requests {'answered' if samples.summary else 'started'} in the {elapsed:.0f} s window "
        f"{samples.requests} = "
        f"{samples.requests / elapsed:.0f} req/s; "
        f"errors {len(samples.errors)}"
    )
    for error in samples.errors[:10]:
        print(f"    error: {error}")
    print(f"  {'route':<44} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    rows = [(r, samples.latencies[r]) for r in ROUTES] + [("overall", every)]
    names = {
        "cascades": "GET /cascades",
        "tasks": f"GET /cascades/{CASCADE}/tasks",
        "runs": "GET .../tasks/<task>/runs",
        "logs": "GET .../runs/<n>/logs",
        "overall": "overall",
    }
    if samples.summary is not None:  # wrk: overall only
        f = samples.summary
        print(f"  command: {samples.command}")
        print(
            f"  {'overall (wrk, the four routes cycled)':<44} {int(f['n']):>6} {f['p50']:>8.1f} "
            f"{f['p95']:>8.1f} {f['p99']:>8.1f} {f['max']:>8.1f}"
        )
        return {"p50": f["p50"], "p99": f["p99"], "rate": samples.requests / elapsed}
    for route, values in rows:
        if not values:
            print(f"  {names[route]:<44} {0:>6}")
            continue
        print(
            f"  {names[route]:<44} {len(values):>6} {pct(values, 50) * 1e3:>8.1f} "
            f"{pct(values, 95) * 1e3:>8.1f} {pct(values, 99) * 1e3:>8.1f} {max(values) * 1e3:>8.1f}"
        )
    return {"p50": pct(every, 50) * 1e3, "p99": pct(every, 99) * 1e3, "rate": samples.requests / elapsed}


def load_phase(
    tmp: Path,
    args: argparse.Namespace,
    *,
    client: str = "httpx",
    think: float = 0.0,
    profile: str | None = None,
    what_if: str = "",
) -> dict[str, float]:
    label = f"load-{client}-{think}-{profile}-{what_if.replace(',', '+')}"
    label += f"-{len(list(tmp.glob(label + '-*')))}"
    (tmp / label).mkdir()
    data_dir = tmp / label / "data"
    report = tmp / f"{label}.report.txt"
    argv = None
    if profile or what_if:
        argv = [sys.executable, str(HERE), "--child-server", profile or "none", str(report), what_if, "--"]
    server = Server(data_dir, "--max-running", str(args.max_running), argv=argv)
    try:
        server.start()
        tokens = make_tokens(server.url, args.clients)
        apply_file(server.url, tokens[0], EXAMPLES / f"{CASCADE}.yaml")
        rss_before = rss_mb(server.pid)
        cpu = {"server": 0.0, "clients": 0.0}

        def on_start() -> None:
            cpu["server"] = cpu_seconds(server.pid)
            cpu["clients"] = generator_cpu()
            if profile:
                server.proc.send_signal(signal.SIGUSR1)  # type: ignore[union-attr]

        def on_end() -> None:
            if profile:
                server.proc.send_signal(signal.SIGUSR2)  # type: ignore[union-attr]
            cpu["server"] = cpu_seconds(server.pid) - cpu["server"]
            cpu["clients"] = generator_cpu() - cpu["clients"]

        load_before = os.getloadavg()
        samples, activity, elapsed = asyncio.run(
            run_load(
                server.url,
                tokens,
                args.duration,
                think=think,
                client=client,
                on_start=on_start,
                on_end=on_end,
            )
        )
        load_after = os.getloadavg()
        server_cpu, client_cpu = cpu["server"], cpu["clients"]
        rss_after = rss_mb(server.pid)
        title = (
            f"load{' under ' + profile if profile else ''}{' WHAT-IF ' + what_if if what_if else ''}: "
            f"{args.clients} clients ({CLIENT_NAMES[client]}), {args.duration:.0f} s, "
            f"{f'think {think * 1e3:.0f} ms (mean)' if think else 'no think time'}, "
            f"--max-running {args.max_running}{', server tree ' + str(SERVER_TREE) if SERVER_TREE else ''}; "
            f"load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in load_before)}, "
            f"at end {'/'.join(f'{x:.2f}' for x in load_after)}"
        )
        figures = print_latencies(title, samples, elapsed)
        busy, mean_running, fewest = activity.running_in_window()
        start, end = activity.window
        print(
            f"  cascade: {activity.waves_started} waves started, {activity.waves_ended} ended (from 4 s "
            f"before the window to the first wave end after it); in the window "
            f"{sum(1 for t in activity.runs_ended if start <= t <= end)} task runs ended, some task running "
            f"{busy:.1f} s of {elapsed:.1f} s, {mean_running:.1f} tasks running on average"
        )
        for error in activity.errors:
            print(f"    driver error: {error}")
        per_request = server_cpu / max(samples.requests, 1) * 1e3
        print(
            f"  CPU in the window: server {server_cpu:.1f} s ({server_cpu / elapsed * 100:.0f}% of one core, "
            f"{per_request:.2f} ms per request, the engine and Docker calls included), load generator "
            f"{client_cpu:.1f} s ({client_cpu / elapsed * 100:.0f}% of one core, "
            f"{client_cpu / max(samples.requests, 1) * 1e3:.2f} ms per request)"
        )
        print(f"  server RSS before / after the load: {rss_before:.1f} / {rss_after:.1f} MB")
        figures.update(
            errors=len(samples.errors) + len(activity.errors),
            server_cpu_ms=per_request,
            client_cpu_ms=client_cpu / max(samples.requests, 1) * 1e3,
            load_start=load_before[0],
            load_end=load_after[0],
            busy=busy / elapsed,
            fewest=fewest,
        )
    finally:
        server.stop()
        remove_containers(data_dir)
    if profile:
        deadline = time.monotonic() + 30
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"\n---- {profile} report of the server during the window ----")
        print(report.read_text() if report.exists() else "(no report written)")
    return figures


CLIENT_NAMES = {"httpx": "httpx", "raw": "raw asyncio HTTP", "wrk": "wrk"}


def generator_cpu() -> float:
    """CPU seconds of this process and of its waited-for children (wrk)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def baseline_phase(args: argparse.Namespace, *, client: str = "httpx") -> dict[str, float]:
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, str(HERE), "--baseline-server", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    duration = min(args.duration, 10.0)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/b/cascades", timeout=1).status_code == 200:
                    break
            time.sleep(0.02)
        cpu = {"server": 0.0, "clients": 0.0}

        def on_start() -> None:
            cpu["server"], cpu["clients"] = cpu_seconds(proc.pid), generator_cpu()

        def on_end() -> None:
            cpu["server"] = cpu_seconds(proc.pid) - cpu["server"]
            cpu["clients"] = generator_cpu() - cpu["clients"]

        samples, _, elapsed = asyncio.run(
            run_load(
                url,
                [""] * (args.clients + 1),
                duration,
                baseline=True,
                client=client,
                on_start=on_start,
                on_end=on_end,
            )
        )
        server_cpu, client_cpu = cpu["server"], cpu["clients"]
        figures = print_latencies(
            f"baseline: minimal Starlette app on uvicorn (a 15-item JSON list, no auth, no store), same "
            f"{args.clients} clients ({CLIENT_NAMES[client]}), {duration:.0f} s",
            samples,
            elapsed,
        )
        print(
            f"  CPU per request: server {server_cpu / max(samples.requests, 1) * 1e3:.2f} ms, load generator "
            f"{client_cpu / max(samples.requests, 1) * 1e3:.2f} ms"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return figures


def what_if_runs(tmp: Path, args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    """The load with each ``--client`` kind, once as is and once per ``--what-if`` set."""
    rows = []
    for what_if in ["", *args.what_if]:
        for name in filter(None, what_if.split(",")):
            print(f"\nwhat-if {name}: {WHAT_IFS.get(name, '?')}")
        for client in args.client:
            figures = load_phase(tmp, args, client=client, what_if=what_if)
            rows.append(
                (
                    f"{what_if or 'as is'}, {CLIENT_NAMES[client]} clients: p99 / rate",
                    f"{figures['p99']:.1f} ms / {figures['rate']:.0f} req/s",
                    "(info)",
                    f"errors {figures['errors']}",
                )
            )
    return rows


def load_runs(tmp: Path, args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    """The measured load (``--repeats`` times each ``--client`` kind, interleaved so that the
    machine's load drifts over all alike), its baseline, and with ``--diagnose`` the runs that split
    the latency."""

    def info(name: str, figures: dict[str, float]) -> tuple[str, str, str, str]:
        return (name, f"{figures['p99']:.1f} ms / {figures['rate']:.0f} req/s", "(info)", "")

    runs: dict[str, list[dict[str, float]]] = {c: [] for c in args.client}
    for _ in range(args.repeats):
        for client in args.client:
            runs[client].append(load_phase(tmp, args, client=client, think=args.think))
    rows = []
    for client, loads in runs.items():
        p99s = [x["p99"] for x in loads]
        errors = sum(int(x["errors"]) for x in loads)
        print(f"\nload, {CLIENT_NAMES[client]} clients, {len(loads)} runs:")
        print(
            f"  {'p99 ms':>8} {'p50 ms':>8} {'req/s':>7} {'errors':>6} {'server CPU ms/req':>18} "
            f"{'generator CPU ms/req':>21} {'load avg start/end':>19}"
        )
        for x in loads:
            print(
                f"  {x['p99']:>8.1f} {x['p50']:>8.1f} {x['rate']:>7.0f} {int(x['errors']):>6} "
                f"{x['server_cpu_ms']:>18.3f} {x['client_cpu_ms']:>21.3f} "
                f"{x['load_start']:>9.2f}/{x['load_end']:<9.2f}"
            )
        p99 = median(p99s)
        rows += [
            (f"load ({client}): errors (all runs)", str(errors), "0", verdict(errors == 0)),
            (
                f"load ({client}): p99 overall, {args.clients} clients"
                + (f" (median of {len(loads)}, {spread(p99s)})" if len(loads) > 1 else ""),
                f"{p99:.1f} ms",
                f"< {TARGET_P99_MS:.0f} ms",
                verdict(p99 < TARGET_P99_MS),
            ),
            (
                f"load ({client}): p50 / throughput (medians)",
                f"{median(x['p50'] for x in loads):.1f} ms / {median(x['rate'] for x in loads):.0f} req/s",
                "(info)",
                "",
            ),
            (
                f"load ({client}): server CPU per request (median)",
                f"{median(x['server_cpu_ms'] for x in loads):.3f} ms",
                "(info)",
                "",
            ),
        ]
    if not args.no_baseline:
        for client in args.client:
            rows.append(info(f"baseline, {client} clients: p99 / rate", baseline_phase(args, client=client)))
    if args.diagnose:
        rows.append(info("raw-socket clients: p99 / rate", load_phase(tmp, args, client="raw")))
        rows.append(info("baseline, raw-socket clients: p99 / rate", baseline_phase(args, client="raw")))
        for think in (0.05, 0.2):
            paced = load_phase(tmp, args, think=think)
            rows.append(info(f"httpx, think {think * 1e3:.0f} ms: p99 / rate", paced))
            rows.append(("  errors of that run", str(paced["errors"]), "0", verdict(paced["errors"] == 0)))
    return rows


# ---------------------------------------------------------------------- child processes (servers)


def baseline_server(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    body = [{"name": f"task_{i}", "state": "success", "reasons": []} for i in range(15)]

    async def answer(request: object) -> JSONResponse:
        return JSONResponse(body)

    app = Starlette(routes=[Route("/b/{route}", answer)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def child_server(mode: str, report: str, what_if: str, argv: list[str]) -> None:
    """``scaffold serve`` in this process with a profiler (SIGUSR1 starts it, SIGUSR2 stops it and
    writes ``report``) and/or what-if changes monkeypatched in (see :func:`install_what_if`)."""
    if mode == "timing":
        TIMING.install()
    elif mode == "stalls":
        STALLS.install()
    elif mode == "gc":
        GC_PAUSES.install()
    install_what_if([w for w in what_if.split(",") if w])
    profiler = None

    def begin(*_: object) -> None:
        nonlocal profiler
        if mode == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        elif mode == "stalls":
            STALLS.reset()
        elif mode == "gc":
            GC_PAUSES.reset()
        else:
            TIMING.reset()

    def end(*_: object) -> None:
        if mode == "none":
            return
        if mode == "pyinstrument" and profiler is not None:
            profiler.stop()
            text = profiler.output_text(unicode=False, color=False, show_all=False)
            flat = profiler.output_text(unicode=False, color=False, flat=True, time="percent_of_total")
            text += "\nself time, the 40 largest (percent of the window's main-thread samples):\n"
            text += "\n".join(flat.splitlines()[:48]) + "\n"
        elif mode == "stalls":
            text = STALLS.report()
        elif mode == "gc":
            text = GC_PAUSES.report()
        else:
            text = TIMING.report()
        Path(report).write_text(text)

    signal.signal(signal.SIGUSR1, begin)
    signal.signal(signal.SIGUSR2, end)
    sys.argv = ["scaffold", "serve", *argv]
    from scaffold.cli import main

    try:
        main()
    except SystemExit:
        pass


WHAT_IFS = {
    "switch": "sys.setswitchinterval(0.0005): the GIL is handed to the SQLite threads 10x sooner",
    "authcache": "AccessService.authenticate_token answers a token seen in the last 5 s from memory "
    "(no get_token/get_user reads; the sketch measured before access/service.py got its TokenCache)",
    "syncread": "SqliteStore._read runs the read on the event loop's thread (its own read-only sqlite3 "
    "connection) instead of a hop to the aiosqlite thread",
    "fastio": "uvicorn with httptools and uvloop instead of h11 and asyncio's loop (needs both importable; "
    "$SERVE_LOAD_FASTIO_PATH is put first on sys.path, e.g. a `pip install --target DIR httptools uvloop`)",
}


def install_what_if(names: list[str]) -> None:
    """Experiments for the report, monkeypatched into the server process; nothing in scaffold/ is
    edited. Each is a sketch of a change, not a correct implementation (the auth cache ignores
    revocation, for one)."""
    for name in names:
        if name not in WHAT_IFS:
            raise SystemExit(f"unknown what-if {name!r}: one of {', '.join(WHAT_IFS)}")
    if "switch" in names:
        sys.setswitchinterval(0.0005)
    if "fastio" in names:
        if os.environ.get("SERVE_LOAD_FASTIO_PATH"):
            sys.path.insert(0, os.environ["SERVE_LOAD_FASTIO_PATH"])
        import httptools  # noqa: F401 - only checks that it is there
        import uvicorn
        import uvloop  # noqa: F401

        config_init = uvicorn.Config.__init__

        def init(self: object, *args: object, **kwargs: object) -> None:
            kwargs.update(http="httptools", loop="uvloop")
            config_init(self, *args, **kwargs)  # type: ignore[arg-type]

        uvicorn.Config.__init__ = init  # type: ignore[method-assign]
    if "authcache" in names:
        from scaffold.access.service import AccessService

        original = AccessService.authenticate_token
        cache: dict[str, tuple[float, object]] = {}

        async def authenticate_token(self: object, plaintext: str | None) -> object:
            hit = cache.get(plaintext or "")
            now = time.monotonic()
            if hit is not None and now - hit[0] < 5.0:
                return hit[1]
            principal = await original(self, plaintext)  # type: ignore[arg-type]
            if principal is not None:
                cache[plaintext or ""] = (now, principal)
            return principal

        AccessService.authenticate_token = authenticate_token  # type: ignore[method-assign]
    if "syncread" in names:
        import sqlite3

        from scaffold.store import sqlite as sqlite_store

        connections: dict[int, sqlite3.Connection] = {}

        async def _read(self: object, fn: object, *args: object) -> object:
            db = connections.get(id(self))
            if db is None:
                db = sqlite3.connect(self.path, isolation_level=None)  # type: ignore[attr-defined]
                sqlite_store._configure(db, "NORMAL", False)
                connections[id(self)] = db
            return fn(db, *args)  # type: ignore[operator]

        sqlite_store.SqliteStore._read = _read  # type: ignore[method-assign]


class Timing:
    """Wall time of each request's phases inside the server, per route (monkeypatched in)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.by_route: dict[str, dict[str, list[float]]] = {}
        self.store: dict[str, list[float]] = {}
        self.lag: list[float] = []

    def add(self, route: str, part: str, seconds: float) -> None:
        self.by_route.setdefault(route, {}).setdefault(part, []).append(seconds)

    def install(self) -> None:
        import scaffold.web.routing as routing

        original_serve, original_principal = routing._serve, routing.resolve_principal
        timing = self

        async def timed_principal(*args: object, **kwargs: object) -> object:
            began = time.perf_counter()
            try:
                return await original_principal(*args, **kwargs)
            finally:
                current = _CURRENT.get(None)
                if current is not None:
                    timing.add(current[0], "auth", time.perf_counter() - began)

        async def timed_serve(endpoint: object, request: object) -> object:
            name = endpoint.operation_id  # type: ignore[attr-defined]
            current = [name, 0.0]
            token = _CURRENT.set(current)
            began = time.perf_counter()
            try:
                return await original_serve(endpoint, request)
            finally:
                timing.add(name, "total", time.perf_counter() - began)
                timing.add(name, "store", current[1])
                _CURRENT.reset(token)

        routing._serve = timed_serve
        routing.resolve_principal = timed_principal

        import scaffold.app as app_module

        original_open = app_module.open_core

        async def open_core(*args: object, **kwargs: object) -> object:
            core = await original_open(*args, **kwargs)
            timing.wrap_store(core.store)
            timing.watcher = asyncio.ensure_future(timing.watch_loop())
            return core

        app_module.open_core = open_core

    def wrap_store(self, store: object) -> None:
        for name in dir(store):
            if name.startswith("_"):
                continue
            method = getattr(store, name)
            if not asyncio.iscoroutinefunction(method):
                continue

            def wrapper(method: object = method, name: str = name) -> object:
                async def timed(*args: object, **kwargs: object) -> object:
                    began = time.perf_counter()
                    try:
                        return await method(*args, **kwargs)  # type: ignore[operator]
                    finally:
                        seconds = time.perf_counter() - began
                        self.store.setdefault(name, []).append(seconds)
                        current = _CURRENT.get(None)
                        if current is not None:
                            current[1] += seconds

                return timed

            setattr(store, name, wrapper())

    async def watch_loop(self) -> None:
        """Event-loop lag: how late a 10 ms sleep wakes up."""
        while True:
            began = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lag.append(time.perf_counter() - began - 0.01)

    def report(self) -> str:
        lines = ["server-side wall time per request (ms; 'store' sums every store await of the request):"]
        lines.append(f"  {'route':<14} {'n':>6} {'part':<6} {'p50':>7} {'p95':>7} {'p99':>7} {'mean':>7}")
        for route, parts in sorted(self.by_route.items()):
            for part in ("total", "auth", "store"):
                values = parts.get(part)
                if not values:
                    continue
                lines.append(
                    f"  {route:<14} {len(values):>6} {part:<6} {pct(values, 50) * 1e3:>7.2f} "
                    f"{pct(values, 95) * 1e3:>7.2f} {pct(values, 99) * 1e3:>7.2f} "
                    f"{sum(values) / len(values) * 1e3:>7.2f}"
                )
        lines.append("store calls (every caller, engine included):")
        for name, values in sorted(self.store.items(), key=lambda kv: -sum(kv[1])):
            lines.append(
                f"  {name:<24} {len(values):>7} calls  p50 {pct(values, 50) * 1e3:6.2f}  p99 "
                f"{pct(values, 99) * 1e3:6.2f} ms  total {sum(values):6.2f} s"
            )
        if self.lag:
            lines.append(
                f"event-loop lag (10 ms sleep overshoot): p50 {pct(self.lag, 50) * 1e3:.1f} ms, p99 "
                f"{pct(self.lag, 99) * 1e3:.1f} ms, max {max(self.lag) * 1e3:.1f} ms"
            )
        return "\n".join(lines) + "\n"


TIMING = Timing()


class Stalls:
    """What the event loop's thread is doing when the loop is late (a sampling watchdog).

    A coroutine stamps a heartbeat every 5 ms; a thread checks it every 2 ms and, while the stamp
    is older than ``threshold``, records the main thread's stack once per 2 ms, so each stalled
    stack is counted in proportion to how long it kept the loop from running."""

    threshold = 0.025

    def __init__(self) -> None:
        self.reset()
        self.beat = time.perf_counter()

    def reset(self) -> None:
        from collections import Counter

        self.stacks: Counter[str] = Counter()
        self.stalls: list[float] = []
        self.started = time.perf_counter()

    def install(self) -> None:
        import scaffold.app as app_module

        original_open = app_module.open_core
        stalls = self

        async def open_core(*args: object, **kwargs: object) -> object:
            core = await original_open(*args, **kwargs)
            stalls.heart = asyncio.ensure_future(stalls.heartbeat())
            return core

        app_module.open_core = open_core
        import threading

        self.main = threading.main_thread().ident
        threading.Thread(target=self.watch, daemon=True, name="stall-watchdog").start()

    async def heartbeat(self) -> None:
        while True:
            self.beat = time.perf_counter()
            await asyncio.sleep(0.005)

    def watch(self) -> None:
        import traceback

        stalled_since = None
        while True:
            time.sleep(0.002)
            now = time.perf_counter()
            late = now - self.beat
            if late < self.threshold:
                if stalled_since is not None:
                    self.stalls.append(now - stalled_since)
                    stalled_since = None
                continue
            if stalled_since is None:
                stalled_since = self.beat
            frame = sys._current_frames().get(self.main)  # type: ignore[arg-type]
            if frame is None:
                continue
            frames = traceback.extract_stack(frame)
            mine = [f for f in frames if "/scaffold/" in f.filename]
            inner = frames[-1]
            where = f"{Path(inner.filename).name}:{inner.name}:{inner.lineno}"
            if mine and mine[-1] is not inner:
                f = mine[-1]
                where = f"{f.filename.split('/scaffold/', 1)[1]}:{f.name}:{f.lineno} -> {where}"
            self.stacks[where] += 1

    def report(self) -> str:
        window = time.perf_counter() - self.started
        long = sorted(self.stalls, reverse=True)
        lines = [
            f"event-loop stalls longer than {self.threshold * 1e3:.0f} ms in {window:.1f} s: {len(long)}, "
            f"{sum(long):.2f} s in all; over 50 ms: {sum(1 for x in long if x > 0.05)}, over 100 ms: "
            f"{sum(1 for x in long if x > 0.1)}; longest {', '.join(f'{x * 1e3:.0f}' for x in long[:8])} ms",
            "where the main thread was during the stalls (2 ms samples; innermost scaffold frame -> "
            "innermost frame):",
        ]
        total = sum(self.stacks.values()) or 1
        for where, count in self.stacks.most_common(25):
            lines.append(f"  {count * 2:6d} ms {count / total * 100:5.1f}%  {where}")
        return "\n".join(lines) + "\n"


STALLS = Stalls()


class GcPauses:
    """How long the cyclic garbage collector stops the server, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.reset()
        self.began = 0.0

    def reset(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.collected = 0
        self.started = time.perf_counter()

    def install(self) -> None:
        import gc

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                self.began = time.perf_counter()
            else:
                self.pauses[info["generation"]].append(time.perf_counter() - self.began)
                self.collected += info["collected"]

        gc.callbacks.append(callback)

    def report(self) -> str:
        import gc

        window = time.perf_counter() - self.started
        lines = [
            f"cyclic GC in {window:.1f} s (thresholds {gc.get_threshold()}, {len(gc.get_objects())} "
            f"objects tracked at the end, {self.collected} collected):"
        ]
        for generation, values in self.pauses.items():
            if values:
                lines.append(
                    f"  generation {generation}: {len(values)} collections, "
                    f"{sum(values) * 1e3:.0f} ms in all, p50 {pct(values, 50) * 1e3:.2f} ms, "
                    f"max {max(values) * 1e3:.2f} ms"
                )
            else:
                lines.append(f"  generation {generation}: none")
        return "\n".join(lines) + "\n"


GC_PAUSES = GcPauses()
_CURRENT: contextvars.ContextVar[list] = contextvars.ContextVar("bench_route")


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--baseline-server":
        baseline_server(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-server":
        mode, report, what_if = sys.argv[2], sys.argv[3], sys.argv[4]
        child_server(mode, report, what_if, sys.argv[6:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3, help="how many times the measured load runs")
    parser.add_argument("--max-running", type=int, default=8)
    parser.add_argument("--think", type=float, default=0.0, help="seconds each client waits after a response")
    parser.add_argument("--skip-start", action="store_true", help="skip start-to-ready and memory")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also run the load with raw-socket clients and with think times (where the latency comes from)",
    )
    parser.add_argument(
        "--client",
        type=lambda v: [c for c in v.split(",") if c],
        help="load generator(s) for the measured load, comma-separated: wrk (the default when the wrk "
        "command is there; C), raw (HTTP/1.1 by hand on asyncio streams, per-route figures; the default "
        "without wrk), httpx",
    )
    parser.add_argument(
        "--server-tree",
        type=Path,
        help="run the server from this copy of the code (a directory holding a scaffold/ package)",
    )
    parser.add_argument("--profile", choices=["pyinstrument", "timing", "stalls", "gc"])
    parser.add_argument(
        "--what-if",
        action="append",
        default=[],
        metavar="A[,B]",
        help=f"run the load with experimental changes monkeypatched into the server: {', '.join(WHAT_IFS)}",
    )
    args = parser.parse_args()
    if not args.client:
        args.client = ["wrk" if shutil.which("wrk") else "raw"]
        if args.client == ["raw"]:
            print("serve_load: no wrk command (Debian: apt-get install wrk); raw asyncio clients instead")
    for client in args.client:
        if client not in CLIENT_NAMES:
            parser.error(f"--client: one of {', '.join(CLIENT_NAMES)}, not {client!r}")
    if "wrk" in args.client and shutil.which("wrk") is None:
        parser.error("--client wrk needs the wrk command (Debian: apt-get install wrk)")
    global SERVER_TREE
    SERVER_TREE = args.server_tree.resolve() if args.server_tree else None
    print_machine()
    tmp = Path(tempfile.mkdtemp(prefix="scaffold-serve-bench-"))
    summary: list[tuple[str, str, str, str]] = []
    try:
        if not args.skip_start:
            starts = measure_starts(tmp, args.starts)
            print(f"\nstart to ready (spawn -> first 200 of /api/v1/health), {args.starts} starts each:")
            for kind, label in (
                ("plain", "fresh data dir"),
                ("examples", "fresh data dir, --examples"),
                ("restart", "restart on that data dir (info)"),
            ):
                values = starts[kind]
                print(f"  {label:<34} median {median(values):.3f} s  (min-max {spread(values)})")
            for kind in ("plain", "examples"):
                value = median(starts[kind])
                summary.append(
                    (
                        f"start to ready{', --examples' if kind == 'examples' else ''}",
                        f"{value:.3f} s",
                        f"< {TARGET_READY_S} s",
                        verdict(value < TARGET_READY_S),
                    )
                )
            memory = measure_memory(tmp)
            print("\nidle memory (VmRSS of the server process, idle 2 s):")
            for label, value in memory.items():
                print(f"  {label:<30} {value:6.1f} MB")
                summary.append(
                    (
                        f"idle RSS, {label}",
                        f"{value:.1f} MB",
                        f"< {TARGET_RSS_MB:.0f} MB",
                        verdict(value < TARGET_RSS_MB),
                    )
                )
        if not args.skip_load:
            if (
                shutil.which("docker") is None
                or subprocess.run(["docker", "info"], capture_output=True).returncode
            ):
                print("\nload: skipped, no Docker engine answers (docker info failed)")
            elif args.profile:  # not httpx: the server, not the load generator, gets the CPU
                client = args.client[0] if args.client[0] != "httpx" else "raw"
                load_phase(tmp, args, client=client, think=args.think, profile=args.profile)
            elif args.what_if:
                summary.extend(what_if_runs(tmp, args))
            else:
                summary.extend(load_runs(tmp, args))
        print("\nsummary:")
        for name, value, target, mark in summary:
            print(f"  {name:<48} {value:>22}  {target:>10}  {mark}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
