"""The README's main job: generate clients, start the demo server, stream from it.

1. Generates ``_pb2`` modules and this project's clients (``process_connect.py``,
   with ``AsyncProcessClient`` and ``ProcessClient``) from
   ``examples/proto/demo/process/v1/process.proto`` with protoc and
   ``protoc-gen-connect-python``; the demo server's stubs come from the official
   ``connectrpc`` plugin. Everything generated goes to ``examples/_gen/``.
2. Starts the demo server (the official ``connectrpc`` ASGI app under hypercorn)
   on a free loopback port, speaking HTTP/1.1 and h2c.
3. Runs the generated async client on asyncio and on trio (over h2c) and the
   sync client (over HTTP/1.1), printing what the server streams.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN = HERE / "_gen"
PROTO = "demo/process/v1/process.proto"


def _protoc(*args: str) -> None:
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE / 'proto'}", *args, PROTO]
    subprocess.run(cmd, check=True)


def generate() -> None:
    """Generate the client package and the server stubs."""
    bindir = Path(sys.executable).parent
    client, server = GEN / "client", GEN / "server"
    client.mkdir(parents=True, exist_ok=True)
    server.mkdir(parents=True, exist_ok=True)
    _protoc(
        f"--python_out={client}",
        f"--pyi_out={client}",
        f"--plugin=protoc-gen-connect-python={bindir / 'protoc-gen-connect-python'}",
        f"--connect-python_out={client}",
    )
    _protoc(
        f"--python_out={server}",
        f"--pyi_out={server}",
        f"--plugin=protoc-gen-connectrpc={bindir / 'protoc-gen-connectrpc'}",
        f"--connectrpc_out={server}",
        "--connectrpc_opt=protobuf=google",
    )
    print(f"generated {client / 'demo/process/v1/process_connect.py'}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def demo_server() -> Iterator[str]:
    """Start the demo server; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "demo_server.py"), "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"demo server exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise SystemExit("demo server did not start within 20 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    generate()
    sys.path.insert(0, str(GEN / "client"))
    sys.path.insert(1, str(HERE))
    importlib.invalidate_caches()
    from demo_clients import run_async, run_sync

    with demo_server() as url:
        print(f"demo server at {url}")
        for backend in ("asyncio", "trio"):
            print(f"\n=== async client on {backend} (h2c) ===")
            import anyio

            anyio.run(run_async, url, backend=backend)
        print("\n=== sync client (HTTP/1.1) ===")
        run_sync(url)
    print("\ndemo finished")


if __name__ == "__main__":
    main()
