#!/usr/bin/env bash
# `make bench`: installs the load tools from Debian packages when missing, then runs bench/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk curl >/dev/null
fi
ulimit -n 65536 2>/dev/null || ulimit -n 16384 2>/dev/null || true
echo "== trust: detectors and the whole trust stage per request (CPU, in process) =="
.venv/bin/python bench/trust_bench.py
.venv/bin/python bench/trust_stage_bench.py
exec .venv/bin/python bench/bench.py "$@"
