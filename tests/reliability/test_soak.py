"""Soak: mixed traffic for a while, with faults injected at random.

One transport per route (h1, h2c, h2 over TLS), each behind its own fault
proxy, kept for the whole run, so that faults pile up over the pools' lives.
The run is a series of rounds: pick a route and a fault (or none) at random,
inject it into that route's open connections and new ones, run a random batch
of calls side by side, heal, then check that a healthy call succeeds. At the
end: the server saw every call end and none twice, every call ended in time
with a typed outcome, and descriptors, threads and tasks are back to where
they were.

Seeded: the seed is printed and recorded; ``RELIABILITY_SEED=<n>`` replays a
run. Length: ``RELIABILITY_SOAK_SECONDS``, else 20 s per flavour (asyncio,
trio, sync: 60 s in all) or, with ``RELIABILITY=release``, 600 s each.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from _support.methods import pb

from connect_python import ConnectError
from connect_python.runtime_async import AsyncTransport
from reliability.accounting import flavour, mode, record, resources
from reliability.faultproxy import (
    DOWN,
    UP,
    Bandwidth,
    Blackhole,
    Fault,
    FaultProxy,
    HalfClose,
    HalfOpen,
    Latency,
    Refuse,
    Reset,
    Stall,
)

from .conftest import ROUTES, route_for
from .helpers import (
    MIX,
    Client,
    call_headers,
    check_results,
    make_client,
    percentile,
    prime,
    run_calls,
    wait_resources,
    wait_server_quiet,
)


def soak_seconds() -> float:
    if "RELIABILITY_SOAK_SECONDS" in os.environ:
        return float(os.environ["RELIABILITY_SOAK_SECONDS"])
    return 600.0 if mode() == "release" else 20.0


#: pytest-timeout's per-test limit (300 s in pyproject.toml) must not cut a long soak.
pytestmark = pytest.mark.timeout(soak_seconds() + 240)


def random_fault(rng: random.Random) -> Fault | None:
    """A fault with random parameters, or ``None`` (a clean round) 30 % of the time."""
    if rng.random() < 0.3:
        return None
    d = rng.choice((UP, DOWN))
    after = rng.choice((0, 100, 1000, 5000, 20000, 100000))
    return rng.choice(
        (
            lambda: Latency(rng.uniform(0.001, 0.05), jitter=rng.uniform(0, 0.03)),
            lambda: Bandwidth(rng.choice((50_000, 200_000, 2_000_000))),
            lambda: Stall(d, after_bytes=after, duration=rng.choice((None, 0.2, 0.6))),
            lambda: HalfOpen(after_bytes=after),
            lambda: HalfClose(d, after_bytes=after),
            lambda: Reset(d, after_bytes=after),
            lambda: Blackhole(),
            lambda: Refuse(),
        )
    )()


async def test_soak(test_server: Any, testing_connect: ModuleType) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED", str(random.SystemRandom().getrandbits(32))))
    print(f"soak seed {seed} (replay: RELIABILITY_SEED={seed})")
    rng = random.Random(seed)
    seconds = soak_seconds()
    lib = flavour()
    proxies: dict[str, FaultProxy] = {}
    clients: dict[str, Client] = {}
    transports: dict[str, AsyncTransport] = {}
    routes = {name: route_for(name, test_server) for name in ROUTES}
    for name, (_, upstream) in routes.items():
        parts = urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None
        proxies[name] = FaultProxy((parts.hostname, parts.port), seed=seed).start()
    calls = 0
    codes: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    broken: list[str] = []
    latencies: list[float] = []
    stalls: list[float] = []
    queued: list[float] = []
    rounds = 0
    try:
        for name, (route, _) in routes.items():
            await prime(testing_connect, proxies[name], route)
        baseline = resources()
        for name, (route, _) in routes.items():
            transports[name] = AsyncTransport(**route.transport_kwargs)
            clients[name] = make_client(
                testing_connect, proxies[name].url(route.scheme), transports[name]
            )
        tag = f"soak-{lib}-{seed}"
        rss_start = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rounds += 1
            name = rng.choice(ROUTES)
            route = routes[name][0]
            proxy = proxies[name]
            fault = random_fault(rng)
            if fault is not None:
                faults[type(fault).__name__] += 1
                proxy.set_faults(fault)
                proxy.inject(fault)
            kinds = [rng.choice(MIX) for _ in range(rng.randint(1, 12))]
            if not route.duplex:
                kinds = [("upload" if k == "chat" else k) for k in kinds]
            timeout = rng.choice((0.3, 0.7, 1.5))
            results = await run_calls(clients[name], tag, kinds, timeout, rng, route.duplex)
            proxy.heal()
            calls += len(results)
            for r in results:
                stalls.append(r.stalled)
                queued.append(r.queued)
                codes["ok" if r.outcome == "ok" else (r.code or r.outcome)] += 1
                if r.outcome == "ok" and r.kind == "unary":
                    latencies.append(r.elapsed)
            broken += [
                f"round {rounds} ({name}, {fault}): {b}" for b in check_results(results, False)
            ]
            try:
                await clients[name].echo(
                    pb.EchoRequest(payload=b"healthy"), headers=call_headers(tag), timeout=5
                )
            except ConnectError as exc:
                broken.append(f"round {rounds} ({name}, {fault}): healthy call failed: {exc!r}")
            calls += 1
            if rounds == 5:
                rss_start = resources().rss
        stats = await wait_server_quiet(test_server.http, tag, 5.0)
        if stats.active:
            broken.append(f"the server still runs {stats.active} call(s)")
        if stats.replayed:
            broken.append(f"the server handled {stats.replayed} request(s) twice")
        rss_end = resources().rss
        if rss_start and rss_end - rss_start > 64 * 2**20:
            broken.append(f"RSS grew by {(rss_end - rss_start) >> 20} MiB")
        for name in ROUTES:
            await clients[name].aclose()
            await transports[name].aclose()
            if transports[name].num_connections:
                broken.append(
                    f"{name}: {transports[name].num_connections} connection(s) after close"
                )
        for proxy in proxies.values():
            proxy.reset_all()
        broken += [f"leak: {leak}" for leak in await wait_resources(baseline, 3.0)]
    finally:
        for name in clients:
            await transports[name].aclose()
        triggered: Counter[str] = Counter()
        for proxy in proxies.values():
            triggered.update(proxy.snapshot().triggered)
            proxy.stop()
    figures = {
        "flavour": lib,
        "seed": seed,
        "seconds": seconds,
        "rounds": rounds,
        "calls": calls,
        "faults_injected": dict(faults),
        "faults_triggered": dict(triggered),
        "outcomes": dict(codes),
        "unary_ok": len(latencies),
        "unary_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "unary_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "process_stall_max_ms": round(max(stalls, default=0.0) * 1000, 1),
        "cpu_queue_max_ms": round(max(queued, default=0.0) * 1000, 1),
        "rss_growth_mb": round((rss_end - rss_start) / 2**20, 1) if rss_start else None,
        "server": vars(stats),
        "broken": broken,
    }
    record("soak", figures)
    print(figures)
    assert not broken, f"seed {seed}:\n" + "\n".join(broken[:30])
