"""What is measured: workloads, HTTP flavours and clients.

Plain data, shared by the parent (which schedules runs) and the children (which
run one workload with one client and report figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CLIENTS",
    "FLAVOURS",
    "PEERS",
    "WORKLOADS",
    "Client",
    "Workload",
    "client_named",
    "workload_named",
]

FLAVOURS = ("http1", "h2c")


@dataclass(frozen=True)
class Workload:
    """One measured call pattern.

    ``ops`` is what a run counts (calls, messages or round trips); ``full`` and
    ``smoke`` hold the parameters of each mode (``count`` is the number of
    operations). ``latency`` says what the latency samples are.
    """

    name: str
    title: str
    unit: str
    latency: str
    flavours: tuple[str, ...]
    full: dict[str, int]
    smoke: dict[str, int]
    # Only clients with these shapes run it ("async", "sync").
    shapes: tuple[str, ...] = ("async", "sync")
    # Throughput ratio targets (this project ÷ official) by flavour.
    targets: dict[str, float] = field(default_factory=dict)

    def params(self, smoke: bool) -> dict[str, int]:
        return dict(self.smoke if smoke else self.full)


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        name="unary_seq",
        title="unary, sequential, 64 B",
        unit="calls",
        latency="per call",
        flavours=FLAVOURS,
        full={"count": 2000, "size": 64},
        smoke={"count": 200, "size": 64},
        targets={"http1": 1.0, "h2c": 1.3},
    ),
    Workload(
        name="unary_conc",
        title="unary, 50 in flight, 64 B",
        unit="calls",
        latency="per call",
        flavours=FLAVOURS,
        full={"count": 5000, "size": 64, "concurrency": 50},
        smoke={"count": 300, "size": 64, "concurrency": 50},
        shapes=("async",),
        targets={"http1": 1.0, "h2c": 1.3},
    ),
    Workload(
        name="stream_small",
        title="server stream, 100,000 x 64 B (process output)",
        unit="msgs",
        latency="gap between messages",
        flavours=FLAVOURS,
        full={"count": 100_000, "size": 64},
        smoke={"count": 2000, "size": 64},
        targets={"http1": 3.0, "h2c": 1.3},
    ),
    Workload(
        name="stream_large",
        title="server stream, 2,000 x 64 KiB (file read)",
        unit="msgs",
        latency="gap between messages",
        flavours=FLAVOURS,
        full={"count": 2000, "size": 65536},
        smoke={"count": 50, "size": 65536},
        targets={"h2c": 5.0},
    ),
    Workload(
        name="watch",
        title="sparse server stream, 200 events 2 ms apart (watch)",
        unit="events",
        latency="delivery delay (server send to client receive)",
        flavours=FLAVOURS,
        full={"count": 200, "interval_us": 2000},
        smoke={"count": 20, "interval_us": 2000},
    ),
    Workload(
        name="client_stream",
        # 50,000 messages: this client sends 10,000 in about 40 ms, too short a
        # time for a ratio on a shared machine.
        title="client stream, 50,000 x 64 B (stdin)",
        unit="msgs",
        latency="whole call",
        flavours=FLAVOURS,
        full={"count": 50_000, "size": 64},
        smoke={"count": 300, "size": 64},
        targets={"http1": 1.5, "h2c": 1.5},
    ),
    Workload(
        name="bidi",
        title="bidi ping-pong, 2,000 round trips, 64 B",
        unit="round trips",
        latency="per round trip",
        flavours=("h2c",),
        full={"count": 2000, "size": 64},
        smoke={"count": 100, "size": 64},
        targets={"h2c": 1.3},
    ),
)


@dataclass(frozen=True)
class Client:
    """A client implementation under test.

    ``module`` is the module under ``benchmarks.clients`` that runs it,
    ``kind`` one of ``ours``, ``official`` or ``baseline``; ``shape`` is
    ``async`` or ``sync``; ``backend`` the anyio backend for async clients.
    """

    name: str
    label: str
    module: str
    kind: str
    shape: str
    backend: str | None = None
    # Workloads the client cannot run by design, with the reason.
    unsupported: dict[str, str] = field(default_factory=dict)
    # Part of a run unless clients are chosen explicitly (--clients).
    default: bool = True


_HTTPCORE_NO_DUPLEX = (
    "httpcore sends the whole request body before reading the response: no full-duplex"
)

CLIENTS: tuple[Client, ...] = (
    Client("ours-asyncio", "connect-python (asyncio)", "ours", "ours", "async", "asyncio"),
    Client("ours-trio", "connect-python (trio)", "ours", "ours", "async", "trio"),
    Client("ours-sync", "connect-python (sync)", "ours", "ours", "sync"),
    Client("official-async", "connectrpc (async)", "official", "official", "async", "asyncio"),
    Client("official-sync", "connectrpc (sync)", "official", "official", "sync"),
    Client(
        "httpcore-async",
        "raw httpcore (asyncio)",
        "raw_httpcore",
        "baseline",
        "async",
        "asyncio",
        unsupported={"bidi": _HTTPCORE_NO_DUPLEX},
    ),
    Client(
        "httpcore-sync",
        "raw httpcore (sync)",
        "raw_httpcore",
        "baseline",
        "sync",
        unsupported={"bidi": _HTTPCORE_NO_DUPLEX},
        # Not a peer the issue asks for; keeps the full run under 10 minutes.
        default=False,
    ),
)

# Which official client each of ours is compared with.
PEERS = {
    "ours-asyncio": "official-async",
    "ours-trio": "official-async",
    "ours-sync": "official-sync",
    "httpcore-async": "official-async",
    "httpcore-sync": "official-sync",
}


def workload_named(name: str) -> Workload:
    for workload in WORKLOADS:
        if workload.name == name:
            return workload
    raise KeyError(name)


def client_named(name: str) -> Client:
    for client in CLIENTS:
        if client.name == name:
            return client
    raise KeyError(name)
