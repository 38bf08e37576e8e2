"""Per-call ``open_timeout`` and ``idle_timeout`` on every method of a
generated client, against the connect-go test server over h2c: a value
overrides the client's for that call, ``None`` keeps the client's,
``math.inf`` turns it off for that call."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from _support.concurrency.shim_async import current_time

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncTransport


def assert_timed_out(info: pytest.ExceptionInfo[ConnectError], which: str, started: float) -> None:
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert which in info.value.message
    assert current_time() - started < 1.5


async def test_unary(test_server: Any, generated: SimpleNamespace) -> None:
    connect, pb = generated.connect, generated.pb
    slow = pb.EchoRequest(payload=b"slow", outcome=pb.Outcome(delay_ms=700))
    async with AsyncTransport(h2c=True) as transport:
        async with connect.AsyncTestServiceClient(test_server.http, transport=transport) as client:
            started = current_time()
            with pytest.raises(ConnectError) as info:
                await client.echo(slow, timeout=10, open_timeout=0.3)
            assert_timed_out(info, "open_timeout", started)
            started = current_time()
            with pytest.raises(ConnectError) as info:
                await client.echo_get(slow, use_get=True, timeout=10, open_timeout=0.3)
            assert_timed_out(info, "open_timeout", started)
        async with connect.AsyncTestServiceClient(
            test_server.http, transport=transport, open_timeout=0.3
        ) as client:
            started = current_time()
            with pytest.raises(ConnectError) as info:
                await client.echo(slow, timeout=10, open_timeout=None)  # the client's
            assert_timed_out(info, "open_timeout", started)
            reply = await client.echo(slow, timeout=10, open_timeout=math.inf)
            assert reply.payload == b"slow"
            reply = await client.echo(slow, timeout=10, open_timeout=5)
            assert reply.payload == b"slow"


async def test_server_stream(test_server: Any, generated: SimpleNamespace) -> None:
    connect, pb = generated.connect, generated.pb
    # A message every 0.7 s.
    request = pb.StreamRequest(count=2, size=4, outcome=pb.Outcome(delay_ms=700))
    async with (
        AsyncTransport(h2c=True) as transport,
        connect.AsyncTestServiceClient(
            test_server.http, transport=transport, idle_timeout=0.3
        ) as client,
    ):
        started = current_time()
        with pytest.raises(ConnectError) as info:
            async with client.stream(request, timeout=10, idle_timeout=None) as call:
                async for _ in call:
                    pass
        assert_timed_out(info, "idle_timeout", started)
        async with client.stream(request, timeout=10, idle_timeout=2) as call:
            assert len([m async for m in call]) == 2
        started = current_time()
        with pytest.raises(ConnectError) as info:
            async with client.stream(request, timeout=10, open_timeout=0.3) as call:
                async for _ in call:
                    pass
        assert_timed_out(info, "open_timeout", started)


async def test_client_stream(test_server: Any, generated: SimpleNamespace) -> None:
    connect, pb = generated.connect, generated.pb
    # The server answers 0.7 s after the client finished sending.
    requests = [pb.UploadRequest(chunk=b"ab", outcome=pb.Outcome(delay_ms=700))]
    async with (
        AsyncTransport(h2c=True) as transport,
        connect.AsyncTestServiceClient(test_server.http, transport=transport) as client,
    ):
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.upload(requests, timeout=10, open_timeout=0.3)
        assert_timed_out(info, "open_timeout", started)
        total = await client.upload(requests, timeout=10, open_timeout=2)
        assert total.messages == 1


async def test_bidi_stream(test_server: Any, generated: SimpleNamespace) -> None:
    connect, pb = generated.connect, generated.pb
    # The server waits 0.7 s before its reply.
    requests = [pb.ChatRequest(text="a", outcome=pb.Outcome(delay_ms=700))]
    async with (
        AsyncTransport(h2c=True) as transport,
        connect.AsyncTestServiceClient(test_server.http, transport=transport) as client,
    ):
        started = current_time()
        with pytest.raises(ConnectError) as info:
            async with client.chat(requests, timeout=10, open_timeout=0.3) as call:
                async for _ in call:
                    pass
        assert_timed_out(info, "open_timeout", started)
        # A quick reply, then a slow one: the wait for it is idle_timeout's.
        with pytest.raises(ConnectError) as info:
            async with client.chat(timeout=10, open_timeout=2, idle_timeout=0.3) as call:
                await call.send(pb.ChatRequest(text="quick"))
                assert (await call.receive()) is not None
                started = current_time()
                await call.send(pb.ChatRequest(text="slow", outcome=pb.Outcome(delay_ms=700)))
                await call.receive()
        assert_timed_out(info, "idle_timeout", started)
