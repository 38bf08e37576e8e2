# unasync: skip -- cancel scopes exist only on the event loops.
"""Calls cut short by the caller's cancel scope while the network misbehaves.

Under each fault that leaves calls waiting (a stalled or silent peer), every
kind of call is run inside ``anyio.move_on_after``: the scope's cancellation
must reach the caller as itself (not as an error) within 100 ms of the scope's
deadline, and afterwards the usual invariants hold: a healthy call succeeds on
the same transport, the server saw every call end, nothing leaked.
"""

from __future__ import annotations

import random
import time
from types import ModuleType
from typing import Any

import anyio
import pytest
from _support.methods import pb

from connect_python import CancelToken, ConnectError
from connect_python.runtime_async import AsyncTransport
from reliability.accounting import flavour, mode, record, resources
from reliability.faultproxy import DOWN, UP, Blackhole, Fault, FaultProxy, HalfOpen, Stall

from .helpers import (
    GRACE,
    KINDS,
    Route,
    call_headers,
    make_client,
    prime,
    wait_resources,
    wait_server_quiet,
)

FAULTS: dict[str, Fault] = {
    "stall_down": Stall(DOWN, after_bytes=0),
    "blackhole": Blackhole(),
}
if mode() == "release":
    FAULTS.update({"stall_up": Stall(UP, after_bytes=0), "half_open": HalfOpen(after_bytes=0)})
SCOPE = 0.3


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_scope_cancellation_under_fault(
    fault: str, route: Route, proxy: FaultProxy, test_server: Any, testing_connect: ModuleType
) -> None:
    await prime(testing_connect, proxy, route)
    baseline = resources()
    tag = f"scope-{fault}-{route.name}-{flavour()}-{time.monotonic_ns()}"
    transport = AsyncTransport(**route.transport_kwargs)
    broken: list[str] = []
    kinds = ["unary", "server_stream", "upload", "chat" if route.duplex else "upload"]
    async with transport, make_client(testing_connect, proxy.url(route.scheme), transport) as c:
        await c.echo(pb.EchoRequest(payload=b"warm"), headers=call_headers(tag))
        proxy.set_faults(FAULTS[fault])
        proxy.inject(FAULTS[fault])
        for kind in kinds:
            # A ticker sees how long the event loop itself was held up (a loaded
            # machine): that much is added to the allowance, as in helpers.run_calls.
            ticks: list[float] = []
            tick_started = [time.monotonic()]

            async def ticker(ticks: list[float] = ticks, since: list[float] = tick_started) -> None:
                while True:
                    since[0] = time.monotonic()
                    await anyio.sleep(0.01)
                    ticks.append(time.monotonic() - since[0] - 0.01)

            async with anyio.create_task_group() as tg:
                tg.start_soon(ticker)
                start = time.monotonic()
                with anyio.move_on_after(SCOPE) as scope:
                    await KINDS[kind](
                        c, call_headers(tag), None, CancelToken(), random.Random(1), route.duplex
                    )
                end = time.monotonic()
                elapsed = end - start
                ticks.append(end - tick_started[0] - 0.01)  # the tick under way
                tg.cancel_scope.cancel()
            if not scope.cancelled_caught:
                broken.append(f"{kind} ended by itself under {fault}")
            stalled = max(ticks)
            if elapsed > SCOPE + GRACE + stalled:
                broken.append(
                    f"{kind}: {elapsed - SCOPE:.3f} s after the scope's deadline "
                    f"(the loop was held up {stalled:.3f} s)"
                )
        proxy.heal()
        try:
            await c.echo(pb.EchoRequest(payload=b"healthy"), headers=call_headers(tag), timeout=2)
        except ConnectError as exc:
            broken.append(f"the first healthy call after the faults failed: {exc!r}")
    proxy.reset_all()
    stats = await wait_server_quiet(test_server.http, tag, 3.0)
    if stats.active or stats.replayed:
        broken.append(f"server: {stats.active} call(s) active, {stats.replayed} replayed")
    broken += [f"leak: {leak}" for leak in await wait_resources(baseline, 2.0)]
    record(
        "scope",
        {
            "fault": fault,
            "route": route.name,
            "flavour": flavour(),
            "calls": len(kinds) + 1,
            "server": vars(stats),
            "broken": broken,
        },
    )
    assert not broken, "\n".join(broken)
