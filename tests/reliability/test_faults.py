"""Scenarios: mixed traffic through the fault proxy, one fault at a time, on
each route (h1, h2c, h2 over TLS); the invariants are those of
:func:`helpers.run_scenario`."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest

from reliability.accounting import flavour, record
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

from .helpers import Route, run_scenario

#: name -> (faults, whether every call must still succeed)
FAULTS: dict[str, tuple[tuple[Fault, ...], bool]] = {
    "latency": ((Latency(0.02, jitter=0.02),), True),
    "bandwidth": ((Bandwidth(400_000),), True),
    "stall_down": ((Stall(DOWN, after_bytes=3000),), False),
    "stall_up": ((Stall(UP, after_bytes=2000),), False),
    "half_open": ((HalfOpen(after_bytes=3000),), False),
    "half_close_down": ((HalfClose(DOWN, after_bytes=5000),), False),
    "reset_down": ((Reset(DOWN, after_bytes=6000),), False),
    "reset_up": ((Reset(UP, after_bytes=1500),), False),
    "blackhole": ((Blackhole(),), False),
    "refuse": ((Refuse(),), False),
}


def for_route(fault: Fault, route: Route) -> Fault:
    """Over HTTP/1.1 each call has a connection of its own, so byte counts are
    per call: a tenth of the HTTP/2 ones (where the calls share one
    connection) cuts them in the middle too."""
    after = getattr(fault, "after_bytes", None)
    if route.duplex or not after:
        return fault
    return replace(fault, after_bytes=after // 10)  # type: ignore[call-arg]


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault(
    fault: str, route: Route, proxy: FaultProxy, test_server: Any, testing_connect: ModuleType
) -> None:
    faults, expect_ok = FAULTS[fault]
    faults = tuple(for_route(f, route) for f in faults)
    report = await run_scenario(
        testing_connect,
        fault,
        route,
        proxy,
        test_server.http,
        faults,
        expect_ok=expect_ok,
        timeout=1.0,
    )
    broken = report.broken
    record(
        "scenario",
        {
            "fault": fault,
            "route": route.name,
            "flavour": flavour(),
            "calls": len(report.results),
            "outcomes": dict(report.codes()),
            "server": vars(report.server) if report.server else None,
            "broken": broken,
        },
    )
    assert not broken, "\n".join(broken)
