#!/usr/bin/env bash
# The main job: generate clients from the example proto, start the demo server
# (PyPI packages only, no Go needed) and run the generated clients against it
# on asyncio, trio and sync. With --serve: generate, then keep the demo server
# running on port 8080 for the README's examples (arguments go to run_demo.py).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec python examples/run_demo.py "$@"
