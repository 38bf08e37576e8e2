#!/usr/bin/env bash
# The suite's Python code with Buf's protobuf-py messages, for the conformance
# runs of that message runtime (message_runtime.py): tests/conformance/_gen/protobuf_py/
# holds, in the package connectrpc.conformance.v1, protoc's _pb2 modules (the
# runner's own messages, which the harness reads and writes), protoc-gen-py's
# _pb modules, and the service client from this project's plugin with
# messages=protobuf-py.
#
# Usage: bash tests/conformance/setup_protobuf_py.sh PROTO_DIR
# (setup.sh calls it with the suite's proto directory.)
# Environment: PYTHON (default: <repo>/.venv/bin/python).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PROTO_DIR="$1"
GEN="$HERE/_gen/protobuf_py"
BIN="$(dirname "$PYTHON")"

PROTOS=()
for f in "$PROTO_DIR"/connectrpc/conformance/v1/*.proto; do
    PROTOS+=("connectrpc/conformance/v1/$(basename "$f")")
done

rm -rf "$GEN"
mkdir -p "$GEN"
"$PYTHON" -m grpc_tools.protoc -I "$PROTO_DIR" \
    --python_out="$GEN" --pyi_out="$GEN" \
    --plugin=protoc-gen-py="$BIN/protoc-gen-py" --py_out="$GEN" \
    "${PROTOS[@]}"
"$PYTHON" -m grpc_tools.protoc -I "$PROTO_DIR" \
    --plugin=protoc-gen-connect-python="$BIN/protoc-gen-connect-python" \
    --connect-python_out="$GEN" --connect-python_opt=messages=protobuf-py \
    connectrpc/conformance/v1/service.proto
echo "conformance setup: protobuf-py code in $GEN" >&2
