"""RST_STREAM(CANCEL) for every way of abandoning a stream; none for a completed one.

Frame-level: the ``h2`` test server logs every frame the client sends. After
each abandonment one more call runs on the same connection: it must succeed
(the connection stays usable), and because frames arrive in order, every frame
sent before it is in the log by the time it returns.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import pytest
from _support.methods import ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import CANCEL, H2TestServer


def scenario(tag: str, name: str = "stream", **params: int) -> dict[str, str]:
    """Headers choosing what the test server does for one request."""
    headers = {"x-tag": tag, "x-scenario": name}
    for key, value in params.items():
        headers["x-" + key.replace("_", "-")] = str(value)
    return headers


@pytest.fixture
async def client(h2_server: H2TestServer) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncTransport(h2c=True) as transport:
        yield AsyncConnectClient(h2_server.url, transport=transport)


async def follow_up(client: AsyncConnectClient, server: H2TestServer, tag: str) -> None:
    """A completed call on the same connection: it works and sends no reset."""
    reply = await client.unary(
        ECHO, pb.EchoRequest(payload=tag.encode()), headers=scenario(tag + "-after", "unary")
    )
    assert reply.payload == tag.encode()
    assert server.resets(tag + "-after") == []
    assert client.transport.num_connections == 1
    assert len(server.connections) == 1


async def assert_one_cancel(client: AsyncConnectClient, server: H2TestServer, tag: str) -> None:
    await follow_up(client, server, tag)
    assert server.resets(tag) == [CANCEL]


INFINITE = pb.StreamRequest()


async def test_completed_server_stream_sends_no_reset(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    async with client.server_stream(STREAM, INFINITE, headers=scenario("done", count=5)) as call:
        indexes = [message.index async for message in call]
    assert indexes == [0, 1, 2, 3, 4]
    await follow_up(client, h2_server, "done")
    assert h2_server.resets("done") == []


async def test_completed_unary_sends_no_reset(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    for n in range(3):
        reply = await client.unary(
            ECHO, pb.EchoRequest(payload=b"p"), headers=scenario(f"u{n}", "unary")
        )
        assert reply.payload == b"p"
    assert h2_server.frames("RST_STREAM") == []
    assert h2_server.connection.streams_opened == 3


async def test_break_out_of_async_with(client: AsyncConnectClient, h2_server: H2TestServer) -> None:
    async with client.server_stream(STREAM, INFINITE, headers=scenario("brk", count=-1)) as call:
        async for message in call:
            if message.index == 2:
                break
    await assert_one_cancel(client, h2_server, "brk")


async def test_aclose(client: AsyncConnectClient, h2_server: H2TestServer) -> None:
    call = client.server_stream(STREAM, INFINITE, headers=scenario("acl", count=-1))
    first = await call.receive()
    assert first is not None and first.index == 0
    await call.aclose()
    await call.aclose()
    await assert_one_cancel(client, h2_server, "acl")


async def test_error_in_async_with_body(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    with pytest.raises(ValueError, match="user code"):
        async with client.server_stream(
            STREAM, INFINITE, headers=scenario("exc", count=-1)
        ) as call:
            await call.receive()
            raise ValueError("user code failed")
    await assert_one_cancel(client, h2_server, "exc")


async def test_leaving_async_with_before_the_end(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    headers = scenario("early", count=50, delay_ms=20)
    async with client.server_stream(STREAM, INFINITE, headers=headers) as call:
        await call.receive()
    await assert_one_cancel(client, h2_server, "early")


async def test_deadline(client: AsyncConnectClient, h2_server: H2TestServer) -> None:
    call = client.server_stream(
        STREAM, INFINITE, headers=scenario("ddl", count=3, delay_ms=30000), timeout=0.3
    )
    with pytest.raises(ConnectError) as info:
        async with call:
            async for _ in call:
                pass
    assert info.value.code is Code.DEADLINE_EXCEEDED
    await assert_one_cancel(client, h2_server, "ddl")


async def test_unary_deadline(client: AsyncConnectClient, h2_server: H2TestServer) -> None:
    with pytest.raises(ConnectError) as info:
        await client.unary(
            ECHO, pb.EchoRequest(), headers=scenario("uddl", "hold", hold=2), timeout=0.3
        )
    assert info.value.code is Code.DEADLINE_EXCEEDED
    await assert_one_cancel(client, h2_server, "uddl")


async def test_client_side_error(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = AsyncConnectClient(h2_server.url, transport=transport, read_max_bytes=100)
        call = client.server_stream(STREAM, INFINITE, headers=scenario("big", count=-1, size=500))
        with pytest.raises(ConnectError) as info:
            async for _ in call:
                pass
        assert info.value.code is Code.RESOURCE_EXHAUSTED
        await assert_one_cancel(client, h2_server, "big")


async def test_explicit_cancel(client: AsyncConnectClient, h2_server: H2TestServer) -> None:
    async with client.server_stream(STREAM, INFINITE, headers=scenario("cnl", count=-1)) as call:
        await call.receive()
        call.cancel()
        with pytest.raises(ConnectError) as info:
            await call.receive()
        assert info.value.code is Code.CANCELED
    await assert_one_cancel(client, h2_server, "cnl")


async def test_garbage_collected_call(client: AsyncConnectClient, h2_server: H2TestServer) -> None:
    call = client.server_stream(STREAM, INFINITE, headers=scenario("gc", count=-1))
    assert (await call.receive()) is not None
    del call
    gc.collect()
    await assert_one_cancel(client, h2_server, "gc")


async def test_break_without_async_with(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    # The call object is dropped by the loop: its finalizer queues the reset.
    async for message in client.server_stream(STREAM, INFINITE, headers=scenario("loop", count=-1)):
        if message.index == 1:
            break
    gc.collect()
    await assert_one_cancel(client, h2_server, "loop")


async def test_many_abandoned_streams_then_more_calls(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    for n in range(20):
        async with client.server_stream(
            STREAM, INFINITE, headers=scenario(f"m{n}", count=-1, size=1000)
        ) as call:
            await call.receive()
    await follow_up(client, h2_server, "many")
    for n in range(20):
        assert h2_server.resets(f"m{n}") == [CANCEL]
