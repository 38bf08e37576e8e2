"""Focused regression tests for what the reliability scenarios found.

Each test names the scenario that found it.
"""

from __future__ import annotations

import gc
from types import ModuleType
from typing import Any

import pytest
from _support.concurrency.shim_async import Background, sleep
from _support.methods import CHAT, ECHO, STREAM, pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from reliability.accounting import resources
from reliability.faultproxy import Blackhole, FaultProxy, HalfOpen

from .helpers import Route, prime, wait_resources


@pytest.mark.parametrize("route_name", ["h2c", "h2-tls"])
async def test_h2_connection_that_went_silent_under_a_stream_is_not_reused(
    route: Route, proxy: FaultProxy, test_server: Any
) -> None:
    # found by test_faults.py::test_fault[half_open] (its first healthy call failed):
    # R1, fixed: a deadline that passes while nothing came from the peer makes the
    # connection send a PING; the next call waits briefly for its ACK, else the
    # connection is retired and the call goes to a new one.
    transport = AsyncTransport(**route.transport_kwargs)
    async with transport, AsyncConnectClient(proxy.url(route.scheme), transport=transport) as c:
        request = pb.StreamRequest(count=1000, size=16, outcome=pb.Outcome(delay_ms=20))
        with pytest.raises(ConnectError) as info:
            async with c.server_stream(STREAM, request, timeout=0.6) as call:
                seen = 0
                async for _ in call:
                    seen += 1
                    if seen == 3:
                        # The server side goes; the client's socket stays, silent.
                        proxy.inject(HalfOpen())
        assert info.value.code is Code.DEADLINE_EXCEEDED
        # The connection showed no sign of life for the last part of that
        # call: the next call must not be lost on it.
        response = await c.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=1.5)
        assert response.payload == b"next"


@pytest.mark.parametrize("route_name", ["h2c", "h2-tls"])
async def test_h2_connection_that_went_silent_after_other_calls_answered_is_not_reused(
    route: Route, proxy: FaultProxy, test_server: Any
) -> None:
    # found by test_soak.py (release, trio, seed 637806489, round 326: a healthy
    # call lost on a half-open h2-tls connection): R4, R1 again when another
    # call's answer arrived while the stream waited before the peer went silent.
    # Fixed: the PING no longer depends on the connection's input during the wait.
    transport = AsyncTransport(**route.transport_kwargs)
    async with transport, AsyncConnectClient(proxy.url(route.scheme), transport=transport) as c:
        request = pb.StreamRequest(count=1000, size=16, outcome=pb.Outcome(delay_ms=400))

        async def other() -> None:
            # While the stream waits for its next message, another call on the
            # connection is answered; then the peer goes silent.
            await sleep(0.1)
            await c.unary(ECHO, pb.EchoRequest(payload=b"other"), timeout=1)
            proxy.inject(HalfOpen())

        helper: Background | None = None
        with pytest.raises(ConnectError) as info:
            async with c.server_stream(STREAM, request, timeout=1.2) as call:
                async for _ in call:
                    if helper is None:
                        helper = Background(other)
        assert helper is not None
        await helper.wait()
        assert helper.error is None, helper.error
        assert info.value.code is Code.DEADLINE_EXCEEDED
        response = await c.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=2)
        assert response.payload == b"next"


async def test_h2_connection_silent_through_a_whole_deadline_is_not_reused(
    route: Route, proxy: FaultProxy, test_server: Any
) -> None:
    transport = AsyncTransport(**route.transport_kwargs)
    async with transport, AsyncConnectClient(proxy.url(route.scheme), transport=transport) as c:
        await c.unary(ECHO, pb.EchoRequest(payload=b"warm"), timeout=5)
        proxy.inject(HalfOpen())
        with pytest.raises(ConnectError) as info:
            await c.unary(ECHO, pb.EchoRequest(payload=b"lost"), timeout=0.5)
        assert info.value.code is Code.DEADLINE_EXCEEDED
        response = await c.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=3)
        assert response.payload == b"next"


