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

``python examples/run_demo.py --serve`` does steps 1 and 2 only, on port 8080 (the
port of the README's examples), and keeps the server running until Ctrl-C, so the
README's Python examples can be run as written (``PYTHONPATH=examples/_gen/client``).

The functions here are also used by the tests (README examples, clean install).
"""

from __future__ import annotations

import argparse
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
PROTO_ROOT = HERE / "proto"
PROTO = "demo/process/v1/process.proto"
#: The port the README's examples use.
README_PORT = 8080


def _protoc(*args: str) -> None:
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", *args, PROTO]
    subprocess.run(cmd, check=True)


def _bindir() -> Path:
    return Path(sys.executable).parent


def generate_client(out: Path, plugin: Path | None = None) -> Path:
    """protoc's ``_pb2``/``.pyi`` and this project's ``_connect.py`` under ``out``.

    ``plugin`` is the ``protoc-gen-connect-python`` executable (by default the one
    installed next to this interpreter). Returns the generated client module.
    """
    out.mkdir(parents=True, exist_ok=True)
    plugin = plugin or _bindir() / "protoc-gen-connect-python"
    _protoc(
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--plugin=protoc-gen-connect-python={plugin}",
        f"--connect-python_out={out}",
    )
    return out / "demo/process/v1/process_connect.py"


def generate_server_stubs(out: Path) -> None:
    """The demo server's ``_pb2`` and stubs (official ``connectrpc`` plugin) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _protoc(
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--plugin=protoc-gen-connectrpc={_bindir() / 'protoc-gen-connectrpc'}",
        f"--connectrpc_out={out}",
        "--connectrpc_opt=protobuf=google",
    )


def generate(gen: Path = GEN) -> None:
    """Generate the client package (``gen/client``) and the server stubs (``gen/server``)."""
    module = generate_client(gen / "client")
    generate_server_stubs(gen / "server")
    print(f"generated {module}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def demo_server(
    port: int | None = None, stubs: Path = GEN / "server", certs: Path | None = None
) -> Iterator[str]:
    """Start the demo server (on ``port``, by default a free one); yields its base URL.

    With ``certs`` it serves TLS and requires a client certificate (see
    ``demo_server.py --certs``).
    """
    port = port or free_port()
    tls = ["--certs", str(certs)] if certs is not None else []
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "demo_server.py"),
            "--port",
            str(port),
            "--stubs",
            str(stubs),
            *tls,
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"demo server exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("demo server did not start within 20 s")
            time.sleep(0.1)
        yield f"{'https' if certs is not None else 'http'}://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(port: int) -> None:
    """Generate, then keep the demo server running for the README's examples."""
    generate()
    with demo_server(port) as url:
        print(f"demo server at {url}; Ctrl-C stops it. Run the README's examples with")
        print(f"  PYTHONPATH={GEN / 'client'} python example.py")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--serve", action="store_true", help="only generate and serve (until Ctrl-C)"
    )
    parser.add_argument(
        "--port", type=int, default=None, help=f"server port (--serve: {README_PORT})"
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.port or README_PORT)
        return
    generate()
    sys.path.insert(0, str(GEN / "client"))
    sys.path.insert(1, str(HERE))
    importlib.invalidate_caches()
    import anyio
    from demo_clients import run_async, run_sync

    with demo_server(args.port) as url:
        print(f"demo server at {url}")
        for backend in ("asyncio", "trio"):
            print(f"\n=== async client on {backend} (h2c) ===")
            anyio.run(run_async, url, backend=backend)
        print("\n=== sync client (HTTP/1.1) ===")
        run_sync(url)
    print("\ndemo finished")


if __name__ == "__main__":
    main()
