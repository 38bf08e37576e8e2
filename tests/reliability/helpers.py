"""The scenario engine: real calls through the fault proxy, and the invariants.

The calls go through the generated client of the test service
(``AsyncTestServiceClient``, from the ``testing_connect`` fixture: the module
this project's plugin wrote for ``tests/proto``), as an SDK's would. Written
once for the async runtime; ``tests/twins.py`` makes its sync twin
(``tests/_sync/reliability/helpers.py``), so every scenario also runs on
threads. Calls run side by side (:class:`Background`: tasks, or threads in the
sync twin) under a watchdog that cancels, through a ``CancelToken``, a call
still running well past its deadline (and reports it: a call must end by
itself within its deadline + :data:`GRACE`).

Invariants checked by :func:`run_scenario` (each broken one is a line of
:attr:`Report.broken`):

- every call ended with a result or a typed ``ConnectError`` within its
  deadline + 100 ms (the watchdog's cancellation counts as a hang);
- the server handled no request twice (``x-rel-id`` counts: no replay of a
  written request);
- the server saw every call end, abandoned streams included, while the
  client still held its pool (``active == 0`` after the faults are healed);
- the first healthy call after the faults succeeds, on the same transport;
- once the transport is closed: no connection counted, and file descriptors,
  threads and tasks back to what they were before the scenario.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from _support.concurrency.shim_async import Background, sleep
from _support.methods import pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncTransport
from reliability.accounting import (
    Resources,
    ServerStats,
    flavour,
    resources,
    runqueue_waits,
    server_stats,
)
from reliability.faultproxy import Fault, FaultProxy

__all__ = [
    "GRACE",
    "MIX",
    "CallResult",
    "Client",
    "Report",
    "Route",
    "make_client",
    "run_call",
    "run_calls",
    "run_scenario",
]

#: A call must end within its deadline plus this.
GRACE = 0.1
#: The watchdog cancels a call still running this long after its deadline.
HANG = 2.0
TAG_HEADER = "x-rel-tag"
ID_HEADER = "x-rel-id"

_ids = itertools.count()


@dataclass(frozen=True)
class Route:
    """How a scenario reaches the server through the proxy."""

    name: str  # h1, h2c, h2-tls
    scheme: str
    transport_kwargs: dict[str, Any]
    #: Whether the protocol lets a bidi call interleave sends and receives.
    duplex: bool


@dataclass(frozen=True)
class CallResult:
    kind: str
    #: "ok", "error" (a ConnectError), "untyped" (any other exception), "hung"
    outcome: str
    code: str | None
    elapsed: float
    timeout: float
    detail: str = ""
    started: float = 0.0
    #: How long the whole process was held up (not scheduled, or the GIL held)
    #: while the call ran, as the watchdog's own 10 ms sleeps saw it: a loaded
    #: machine's delay, not the call's, so it is added to the call's allowance.
    stalled: float = 0.0
    #: How long the process's threads waited, together, for a CPU while ready
    #: to run, from the call's deadline to its end (``accounting.runqueue_waits``):
    #: the calls that share a deadline end one after the other on a loaded
    #: machine, so the allowance is the larger of this and :attr:`stalled`.
    queued: float = 0.0

    @property
    def late(self) -> bool:
        return self.elapsed > self.timeout + GRACE + max(self.stalled, self.queued)


@dataclass
class Report:
    tag: str
    results: list[CallResult] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    server: ServerStats | None = None
    latencies: list[float] = field(default_factory=list)

    def codes(self) -> Counter[str]:
        return Counter("ok" if r.outcome == "ok" else (r.code or r.outcome) for r in self.results)


# -- the calls ---------------------------------------------------------------------------

Headers = dict[str, str]
#: A generated ``AsyncTestServiceClient`` (its module is made at test time).
Client = Any


def make_client(service: ModuleType, base_url: str, transport: AsyncTransport, **kw: Any) -> Client:
    """The generated client of the test service (``service``: the
    ``testing_connect`` module) on ``transport``."""
    return service.AsyncTestServiceClient(base_url, transport=transport, **kw)


async def _unary(
    client: Client,
    headers: Headers,
    timeout: float,
    token: CancelToken,
    rng: random.Random,
    duplex: bool,
) -> None:
    size = rng.choice((0, 64, 4000, 70000))
    payload = bytes(rng.getrandbits(8) for _ in range(min(size, 64))) * max(1, size // 64)
    response = await client.echo(
        pb.EchoRequest(payload=payload), headers=headers, timeout=timeout, cancel=token
    )
    assert response.payload == payload, "echo payload differs"


async def _server_stream(
    client: Client,
    headers: Headers,
    timeout: float,
    token: CancelToken,
    rng: random.Random,
    duplex: bool,
) -> None:
    count = rng.randint(5, 60)
    request = pb.StreamRequest(count=count, size=rng.choice((16, 512, 9000)))
    seen = 0
    call = client.stream(request, headers=headers, timeout=timeout, cancel=token)
    async with call:
        async for message in call:
            assert message.index == seen, f"message {message.index} where {seen} was due"
            seen += 1
    assert seen == count, f"{seen} of {count} messages"


async def _abandoned_stream(
    client: Client,
    headers: Headers,
    timeout: float,
    token: CancelToken,
    rng: random.Random,
    duplex: bool,
) -> None:
    # An endless stream left after a few messages: the server must see it end.
    request = pb.StreamRequest(count=1_000_000, size=256, outcome=pb.Outcome(delay_ms=2))
    call = client.stream(request, headers=headers, timeout=timeout, cancel=token)
    async with call:
        seen = 0
        async for _ in call:
            seen += 1
            if seen == 3:
                break


async def _cancelled_stream(
    client: Client,
    headers: Headers,
    timeout: float,
    token: CancelToken,
    rng: random.Random,
    duplex: bool,
) -> None:
    # Cancelled from the caller's side after two messages: CANCELED, nothing else.
    request = pb.StreamRequest(count=1_000_000, size=64, outcome=pb.Outcome(delay_ms=2))
    call = client.stream(request, headers=headers, timeout=timeout, cancel=token)
    async with call:
        seen = 0
        async for _ in call:
            seen += 1
            if seen == 2:
                token.cancel()
    raise AssertionError("the stream went on after its token was cancelled")


async def _upload(
    client: Client,
    headers: Headers,
    timeout: float,
    token: CancelToken,
    rng: random.Random,
    duplex: bool,
) -> None:
    count = rng.randint(1, 40)
    chunk = b"u" * rng.choice((10, 1000, 20000))

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        for _ in range(count):
            yield pb.UploadRequest(chunk=chunk)

    response = await client.upload(requests(), headers=headers, timeout=timeout, cancel=token)
    assert response.messages == count and response.bytes == count * len(chunk)


async def _chat(
    client: Client,
    headers: Headers,
    timeout: float,
    token: CancelToken,
    rng: random.Random,
    duplex: bool,
) -> None:
    rounds = rng.randint(1, 8)
    texts = [f"m{i}-{rng.getrandbits(16)}" for i in range(rounds)]
    if duplex:
        call = client.chat(headers=headers, timeout=timeout, cancel=token)
        async with call:
            for i, text in enumerate(texts):
                await call.send(pb.ChatRequest(text=text))
                reply = await call.receive()
                assert reply is not None and reply.text == text and reply.index == i
            await call.close_send()
            assert await call.receive() is None
        return

    async def requests() -> AsyncIterator[pb.ChatRequest]:
        for text in texts:
            yield pb.ChatRequest(text=text)

    replies = []
    call = client.chat(requests(), headers=headers, timeout=timeout, cancel=token)
    async with call:
        async for reply in call:
            replies.append(reply.text)
    assert replies == texts


CallFn = Callable[..., Any]
KINDS: dict[str, CallFn] = {
    "unary": _unary,
    "server_stream": _server_stream,
    "abandoned_stream": _abandoned_stream,
    "cancelled_stream": _cancelled_stream,
    "upload": _upload,
    "chat": _chat,
}
#: The mixed traffic of one scenario: a unary burst and one call of each other kind.
MIX: tuple[str, ...] = (
    ("unary",) * 6
    + ("server_stream", "server_stream", "abandoned_stream", "cancelled_stream")
    + ("upload", "chat")
)


def call_headers(tag: str) -> Headers:
    return {TAG_HEADER: tag, ID_HEADER: f"{tag}/{next(_ids)}"}


async def run_call(
    kind: str,
    client: Client,
    tag: str,
    timeout: float,
    rng: random.Random,
    duplex: bool,
    token: CancelToken | None = None,
) -> CallResult:
    """One call of ``kind``; never raises (the outcome is the result)."""
    token = token or CancelToken()
    start = time.monotonic()
    code: str | None = None
    detail = ""
    try:
        await KINDS[kind](client, call_headers(tag), timeout, token, rng, duplex)
        outcome = "ok"
    except ConnectError as exc:
        outcome, code, detail = "error", exc.code.value, str(exc)
        if kind == "cancelled_stream" and exc.code is Code.CANCELED:
            outcome = "ok"  # the expected end of that call
    except Exception as exc:
        outcome, detail = "untyped", repr(exc)
    return CallResult(kind, outcome, code, time.monotonic() - start, timeout, detail, start)


async def run_calls(
    client: Client,
    tag: str,
    kinds: Sequence[str],
    timeout: float,
    rng: random.Random,
    duplex: bool,
) -> list[CallResult]:
    """Run ``kinds`` side by side under the watchdog; one result per call."""
    results: list[CallResult | None] = [None] * len(kinds)
    tokens = [CancelToken() for _ in kinds]
    seeds = [rng.getrandbits(32) for _ in kinds]

    async def one(i: int) -> None:
        results[i] = await run_call(
            kinds[i], client, tag, timeout, random.Random(seeds[i]), duplex, tokens[i]
        )

    start = time.monotonic()
    tasks = [Background(one, i) for i in range(len(kinds))]
    hung: set[int] = set()
    ticks: list[tuple[float, float]] = []  # (when, how much longer than 10 ms the sleep took)
    #: (when, each thread's wait for a CPU so far), around and after the deadline
    queue: list[tuple[float, dict[str, int]]] = []
    while not all(t.done for t in tasks):
        now = time.monotonic()
        if now - start > timeout - 0.05:
            queue.append((now, runqueue_waits()))
        if now - start > timeout + HANG:
            for i, t in enumerate(tasks):
                if not t.done and i not in hung:
                    hung.add(i)
                    tokens[i].cancel()
        if now - start > timeout + 2 * HANG:
            break  # stuck even after the cancel: reported below
        await sleep(0.01)
        ticks.append((time.monotonic(), time.monotonic() - now - 0.01))
    out: list[CallResult] = []
    for i, (kind, result) in enumerate(zip(kinds, results, strict=True)):
        if result is None:
            out.append(CallResult(kind, "stuck", None, time.monotonic() - start, timeout))
        elif i in hung:
            out.append(CallResult(kind, "hung", result.code, result.elapsed, timeout))
        else:
            err = tasks[i].error
            if err is not None:
                out.append(CallResult(kind, "untyped", None, result.elapsed, timeout, repr(err)))
            else:
                end = result.started + result.elapsed
                stalled = max(
                    (late for when, late in ticks if result.started <= when <= end + 0.02),
                    default=0.0,
                )
                out.append(
                    replace(
                        result,
                        stalled=max(stalled, 0.0),
                        queued=_queued(queue, result.started + timeout, end),
                    )
                )
    return out


def _queued(samples: Sequence[tuple[float, dict[str, int]]], since: float, until: float) -> float:
    """Seconds the process's threads waited for a CPU, added up, between the
    samples that cover ``since`` to ``until`` (a thread counts while it lives
    in two samples in a row)."""
    total = 0
    for (t0, before), (t1, after) in itertools.pairwise(samples):
        if t1 < since or t0 > until + 0.02:
            continue
        total += sum(after[tid] - before[tid] for tid in after.keys() & before.keys())
    return total / 1e9


def check_results(results: Sequence[CallResult], expect_ok: bool) -> list[str]:
    broken = []
    for r in results:
        if r.outcome in ("untyped", "hung", "stuck"):
            broken.append(f"{r.kind}: {r.outcome} {r.detail}".strip())
        elif r.late:
            broken.append(
                f"{r.kind}: ended {r.elapsed - r.timeout:.3f} s after its deadline "
                f"(the process was held up {r.stalled:.3f} s meanwhile; its threads "
                f"waited {r.queued:.3f} s for a CPU after the deadline)"
            )
        elif expect_ok and r.outcome != "ok":
            broken.append(f"{r.kind}: {r.code} on a benign fault ({r.detail})")
    return broken


async def wait_server_quiet(http_url: str, tag: str, limit: float) -> ServerStats:
    """The server's counters once no call of ``tag`` is active (or after ``limit``)."""
    end = time.monotonic() + limit
    while True:
        stats = server_stats(http_url, tag)
        if stats.active == 0 or time.monotonic() > end:
            return stats
        await sleep(0.02)


