"""Start-up time of the ``scaffold`` command, and which heavy modules its fast paths import.

    python bench/startup.py [--runs 10]

Wall time (median of ``--runs`` subprocess runs, the commands interleaved) of:

* ``python -c pass``: the floor, the interpreter alone;
* ``scaffold --help`` and ``scaffold validate examples/*.yaml`` (target < 0.3 s each), run through
  the console script installed next to this Python (``<bin>/scaffold``, what ``pip install`` makes);
* the same two through the ``scaffold`` found on PATH when it is a different file (a pyenv shim
  adds its own bash start-up), for information.

Then, for ``scaffold validate``, whether any of sqlalchemy, sqlmodel, docker, aiosqlite, rich was
imported (checked in ``sys.modules`` of a process that ran the command; they should not be), and the
slowest imports by ``python -X importtime`` (cumulative).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import EXAMPLES, ROOT, median, print_machine, spread, verdict

TARGET_S = 0.3
HEAVY = ("sqlalchemy", "sqlmodel", "docker", "aiosqlite", "rich", "cryptography")


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def heavy_modules(args: list[str]) -> list[str]:
    code = (
        "import sys\n"
        f"sys.argv = ['scaffold', *{args!r}]\n"
        "from scaffold.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    line = next((x for x in proc.stderr.splitlines() if x.startswith("HEAVY=")), "HEAVY=?")
    return [m for m in line[6:].split(",") if m]


def slowest_imports(argv: list[str], top: int = 8) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the slowest top-level imports, from -X importtime."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, cwd=ROOT
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative, name = line[len("import time:") :].split("|")
        if name.startswith("  "):  # nested: imported by another module (one space follows the bar)
            continue
        rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print_machine()
    examples = sorted(str(p.relative_to(ROOT)) for p in EXAMPLES.glob("*.yaml"))
    script = str(Path(sys.executable).parent / "scaffold")
    if not os.access(script, os.X_OK):
        raise SystemExit(f"{script} not found: pip install -e . first")
    on_path = shutil.which("scaffold")
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "scaffold --help": [script, "--help"],
        "scaffold validate examples/*.yaml": [script, "validate", *examples],
    }
    if on_path and Path(on_path).resolve() != Path(script).resolve():
        commands["(PATH shim) scaffold --help"] = [on_path, "--help"]
        commands["(PATH shim) scaffold validate"] = [on_path, "validate", *examples]
    for argv in commands.values():  # warm the page cache and .pyc files
        wall(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            times[name].append(wall(argv))

    floor = median(times["python -c pass"])
    print()
    print(f"script: {script}" + (f"   (PATH: {on_path})" if on_path != script else ""))
    print(f"{'command':<36} {'median s':>9} {'min-max':>13} {'over floor':>11}  target")
    for name, values in times.items():
        m = median(values)
        target = f"< {TARGET_S} s: {verdict(m < TARGET_S)}" if name.startswith("scaffold") else "-"
        print(f"{name:<36} {m:>9.3f} {spread(values):>13} {m - floor:>11.3f}  {target}")

    print()
    for label, cli_args in (("validate", ["validate", *examples]), ("--help", ["--help"])):
        heavy = heavy_modules(cli_args)
        print(
            f"heavy modules imported by `scaffold {label}`: {', '.join(heavy) if heavy else 'none'} "
            f"(checked: {', '.join(HEAVY)}): {verdict(not heavy)}"
        )
    print()
    print("slowest top-level imports of `scaffold validate` (python -X importtime, cumulative ms):")
    code = (
        "import sys; from scaffold.cli import main\n"
        "sys.argv[0] = 'scaffold'; sys.argv.insert(1, 'validate'); main()"
    )
    for us, name in slowest_imports(["-c", code, *examples]):
        print(f"  {us / 1000:7.1f}  {name}")


if __name__ == "__main__":
    main()
