"""What one pass-through interceptor costs: ``python -m benchmarks.interceptor_cost``.

Against the connect-go benchmark server (built and started as for ``run``),
this project's client runs the same work with no interceptors and with one
interceptor that overrides every hook and returns each value unchanged (the
most an interceptor that does nothing can cost), in alternating rounds so
that drift of a busy machine hits both sides alike:

- unary: sequential ``Echo`` calls with a 16-byte payload, per call;
- stream: a ``ProcessOutput`` server stream of 64-byte chunks, per message.

Both on asyncio and on the sync client, over h2c. What is measured is this
process's CPU time (the server runs in its own process), which a machine
busy with other work disturbs far less than wall time. Prints a Markdown
table (medians of the rounds) and writes it to ``--out`` when given. A client
without interceptors takes the plain call path (no hook code at all), so the
"none" column is also the check that configuring nothing costs nothing.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks._build import BuildResult
from benchmarks._side import run_table

SERVICE = "connectbench.v1.BenchService"


def _pass_through() -> Any:
    from connect_python.interceptors import CallHooks, CallInfo, Interceptor

    class PassThroughHooks(CallHooks):
        def on_request(self, message: Any) -> Any:
            return message

        def on_response_headers(self, headers: Any) -> None:
            return None

        def on_response(self, message: Any) -> Any:
            return message

        def on_end(self, error: Any, trailers: Any) -> Any:
            return error

    class PassThrough(Interceptor):
        def intercept(self, call: CallInfo) -> CallHooks | None:
            return PassThroughHooks()

    return PassThrough()


def _methods(pb: Any) -> tuple[Any, Any]:
    from connect_python import MethodInfo, StreamType

    echo = MethodInfo(SERVICE, "Echo", pb.EchoRequest, pb.EchoResponse)
    stream = MethodInfo(
        SERVICE,
        "ProcessOutput",
        pb.ProcessOutputRequest,
        pb.ProcessEvent,
        stream_type=StreamType.SERVER_STREAM,
    )
    return echo, stream


def _async_round(
    url: str, pb: Any, hooks: list[Any], calls: int, messages: int
) -> tuple[float, float]:
    import anyio

    from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

    echo, stream = _methods(pb)
    request = pb.EchoRequest(payload=b"x" * 16)
    result: list[float] = []

    async def main() -> None:
        async with AsyncTransport(h2c=True) as transport:
            client = AsyncConnectClient(url, transport=transport, interceptors=hooks)
            for _ in range(20):
                await client.unary(echo, request)
            start = time.process_time()
            for _ in range(calls):
                await client.unary(echo, request)
            result.append((time.process_time() - start) / calls)
            ask = pb.ProcessOutputRequest(count=messages, chunk_size=64)
            start = time.process_time()
            async with client.server_stream(stream, ask) as call:
                got = 0
                async for _ in call:
                    got += 1
            result.append((time.process_time() - start) / got)

    anyio.run(main)
    return result[0], result[1]


def _sync_round(
    url: str, pb: Any, hooks: list[Any], calls: int, messages: int
) -> tuple[float, float]:
    from connect_python.runtime_sync import ConnectClient, Transport

    echo, stream = _methods(pb)
    request = pb.EchoRequest(payload=b"x" * 16)
    with Transport(h2c=True) as transport:
        client = ConnectClient(url, transport=transport, interceptors=hooks)
        for _ in range(20):
            client.unary(echo, request)
        start = time.process_time()
        for _ in range(calls):
            client.unary(echo, request)
        per_call = (time.process_time() - start) / calls
        ask = pb.ProcessOutputRequest(count=messages, chunk_size=64)
        start = time.process_time()
        with client.server_stream(stream, ask) as call:
            got = sum(1 for _ in call)
        per_message = (time.process_time() - start) / got
    return per_call, per_message


def measure(url: str, pb: Any, rounds: int, calls: int, messages: int) -> str:
    flavours: dict[str, Callable[..., tuple[float, float]]] = {
        "asyncio": _async_round,
        "sync": _sync_round,
    }
    lines = [
        "| client | unary CPU µs/call, none | one pass-through | cost | stream CPU µs/message, none"
        " | one pass-through | cost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in flavours.items():
        samples: dict[str, list[tuple[float, float]]] = {"none": [], "one": []}
        for _ in range(rounds):
            samples["none"].append(run(url, pb, [], calls, messages))
            samples["one"].append(run(url, pb, [_pass_through()], calls, messages))
        unary = {k: statistics.median(s[0] for s in v) * 1e6 for k, v in samples.items()}
        per_msg = {k: statistics.median(s[1] for s in v) * 1e6 for k, v in samples.items()}
        lines.append(
            f"| {name} | {unary['none']:.1f} | {unary['one']:.1f}"
            f" | {unary['one'] - unary['none']:+.1f} | {per_msg['none']:.2f}"
            f" | {per_msg['one']:.2f} | {per_msg['one'] - per_msg['none']:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def _measure(built: BuildResult, url: str, args: argparse.Namespace) -> str:
    sys.path.insert(0, str(built.gen_ours))
    pb = importlib.import_module("connectbench.v1.bench_pb2")
    return measure(url, pb, args.rounds, args.calls, args.messages)


def main(argv: list[str] | None = None) -> int:
    return run_table(__doc__.splitlines()[0], argv, _measure, rounds=5, messages=50000)


if __name__ == "__main__":
    raise SystemExit(main())
