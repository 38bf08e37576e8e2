"""Cancelling one call while it writes leaves the other streams of its HTTP/2
connection alone (DESIGN.md §3: every wait ends, and only that call ends).

The frame-level ``h2`` server (h2c, and h2 over TLS) reads slowly (64 KiB,
then 10 ms), so a 16 MiB upload's writes block in the socket again and again
but keep making progress. A bidi call is open on the same connection; the
upload is cancelled in the middle of a write (``CancelToken``; cancel scopes
in ``test_h2_faults_tasks.py``). The upload ends at once; what it had handed
to the network but not yet sent goes out before anything else, then its
RST_STREAM(CANCEL); the bidi call goes on, on the same connection, and
completes. The server parses every byte: a frame (or TLS record) cut in two
would be a protocol error there. (The TLS certificate is made with the
``openssl`` command.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _support.concurrency.shim_async import Background, current_time, sleep
from _support.methods import CHAT, ECHO, pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import H2TestServer, make_certificate

MiB = 1 << 20
#: How long the cancelled call may take to end after its cancellation.
SLACK = 0.1
CANCEL = 8


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return make_certificate(str(tmp_path_factory.mktemp("h2tls")))


@pytest.fixture(params=["h2c", "tls"])
def slow_server(
    request: pytest.FixtureRequest, certificate: tuple[str, str]
) -> Iterator[H2TestServer]:
    """Windows so large the client never waits for flow control; a small
    receive buffer read slowly: the client's writes block, and go on. Over
    TLS a write may be cut short in the middle of a TLS record."""
    server = H2TestServer(
        initial_window=2**31 - 1,
        rcvbuf=64 * 1024,
        read_chunk=64 * 1024,
        read_pause=0.01,
        certificate=certificate if request.param == "tls" else None,
    )
    try:
        yield server
    finally:
        server.close()


def transport_kwargs(server: H2TestServer, certificate: tuple[str, str]) -> dict[str, Any]:
    """How the client reaches ``server`` (h2c, or h2 over TLS)."""
    if server.url.startswith("https:"):
        return {"ca_certs": certificate[0]}
    return {"h2c": True}


async def wait_until_received(server: H2TestServer, size: int) -> None:
    """Until the server has read ``size`` bytes (the upload is under way)."""
    for _ in range(1000):
        if server.connections and server.connections[0].received >= size:
            return
        await sleep(0.005)
    raise AssertionError("the upload never got going")


async def test_cancel_token_during_a_write_leaves_the_other_stream_alone(
    slow_server: H2TestServer, certificate: tuple[str, str]
) -> None:
    async with AsyncTransport(**transport_kwargs(slow_server, certificate)) as transport:
        client = AsyncConnectClient(slow_server.url, transport=transport, timeout=20)
        headers = {"x-scenario": "chat", "x-tag": "chat"}
        async with client.bidi_stream(CHAT, headers=headers) as chat:
            await chat.send(pb.ChatRequest(text="before"))
            reply = await chat.receive()
            assert reply is not None and reply.text == "before"

            token = CancelToken()

            async def upload() -> None:
                await client.unary(
                    ECHO,
                    pb.EchoRequest(payload=b"x" * (16 * MiB)),
                    headers={"x-scenario": "unary", "x-tag": "upload"},
                    cancel=token,
                )

            uploader = Background(upload)
            await wait_until_received(slow_server, 2 * MiB)
            assert not uploader.done
            cancelled_at = current_time()
            token.cancel()
            await uploader.wait()
            assert current_time() - cancelled_at <= SLACK
            assert isinstance(uploader.error, ConnectError), uploader.error
            assert uploader.error.code == Code.CANCELED, uploader.error

            # The other call goes on, on the same connection.
            for n in range(3):
                await chat.send(pb.ChatRequest(text=f"after {n}"))
                reply = await chat.receive()
                assert reply is not None and reply.text == f"after {n}", reply
            await chat.close_send()
            assert await chat.receive() is None
        server = slow_server.connection
        assert server.protocol_error is None
        assert slow_server.wait_for(lambda: slow_server.resets("upload") == [CANCEL])
        assert slow_server.resets("chat") == []
        assert not server.closed
