"""Docker for tests: skip when no engine answers, unless ``SCAFFOLD_REQUIRE_DOCKER=1`` (CI), in
which case a missing engine or test image is a failure, never a silent skip.

    from tests.docker_helpers import TEST_IMAGE, require_docker

    def test_something():
        require_docker()          # skips or fails with what to do
"""

from __future__ import annotations

import functools
import os

import pytest

TEST_IMAGE = os.environ.get("SCAFFOLD_TEST_IMAGE", "scaffold-test/busybox:latest")
SETUP_HINT = "run `sudo bash scripts/setup-docker.sh` (starts dockerd and builds the test images)"


def docker_required() -> bool:
    return os.environ.get("SCAFFOLD_REQUIRE_DOCKER") == "1"


@functools.cache
def docker_problem() -> str | None:
    """Why Docker tests cannot run here (None when they can). Checked once per session."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        return f"the docker SDK is not installed ({exc})"
    from scaffold.executors.docker import DEFAULT_ADDRESS, probe_unix_socket

    address = os.environ.get("DOCKER_HOST") or DEFAULT_ADDRESS
    try:
        probe_unix_socket(address)  # the SDK would leak the socket of a failed connection
        client = docker.from_env(timeout=10)
    except (OSError, DockerException) as exc:
        return f"no Docker engine answers at {address} ({exc})"
    try:
        client.api.ping()
        client.api.inspect_image(TEST_IMAGE)
    except ImageNotFound:
        return f"the test image {TEST_IMAGE} is missing"
    except Exception as exc:
        return f"the Docker engine does not answer ({exc})"
    finally:
        client.close()
    return None


def require_docker() -> None:
    """Skip the calling test when Docker cannot be used; fail instead under SCAFFOLD_REQUIRE_DOCKER=1."""
    problem = docker_problem()
    if problem is None:
        return
    message = f"{problem}: {SETUP_HINT}"
    if docker_required():
        pytest.fail(f"SCAFFOLD_REQUIRE_DOCKER=1 but {message}", pytrace=False)
    pytest.skip(message)


def remove_containers(label: str) -> None:
    """Force-remove every container carrying ``label`` (``key=value``): test cleanup."""
    import docker

    client = docker.from_env(timeout=30)
    try:
        for summary in client.api.containers(all=True, filters={"label": label}):
            client.api.remove_container(summary["Id"], v=True, force=True)
    finally:
        client.close()
