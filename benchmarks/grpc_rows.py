"""gRPC rows: the same connect-go benchmark server, spoken to with the gRPC protocol.

Two workloads, each client in a fresh process per run, over HTTP/2 with prior
knowledge (h2c):

- ``unary_seq``: 2,000 sequential unary calls, 64 B (``Echo``);
- ``stream_small``: one server stream of 100,000 x 64 B (``ProcessOutput``).

Clients: this project's generated clients with ``protocol="grpc"`` (asyncio,
trio, sync), the official ``connectrpc`` generated clients with
``ProtocolType.GRPC`` (async, sync), and ``grpc.aio`` (grpcio, the gRPC
project's own client). Ratios compare ours with the official client of the
same shape and with ``grpc.aio``.

    python -m benchmarks.grpc_rows [--rounds 3] [--smoke]

prints a Markdown table (median of the rounds) and writes the runs to
``benchmarks/results/grpc-rows.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._build import build
from benchmarks._runner import Server

SERVICE = "connectbench.v1.BenchService"
RESULTS = Path(__file__).resolve().parent / "results" / "grpc-rows.json"
CLIENTS = {
    "ours-asyncio": ("connect-python (asyncio)", "official-async"),
    "ours-trio": ("connect-python (trio)", "official-async"),
    "ours-sync": ("connect-python (sync)", "official-sync"),
    "official-async": ("connectrpc (async)", None),
    "official-sync": ("connectrpc (sync)", None),
    "grpc-aio": ("grpc.aio (grpcio)", None),
}
WORKLOADS = {
    "unary_seq": ("unary, sequential, 64 B", "calls/s"),
    "stream_small": ("server stream, 100,000 x 64 B", "msgs/s"),
}
#: When the measured part of a child's run started (after connecting and one
#: warm-up call) and ended (before closing).
_START = [0.0]
_END = [0.0]


def _done(ops: int) -> int:
    _END[0] = time.perf_counter()
    return ops


_SIZES = {"full": {"calls": 2000, "msgs": 100_000}, "smoke": {"calls": 200, "msgs": 2000}}


def _payload(size: int) -> bytes:
    return bytes((i * 7 + 1) & 0xFF for i in range(size))


# -- children: one client, one workload ------------------------------------------


async def _ours_async(url: str, workload: str, counts: dict[str, int]) -> int:
    from connect_python.runtime_async import AsyncTransport

    pb = importlib.import_module("connectbench.v1.bench_pb2")
    gen = importlib.import_module("connectbench.v1.bench_connect")
    async with (
        AsyncTransport(h2c=True) as transport,
        gen.AsyncBenchServiceClient(
            url, transport=transport, protocol="grpc", accept_compression=[]
        ) as client,
    ):
        await client.echo(pb.EchoRequest(payload=b"warm"))
        _START[0] = time.perf_counter()
        if workload == "unary_seq":
            request = pb.EchoRequest(payload=_payload(64))
            for _ in range(counts["calls"]):
                await client.echo(request)
            return _done(counts["calls"])
        seen = 0
        request = pb.ProcessOutputRequest(count=counts["msgs"], chunk_size=64)
        async with client.process_output(request) as call:
            async for _ in call:
                seen += 1
        return _done(seen)


def _ours_sync(url: str, workload: str, counts: dict[str, int]) -> int:
    from connect_python.runtime_sync import Transport

    pb = importlib.import_module("connectbench.v1.bench_pb2")
    gen = importlib.import_module("connectbench.v1.bench_connect")
    with (
        Transport(h2c=True) as transport,
        gen.BenchServiceClient(
            url, transport=transport, protocol="grpc", accept_compression=[]
        ) as client,
    ):
        client.echo(pb.EchoRequest(payload=b"warm"))
        _START[0] = time.perf_counter()
        if workload == "unary_seq":
            request = pb.EchoRequest(payload=_payload(64))
            for _ in range(counts["calls"]):
                client.echo(request)
            return _done(counts["calls"])
        seen = 0
        request = pb.ProcessOutputRequest(count=counts["msgs"], chunk_size=64)
        with client.process_output(request) as call:
            for _ in call:
                seen += 1
        return _done(seen)


async def _official_async(url: str, workload: str, counts: dict[str, int]) -> int:
    from connectrpc.protocol import ProtocolType
    from pyqwest import Client, HTTPTransport, HTTPVersion

    pb = importlib.import_module("connectbench.v1.bench_pb2")
    gen = importlib.import_module("connectbench.v1.bench_connect")
    transport = HTTPTransport(http_version=HTTPVersion.HTTP2)
    client = gen.BenchServiceClient(
        url,
        http_client=Client(transport),
        protocol=ProtocolType.GRPC,
        send_compression=None,
        accept_compression=[],
    )
    try:
        await client.echo(pb.EchoRequest(payload=b"warm"))
        _START[0] = time.perf_counter()
        if workload == "unary_seq":
            request = pb.EchoRequest(payload=_payload(64))
            for _ in range(counts["calls"]):
                await client.echo(request)
            return _done(counts["calls"])
        seen = 0
        stream = client.process_output(pb.ProcessOutputRequest(count=counts["msgs"], chunk_size=64))
        try:
            async for _ in stream:
                seen += 1
        finally:
            await stream.aclose()
        return _done(seen)
    finally:
        await client.close()
        await transport.aclose()


def _official_sync(url: str, workload: str, counts: dict[str, int]) -> int:
    from connectrpc.protocol import ProtocolType
    from pyqwest import HTTPVersion, SyncClient, SyncHTTPTransport

    pb = importlib.import_module("connectbench.v1.bench_pb2")
    gen = importlib.import_module("connectbench.v1.bench_connect")
    transport = SyncHTTPTransport(http_version=HTTPVersion.HTTP2)
    client = gen.BenchServiceClientSync(
        url,
        http_client=SyncClient(transport),
        protocol=ProtocolType.GRPC,
        send_compression=None,
        accept_compression=[],
    )
    try:
        client.echo(pb.EchoRequest(payload=b"warm"))
        _START[0] = time.perf_counter()
        if workload == "unary_seq":
            request = pb.EchoRequest(payload=_payload(64))
            for _ in range(counts["calls"]):
                client.echo(request)
            return _done(counts["calls"])
        request = pb.ProcessOutputRequest(count=counts["msgs"], chunk_size=64)
        return _done(sum(1 for _ in client.process_output(request)))
    finally:
        client.close()
        transport.close()


async def _grpc_aio(url: str, workload: str, counts: dict[str, int]) -> int:
    import grpc

    pb = importlib.import_module("connectbench.v1.bench_pb2")
    target = url.removeprefix("http://")
    async with grpc.aio.insecure_channel(target) as channel:
        echo = channel.unary_unary(
            f"/{SERVICE}/Echo",
            request_serializer=pb.EchoRequest.SerializeToString,
            response_deserializer=pb.EchoResponse.FromString,
        )
        await echo(pb.EchoRequest(payload=b"warm"))
        _START[0] = time.perf_counter()
        if workload == "unary_seq":
            request = pb.EchoRequest(payload=_payload(64))
            for _ in range(counts["calls"]):
                await echo(request)
            return _done(counts["calls"])
        output = channel.unary_stream(
            f"/{SERVICE}/ProcessOutput",
            request_serializer=pb.ProcessOutputRequest.SerializeToString,
            response_deserializer=pb.ProcessEvent.FromString,
        )
        seen = 0
        async for _ in output(pb.ProcessOutputRequest(count=counts["msgs"], chunk_size=64)):
            seen += 1
        return _done(seen)


def _child(client: str, workload: str, url: str, gen_dir: str, smoke: bool) -> dict[str, Any]:
    sys.path.insert(0, gen_dir)
    counts = _SIZES["smoke" if smoke else "full"]
    if client in ("ours-asyncio", "ours-trio"):
        import anyio

        backend = client.removeprefix("ours-")
        ops = anyio.run(_ours_async, url, workload, counts, backend=backend)
    elif client == "ours-sync":
        ops = _ours_sync(url, workload, counts)
    elif client == "official-async":
        import asyncio

        ops = asyncio.run(_official_async(url, workload, counts))
    elif client == "official-sync":
        ops = _official_sync(url, workload, counts)
    else:
        import asyncio

        ops = asyncio.run(_grpc_aio(url, workload, counts))
    elapsed = _END[0] - _START[0]
    expected = counts["calls"] if workload == "unary_seq" else counts["msgs"] + 2
    if ops != expected:
        raise SystemExit(f"{client} {workload}: {ops} operations, expected {expected}")
    return {"client": client, "workload": workload, "ops": ops, "seconds": elapsed}


# -- parent ---------------------------------------------------------------------


def _table(rates: dict[tuple[str, str], float], errors: dict[tuple[str, str], str]) -> str:
    lines = [
        "| workload (gRPC, h2c) | client | rate | ÷ official | ÷ grpc.aio |",
        "|---|---|---|---|---|",
    ]
    for workload, (title, unit) in WORKLOADS.items():
        aio = rates.get(("grpc-aio", workload))
        for client, (label, peer) in CLIENTS.items():
            rate = rates.get((client, workload))
            failed = errors.get((client, workload))
            if rate is None:
                lines.append(f"| {title} | {label} | failed: {failed} | | |")
                continue
            if failed:
                label += f" ({failed})"
            official = rates.get((peer, workload)) if peer else None
            vs_official = f"{rate / official:.2f}" if official else ""
            vs_aio = f"{rate / aio:.2f}" if aio and client.startswith("ours") else ""
            lines.append(f"| {title} | {label} | {rate:,.0f} {unit} | {vs_official} | {vs_aio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("CLIENT", "WORKLOAD", "URL", "GEN_DIR"))
    args = parser.parse_args()
    if args.child:
        client, workload, url, gen_dir = args.child
        print(json.dumps(_child(client, workload, url, gen_dir, args.smoke)))
        return
    built = build()
    server = Server(built.server)
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(args.rounds):
            for workload in WORKLOADS:
                for client in CLIENTS:
                    gen = built.gen_ours if client.startswith("ours") else built.gen_official
                    command = [sys.executable, "-m", "benchmarks.grpc_rows", "--child"]
                    command += [client, workload, server.url, str(gen)]
                    command += ["--smoke"] if args.smoke else []
                    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
                    if out.returncode == 0:
                        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                    else:  # recorded: the table says the client failed, and why
                        reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
                        runs.append({"client": client, "workload": workload, "error": reason})
    finally:
        server.close()
    rates: dict[tuple[str, str], float] = {}
    errors: dict[tuple[str, str], str] = {}
    for client in CLIENTS:
        for workload in WORKLOADS:
            mine = [r for r in runs if r["client"] == client and r["workload"] == workload]
            samples = [r["ops"] / r["seconds"] for r in mine if "error" not in r]
            if samples:
                rates[client, workload] = statistics.median(samples)
            failed = [r["error"] for r in mine if "error" in r]
            if failed:
                errors[client, workload] = f"{len(failed)} of {len(mine)} runs failed: {failed[-1]}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"smoke": args.smoke, "runs": runs}, indent=1) + "\n")
    print(_table(rates, errors))


if __name__ == "__main__":
    main()
