"""Both message runtimes, both clients: ``python -m benchmarks.message_runtimes``.

Against the connect-go benchmark server (built and started as for ``run``),
four generated async clients (asyncio, HTTP/1.1) run the same work:

- this project's client with Google ``protobuf`` messages (``_pb2``) and with
  Buf's ``protobuf-py`` messages (``protoc-gen-py``, ``messages=protobuf-py``);
- the official ``connectrpc`` client with ``protobuf=google`` and with its
  default, ``protobuf-py``.

Workloads: unary ``Echo`` calls in sequence (16-byte payload), wall time per
call; a ``ProcessOutput`` server stream of 100,000 messages of 64 bytes, wall
time per message. HTTP/1.1, because over h2c the official client's transport
gives up on that stream ("too_many_data_frames", as in the main table). Each
client runs in a process of its own (the generated modules of the four share
module names), in alternating rounds so that drift of a busy machine hits
every client alike; medians of the rounds. Prints a
Markdown table with the official client's time over ours for each runtime
(above 1: ours is faster) and writes it to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._build import BuildResult
from benchmarks._side import run_table

BENCH_DIR = Path(__file__).resolve().parent
PROTO = "connectbench/v1/bench.proto"
CLIENTS = ("ours google", "ours protobuf-py", "official google", "official protobuf-py")

# One client's measurement, in its own process: argv = url, calls, messages.
_WORKER = """
import asyncio, importlib, json, os, sys, time
url, calls, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client_kind, pb_module = sys.argv[4], sys.argv[5]
pb = importlib.import_module(pb_module)
gen = importlib.import_module(pb_module.rsplit(".", 1)[0] + ".bench_connect")

async def main():
    if client_kind == "ours":
        from connect_python.runtime_async import AsyncTransport
        transport = AsyncTransport(http2=False)
        client = gen.AsyncBenchServiceClient(url, transport=transport)
        async def stream(request):
            async with client.process_output(request) as call:
                return sum([1 async for _ in call])
        async def close():
            await client.aclose()
            await transport.aclose()
    else:
        from pyqwest import Client, HTTPTransport, HTTPVersion
        transport = HTTPTransport(http_version=HTTPVersion.HTTP1)
        client = gen.BenchServiceClient(
            url, http_client=Client(transport), send_compression=None, accept_compression=[]
        )
        async def stream(request):
            call = client.process_output(request)
            try:
                return sum([1 async for _ in call])
            finally:
                await call.aclose()
        async def close():
            await client.close()
            await transport.aclose()
    request = pb.EchoRequest(payload=b"x" * 16)
    for _ in range(50):
        await client.echo(request)
    start = time.perf_counter()
    for _ in range(calls):
        await client.echo(request)
    unary = (time.perf_counter() - start) / calls
    ask = pb.ProcessOutputRequest(count=messages, chunk_size=64)
    start = time.perf_counter()
    got = await stream(ask)
    per_message = (time.perf_counter() - start) / got
    await close()
    print(json.dumps([unary, per_message]))

asyncio.run(main())
# The official client with protobuf-py messages aborts at interpreter exit
# (SIGABRT after its work is done, seen with connectrpc 0.13 / protobuf-py 0.7):
# leave without the interpreter's teardown once the result is out.
sys.stdout.flush()
os._exit(0)
"""


def _protoc(out: Path, *args: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{BENCH_DIR / 'proto'}", *args, PROTO]
    subprocess.run(cmd, check=True, timeout=120)


def generate(root: Path, official_gen: Path, ours_gen: Path) -> dict[str, tuple[Path, str]]:
    """Per client: (directory for sys.path, module of its messages)."""
    bindir = Path(sys.executable).parent
    pb_py = f"--plugin=protoc-gen-py={bindir / 'protoc-gen-py'}"
    for name, extra in (
        (
            "official_pb",
            [
                f"--plugin=protoc-gen-connectrpc={bindir / 'protoc-gen-connectrpc'}",
                f"--connectrpc_out={root / 'official_pb'}",
            ],
        ),
        (
            "ours_pb",
            [
                f"--plugin=protoc-gen-connect-python={bindir / 'protoc-gen-connect-python'}",
                f"--connect-python_out={root / 'ours_pb'}",
                "--connect-python_opt=messages=protobuf-py",
            ],
        ),
    ):
        _protoc(root / name, pb_py, f"--py_out={root / name}", *extra)
    return {
        "ours google": (ours_gen, "connectbench.v1.bench_pb2"),
        "ours protobuf-py": (root, "ours_pb.connectbench.v1.bench_pb"),
        "official google": (official_gen, "connectbench.v1.bench_pb2"),
        "official protobuf-py": (root, "official_pb.connectbench.v1.bench_pb"),
    }


def _one(url: str, where: tuple[Path, str], kind: str, calls: int, messages: int) -> list[float]:
    path, module = where
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, url, str(calls), str(messages), kind, module],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(path), *sys.path[1:]])},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {module}:\n{done.stderr}")
    result: list[float] = json.loads(done.stdout)
    return result


def measure(url: str, clients: dict[str, tuple[Path, str]], rounds: int, calls: int,
            messages: int) -> str:  # fmt: skip
    samples: dict[str, list[list[float]]] = {name: [] for name in CLIENTS}
    for _ in range(rounds):
        for name in CLIENTS:
            samples[name].append(_one(url, clients[name], name.split()[0], calls, messages))
    unary = {n: statistics.median(s[0] for s in v) * 1e6 for n, v in samples.items()}
    stream = {n: statistics.median(s[1] for s in v) * 1e6 for n, v in samples.items()}
    lines = [
        "| messages | unary µs/call: ours | official | official/ours"
        " | stream µs/message: ours | official | official/ours |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for runtime in ("google", "protobuf-py"):
        ours, official = f"ours {runtime}", f"official {runtime}"
        lines.append(
            f"| {runtime} | {unary[ours]:.0f} | {unary[official]:.0f}"
            f" | {unary[official] / unary[ours]:.2f} | {stream[ours]:.2f}"
            f" | {stream[official]:.2f} | {stream[official] / stream[ours]:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _measure(built: BuildResult, url: str, args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-pb-") as tmp:
        clients = generate(Path(tmp), built.gen_official, built.gen_ours)
        return measure(url, clients, args.rounds, args.calls, args.messages)


def main(argv: list[str] | None = None) -> int:
    return run_table(__doc__.splitlines()[0], argv, _measure, rounds=3, messages=100_000)


if __name__ == "__main__":
    raise SystemExit(main())
