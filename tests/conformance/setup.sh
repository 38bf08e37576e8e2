#!/usr/bin/env bash
# Prepare the Connect conformance run:
#   1. install the runner (connectconformance) into .cache/go-bin if it is missing;
#   2. generate Python code for the suite's protos into tests/conformance/_gen/
#      (protoc's python + pyi output, and the service client from this project's
#      own plugin, protoc-gen-connect-python);
#   3. the same with Buf's protobuf-py messages into tests/conformance/_gen/protobuf_py/,
#      for the runs of that message runtime (message_runtime.py): in the package
#      connectrpc.conformance.v1, protoc's _pb2 modules (the runner's own
#      messages, which the harness reads and writes), protoc-gen-py's _pb
#      modules, and the service client with messages=protobuf-py.
#
# Usage (from anywhere): bash tests/conformance/setup.sh
# Environment: PYTHON (default: <repo>/.venv/bin/python), CONFORMANCE_VERSION
# (default v1.0.5), CONNECTCONFORMANCE (use this runner binary instead of
# installing one), REQUIRE_CONFORMANCE=0 (without Go, succeed doing nothing).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="${CONFORMANCE_VERSION:-v1.0.5}"
GOBIN_DIR="$ROOT/.cache/go-bin"
RUNNER="${CONNECTCONFORMANCE:-$GOBIN_DIR/connectconformance}"
GEN="$HERE/_gen"

log() { echo "conformance setup: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed: cannot install the runner or find the suite's protos"
    if [[ "${REQUIRE_CONFORMANCE:-1}" == "0" ]]; then
        log "REQUIRE_CONFORMANCE=0: skipping"
        exit 0
    fi
    exit 1
fi

# 1. The runner.
if [[ ! -x "$RUNNER" ]]; then
    log "installing connectconformance@$VERSION into $GOBIN_DIR"
    mkdir -p "$GOBIN_DIR"
    GOBIN="$GOBIN_DIR" go install "connectrpc.com/conformance/cmd/connectconformance@$VERSION"
    RUNNER="$GOBIN_DIR/connectconformance"
fi
log "runner: $RUNNER ($("$RUNNER" --version 2>&1 | head -n1))"

# 2. The suite's protos ship in the Go module; make sure it is in the module cache
#    (a runner given through CONNECTCONFORMANCE does not put it there).
PROTO_DIR="$(go env GOMODCACHE)/connectrpc.com/conformance@$VERSION/proto"
if [[ ! -d "$PROTO_DIR" ]]; then
    log "downloading connectrpc.com/conformance@$VERSION for its protos"
    go mod download "connectrpc.com/conformance@$VERSION"
fi
if [[ ! -d "$PROTO_DIR" ]]; then
    log "no protos at $PROTO_DIR"
    exit 1
fi

PROTOS=()
for f in "$PROTO_DIR"/connectrpc/conformance/v1/*.proto; do
    PROTOS+=("connectrpc/conformance/v1/$(basename "$f")")
done

PLUGIN="$(dirname "$PYTHON")/protoc-gen-connect-python"
if [[ ! -x "$PLUGIN" ]]; then
    PLUGIN="$(command -v protoc-gen-connect-python || true)"
fi
if [[ -z "$PLUGIN" ]]; then
    log "protoc-gen-connect-python not found"
    exit 1
fi

# generate OUT MESSAGES: the suite's _pb2 modules (and, for MESSAGES=protobuf-py,
# protoc-gen-py's _pb modules) and the service client into OUT, emptied first.
generate() {
    local out="$1" messages="$2"
    local extra=() options=()
    if [[ "$messages" == "protobuf-py" ]]; then
        extra=(--plugin=protoc-gen-py="$(dirname "$PYTHON")/protoc-gen-py" --py_out="$out")
        options=(--connect-python_opt=messages=protobuf-py)
    fi
    rm -rf "$out"
    mkdir -p "$out"
    "$PYTHON" -m grpc_tools.protoc -I "$PROTO_DIR" \
        --python_out="$out" --pyi_out="$out" "${extra[@]}" "${PROTOS[@]}"
    "$PYTHON" -m grpc_tools.protoc -I "$PROTO_DIR" \
        --plugin=protoc-gen-connect-python="$PLUGIN" \
        --connect-python_out="$out" "${options[@]}" connectrpc/conformance/v1/service.proto
    log "$messages code in $out"
}

generate "$GEN" google
# protoc writes no __init__.py. Without them the namespace package
# connectrpc.conformance.v1 loses to the installed official ``connectrpc``
# distribution (a regular package) even when _gen is first on sys.path.
for d in connectrpc connectrpc/conformance connectrpc/conformance/v1; do
    : >"$GEN/$d/__init__.py"
done
generate "$GEN/protobuf_py" protobuf-py
