#!/usr/bin/env bash
# Build the Go test server into .cache/testserver (idempotent, cached).
#
# Needs: Go (see go.mod) and the Go module proxy. The generated Go code in gen/
# is committed (made by protoc-gen-go and protoc-gen-connect-go, never edited);
# gen/.gen-hash records the protos and generator versions it was made from.
# Steps:
#   1. if gen/ is stale (a .proto or a generator version changed): install the
#      pinned protoc plugins (the `tool` lines of go.mod) into .cache/go-bin and
#      regenerate gen/ with grpc_tools.protoc (a Python with grpcio-tools:
#      $PYTHON, else .venv/bin/python, else python3) -- commit the result;
#   2. if the inputs changed since the last build (this script, *.go, go.mod,
#      go.sum, gen/): go build -o .cache/testserver.
# Prints the binary's path on stdout; everything else goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="$ROOT/.cache"
BIN="$CACHE/testserver"
STAMP="$CACHE/testserver.hash"
PROTO_ROOT="$ROOT/tests/proto"

if [[ -n "${PYTHON:-}" ]]; then
    PY="$PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="python3"
fi

mkdir -p "$CACHE"

gen_hash() {
    (
        cd "$ROOT"
        find tests/proto -type f -name '*.proto' | LC_ALL=C sort | while read -r f; do
            printf '%s\n' "$f"
            cat "$f"
        done
        grep -E '^\s*(connectrpc.com/connect|google.golang.org/protobuf) ' tests/server/go.mod
    ) | sha256sum | cut -d' ' -f1
}

inputs_hash() {
    (
        cd "$ROOT"
        {
            echo "tests/server/build.sh"
            find tests/server -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '.gen-hash' \) -not -path '*/gen.tmp/*'
        } | LC_ALL=C sort | while read -r f; do
            printf '%s\n' "$f"
            cat "$f"
        done
        go env GOVERSION
    ) | sha256sum | cut -d' ' -f1
}

# One build at a time (parallel test runs share .cache).
exec 9>"$CACHE/testserver.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

cd "$HERE"

GEN_HASH="$(gen_hash)"
if [[ ! -f "$HERE/gen/.gen-hash" || "$(cat "$HERE/gen/.gen-hash")" != "$GEN_HASH" ]]; then
    echo "== tests/server: regenerating gen/ (commit it)" >&2
    GOBIN="$CACHE/go-bin" go install tool >&2
    rm -rf "$HERE/gen.tmp"
    mkdir -p "$HERE/gen.tmp"
    mapfile -t PROTOS < <(cd "$PROTO_ROOT" && find . -type f -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
    "$PY" -m grpc_tools.protoc \
        -I "$PROTO_ROOT" \
        --plugin=protoc-gen-go="$CACHE/go-bin/protoc-gen-go" \
        --plugin=protoc-gen-connect-go="$CACHE/go-bin/protoc-gen-connect-go" \
        --go_out="$HERE/gen.tmp" --go_opt=module=connectpy/testserver/gen \
        --connect-go_out="$HERE/gen.tmp" --connect-go_opt=module=connectpy/testserver/gen \
        "${PROTOS[@]}" >&2
    echo "$GEN_HASH" >"$HERE/gen.tmp/.gen-hash"
    rm -rf "$HERE/gen"
    mv "$HERE/gen.tmp" "$HERE/gen"
fi

HASH="$(inputs_hash)"
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
    echo "$BIN"
    exit 0
fi

echo "== tests/server: go build" >&2
go build -trimpath -buildvcs=false -o "$BIN.tmp" . >&2
mv "$BIN.tmp" "$BIN"
echo "$HASH" >"$STAMP"
echo "$BIN"
