"""Diagnostic: what the process executor's child processes cost, step by step (no figure to meet).

    python bench/process_spawn_variants.py [--runs 80]

Spawns (``asyncio.create_subprocess_exec``, stdout read to the end, exit awaited) a series of
commands that add one piece at a time of what ``ProcessExecutor`` starts for a task whose script
is ``echo x``, in random order, and prints the median wall time of each. As root the executor
uses the process spawner (no command), so the commands are those of the ``unshare`` method:

A. ``sh -c 'echo x'`` (the baseline of engine_vs_baseline.py);
B. A behind the mount-namespace prefix the executor picked (``unshare --mount ...``);
C. B plus ``mount --bind <run dir> /tmp/run`` (an external ``mount``, as the executor's wrapper runs);
D. the executor's real argv (``isolated_argv``: wrapper, then ``<shell> entry.sh``, which sources
   ``env.sh`` and ``script.sh``, deletes ``env.sh`` with ``rm`` and writes ``exit_code``);
E. D with the ``rm`` in entry.sh replaced by ``:`` (what one external command costs there).

The differences B-A, C-B, D-C and D-E are the costs of the namespace, the bind mount, the entry
script and its ``rm``. Needs what the process executor needs (root, user namespaces or bwrap).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import median

from scaffold.engine.ports import RunRequest
from scaffold.executors.process import _METHODS, ProcessExecutor, base_env, isolated_argv
from scaffold.executors.rundir import RunDir


async def one(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
        env=base_env(),
        start_new_session=True,
    )
    out = await proc.stdout.read()  # type: ignore[union-attr]
    code = await proc.wait()
    if code != 0 or out != b"x\n":
        raise RuntimeError(f"{argv[:4]}... failed: exit {code}, output {out!r}")
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=80)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="scaffold-bench-spawn-"))
    try:
        executor = ProcessExecutor(root / "runs")
        await executor.check_available()
        await executor.close()
        method = executor.method
        assert method is not None
        if method == "bwrap":
            raise SystemExit("bwrap does the bind mount itself: this breakdown is for the unshare methods")
        if method == "syscall":  # the spawner makes the namespace itself: the command form instead
            method = "unshare"
        prefix = [*_METHODS[method], "--"]
        run_dir = RunDir(root / "runs", "bench.t.1")
        request = RunRequest(run_id=run_dir.run_id, cascade="bench", task="t", number=1, script="echo x")

        def prepare() -> None:
            run_dir.prepare(request)

        def prepare_without_rm() -> None:
            run_dir.prepare(request)
            entry = run_dir.control / "entry.sh"
            entry.write_text(entry.read_text().replace("command rm -f", ":"))

        real = isolated_argv(method, run_dir.path, ["/bin/sh"])
        bind = f"mount --bind {run_dir.path} /tmp/run || exit 125; echo x"
        variants: dict[str, tuple[list[str], Callable[[], None]]] = {
            "A sh -c 'echo x'": (["sh", "-c", "echo x"], prepare),
            "B + mount namespace": ([*prefix, "sh", "-c", "echo x"], prepare),
            "C + mount --bind": ([*prefix, "sh", "-c", bind], prepare),
            "D executor argv (+ entry.sh)": (real, prepare),
            "E D without entry.sh's rm": (real, prepare_without_rm),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name in random.sample(list(variants), len(variants)):
                argv, setup = variants[name]
                setup()
                times[name].append(await one(argv, run_dir.path))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"method: {method}; median of {args.runs} runs each, ms")
    previous = None
    for name, values in times.items():
        m = median(values) * 1000
        step = f"  (+{m - previous:.2f})" if previous is not None and not name.startswith("E") else ""
        print(f"  {name:<32} {m:6.2f}{step}")
        if not name.startswith("E"):
            previous = m
    d, e = median(times["D executor argv (+ entry.sh)"]), median(times["E D without entry.sh's rm"])
    print(f"  entry.sh's rm alone: {(d - e) * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
