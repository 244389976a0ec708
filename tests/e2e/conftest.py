"""End-to-end helpers: run the real ``scaffold`` command as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def scaffold(
    *args: str, data_dir: Path, timeout: float = 120, env: dict | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SCAFFOLD_DATA_DIR": str(data_dir), **(env or {})}
    full_env.pop("SCAFFOLD_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "scaffold", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=REPO,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"scaffold {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def docker_data_dir(data_dir: Path):
    """A data directory for tests that run real containers; removes them afterwards."""
    from tests.docker_helpers import remove_containers, require_docker

    require_docker()
    yield data_dir
    id_file = data_dir / "instance-id"
    if id_file.exists():
        remove_containers(f"scaffold.instance={id_file.read_text().strip()}")
