"""Unary and server-streaming calls against the connect-go test server.

Runs on asyncio and trio, and (as a generated twin) on the sync runtime, over
HTTP/1.1, h2c and TLS with HTTP/2 negotiated by ALPN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport, ResponseMetadata

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


async def test_unary_response_headers_and_trailers(client: AsyncConnectClient) -> None:
    meta = ResponseMetadata()
    request = pb.EchoRequest(outcome=outcome(headers=["x-h: 1"], trailers=["x-t: 2", "x-t: 3"]))
    await client.unary(ECHO, request, metadata=meta)
    assert meta.headers["x-h"] == "1"
    assert meta.trailers.get_all("x-t") == ["2", "3"]
    assert meta.http_status == 200


async def test_unary_error_with_details_and_metadata(client: AsyncConnectClient) -> None:
    meta = ResponseMetadata()
    request = pb.EchoRequest(
        outcome=outcome(
            "not_found", "no such file", detail="why", headers=["x-h: 1"], trailers=["x-t: 2"]
        )
    )
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, request, metadata=meta)
    err = info.value
    assert err.code is Code.NOT_FOUND
    assert err.message == "no such file"
    assert err.remote
    assert err.http_status == 404
    assert len(err.details) == 1
    detail = err.details[0].unpack(pb.EchoResponse)
    assert detail is not None and detail.payload == b"why"
    assert err.metadata["x-h"] == "1"
    assert err.metadata["x-t"] == "2"
    # Servers may send a unary error's trailers as plain headers: either list is fine.
    assert "x-t" in meta.trailers or "x-t" in meta.headers


async def test_stream_error_details_headers_trailers(client: AsyncConnectClient) -> None:
    request = pb.StreamRequest(
        count=3,
        size=4,
        outcome=outcome(
            "resource_exhausted", "quota", detail="d", headers=["x-h: 1"], trailers=["x-t: 2"]
        ),
    )
    received = []
    async with client.server_stream(STREAM, request) as call:
        assert call.response_headers["x-h"] == "1"
        with pytest.raises(ConnectError) as info:
            async for message in call:
                received.append(message.index)
    assert received == [0, 1, 2]
    err = info.value
    assert err.code is Code.RESOURCE_EXHAUSTED
    assert err.message == "quota"
    assert err.details[0].type_name == "connectpy.testing.v1.EchoResponse"
    assert err.metadata["x-t"] == "2"
    assert call.response_trailers["x-t"] == "2"


async def test_stream_trailers_on_success(client: AsyncConnectClient) -> None:
    request = pb.StreamRequest(count=2, size=1, outcome=outcome(trailers=["x-end: yes"]))
    call = client.server_stream(STREAM, request)
    got = [m.index async for m in call]
    assert got == [0, 1]
    assert call.response_trailers["x-end"] == "yes"


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


async def test_receive_limit_unary_and_stream(base_url: str, transport: AsyncTransport) -> None:
    async with AsyncConnectClient(base_url, transport=transport, read_max_bytes=1024) as client:
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(response_size=10 * 1024 * 1024))
        assert info.value.code is Code.RESOURCE_EXHAUSTED
        with pytest.raises(ConnectError) as info:
            async for _ in client.server_stream(STREAM, pb.StreamRequest(count=1, size=2048)):
                pass
        assert info.value.code is Code.RESOURCE_EXHAUSTED
        # Small messages still pass through the same client and pool.
        response = await client.unary(ECHO, pb.EchoRequest(payload=b"ok"))
        assert response.payload == b"ok"


async def test_early_close_releases_connection(
    client: AsyncConnectClient, transport: AsyncTransport, mode: str
) -> None:
    for way in ("break", "aclose", "exit"):
        call = client.server_stream(STREAM, pb.StreamRequest(count=100_000, size=64))
        if way == "break":
            async for message in call:
                if message.index == 2:
                    break
            await call.aclose()
        elif way == "aclose":
            await call.start()
            assert (await call.receive()) is not None
            await call.aclose()
        else:
            async with call:
                await call.receive()
        response = await client.unary(ECHO, pb.EchoRequest(payload=way.encode()))
        assert response.payload == way.encode()
        # HTTP/1.1: the abandoned connection was closed, not reused; HTTP/2: one shared connection.
        assert transport.num_connections == 1
    if mode == "h1":
        assert transport.num_idle == 1


async def test_deadline_exceeded_and_header_sent(client: AsyncConnectClient) -> None:
    from _support.concurrency.shim_async import current_time

    start = current_time()
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome(delay_ms=3000)), timeout=0.2)
    elapsed = current_time() - start
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert not info.value.remote
    assert 0.2 <= elapsed < 1.0
    response = await client.unary(ECHO, pb.EchoRequest(), timeout=5)
    (value,) = seen_headers(response)["connect-timeout-ms"]
    assert 4000 < int(value) <= 5000


async def test_stream_deadline(client: AsyncConnectClient) -> None:
    request = pb.StreamRequest(count=50, size=1, outcome=outcome(delay_ms=100))
    # Dial (and TLS handshake) first: on a loaded machine they alone can take
    # the 0.35 s this test gives to the stream's messages.
    await client.unary(ECHO, pb.EchoRequest(payload=b"warm"))
    got = 0
    with pytest.raises(ConnectError) as info:
        async with client.server_stream(STREAM, request, timeout=0.35) as call:
            async for _ in call:
                got += 1
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert 1 <= got <= 4
    assert (await client.unary(ECHO, pb.EchoRequest(payload=b"x"))).payload == b"x"


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


@pytest.mark.parametrize("compression", ["gzip", "br", "zstd"])
async def test_request_compression(
    base_url: str, transport: AsyncTransport, compression: str
) -> None:
    async with AsyncConnectClient(
        base_url, transport=transport, send_compression=compression, compress_min_bytes=0
    ) as client:
        response = await client.unary(ECHO, pb.EchoRequest(payload=b"z" * 5000))
        assert response.payload == b"z" * 5000
        assert seen_headers(response)["content-encoding"] == [compression]
        total = await client.client_stream(
            UPLOAD, [pb.UploadRequest(chunk=b"q" * 2000) for _ in range(3)]
        )
        assert (total.messages, total.bytes) == (3, 6000)


async def test_client_stream(client: AsyncConnectClient) -> None:
    meta = ResponseMetadata()
    total = await client.client_stream(
        UPLOAD, [pb.UploadRequest(chunk=b"ab") for _ in range(10)], metadata=meta
    )
    assert (total.messages, total.bytes) == (10, 20)
    assert meta.http_status == 200
    with pytest.raises(ConnectError) as info:
        await client.client_stream(UPLOAD, [pb.UploadRequest(outcome=outcome("aborted", "stop"))])
    assert info.value.code is Code.ABORTED


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
