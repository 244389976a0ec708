"""The layering rules of DESIGN.md, enforced: the engine imports nothing from the outside world,
and the fast commands do not pull in heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "scaffold" / "engine"
FORBIDDEN_IN_ENGINE = (
    "scaffold.store", "scaffold.executors", "scaffold.web", "scaffold.tui", "scaffold.commands",
    "scaffold.app", "docker", "sqlalchemy", "sqlmodel", "aiosqlite", "starlette", "textual", "httpx",
    "click", "rich",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_engine_imports_nothing_from_the_outside():
    offenders = []
    for path in sorted(ENGINE.glob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_ENGINE):
                offenders.append(f"{path.name} imports {name}")
    assert offenders == []


def test_fast_paths_do_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from scaffold.cli import main\n"
        "r = CliRunner().invoke(main, ['validate', 'examples/simple.yaml'])\n"
        "assert r.exit_code == 0, r.output\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'aiosqlite', 'docker', 'rich') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""
