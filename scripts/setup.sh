#!/usr/bin/env bash
# Set up a development environment on a fresh machine (idempotent, cached).
# Needs: python3 (3.10+), and for the Go peers (test server, conformance runner,
# benchmark server) Go 1.24+ with the Go module proxy. Sourced by test.sh / demo.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the project metadata changed (pip's own cache covers downloads).
stamp=".venv/.connect-python-installed"
want="$(sha256sum pyproject.toml hatch_build.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== installing connect-python-client[dev] (editable)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >&2
  # Until 0.1.0 the distribution was called connect-python (a name taken on PyPI):
  # an environment made then has it installed, editable, under the old name.
  if .venv/bin/python -m pip show -q connect-python >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -q -y connect-python >&2
  fi
  .venv/bin/python -m pip install -q -e ".[dev]" >&2
  echo "$want" > "$stamp"
else
  # The build hook writes runtime_sync; refresh it in case runtime_async/ changed.
  .venv/bin/python src/connect_python/codegen/unasync.py . >/dev/null
fi
export PATH="$ROOT/.venv/bin:$PATH"
export GOBIN="$ROOT/.cache/go-bin"
mkdir -p "$GOBIN"
export PATH="$GOBIN:$PATH"
