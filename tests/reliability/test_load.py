"""Load: many concurrent streams and unary bursts over one connection pool.

asyncio and trio: 1,000 server streams at once over one h2c transport, then
a unary burst from 200 tasks; the sync twin: 64 threads sharing one client.
Each stream's messages are timed against when they were due (the previous
one's arrival + the server's pause): no message may come more than 1 s later
than the other streams' messages arriving at the same time (fair progress;
raw lateness is recorded too: it includes the machine's own load),
every call must succeed, and afterwards the server has no call left,
descriptors, threads and tasks are back and memory did not grow by more than
64 MiB. ``RELIABILITY=release`` repeats the rounds
for 60 s.
"""

from __future__ import annotations

import time
from typing import Any

from _support.concurrency.shim_async import Background, sleep
from _support.methods import ECHO, STREAM, pb

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from reliability.accounting import flavour, mode, record, resources

from .helpers import call_headers, percentile, prime_direct, wait_resources, wait_server_quiet

#: The longest a message may arrive after it was due (the previous message's
#: arrival + the server's pause): a stream waiting longer than that starved.
STARVED = 1.0
#: Each stream: this many messages, one every DELAY_MS (the server sleeps between them).
MESSAGES = 5
DELAY_MS = 500


def unfairness(arrivals: list[float], lateness: list[float]) -> float:
    """How much later than the other streams' messages arriving around the same
    time (the median of each 0.5 s window) a message came, at worst.

    When the whole process runs slow (a loaded machine), every stream's
    messages are late alike; a starved stream's are late beyond the others'.
    """
    windows: dict[int, list[float]] = {}
    for when, late in zip(arrivals, lateness, strict=True):
        windows.setdefault(int(when * 2), []).append(late)
    worst = 0.0
    for values in windows.values():
        typical = percentile(values, 50)
        worst = max(worst, max(values) - typical)
    return worst


async def test_load(test_server: Any) -> None:
    lib = flavour()
    streams = 64 if lib == "sync" else 1000
    bursters = 64 if lib == "sync" else 200
    seconds = 60.0 if mode() == "release" else 0.0
    tag = f"load-{lib}-{time.monotonic_ns()}"
    await prime_direct(test_server.http)
    baseline = resources()
    transport = AsyncTransport(h2c=True)
    client = AsyncConnectClient(test_server.http, transport=transport, timeout=60)
    gaps: list[float] = []
    arrivals: list[float] = []
    waits: list[float] = []
    failures: list[str] = []
    unary_latencies: list[float] = []
    stream_messages = 0
    unary_calls = 0
    rounds = 0

    async def stream_worker(i: int) -> None:
        nonlocal stream_messages
        # Starts spread over one pause, so that messages arrive evenly rather
        # than in bursts of one per stream.
        await sleep(i * DELAY_MS / 1000 / streams)
        request = pb.StreamRequest(count=MESSAGES, size=64, outcome=pb.Outcome(delay_ms=DELAY_MS))
        start = last = time.monotonic()
        first = True
        try:
            call = client.server_stream(STREAM, request, headers=call_headers(tag))
            async with call:
                async for _ in call:
                    now = time.monotonic()
                    if first:
                        waits.append(now - start)
                        first = False
                    else:
                        gaps.append(now - last - DELAY_MS / 1000)
                        arrivals.append(now)
                    last = now
                    stream_messages += 1
        except Exception as exc:
            failures.append(repr(exc))

    async def unary_worker(until: float) -> None:
        nonlocal unary_calls
        try:
            while time.monotonic() < until:
                t0 = time.monotonic()
                await client.unary(ECHO, pb.EchoRequest(payload=b"b"), headers=call_headers(tag))
                unary_latencies.append(time.monotonic() - t0)
                unary_calls += 1
        except Exception as exc:
            failures.append(repr(exc))

    rss_start = resources().rss
    cpu_start = time.process_time()
    started = time.monotonic()
    stream_time = burst_time = 0.0
    try:
        while True:
            rounds += 1
            t0 = time.monotonic()
            workers = [Background(stream_worker, i) for i in range(streams)]
            for w in workers:
                await w.wait()
            stream_time += time.monotonic() - t0
            t0 = time.monotonic()
            until = t0 + 2.0
            workers = [Background(unary_worker, until) for _ in range(bursters)]
            for w in workers:
                await w.wait()
            burst_time += time.monotonic() - t0
            if time.monotonic() - started >= seconds:
                break
        connections = transport.num_connections
    finally:
        await client.aclose()
        await transport.aclose()
    rss_end = resources().rss
    unfair = unfairness(arrivals, gaps)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - started
    stats = await wait_server_quiet(test_server.http, tag, 5.0)
    leaks = await wait_resources(baseline, 3.0)
    figures = {
        "flavour": lib,
        "rounds": rounds,
        "concurrent_streams": streams,
        "stream_messages": stream_messages,
        "stream_messages_per_s": round(stream_messages / stream_time),
        "first_message_p99_ms": round(percentile(waits, 99) * 1000, 1),
        "late_p99_ms": round(percentile(gaps, 99) * 1000, 1),
        "late_max_ms": round(max(gaps, default=0.0) * 1000, 1),
        "unfair_max_ms": round(unfair * 1000, 1),
        "client_cpu_share": round(cpu / wall, 2),
        "burst_tasks": bursters,
        "unary_calls": unary_calls,
        "unary_calls_per_s": round(unary_calls / burst_time),
        "unary_p99_ms": round(percentile(unary_latencies, 99) * 1000, 1),
        "connections": connections,
        "rss_growth_mb": round((rss_end - rss_start) / 2**20, 1),
        "failures": failures[:5],
        "server": vars(stats),
        "leaks": leaks,
    }
    record("load", figures)
    print(figures)
    assert not failures, failures[:5]
    assert stream_messages == rounds * streams * MESSAGES
    assert unfair < STARVED, f"a stream's message came {unfair:.3f} s later than its peers'"
    assert stats.active == 0 and stats.replayed == 0, stats
    assert not leaks, leaks
    assert rss_end - rss_start < 64 * 2**20, f"RSS grew by {(rss_end - rss_start) >> 20} MiB"
    await sleep(0)
