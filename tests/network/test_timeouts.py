"""A call's open timeout (until the response starts) and idle timeout (each
wait for response data), against the Go test server over HTTP/1.1 and h2c:
each fails with its own message, never cuts a healthy slow call, and never
stands in for a cancellation."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _support.concurrency.shim_async import Background, current_time, sleep
from _support.methods import ECHO, STREAM, UPLOAD, pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

Route = tuple[str, dict[str, Any]]


class OwnClient:
    """A client on a transport of its own for ``route``, both closed on exit."""

    def __init__(self, route: Route, **options: Any) -> None:
        url, kwargs = route
        self.transport = AsyncTransport(**kwargs)
        self.client = AsyncConnectClient(url, transport=self.transport, **options)

    async def __aenter__(self) -> AsyncConnectClient:
        return self.client

    async def __aexit__(self, *exc_info: object) -> None:
        await self.transport.aclose()


async def test_open_timeout_of_a_server_stream_that_never_starts(direct_route: Route) -> None:
    async with OwnClient(direct_route, open_timeout=0.3) as client:
        request = pb.StreamRequest(count=1, outcome=pb.Outcome(delay_ms=5000))
        started = current_time()
        with pytest.raises(ConnectError) as info:
            async with client.server_stream(STREAM, request, timeout=10) as call:
                async for _ in call:
                    pass
        assert current_time() - started < 2.0
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert "open_timeout" in info.value.message
        assert not info.value.remote


async def test_open_timeout_of_a_unary_call(direct_route: Route) -> None:
    async with OwnClient(direct_route) as client:
        request = pb.EchoRequest(outcome=pb.Outcome(delay_ms=5000))
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, request, timeout=10, open_timeout=0.3)
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert "open_timeout" in info.value.message
        # The call's own deadline keeps its own message.
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, request, timeout=0.3, open_timeout=5)
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert info.value.message == "deadline exceeded"
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"ok"), open_timeout=5)
        assert reply.payload == b"ok"


async def test_open_timeout_ends_once_the_response_started(direct_route: Route) -> None:
    async with OwnClient(direct_route, open_timeout=0.6) as client:
        # Headers (with the first message) after 0.3 s; the whole stream takes
        # 1.5 s, well past the open timeout.
        request = pb.StreamRequest(count=5, size=4, outcome=pb.Outcome(delay_ms=300))
        async with client.server_stream(STREAM, request, timeout=10) as call:
            indexes = [m.index async for m in call]
        assert indexes == [0, 1, 2, 3, 4]


async def test_idle_timeout_keeps_a_stream_that_keeps_sending(direct_route: Route) -> None:
    async with OwnClient(direct_route, idle_timeout=0.6) as client:
        request = pb.StreamRequest(count=6, size=4, outcome=pb.Outcome(delay_ms=250))
        async with client.server_stream(STREAM, request, timeout=10) as call:
            indexes = [m.index async for m in call]
        assert indexes == list(range(6))


async def test_idle_timeout_ends_a_stalled_stream(direct_route: Route) -> None:
    async with OwnClient(direct_route) as client:
        # The response starts with the first message after 1 s (the open phase:
        # no idle timeout there), then the next one is 1 s away: stalled.
        request = pb.StreamRequest(count=3, size=4, outcome=pb.Outcome(delay_ms=1000))
        async with client.server_stream(STREAM, request, timeout=10, idle_timeout=0.4) as call:
            first = await call.receive()
            assert first is not None and first.index == 0
            waited_from = current_time()
            with pytest.raises(ConnectError) as info:
                await call.receive()
        assert current_time() - waited_from < 0.9
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert "idle_timeout" in info.value.message


async def test_idle_timeout_counts_only_waits(direct_route: Route) -> None:
    # A caller that takes its time between reads is not idle: the timer runs
    # only while the call waits for the network.
    async with OwnClient(direct_route, idle_timeout=0.3) as client:
        request = pb.StreamRequest(count=3, size=4)
        async with client.server_stream(STREAM, request, timeout=10) as call:
            indexes = []
            async for message in call:
                indexes.append(message.index)
                await sleep(0.4)
        assert indexes == [0, 1, 2]


async def test_timeouts_off_for_one_call(direct_route: Route) -> None:
    async with OwnClient(direct_route, open_timeout=0.2, idle_timeout=0.2) as client:
        request = pb.StreamRequest(count=2, size=4, outcome=pb.Outcome(delay_ms=400))
        async with client.server_stream(
            STREAM, request, open_timeout=math.inf, idle_timeout=math.inf
        ) as call:
            assert [m.index async for m in call] == [0, 1]


async def test_a_cancellation_is_not_a_timeout(direct_route: Route) -> None:
    async with OwnClient(direct_route, open_timeout=2, idle_timeout=2) as client:
        token = CancelToken()

        async def cancel_soon() -> None:
            await sleep(0.2)
            token.cancel()

        canceller = Background(cancel_soon)
        request = pb.EchoRequest(outcome=pb.Outcome(delay_ms=5000))
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, request, cancel=token)
        await canceller.wait()
        assert info.value.code is Code.CANCELED


async def test_a_slow_client_stream_is_not_cut(direct_route: Route) -> None:
    # The open timeout starts once the request is over: a caller that streams
    # for longer than it is fine.
    async with OwnClient(direct_route, open_timeout=0.3, idle_timeout=0.3) as client:

        async def chunks() -> AsyncIterator[pb.UploadRequest]:
            for _ in range(4):
                await sleep(0.2)
                yield pb.UploadRequest(chunk=b"x" * 10)

        reply = await client.client_stream(UPLOAD, chunks(), timeout=10)
        assert reply.messages == 4 and reply.bytes == 40


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="open_timeout"):
        AsyncConnectClient("http://127.0.0.1:1", open_timeout=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        AsyncConnectClient("http://127.0.0.1:1", idle_timeout=-1)
