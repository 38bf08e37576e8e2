#!/usr/bin/env bash
# The benchmark in one command, from a fresh clone: sets up .venv (the project's
# dev extra includes the official connectrpc client, its plugin and matplotlib),
# builds the connect-go server (cached), runs every client interleaved and
# writes benchmarks/results/{results.json,results.md,ratios.png}.
#   bash benchmarks/run.sh            # full run (3 rounds, under 10 minutes on 2 cores)
#   bash benchmarks/run.sh --smoke    # a few hundred operations per workload (~1-2 minutes)
# Other options: python -m benchmarks run --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
exec python -m benchmarks run "$@"
