#!/usr/bin/env bash
# Build the benchmark's connect-go server (cached in .cache/bench) and generate
# its Python code (benchmarks/_gen). Called by scripts/test.sh; needs .venv set up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec .venv/bin/python -m benchmarks build >/dev/null