async def wait_resources(baseline: Resources, limit: float) -> list[str]:
    """Leaks beyond ``baseline`` still there after ``limit`` seconds."""
    end = time.monotonic() + limit
    while True:
        leaks = resources().leaks(baseline)
        if not leaks or time.monotonic() > end:
            return leaks
        await sleep(0.02)


async def prime(service: ModuleType, proxy: FaultProxy, route: Route) -> None:
    """One healthy call on a throwaway transport: what the runtime keeps per
    thread or per process (a thread's wake-up descriptor, the TLS trust store)
    exists before a scenario takes its baseline."""
    transport = AsyncTransport(**route.transport_kwargs)
    async with transport, make_client(service, proxy.url(route.scheme), transport) as client:
        await client.echo(pb.EchoRequest(), timeout=5)


async def prime_direct(service: ModuleType, url: str) -> None:
    """:func:`prime` for a scenario that talks to the server directly (h2c)."""
    transport = AsyncTransport(h2c=True)
    async with transport, make_client(service, url, transport) as client:
        await client.echo(pb.EchoRequest(), timeout=5)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run_scenario(
    service: ModuleType,
    name: str,
    route: Route,
    proxy: FaultProxy,
    server_http: str,
    faults: Sequence[Fault],
    *,
    kinds: Sequence[str] = MIX,
    timeout: float = 1.0,
    expect_ok: bool = False,
    seed: int = 0,
) -> Report:
    """Warm a pooled connection, inject ``faults`` (into it and every new
    connection), run ``kinds`` side by side, heal, check the invariants."""
    rng = random.Random(seed)
    tag = f"{name}-{route.name}-{flavour()}-{next(_ids)}"
    report = Report(tag)
    if not route.duplex:
        # connect-go answers a bidi call over HTTP/1.1 with 505, by design.
        kinds = [("upload" if k == "chat" else k) for k in kinds]
    await prime(service, proxy, route)
    baseline = resources()
    transport = AsyncTransport(**route.transport_kwargs)
    client = make_client(service, proxy.url(route.scheme), transport)
    try:
        await client.echo(pb.EchoRequest(payload=b"warm"), headers=call_headers(tag))
        proxy.set_faults(*faults)
        for fault in faults:
            proxy.inject(fault)
        report.results = await run_calls(client, tag, kinds, timeout, rng, route.duplex)
        report.broken += check_results(report.results, expect_ok)
        proxy.heal()
        try:
            await client.echo(
                pb.EchoRequest(payload=b"healthy"), headers=call_headers(tag), timeout=2
            )
        except ConnectError as exc:
            report.broken.append(f"the first healthy call after the faults failed: {exc!r}")
        report.server = stats = await wait_server_quiet(server_http, tag, 3.0)
        if stats.active:
            report.broken.append(f"the server still runs {stats.active} call(s) of the scenario")
        if stats.replayed:
            report.broken.append(f"the server handled {stats.replayed} request(s) twice")
    finally:
        await client.aclose()
        await transport.aclose()
    if transport.num_connections:
        report.broken.append(f"{transport.num_connections} connection(s) counted after close")
    proxy.reset_all()
    report.broken += [f"leak: {leak}" for leak in await wait_resources(baseline, 2.0)]
    return report
