"""Full duplex on one HTTP/2 stream: sending and receiving at the same time.

Each exchange here only completes if the request body is on the wire while
the response is being read: a half-duplex client would wait forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _support.concurrency.shim_async import CallScope, Event
from _support.methods import CHAT, pb

from connect_python import Code, ConnectError
from connect_python._http.request import Request
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import H2TestServer

CHAT_HEADERS = {"x-scenario": "chat", "x-tag": "chat"}


@pytest.fixture
async def transport() -> AsyncIterator[AsyncTransport]:
    async with AsyncTransport(h2c=True) as made:
        yield made


async def test_ping_pong_with_send_and_receive(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    client = AsyncConnectClient(h2_server.url, transport=transport)
    async with client.bidi_stream(CHAT, headers=CHAT_HEADERS) as call:
        for n in range(10):
            await call.send(pb.ChatRequest(text=f"ping {n}"))
            reply = await call.receive()
            assert reply is not None
            assert (reply.text, reply.index) == (f"ping {n}", n)
        await call.close_send()
        assert await call.receive() is None
    assert call.response_headers["content-type"] == "application/connect+proto"
    # A completed exchange: no reset, one connection.
    assert h2_server.frames("RST_STREAM") == []
    assert transport.num_connections == 1


async def test_request_iterable_that_waits_for_replies(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    count = 5
    replied = [Event() for _ in range(count)]

    async def requests() -> AsyncIterator[pb.ChatRequest]:
        for n in range(count):
            yield pb.ChatRequest(text=f"m{n}")
            # The next message depends on the reply to this one.
            await replied[n].wait()

    client = AsyncConnectClient(h2_server.url, transport=transport, timeout=10)
    texts = []
    async with client.bidi_stream(CHAT, requests(), headers=CHAT_HEADERS) as call:
        async for reply in call:
            texts.append(reply.text)
            replied[reply.index].set()
    assert texts == [f"m{n}" for n in range(count)]
    assert h2_server.frames("RST_STREAM") == []


async def test_failing_request_iterable_fails_the_call(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    async def requests() -> AsyncIterator[pb.ChatRequest]:
        yield pb.ChatRequest(text="one")
        raise ValueError("no more requests")

    client = AsyncConnectClient(h2_server.url, transport=transport, timeout=10)
    call = client.bidi_stream(CHAT, requests(), headers=CHAT_HEADERS)
    with pytest.raises(ValueError, match="no more requests"):
        async with call:
            async for _ in call:
                pass
    assert h2_server.wait_for(lambda: bool(h2_server.frames("RST_STREAM")))
    assert h2_server.resets("chat") == [8]


async def test_send_after_close_send_is_rejected(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    client = AsyncConnectClient(h2_server.url, transport=transport)
    async with client.bidi_stream(CHAT, headers=CHAT_HEADERS) as call:
        await call.send(pb.ChatRequest(text="a"))
        await call.close_send()
        with pytest.raises(ConnectError) as info:
            await call.send(pb.ChatRequest(text="b"))
        assert info.value.code is Code.FAILED_PRECONDITION
        replies = [reply.text async for reply in call]
    assert replies == ["a"]


async def test_echo_exchange_at_the_transport_level(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    scope = CallScope(None)
    headers = [(b"x-scenario", b"echo")]
    exchange = await transport.open_exchange(
        Request(b"POST", b"http", b"127.0.0.1", h2_server.port, b"/echo", headers), scope
    )
    assert exchange.full_duplex
    await exchange.send(b"first", scope)
    await exchange.receive_response(scope)
    response = exchange
    assert response.status == 200
    assert await response.receive(scope) == b"first"
    big = bytes(range(256)) * 1024  # larger than the default initial window
    await exchange.send(big, scope)
    got = b""
    while len(got) < len(big):
        got += await response.receive(scope)
    assert got == big
    await exchange.end_request(scope)
    assert await response.receive(scope) == b""
    await response.aclose()
    scope.close()
    assert h2_server.frames("RST_STREAM") == []


async def test_abandoned_bidi_is_reset_once(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    client = AsyncConnectClient(h2_server.url, transport=transport)
    async with client.bidi_stream(CHAT, headers=CHAT_HEADERS) as call:
        await call.send(pb.ChatRequest(text="one"))
        assert await call.receive() is not None
        # Left with the request still open and the response unfinished.
    async with client.bidi_stream(CHAT, headers={"x-scenario": "chat", "x-tag": "next"}) as call:
        await call.send(pb.ChatRequest(text="two"))
        await call.close_send()
        assert [reply.text async for reply in call] == ["two"]
    assert h2_server.resets("chat") == [8]
    assert h2_server.resets("next") == []
    assert len(h2_server.connections) == 1
