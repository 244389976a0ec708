#!/usr/bin/env bash
# Run every benchmark of bench/ and print their figures (see bench/README.md).
#
#   bash bench/run_all.sh            # all of them, about 17 minutes on 2 cores
#   QUICK=1 bash bench/run_all.sh    # fewer repeats, for a smoke check
#
# Needs `pip install -e .`, a Docker engine with the image ubuntu:20.04 (scripts/setup-docker.sh
# builds a local one) for docker_vs_raw.py, and root, unprivileged user namespaces or bubblewrap
# for the process executor. Benchmarks print; they never fail on a missed target.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python}
if [[ -n "${QUICK:-}" ]]; then R_ENGINE=2; R_DOCKER=1; R_TP=1; R_START=3; SERVE="--starts 3 --repeats 1 --duration 10"; else R_ENGINE=7; R_DOCKER=5; R_TP=3; R_START=10; SERVE="--diagnose"; fi

section() { printf '\n==================== %s ====================\n' "$1"; }

section "startup.py"
"$PY" startup.py --runs "$R_START"

section "engine_vs_baseline.py"
"$PY" engine_vs_baseline.py --repeats "$R_ENGINE"

section "engine_throughput.py"
"$PY" engine_throughput.py --repeats "$R_TP"

section "docker_vs_raw.py"
if docker info >/dev/null 2>&1; then
  "$PY" docker_vs_raw.py --repeats "$R_DOCKER"
else
  echo "skipped: no Docker engine answers (docker info failed)"
fi

section "store_bench.py"
"$PY" store_bench.py

section "serve_load.py"
# shellcheck disable=SC2086 # SERVE holds several options
"$PY" serve_load.py $SERVE
