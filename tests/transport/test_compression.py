"""Compression and Connect GET against the connect-go test server, in every mode.

- Responses: the server compresses with an encoding the client advertised
  (``Accept-Encoding`` / ``Connect-Accept-Encoding``); the client decompresses,
  bounded by its receive limit.
- Requests: compressed per client or per call, only from the size threshold
  on; stream envelopes carry the compressed flag.
- GET for ``NO_SIDE_EFFECTS`` methods, parameters in the order
  ``connect, base64, compression, encoding, message``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _support import MODES, ServerMode, pattern, server_mode_for
from _support.methods import CHAT, ECHO, ECHO_GET, STREAM, UPLOAD, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport, ResponseMetadata

ENCODINGS = ["gzip", "br", "zstd"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, test_server: Any) -> ServerMode:
    return server_mode_for(request.param, test_server)


@pytest.fixture
async def transport(mode: ServerMode) -> AsyncIterator[AsyncTransport]:
    async with AsyncTransport(**mode.transport_kwargs) as made:
        yield made


def headers_seen(response: pb.EchoResponse) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for entry in response.request_headers:
        name, _, value = entry.partition(": ")
        seen.setdefault(name.lower(), []).append(value)
    return seen


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_unary_response_compression(
    mode: ServerMode, transport: AsyncTransport, encoding: str
) -> None:
    client = AsyncConnectClient(mode.base_url, transport=transport, accept_compression=[encoding])
    meta = ResponseMetadata()
    reply = await client.unary(ECHO, pb.EchoRequest(response_size=100_000), metadata=meta)
    assert reply.payload == pattern(100_000)
    assert meta.headers["content-encoding"] == encoding
    assert headers_seen(reply)["accept-encoding"] == [encoding]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_stream_response_compression(
    mode: ServerMode, transport: AsyncTransport, encoding: str
) -> None:
    client = AsyncConnectClient(mode.base_url, transport=transport, accept_compression=[encoding])
    async with client.server_stream(STREAM, pb.StreamRequest(count=4, size=30_000)) as call:
        payloads = [message.payload async for message in call]
    assert payloads == [pattern(30_000)] * 4
    assert call.response_headers["connect-content-encoding"] == encoding


async def test_identity_only_gets_uncompressed_responses(
    mode: ServerMode, transport: AsyncTransport
) -> None:
    client = AsyncConnectClient(mode.base_url, transport=transport, accept_compression=[])
    meta = ResponseMetadata()
    reply = await client.unary(ECHO, pb.EchoRequest(response_size=50_000), metadata=meta)
    assert reply.payload == pattern(50_000)
    assert meta.headers.get("content-encoding", "identity") == "identity"
    assert "accept-encoding" not in headers_seen(reply)


async def test_decompressed_size_is_bounded(mode: ServerMode, transport: AsyncTransport) -> None:
    # A 2 MB response compresses to a few KB: the limit applies after decompression.
    client = AsyncConnectClient(
        mode.base_url, transport=transport, accept_compression=["gzip"], read_max_bytes=1 << 20
    )
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(response_size=2_000_000))
    assert info.value.code is Code.RESOURCE_EXHAUSTED
    with pytest.raises(ConnectError) as info:
        async with client.server_stream(STREAM, pb.StreamRequest(count=1, size=2_000_000)) as call:
            async for _ in call:
                pass
    assert info.value.code is Code.RESOURCE_EXHAUSTED
    # The client (and its connection) keep working.
    assert (await client.unary(ECHO, pb.EchoRequest(payload=b"ok"))).payload == b"ok"


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_request_compression_per_client_and_threshold(
    mode: ServerMode, transport: AsyncTransport, encoding: str
) -> None:
    client = AsyncConnectClient(
        mode.base_url, transport=transport, send_compression=encoding, compress_min_bytes=1000
    )
    big = pattern(20_000)
    reply = await client.unary(ECHO, pb.EchoRequest(payload=big))
    assert reply.payload == big
    assert headers_seen(reply)["content-encoding"] == [encoding]
    small = await client.unary(ECHO, pb.EchoRequest(payload=b"tiny"))
    assert small.payload == b"tiny"
    assert "content-encoding" not in headers_seen(small)


async def test_request_compression_per_call(mode: ServerMode, transport: AsyncTransport) -> None:
    client = AsyncConnectClient(
        mode.base_url, transport=transport, send_compression="gzip", compress_min_bytes=0
    )
    plain = await client.unary(ECHO, pb.EchoRequest(payload=b"p"), send_compression="identity")
    assert "content-encoding" not in headers_seen(plain)
    zstd = await client.unary(ECHO, pb.EchoRequest(payload=b"z"), send_compression="zstd")
    assert headers_seen(zstd)["content-encoding"] == ["zstd"]
    default = await client.unary(ECHO, pb.EchoRequest(payload=b"d"))
    assert headers_seen(default)["content-encoding"] == ["gzip"]
    with pytest.raises(ValueError, match="not available"):
        await client.unary(ECHO, pb.EchoRequest(), send_compression="lz77")


@pytest.mark.parametrize("encoding", [None, *ENCODINGS])
async def test_client_stream_request_compression(
    mode: ServerMode, transport: AsyncTransport, encoding: str | None
) -> None:
    client = AsyncConnectClient(mode.base_url, transport=transport, compress_min_bytes=100)
    chunks = [pb.UploadRequest(chunk=pattern(5_000)) for _ in range(10)]
    chunks.append(pb.UploadRequest(chunk=b"small"))
    reply = await client.client_stream(UPLOAD, chunks, send_compression=encoding or "identity")
    assert (reply.messages, reply.bytes) == (11, 50_005)


@pytest.mark.parametrize("h2_mode", ["h2c", "h2-tls"])  # connect-go: bidi needs HTTP/2
async def test_bidi_request_compression(test_server: Any, h2_mode: str) -> None:
    base_url, kwargs = server_mode_for(h2_mode, test_server)
    async with AsyncTransport(**kwargs) as transport:
        client = AsyncConnectClient(base_url, transport=transport, compress_min_bytes=10)
        async with client.bidi_stream(CHAT, send_compression="gzip") as call:
            await call.send(pb.ChatRequest(text="x" * 5000))
            reply = await call.receive()
            assert reply is not None and reply.text == "x" * 5000
            await call.close_send()
            assert await call.receive() is None


async def test_get_query_order_and_roundtrip(mode: ServerMode, transport: AsyncTransport) -> None:
    client = AsyncConnectClient(mode.base_url, transport=transport)
    payload = bytes(range(256))
    reply = await client.unary(ECHO_GET, pb.EchoRequest(payload=payload), use_get=True)
    assert reply.payload == payload
    assert reply.http_method == "GET"
    names = [part.split("=", 1)[0] for part in reply.query.split("&")]
    assert names == ["connect", "base64", "encoding", "message"]
    message = dict(part.split("=", 1) for part in reply.query.split("&"))["message"]
    padded = message + "=" * (-len(message) % 4)
    assert pb.EchoRequest.FromString(base64.urlsafe_b64decode(padded)).payload == payload
    assert "content-type" not in headers_seen(reply)


async def test_get_with_compression_and_json(mode: ServerMode, transport: AsyncTransport) -> None:
    client = AsyncConnectClient(
        mode.base_url, transport=transport, send_compression="gzip", compress_min_bytes=100
    )
    big = pattern(5_000)
    reply = await client.unary(ECHO_GET, pb.EchoRequest(payload=big), use_get=True)
    assert reply.payload == big
    names = [part.split("=", 1)[0] for part in reply.query.split("&")]
    assert names == ["connect", "base64", "compression", "encoding", "message"]
    assert "compression=gzip" in reply.query
    json_client = AsyncConnectClient(mode.base_url, transport=transport, codec="json")
    reply = await json_client.unary(ECHO_GET, pb.EchoRequest(payload=b"js"), use_get=True)
    assert reply.payload == b"js"
    assert "encoding=json" in reply.query


async def test_get_refused_for_methods_with_side_effects(
    mode: ServerMode, transport: AsyncTransport
) -> None:
    client = AsyncConnectClient(mode.base_url, transport=transport)
    with pytest.raises(ValueError, match="NO_SIDE_EFFECTS"):
        await client.unary(ECHO, pb.EchoRequest(), use_get=True)
