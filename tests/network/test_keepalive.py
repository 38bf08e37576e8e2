"""HTTP/2 keepalive PINGs and the liveness probe, against the Go test server
through the fault proxy (which silences a connection: the server side gone,
the client's socket left open and silent, as behind a dead NAT)."""

from __future__ import annotations

from typing import Any

import pytest
from _support.concurrency.shim_async import current_time, sleep
from _support.methods import ECHO, STREAM, pb
from reliability.faultproxy import FaultProxy, HalfOpen, IdleDrop

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

from .conftest import H2Route

INTERVAL = 0.2
PING_TIMEOUT = 0.3


def keepalive(route: H2Route, **extra: Any) -> AsyncTransport:
    return AsyncTransport(
        **route.kwargs,
        http2_ping_interval=INTERVAL,
        http2_ping_timeout=PING_TIMEOUT,
        **extra,
    )


async def test_keepalive_keeps_a_healthy_quiet_stream(
    h2_route: H2Route, fault_proxy: FaultProxy
) -> None:
    # Quiet for 3 x (interval + timeout) between messages: the server answers
    # the PINGs, so the stream goes on.
    async with (
        keepalive(h2_route) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):
        request = pb.StreamRequest(count=2, size=8, outcome=pb.Outcome(delay_ms=1500))
        async with client.server_stream(STREAM, request, timeout=10) as call:
            indexes = [m.index async for m in call]
        assert indexes == [0, 1]
        assert transport.num_connections == 1


async def test_keepalive_fails_the_calls_of_a_silent_connection(
    h2_route: H2Route, fault_proxy: FaultProxy
) -> None:
    async with (
        keepalive(h2_route) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):
        request = pb.StreamRequest(count=100, size=8, outcome=pb.Outcome(delay_ms=300))
        # The deadline is far: only the keepalive can end this call early.
        async with client.server_stream(STREAM, request, timeout=10) as call:
            assert (await call.receive()) is not None
            fault_proxy.inject(HalfOpen())
            silent_from = current_time()
            with pytest.raises(ConnectError) as info:
                async for _ in call:
                    pass
        elapsed = current_time() - silent_from
        assert info.value.code is Code.UNAVAILABLE
        assert "keepalive PING" in info.value.message
        # Silent for at most an interval (the last input may be that old),
        # then the PING's timeout; generous margin for a busy machine.
        assert elapsed < 2 * INTERVAL + PING_TIMEOUT + 0.5, elapsed
        # The next call goes to a new connection.
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=3)
        assert reply.payload == b"next"


async def test_keepalive_while_idle_drops_a_silent_idle_connection(
    h2_route: H2Route, fault_proxy: FaultProxy
) -> None:
    async with (
        keepalive(h2_route, http2_ping_while_idle=True) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):
        await client.unary(ECHO, pb.EchoRequest(payload=b"warm"), timeout=3)
        assert transport.num_connections == 1
        fault_proxy.inject(HalfOpen())
        give_up = current_time() + 2 * INTERVAL + PING_TIMEOUT + 2.0
        while transport.num_connections and current_time() < give_up:
            await sleep(0.05)
        assert transport.num_connections == 0  # closed by its keepalive
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=0.8)
        assert reply.payload == b"next"


async def test_no_keepalive_while_idle_by_default(
    h2_route: H2Route, fault_proxy: FaultProxy
) -> None:
    async with (
        keepalive(h2_route) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):
        await client.unary(ECHO, pb.EchoRequest(payload=b"warm"), timeout=3)
        # (What the end of that call queued, a reset or an ACK, goes out first.)
        await sleep(INTERVAL)
        before = fault_proxy.stats.bytes_up
        await sleep(3 * INTERVAL)
        assert fault_proxy.stats.bytes_up == before  # no PING on an idle connection
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=3)
        assert reply.payload == b"next"


async def test_probe_keeps_a_slow_healthy_connection(
    h2_route: H2Route, fault_proxy: FaultProxy
) -> None:
    # A deadline that passes on a quiet but healthy server sends a PING; the
    # next call waits for its ACK and stays on the connection.
    async with (
        AsyncTransport(**h2_route.kwargs) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):
        # A message, then quiet past the deadline (a server quiet from the
        # start through a whole deadline retires the connection instead).
        request = pb.StreamRequest(count=3, size=8, outcome=pb.Outcome(delay_ms=500))
        with pytest.raises(ConnectError) as info:
            async with client.server_stream(STREAM, request, timeout=0.8) as call:
                async for _ in call:
                    pass
        assert info.value.code is Code.DEADLINE_EXCEEDED
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=3)
        assert reply.payload == b"next"
        assert fault_proxy.stats.accepted == 1


async def test_probe_moves_the_next_call_off_a_silent_connection(
    h2_route: H2Route, fault_proxy: FaultProxy
) -> None:
    async with (
        AsyncTransport(**h2_route.kwargs) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):
        request = pb.StreamRequest(count=100, size=8, outcome=pb.Outcome(delay_ms=50))
        with pytest.raises(ConnectError) as info:
            async with client.server_stream(STREAM, request, timeout=0.6) as call:
                assert (await call.receive()) is not None
                fault_proxy.inject(HalfOpen())
                async for _ in call:
                    pass
        assert info.value.code is Code.DEADLINE_EXCEEDED
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=1.5)
        assert reply.payload == b"next"
        assert fault_proxy.stats.accepted == 2


async def test_keepalive_while_idle_keeps_a_connection_through_a_middlebox(
    h2_route: H2Route, fault_proxy: FaultProxy
) -> None:
    # A middlebox forgets flows idle for 1.2 s; PINGs every 0.2 s while idle
    # keep this one alive, so the connection outlives a quiet 2.5 s.
    fault_proxy.set_faults(IdleDrop(1.2))
    async with (
        keepalive(h2_route, http2_ping_while_idle=True) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):
        await client.unary(ECHO, pb.EchoRequest(payload=b"warm"), timeout=3)
        await sleep(2.5)  # quiet: only PINGs cross the middlebox
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"after"), timeout=3)
        assert reply.payload == b"after"
        assert fault_proxy.stats.accepted == 1
        assert fault_proxy.stats.triggered.get("IdleDrop", 0) == 0
