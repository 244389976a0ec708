#!/usr/bin/env bash
# Install what the tests need and run the whole test suite.
# Needs root for the Docker engine (installed and started by scripts/setup-docker.sh if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing scaffold and the test tools"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

echo "== preparing the Docker engine and the local test images"
bash scripts/setup-docker.sh

echo "== preparing Chromium for the browser tests"
bash scripts/setup-browser.sh

export SCAFFOLD_REQUIRE_DOCKER=1 SCAFFOLD_REQUIRE_BROWSER=1
echo "== lint"
ruff check scaffold tests bench
echo "== tests"
python3 -m pytest "$@"
