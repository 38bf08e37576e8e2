"""Peer RST_STREAM and GOAWAY become typed errors (the Connect spec's HTTP/2
error-code mapping); refused streams are retried; the connection survives
stream resets; a graceful GOAWAY lets accepted streams finish.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _support.concurrency.shim_async import CallScope
from _support.methods import ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python._http.request import Request
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import H2TestServer

# HTTP/2 error code -> Connect code (connectrpc.com/docs/protocol, "HTTP/2 to Error Code").
MAPPING = [
    (0x0, Code.INTERNAL),  # NO_ERROR before the response ended
    (0x1, Code.INTERNAL),  # PROTOCOL_ERROR
    (0x2, Code.INTERNAL),  # INTERNAL_ERROR
    (0x3, Code.INTERNAL),  # FLOW_CONTROL_ERROR
    (0x7, Code.UNAVAILABLE),  # REFUSED_STREAM
    (0x8, Code.CANCELED),  # CANCEL
    (0xB, Code.RESOURCE_EXHAUSTED),  # ENHANCE_YOUR_CALM
    (0xC, Code.PERMISSION_DENIED),  # INADEQUATE_SECURITY
    (0xD, Code.INTERNAL),  # HTTP_1_1_REQUIRED
]


@pytest.fixture
async def client(h2_server: H2TestServer) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncTransport(h2c=True) as transport:
        yield AsyncConnectClient(h2_server.url, transport=transport, timeout=10)


async def ok(client: AsyncConnectClient) -> None:
    reply = await client.unary(ECHO, pb.EchoRequest(payload=b"ok"), headers={"x-scenario": "unary"})
    assert reply.payload == b"ok"


@pytest.mark.parametrize(("h2_code", "code"), MAPPING)
async def test_reset_mid_stream(
    client: AsyncConnectClient, h2_server: H2TestServer, h2_code: int, code: Code
) -> None:
    headers = {"x-scenario": "reset", "x-count": "2", "x-code": str(h2_code)}
    received = []
    with pytest.raises(ConnectError) as info:
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            async for message in call:
                received.append(message.index)
    assert info.value.code is code
    assert not info.value.remote
    assert received == [0, 1]
    # Only that stream was reset: the connection goes on.
    await ok(client)
    assert client.transport.num_connections == 1
    assert len(h2_server.connections) == 1
    # The server reset the stream: the client adds no reset of its own.
    assert h2_server.frames("RST_STREAM") == []


@pytest.mark.parametrize(("h2_code", "code"), [m for m in MAPPING if m[0] != 0x7])
async def test_reset_before_the_response(
    client: AsyncConnectClient, h2_server: H2TestServer, h2_code: int, code: Code
) -> None:
    headers = {"x-scenario": "reset", "x-count": "-1", "x-code": str(h2_code)}
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers=headers)
    assert info.value.code is code
    await ok(client)
    assert len(h2_server.connections) == 1


async def test_refused_stream_is_retried_then_reported(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    headers = {"x-scenario": "reset", "x-count": "-1", "x-code": "7"}
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers=headers)
    assert info.value.code is Code.UNAVAILABLE
    # Never processed, so sent again (three attempts in all).
    assert len(h2_server.connection.requests) == 3


def refused_request(port: int, body: bytes | None) -> Request:
    headers = [(b"x-scenario", b"reset"), (b"x-count", b"-1"), (b"x-code", b"7")]
    return Request(b"POST", b"http", b"127.0.0.1", port, b"/refused", headers, body)


async def test_refused_exchange_with_its_whole_body_is_sent_again(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        scope = CallScope(None)
        with pytest.raises(ConnectError) as info:
            await transport.open_exchange(refused_request(h2_server.port, b"body"), scope)
        scope.close()
    assert info.value.code is Code.UNAVAILABLE
    assert len(h2_server.connection.requests) == 3


async def test_refused_exchange_with_a_streamed_body_is_not_sent_again(
    h2_server: H2TestServer,
) -> None:
    # The body was the caller's to send: the transport cannot send it again.
    async with AsyncTransport(h2c=True) as transport:
        scope = CallScope(None)
        exchange = await transport.open_exchange(refused_request(h2_server.port, None), scope)
        with pytest.raises(ConnectError) as info:
            await exchange.receive_response(scope)
        await exchange.aclose()
        scope.close()
    assert info.value.code is Code.UNAVAILABLE
    assert len(h2_server.connection.requests) == 1


async def test_goaway_refusal_is_retried_on_a_new_connection(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    reply = await client.unary(
        ECHO, pb.EchoRequest(payload=b"again"), headers={"x-scenario": "refuse-once"}
    )
    assert reply.payload == b"again"
    assert len(h2_server.connections) == 2
    assert client.transport.num_connections == 1


async def test_goaway_refusal_reported_when_it_persists(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers={"x-scenario": "refuse"})
    assert info.value.code is Code.UNAVAILABLE
    assert len(h2_server.connections) == 3


@pytest.mark.parametrize(
    ("h2_code", "code"),
    [(0xB, Code.RESOURCE_EXHAUSTED), (0x2, Code.INTERNAL), (0xC, Code.PERMISSION_DENIED)],
)
async def test_goaway_with_error_fails_open_streams(
    client: AsyncConnectClient, h2_server: H2TestServer, h2_code: int, code: Code
) -> None:
    headers = {"x-scenario": "goaway", "x-count": "2", "x-code": str(h2_code)}
    received = []
    with pytest.raises(ConnectError) as info:
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            async for message in call:
                received.append(message.index)
    assert info.value.code is code
    assert received == [0, 1]
    # The next call gets a new connection; the dead one is gone from the pool.
    await ok(client)
    assert len(h2_server.connections) == 2
    assert client.transport.num_connections == 1


async def test_graceful_goaway_lets_accepted_streams_finish(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    headers = {"x-scenario": "stream", "x-count": "5", "x-delay-ms": "50"}
    async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
        first = await call.receive()
        assert first is not None and first.index == 0
        # The server starts shutting down: this unary call is the last it serves.
        reply = await client.unary(
            ECHO, pb.EchoRequest(payload=b"last"), headers={"x-scenario": "drain"}
        )
        assert reply.payload == b"last"
        rest = [message.index async for message in call]
    assert rest == [1, 2, 3, 4]
    # New calls go to a new connection; the drained one is closed.
    await ok(client)
    assert len(h2_server.connections) == 2
    assert client.transport.num_connections == 1


async def test_connection_loss_fails_every_stream(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    headers = {"x-scenario": "stream", "x-count": "-1", "x-delay-ms": "100"}
    async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
        assert await call.receive() is not None
        h2_server.connection.sock.shutdown(2)
        with pytest.raises(ConnectError) as info:
            async for _ in call:
                pass
    assert info.value.code is Code.UNAVAILABLE
    assert not info.value.remote
    await ok(client)
    assert client.transport.num_connections == 1


async def test_connection_closed_while_idle_is_replaced(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    reply = await client.unary(ECHO, pb.EchoRequest(payload=b"1"), headers={"x-scenario": "bye"})
    assert reply.payload == b"1"
    first = h2_server.connection
    assert h2_server.wait_for(lambda: first.closed)
    (pool,) = client.transport._pool._origins.values()
    (used,) = pool.h2
    # The GOAWAY and the close arrived while no call was running: the next
    # call notices before sending and uses a new connection.
    reply = await client.unary(ECHO, pb.EchoRequest(payload=b"2"), headers={"x-scenario": "unary"})
    assert reply.payload == b"2"
    assert len(h2_server.connections) == 2
    assert len(h2_server.connections[1].requests) == 1
    assert client.transport.num_connections == 1
    # Nothing was sent on the closed connection (no retry was needed).
    assert used._state.highest_stream_id == 1
