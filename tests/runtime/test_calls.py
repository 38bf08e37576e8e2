"""Connect calls against the connect-go test server: what only the Connect
protocol does (its request head, codecs, GET, HTTP-status errors, malformed
bodies and streams, the timeout header) and the client's plumbing (default
headers and timeout, dialling and TLS failures, connection reuse, request
streams). What every protocol does alike is in ``test_call_kinds``.

Runs on asyncio and trio, and (as a generated twin) on the sync runtime, over
HTTP/1.1, h2c and TLS with HTTP/2 negotiated by ALPN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

from .helpers import CHAT, ECHO, ECHO_GET, STREAM, UPLOAD, outcome, pattern, seen_headers

EXPECTED_PROTO = {"h1": "HTTP/1.1", "h2c": "HTTP/2.0", "h2-tls": "HTTP/2.0"}


async def test_unary_echo_over_each_transport(client: AsyncConnectClient, mode: str) -> None:
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"hello"))
    assert response.payload == b"hello"
    assert response.http_method == "POST"
    assert response.http_proto == EXPECTED_PROTO[mode]
    seen = seen_headers(response)
    assert seen["content-type"] == ["application/proto"]
    assert seen["connect-protocol-version"] == ["1"]
    assert "connect-timeout-ms" not in seen


@pytest.mark.parametrize("codec", ["proto", "json"])
async def test_codecs(base_url: str, transport: AsyncTransport, codec: str) -> None:
    async with AsyncConnectClient(base_url, transport=transport, codec=codec) as client:
        response = await client.unary(ECHO, pb.EchoRequest(response_size=300))
        assert response.payload == pattern(300)
        assert seen_headers(response)["content-type"] == [f"application/{codec}"]
        messages = []
        async with client.server_stream(STREAM, pb.StreamRequest(count=5, size=10)) as call:
            async for message in call:
                messages.append(message)
        assert [m.index for m in messages] == [0, 1, 2, 3, 4]
        assert all(m.payload == pattern(10) for m in messages)


async def test_headers_defaults_merged_per_call_wins(
    base_url: str, transport: AsyncTransport
) -> None:
    defaults = {"user-agent": "sdk/1.0", "x-access-token": "default", "e2b-sandbox-id": "sbx"}
    async with AsyncConnectClient(base_url, transport=transport, headers=defaults) as client:
        response = await client.unary(
            ECHO,
            pb.EchoRequest(),
            headers=[("x-access-token", "per-call"), ("x-multi", "a"), ("x-multi", "b")],
        )
    seen = seen_headers(response)
    assert seen["x-access-token"] == ["per-call"]
    assert seen["e2b-sandbox-id"] == ["sbx"]
    assert seen["user-agent"] == ["sdk/1.0"]
    assert seen["x-multi"] == ["a", "b"]


@pytest.mark.parametrize(
    ("raw", "code", "status"),
    [
        ("http_502", Code.UNAVAILABLE, 502),
        ("http_404", Code.UNIMPLEMENTED, 404),
        ("http_429", Code.UNAVAILABLE, 429),
        ("http_503_json", Code.UNAVAILABLE, 503),
        ("unknown_code", Code.UNAVAILABLE, 429),
    ],
)
async def test_non_connect_unary_errors_map_http_status(
    client: AsyncConnectClient, raw: str, code: Code, status: int
) -> None:
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(raw=raw))
    assert info.value.code is code
    assert info.value.http_status == status
    assert info.value.remote


@pytest.mark.parametrize(
    ("raw", "code"), [("wrong_content_type", Code.UNKNOWN), ("invalid_json", Code.INTERNAL)]
)
async def test_bad_unary_bodies_are_typed_errors(
    base_url: str, transport: AsyncTransport, raw: str, code: Code
) -> None:
    async with AsyncConnectClient(base_url, transport=transport, codec="json") as client:
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(raw=raw))
    assert info.value.code is code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("truncate", Code.INTERNAL),
        ("no_end_stream", Code.INTERNAL),
        ("bad_flags", Code.INTERNAL),
        ("huge_length", Code.RESOURCE_EXHAUSTED),
        ("wrong_content_type", Code.UNKNOWN),
        ("http_502", Code.UNAVAILABLE),
        ("garbage_end_stream", Code.INTERNAL),
    ],
)
async def test_malformed_streams_are_typed_errors(
    client: AsyncConnectClient, transport: AsyncTransport, raw: str, code: Code
) -> None:
    received = 0
    with pytest.raises(ConnectError) as info:
        async with client.server_stream(STREAM, pb.StreamRequest(count=2, size=8, raw=raw)) as call:
            async for _ in call:
                received += 1
    # A dropped connection mid-stream may surface as a transport failure.
    assert info.value.code is code or (raw == "truncate" and info.value.code is Code.UNAVAILABLE)
    assert received <= 2
    # The pool keeps serving calls afterwards.
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"after"))
    assert response.payload == b"after"
    assert transport.num_connections <= 1


async def test_timeout_header(client: AsyncConnectClient) -> None:
    response = await client.unary(ECHO, pb.EchoRequest(), timeout=5)
    (value,) = seen_headers(response)["connect-timeout-ms"]
    assert 4000 < int(value) <= 5000


async def test_client_default_timeout(base_url: str, transport: AsyncTransport) -> None:
    async with AsyncConnectClient(base_url, transport=transport, timeout=0.2) as client:
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(outcome=outcome(delay_ms=2000)))
        assert info.value.code is Code.DEADLINE_EXCEEDED
        # A per-call timeout overrides the client's.
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome(delay_ms=300)), timeout=5)


async def test_get_for_no_side_effect_methods(client: AsyncConnectClient) -> None:
    response = await client.unary(ECHO_GET, pb.EchoRequest(payload=b"\x00\xff"), use_get=True)
    assert response.http_method == "GET"
    assert response.payload == b"\x00\xff"
    names = [part.split("=")[0] for part in response.query.split("&")]
    assert names == ["connect", "base64", "encoding", "message"]
    with pytest.raises(ValueError):
        await client.unary(ECHO, pb.EchoRequest(), use_get=True)


async def test_connection_refused_is_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AsyncConnectClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest())
    assert info.value.code is Code.UNAVAILABLE
    assert not info.value.remote
    assert info.value.__cause__ is not None


async def test_tls_verification_fails_without_the_ca(test_server: Any) -> None:
    async with AsyncConnectClient(test_server.https) as client:
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest())
    assert info.value.code is Code.UNAVAILABLE
    assert not info.value.remote


async def test_sequential_calls_reuse_one_connection(
    client: AsyncConnectClient, transport: AsyncTransport
) -> None:
    for i in range(20):
        response = await client.unary(ECHO, pb.EchoRequest(payload=str(i).encode()))
        assert response.payload == str(i).encode()
    assert transport.num_connections == 1


@pytest.mark.parametrize("duplex_mode", ["h2c", "h2-tls"])
async def test_request_stream_sends_each_message_before_waiting_for_the_next(
    test_server: Any, duplex_mode: str
) -> None:
    # The request generator only produces message n+1 after the reply to message n
    # arrived: a pump that held a ready message back until the next one would hang.
    from _support.concurrency.shim_async import Event

    from .conftest import make_transport

    url, transport = make_transport(test_server, duplex_mode)
    replies: list[str] = []
    answered = [Event() for _ in range(5)]

    async def requests() -> AsyncIterator[pb.ChatRequest]:
        for i in range(5):
            yield pb.ChatRequest(text=f"m{i}")
            await answered[i].wait()

    client = AsyncConnectClient(url, transport=transport, timeout=10)
    async with transport, client, client.bidi_stream(CHAT, requests()) as call:
        async for reply in call:
            replies.append(reply.text)
            answered[len(replies) - 1].set()
    assert len(replies) == 5
    assert all("m" in text for text in replies)


async def test_many_request_messages_from_a_generator(client: AsyncConnectClient) -> None:
    # 5,000 messages from a generator that never waits: every one arrives.
    async def requests() -> AsyncIterator[pb.UploadRequest]:
        for _ in range(5000):
            yield pb.UploadRequest(chunk=b"0123456789")

    total = await client.client_stream(UPLOAD, requests())
    assert (total.messages, total.bytes) == (5000, 50_000)
