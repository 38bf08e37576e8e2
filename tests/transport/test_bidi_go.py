"""Full-duplex bidi against the connect-go test server (``Chat``).

Ping-pong (send one, read its reply, send the next) only works if the request
stream is on the wire while the response is read: HTTP/2 (h2c and TLS with
ALPN). (Over HTTP/1.1 our bidi calls are half duplex, and connect-go answers
bidi over HTTP/1.1 with 505 anyway.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from _support import ServerMode, server_mode_for
from _support.concurrency.shim_async import Event
from _support.methods import CHAT, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport


@pytest.fixture(params=["h2c", "h2-tls"])
def h2_mode(request: pytest.FixtureRequest, test_server: Any) -> ServerMode:
    return server_mode_for(request.param, test_server)


@pytest.fixture
async def client(h2_mode: ServerMode) -> AsyncIterator[AsyncConnectClient]:
    base_url, kwargs = h2_mode
    async with AsyncTransport(**kwargs) as transport:
        yield AsyncConnectClient(base_url, transport=transport, timeout=20)


async def test_ping_pong(client: AsyncConnectClient) -> None:
    async with client.bidi_stream(CHAT) as call:
        for n in range(20):
            await call.send(pb.ChatRequest(text=f"ping {n}"))
            reply = await call.receive()
            assert reply is not None
            assert (reply.text, reply.index) == (f"ping {n}", n)
        await call.close_send()
        assert await call.receive() is None
    assert client.transport.num_connections == 1


async def test_ping_pong_with_a_request_iterable(client: AsyncConnectClient) -> None:
    count = 10
    replied = [Event() for _ in range(count)]

    async def requests() -> AsyncIterator[pb.ChatRequest]:
        for n in range(count):
            yield pb.ChatRequest(text=f"m{n}")
            await replied[n].wait()

    texts = []
    async with client.bidi_stream(CHAT, requests()) as call:
        async for reply in call:
            texts.append(reply.text)
            replied[reply.index].set()
    assert texts == [f"m{n}" for n in range(count)]


async def test_error_ends_the_conversation(client: AsyncConnectClient) -> None:
    outcome = pb.Outcome(
        error_code="failed_precondition",
        error_message="stop",
        response_headers=["x-first: yes"],
        response_trailers=["x-last: yes"],
    )
    async with client.bidi_stream(CHAT) as call:
        await call.send(pb.ChatRequest(text="hello", outcome=outcome))
        reply = await call.receive()
        assert reply is not None and reply.text == "hello"
        assert call.response_headers["x-first"] == "yes"
        with pytest.raises(ConnectError) as info:
            await call.receive()
    assert info.value.code is Code.FAILED_PRECONDITION
    assert info.value.message == "stop"
    assert call.response_trailers["x-last"] == "yes"


async def test_abandoned_chat_leaves_the_connection_usable(client: AsyncConnectClient) -> None:
    for _ in range(5):
        async with client.bidi_stream(CHAT) as call:
            await call.send(pb.ChatRequest(text="one"))
            assert await call.receive() is not None
        # Left without close_send: the stream was reset, the connection kept.
    async with client.bidi_stream(CHAT) as call:
        await call.send(pb.ChatRequest(text="last"))
        await call.close_send()
        assert [reply.text async for reply in call] == ["last"]
    assert client.transport.num_connections == 1


async def test_half_duplex_use(client: AsyncConnectClient) -> None:
    # (connect-go refuses bidi over HTTP/1.1 with 505, so HTTP/2 only.)
    async with client.bidi_stream(CHAT) as call:
        for n in range(3):
            await call.send(pb.ChatRequest(text=f"q{n}"))
        await call.close_send()
        assert [reply.index async for reply in call] == [0, 1, 2]
    requests = [pb.ChatRequest(text=f"r{n}") for n in range(4)]
    async with client.bidi_stream(CHAT, requests) as call:
        assert [reply.text async for reply in call] == ["r0", "r1", "r2", "r3"]
