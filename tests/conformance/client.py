"""The client under test for the Connect conformance runner (client mode).

The runner (``connectconformance --mode client -- python client.py --mode M``)
writes size-prefixed ``ClientCompatRequest`` messages to our stdin and reads
size-prefixed ``ClientCompatResponse`` messages from our stdout (a 4-byte
big-endian length, then the binary message). Requests run concurrently and are
answered in any order; stdout carries nothing but frames (logs go to stderr).

One case is run by ``runner_async.py`` (public API only: the generated
clients, ``CancelToken``, transport options). ``--mode asyncio`` and ``--mode
trio`` run it on that anyio backend; ``--mode sync`` runs its sync twin, made
from it at start-up by the project's unasync transform (written to
``_gen/runner_sync.py``), on worker threads. This file holds only what differs
between the flavours: the event loop or the thread pool, and stdin/stdout.

Calls go through a connection pool (transport) shared by every case with the
same HTTP version and TLS certificate, as an application would share one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import struct
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from message_runtime import GENERATED as GEN

HERE = Path(__file__).resolve().parent
# The generated code for the suite's protos lives in _gen/ (see setup.sh; the
# protobuf-py runs use _gen/protobuf_py/, see message_runtime.py). It must
# come first: its ``connectrpc`` package shadows the official ``connectrpc``
# distribution, which may be installed in the same environment. tests/ holds
# the concurrency testing hook (``_support.concurrency``).
sys.path[:0] = [str(GEN), str(HERE.parent)]

import anyio  # noqa: E402
import runner_async  # noqa: E402
from google.protobuf.message import Message  # noqa: E402

from connect_python.codegen.unasync import transform_source  # noqa: E402

MAX_FRAME = 16 * 1024 * 1024
SYNC_HEADER = "# GENERATED from runner_async.py by client.py (unasync transform) -- do not edit.\n"


def sync_runner() -> ModuleType:
    """The sync twin of ``runner_async``, transformed and written to ``_gen/runner_sync.py``."""
    source = HERE / "runner_async.py"
    text = SYNC_HEADER + transform_source(source.read_text(encoding="utf-8"), filename=str(source))
    target = GEN / "runner_sync.py"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        # Other runs may read it meanwhile: replace it whole.
        tmp = target.with_name(f".runner_sync.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    return importlib.import_module("runner_sync")


# -- async (asyncio and trio) -----------------------------------------------------------


async def serve_async(parallel: int) -> None:
    write_lock = threading.Lock()
    limiter = anyio.CapacityLimiter(parallel)
    stdin = sys.stdin.buffer
    pools = runner_async.AsyncPools()

    async def one(data: bytes) -> None:
        async with limiter:
            response = await runner_async.handle(data, pools)
        write_frame(response, write_lock)

    try:
        async with anyio.create_task_group() as tg:
            while True:
                data = await anyio.to_thread.run_sync(read_frame, stdin)
                if data is None:
                    break
                tg.start_soon(one, data)
    finally:
        with anyio.CancelScope(shield=True):
            await pools.aclose()


# -- sync (worker threads) ----------------------------------------------------------------


def serve_sync(parallel: int) -> None:
    runner = sync_runner()
    write_lock = threading.Lock()
    stdin = sys.stdin.buffer
    pools = runner.Pools()

    def one(data: bytes) -> None:
        write_frame(runner.handle(data, pools), write_lock)

    try:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="test") as executor:
            while True:
                data = read_frame(stdin)
                if data is None:
                    break
                executor.submit(one, data)
    finally:
        pools.close()


# -- framing --------------------------------------------------------------------------------


def read_exact(stream: Any, size: int) -> bytes | None:
    """``size`` bytes, or ``None`` at a clean end of input."""
    parts: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            if parts:
                raise EOFError("stdin ended inside a frame")
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(stream: Any) -> bytes | None:
    """The next frame's body, or ``None`` at end of input."""
    prefix = read_exact(stream, 4)
    if prefix is None:
        return None
    (size,) = struct.unpack(">I", prefix)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is too large")
    if not size:
        return b""
    data = read_exact(stream, size)
    if data is None:
        raise EOFError("stdin ended inside a frame")
    return data


def write_frame(message: Message, lock: threading.Lock) -> None:
    """One response frame: prefix and body in one locked write, then a flush."""
    body = message.SerializeToString()
    out = sys.stdout.buffer
    with lock:
        out.write(struct.pack(">I", len(body)) + body)
        out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="Connect conformance client (client mode)")
    parser.add_argument("--mode", choices=["asyncio", "trio", "sync"], required=True)
    parser.add_argument("--parallel", type=int, default=16, help="cases run at once")
    args = parser.parse_args()
    if args.mode == "sync":
        serve_sync(args.parallel)
    else:
        anyio.run(serve_async, args.parallel, backend=args.mode)


if __name__ == "__main__":
    main()
