#!/usr/bin/env bash
# Build the Go test server into .cache/testserver (idempotent, cached).
#
# Needs: Go (see go.mod), the Go module proxy, and a Python with grpcio-tools
# ($PYTHON, else .venv/bin/python, else python3). Steps, skipped when the hash
# of the inputs (this script, *.go, go.mod, go.sum, the test .proto files)
# matches the last build:
#   1. install the pinned protoc plugins (the `tool` lines of go.mod) into
#      .cache/go-bin;
#   2. generate tests/server/gen/ (gitignored) with grpc_tools.protoc;
#   3. go build -o .cache/testserver.
# Prints the binary's path on stdout.
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

inputs_hash() {
    (
        cd "$ROOT"
        {
            echo "tests/server/build.sh"
            (cd "$ROOT" && find tests/server -maxdepth 1 -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \))
            (cd "$ROOT" && find tests/proto -type f -name '*.proto')
        } | LC_ALL=C sort | while read -r f; do
            printf '%s\n' "$f"
            cat "$f"
        done
        go env GOVERSION
    ) | sha256sum | cut -d' ' -f1
}

# One build at a time (parallel pytest runs share .cache).
exec 9>"$CACHE/testserver.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

HASH="$(inputs_hash)"
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" && -d "$HERE/gen" ]]; then
    echo "$BIN"
    exit 0
fi

cd "$HERE"

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
rm -rf "$HERE/gen"
mv "$HERE/gen.tmp" "$HERE/gen"

go build -trimpath -buildvcs=false -o "$BIN.tmp" . >&2
mv "$BIN.tmp" "$BIN"
echo "$HASH" >"$STAMP"
echo "$BIN"