@pytest.mark.parametrize("route_name", ["h2c", "h2-tls"])
async def test_h2_connection_silent_until_the_caller_cancelled_is_not_reused(
    route: Route, proxy: FaultProxy, test_server: Any
) -> None:
    # found by test_backend_cancel.py::test_scope_cancellation_under_fault[half_open]
    # (release mode; its healthy call failed): R3, like R1 but the silent call
    # was ended by its caller (a cancel scope, a CancelToken, a task
    # cancellation) instead of its own deadline, which sent no liveness PING:
    # the next call was lost on the dead connection. Fixed: a wait its caller
    # ends sends the PING too.
    transport = AsyncTransport(**route.transport_kwargs)
    async with transport, AsyncConnectClient(proxy.url(route.scheme), transport=transport) as c:
        await c.unary(ECHO, pb.EchoRequest(payload=b"warm"), timeout=5)
        proxy.inject(HalfOpen())
        token = CancelToken()

        async def cancel_soon() -> None:
            await sleep(0.5)
            token.cancel()

        canceller = Background(cancel_soon)
        with pytest.raises(ConnectError) as info:
            # No deadline of its own: only the caller ends it.
            await c.unary(ECHO, pb.EchoRequest(payload=b"lost"), cancel=token)
        await canceller.wait()
        assert info.value.code is Code.CANCELED
        response = await c.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=2)
        assert response.payload == b"next"


@pytest.mark.parametrize("route_name", ["h2c", "h2-tls"])
async def test_h2_connection_that_went_silent_after_a_stream_was_abandoned_is_not_reused(
    route: Route, proxy: FaultProxy, test_server: Any
) -> None:
    # found by test_soak.py (release, asyncio, seed 4036350872, round 289: a
    # healthy call lost on a half-open h2c connection): R6. A stream its caller
    # left (no call waiting on the connection any more) is reset; the server's
    # answers still on their way met the cut, and nothing sent a liveness PING,
    # so the next call went to the dead connection. Fixed: a reset sends the
    # PING too, and the next call waits briefly for its ACK.
    transport = AsyncTransport(**route.transport_kwargs)
    async with transport, AsyncConnectClient(proxy.url(route.scheme), transport=transport) as c:
        # The server sends as fast as it can: more is on its way when the caller leaves.
        request = pb.StreamRequest(count=1000, size=1000)
        async with c.server_stream(STREAM, request, timeout=10) as call:
            async for _ in call:
                # The next bytes from the server are the last the client sees.
                proxy.inject(HalfOpen())
                break
        proxy.heal()
        response = await c.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=3)
        assert response.payload == b"next"


@pytest.mark.parametrize("kind", ["unary", "server_stream", "bidi"])
async def test_calls_ended_by_their_deadline_release_descriptors_without_gc(
    kind: str, route: Route, proxy: FaultProxy, test_server: Any, testing_connect: ModuleType
) -> None:
    # found by test_faults.py (sync): file descriptors above the baseline until
    # gc.collect(); each ended thread kept an eventfd (R2, fixed: a thread's
    # wake fd is no longer in a reference cycle). Back once (b222580: a local
    # naming the raised deadline error in the call's frame, fixed the same day).
    await prime(testing_connect, proxy, route)
    gc.collect()
    gc.disable()
    try:
        baseline = resources()
        transport = AsyncTransport(**route.transport_kwargs)
        async with transport, AsyncConnectClient(proxy.url(route.scheme), transport=transport) as c:
            await c.unary(ECHO, pb.EchoRequest(payload=b"warm"), timeout=5)
            proxy.inject(Blackhole())
            proxy.set_faults(Blackhole())

            async def lost() -> None:
                with pytest.raises(ConnectError):
                    if kind == "unary":
                        await c.unary(ECHO, pb.EchoRequest(payload=b"lost"), timeout=0.3)
                    elif kind == "bidi":
                        async with c.bidi_stream(CHAT, timeout=0.3) as bidi:
                            await bidi.receive()
                    else:
                        request = pb.StreamRequest(count=3)
                        async with c.server_stream(STREAM, request, timeout=0.3) as call:
                            async for _ in call:
                                pass

            calls = [Background(lost) for _ in range(8)]
            for call in calls:
                await call.wait()
            assert all(call.error is None for call in calls), [call.error for call in calls]
            del calls
        proxy.reset_all()
        # Bounded: a helper thread may still be finishing after it reported its end.
        leaks = await wait_resources(baseline, 2.0)
    finally:
        gc.enable()
    assert not leaks, leaks
