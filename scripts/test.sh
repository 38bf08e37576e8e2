#!/usr/bin/env bash
# The whole test suite: set-up, gates (format, lint, types), every test (unit,
# runtime against the connect-go server on asyncio/trio/sync, generator,
# transport frame tests, conformance in three modes, benchmark smoke, wheel).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
start=$(date +%s)

echo "== building Go peers" >&2
for script in tests/server/build.sh tests/conformance/setup.sh benchmarks/build.sh; do
  if [ -f "$script" ]; then
    bash "$script" >&2
  fi
done

echo "== gates: ruff format, ruff check, mypy --strict" >&2
ruff format --check .
ruff check .
mypy src

echo "== tests" >&2
status=0
python -m pytest "$@" || status=$?
echo "== total time: $(( $(date +%s) - start ))s" >&2
exit $status
