"""Generated clients against the connect-go test server.

The async client runs on asyncio and trio; tests/twins.py turns this file into
the sync twin (``TestServiceClient`` on the sync runtime). Every transport
mode: HTTP/1.1, h2c and TLS with HTTP/2 by ALPN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from _support import ServerMode, pattern

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncTransport, ResponseMetadata


async def test_unary(server_mode: ServerMode, generated: SimpleNamespace) -> None:
    testing_connect, pb = generated.connect, generated.pb
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        testing_connect.AsyncTestServiceClient(
            base_url, transport=transport, headers={"x-default": "d"}
        ) as client,
    ):
        metadata = ResponseMetadata()
        response = await client.echo(
            pb.EchoRequest(payload=b"hello"), headers={"x-call": "c"}, metadata=metadata
        )
        assert response.payload == b"hello"
        assert response.http_method == "POST"
        assert response.http_proto == server_mode.http_proto
        assert "x-default: d" in response.request_headers
        assert "x-call: c" in response.request_headers
        assert metadata.http_status == 200

        got = await client.echo_get(pb.EchoRequest(payload=b"\x00\xff"), use_get=True)
        assert (got.http_method, got.payload) == ("GET", b"\x00\xff")

        with pytest.raises(ConnectError) as info:
            await client.echo(
                pb.EchoRequest(outcome=pb.Outcome(error_code="not_found", error_message="gone"))
            )
        assert info.value.code is Code.NOT_FOUND
        assert info.value.message == "gone"


async def test_server_stream(server_mode: ServerMode, generated: SimpleNamespace) -> None:
    testing_connect, pb = generated.connect, generated.pb
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        testing_connect.AsyncTestServiceClient(base_url, transport=transport) as client,
    ):
        call = client.stream(pb.StreamRequest(count=5, size=300))
        async with call:
            received = [message async for message in call]
        assert [m.index for m in received] == list(range(5))
        assert all(m.payload == pattern(300) for m in received)

        # Closing early is fine and the client stays usable.
        call = client.stream(pb.StreamRequest(count=1000, size=10))
        async with call:
            async for message in call:
                assert message.index == 0
                break
        again = await client.echo(pb.EchoRequest(payload=b"still here"))
        assert again.payload == b"still here"


async def _chunks(pb: Any, n: int) -> AsyncIterator[Any]:
    for _ in range(n):
        yield pb.UploadRequest(chunk=b"abc")


async def test_client_stream(server_mode: ServerMode, generated: SimpleNamespace) -> None:
    testing_connect, pb = generated.connect, generated.pb
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        testing_connect.AsyncTestServiceClient(base_url, transport=transport) as client,
    ):
        total = await client.upload([pb.UploadRequest(chunk=b"xy") for _ in range(4)])
        assert (total.messages, total.bytes) == (4, 8)
        total = await client.upload(_chunks(pb, 3))
        assert (total.messages, total.bytes) == (3, 9)


async def test_bidi_stream(server_mode: ServerMode, generated: SimpleNamespace) -> None:
    testing_connect, pb = generated.connect, generated.pb
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        testing_connect.AsyncTestServiceClient(base_url, transport=transport) as client,
    ):
        requests = [pb.ChatRequest(text=t) for t in ("a", "b", "c")]
        if server_mode.name == "h1":
            # Connect bidi streams need HTTP/2: connect-go answers 505 on HTTP/1.1.
            with pytest.raises(ConnectError) as info:
                async with client.chat(requests) as call:
                    [message async for message in call]
            assert info.value.http_status == 505
            return
        async with client.chat(requests) as call:
            replies = [message async for message in call]
        assert [(r.index, r.text) for r in replies] == [(0, "a"), (1, "b"), (2, "c")]

        # Requests from send() and close_send() instead of an iterable.
        async with client.chat() as call:
            for text in ("x", "y"):
                await call.send(pb.ChatRequest(text=text))
            await call.close_send()
            replies = [message async for message in call]
        assert [(r.index, r.text) for r in replies] == [(0, "x"), (1, "y")]
