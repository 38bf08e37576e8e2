"""What every protocol does alike, against the connect-go test server: each call
kind, errors with details and metadata, receive limits, early close, deadlines
and compression.

Every test runs for each protocol over each mode it supports (Connect and
gRPC-Web: HTTP/1.1, h2c and TLS with ALPN h2; gRPC: the HTTP/2 two), on asyncio
and trio and (as a generated twin) the sync runtime. What only one protocol
does is in ``test_calls`` (Connect) and ``test_grpc_calls`` (gRPC, gRPC-Web).
"""

from __future__ import annotations

import pytest
from _support.concurrency.shim_async import current_time
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport, ResponseMetadata

from .conftest import PROTOCOL_MODES as PROTOCOL_MODES  # every test runs for every protocol
from .helpers import CHAT, ECHO, STREAM, UPLOAD, outcome, pattern, seen_headers

#: The HTTP status of an error response: Connect maps the code to one, gRPC
#: always answers 200 and puts the code in the trailers.
ERROR_STATUS = {"connect": 404, "grpc": 200, "grpc-web": 200}
#: The request header that names a unary request's compression.
ENCODING_HEADER = {
    "connect": "content-encoding",
    "grpc": "grpc-encoding",
    "grpc-web": "grpc-encoding",
}


async def test_every_call_kind(client: AsyncConnectClient, mode: str) -> None:
    meta = ResponseMetadata()
    request = pb.EchoRequest(outcome=outcome(headers=["x-h: 1"], trailers=["x-t: 2", "x-t: 3"]))
    await client.unary(ECHO, request, metadata=meta)
    assert meta.headers["x-h"] == "1"
    assert meta.trailers.get_all("x-t") == ["2", "3"]
    assert "grpc-status" not in meta.trailers
    assert meta.http_status == 200

    request2 = pb.StreamRequest(count=3, size=5, outcome=outcome(trailers=["x-end: yes"]))
    async with client.server_stream(STREAM, request2) as call:
        got = [(m.index, m.payload) async for m in call]
    assert got == [(i, pattern(5)) for i in range(3)]
    assert call.response_trailers["x-end"] == "yes"

    meta = ResponseMetadata()
    total = await client.client_stream(
        UPLOAD, [pb.UploadRequest(chunk=b"ab") for _ in range(10)], metadata=meta
    )
    assert (total.messages, total.bytes) == (10, 20)
    assert meta.http_status == 200

    if mode == "h1":
        return  # the server takes bidi calls over HTTP/2 only
    async with client.bidi_stream(CHAT) as bidi:
        # Full duplex: each reply is read before the next request is sent.
        for text in ("a", "b", "c"):
            await bidi.send(pb.ChatRequest(text=text))
            reply = await bidi.receive()
            assert reply is not None and reply.text == text
        await bidi.close_send()
        assert await bidi.receive() is None


async def test_unary_error_with_details_and_metadata(
    client: AsyncConnectClient, protocol: str
) -> None:
    meta = ResponseMetadata()
    request = pb.EchoRequest(
        outcome=outcome(
            "not_found",
            "no such file: 100% ü",
            detail="why",
            headers=["x-h: 1"],
            trailers=["x-t: 2"],
        )
    )
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, request, metadata=meta)
    err = info.value
    assert err.code is Code.NOT_FOUND
    assert err.message == "no such file: 100% ü"  # gRPC: percent-encoded on the wire
    assert err.remote
    assert err.http_status == ERROR_STATUS[protocol]
    (detail,) = err.details
    unpacked = detail.unpack(pb.EchoResponse)
    assert unpacked is not None and unpacked.payload == b"why"
    assert err.metadata["x-h"] == "1"
    assert err.metadata["x-t"] == "2"
    for name in ("grpc-status", "grpc-message", "grpc-status-details-bin"):
        assert name not in err.metadata
    # Servers may send a unary error's trailers as plain headers (a gRPC
    # trailers-only response's metadata is its head): either list is fine.
    assert "x-t" in meta.trailers or "x-t" in meta.headers


async def test_stream_error_after_messages(client: AsyncConnectClient) -> None:
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


async def test_errors_of_every_kind_without_messages(client: AsyncConnectClient, mode: str) -> None:
    # No message before the status (gRPC: connect-go answers trailers-only).
    with pytest.raises(ConnectError) as info:
        async for _ in client.server_stream(
            STREAM, pb.StreamRequest(outcome=outcome("aborted", "s"))
        ):
            pass
    assert (info.value.code, info.value.message) == (Code.ABORTED, "s")
    with pytest.raises(ConnectError) as info:
        await client.client_stream(UPLOAD, [pb.UploadRequest(outcome=outcome("aborted", "u"))])
    assert (info.value.code, info.value.message) == (Code.ABORTED, "u")
    if mode != "h1":
        with pytest.raises(ConnectError) as info:
            async with client.bidi_stream(
                CHAT, [pb.ChatRequest(outcome=outcome("aborted", "c"))]
            ) as call:
                async for _ in call:
                    pass
        assert (info.value.code, info.value.message) == (Code.ABORTED, "c")
    # The connection stays usable.
    assert (await client.unary(ECHO, pb.EchoRequest(payload=b"x"))).payload == b"x"


async def test_receive_limit(base_url: str, transport: AsyncTransport, protocol: str) -> None:
    async with AsyncConnectClient(
        base_url, transport=transport, protocol=protocol, read_max_bytes=1024
    ) as client:
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(response_size=10 * 1024 * 1024))
        assert info.value.code is Code.RESOURCE_EXHAUSTED
        with pytest.raises(ConnectError) as info:
            async for _ in client.server_stream(STREAM, pb.StreamRequest(count=1, size=2048)):
                pass
        assert info.value.code is Code.RESOURCE_EXHAUSTED
        # Small messages still pass through the same client and pool.
        assert (await client.unary(ECHO, pb.EchoRequest(payload=b"ok"))).payload == b"ok"


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


async def test_unary_deadline(client: AsyncConnectClient) -> None:
    start = current_time()
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome(delay_ms=3000)), timeout=0.2)
    elapsed = current_time() - start
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert not info.value.remote
    assert 0.2 <= elapsed < 1.0
    assert (await client.unary(ECHO, pb.EchoRequest(payload=b"x"))).payload == b"x"


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


@pytest.mark.parametrize("compression", ["gzip", "br", "zstd"])
async def test_compression_both_ways(
    base_url: str, transport: AsyncTransport, protocol: str, compression: str
) -> None:
    async with AsyncConnectClient(
        base_url,
        transport=transport,
        protocol=protocol,
        send_compression=compression,
        compress_min_bytes=0,
    ) as client:
        response = await client.unary(ECHO, pb.EchoRequest(payload=b"z" * 5000))
        assert response.payload == b"z" * 5000
        assert seen_headers(response)[ENCODING_HEADER[protocol]] == [compression]
        total = await client.client_stream(
            UPLOAD, [pb.UploadRequest(chunk=b"q" * 2000) for _ in range(3)]
        )
        assert (total.messages, total.bytes) == (3, 6000)
        async with client.server_stream(STREAM, pb.StreamRequest(count=2, size=3000)) as call:
            assert [m.payload async for m in call] == [pattern(3000)] * 2
