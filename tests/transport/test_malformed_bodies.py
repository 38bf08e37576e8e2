"""Malformed answers from a raw HTTP/1.1 server end as typed ``ConnectError``s.

Nothing parsed from the peer may escape as another exception: a deeply nested
JSON error body or end-stream message (``json.loads`` raises ``RecursionError``),
an error detail whose type name is not valid UTF-8. Numbers on the wire are
read as the spec writes them: a chunk size ``0x5`` or a ``Content-Length`` of
``0_03`` (both taken by Python's ``int()``) are malformed responses.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from _support.methods import ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.rawhttp import RawServer

DEEP = b"[" * 100_000


def unary_answer(status: str, ctype: str, body: bytes, length: bytes | None = None) -> bytes:
    size = str(len(body)).encode() if length is None else length
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\n".encode()
        + b"content-length: "
        + size
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )


def envelope(flags: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def stream_answer(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/connect+proto\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


@pytest.fixture
def raw() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.close()


def serve(servers: list[RawServer], answer: bytes) -> str:
    server = RawServer(answer)
    servers.append(server)
    return server.url


async def unary(url: str) -> pb.EchoResponse:
    async with AsyncTransport() as transport:
        client = AsyncConnectClient(url, transport=transport, timeout=10)
        return await client.unary(ECHO, pb.EchoRequest(payload=b"hi"))


async def stream(url: str) -> list[pb.StreamResponse]:
    async with AsyncTransport() as transport:
        client = AsyncConnectClient(url, transport=transport, timeout=10)
        async with client.server_stream(STREAM, pb.StreamRequest(count=1)) as call:
            return [message async for message in call]


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"code": "internal", "details": [' + b'{"a": ' * 100_000],
    ids=["array", "detail"],
)
async def test_deeply_nested_json_error_body(raw: list[RawServer], body: bytes) -> None:
    url = serve(raw, unary_answer("500 Internal Server Error", "application/json", body))
    with pytest.raises(ConnectError) as info:
        await unary(url)
    err = info.value
    assert err.code is Code.UNKNOWN  # HTTP 500 without a Connect error body
    assert err.remote and err.http_status == 500
    assert err.message.startswith(
        f"POST {url}/connectpy.testing.v1.TestService/Echo: HTTP 500 Internal Server Error, "
        "not a Connect response (content-type application/json): "
    )
    assert err.http_body == body


@pytest.mark.parametrize(
    "payload",
    [DEEP, b'{"error": {"code": "aborted", "details": [' + b'{"a": ' * 100_000],
    ids=["array", "detail"],
)
async def test_deeply_nested_end_stream(raw: list[RawServer], payload: bytes) -> None:
    message = pb.StreamResponse(index=0, payload=b"x").SerializeToString()
    url = serve(raw, stream_answer(envelope(0, message) + envelope(2, payload)))
    with pytest.raises(ConnectError) as info:
        await stream(url)
    assert info.value.code is Code.INTERNAL
    assert info.value.message == (
        "protocol error: invalid end-stream message: JSON nested too deeply"
    )
    assert info.value.metadata["content-type"] == "application/connect+proto"


async def test_end_stream_detail_type_that_is_not_utf8(raw: list[RawServer]) -> None:
    # "\udfff" is valid JSON but no UTF-8 string: protobuf refuses it as a type URL.
    payload = (
        b'{"error": {"code": "aborted", "message": "stop", '
        b'"details": [{"type": "\\udfff", "value": "AAAA"}]}}'
    )
    url = serve(raw, stream_answer(envelope(2, payload)))
    with pytest.raises(ConnectError) as info:
        await stream(url)
    assert info.value.code is Code.ABORTED
    assert info.value.message == "stop"
    assert info.value.details == []
    assert info.value.remote


async def test_end_stream_metadata_that_is_not_arrays_of_strings(raw: list[RawServer]) -> None:
    payload = b'{"metadata": {"x-a": ["1\\r\\nx-injected: 2"]}}'
    url = serve(raw, stream_answer(envelope(2, payload)))
    with pytest.raises(ConnectError) as info:
        await stream(url)
    assert info.value.code is Code.INTERNAL
    assert info.value.message == "protocol error: invalid end-stream metadata value of 'x-a'"


def chunked_answer(size: bytes, data: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/proto\r\n"
        b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        + size
        + b"\r\n"
        + data
        + b"\r\n0\r\n\r\n"
    )


REPLY = pb.EchoResponse(payload=b"ok").SerializeToString()  # 4 bytes


@pytest.mark.parametrize("size", [b"0x4", b"+4", b" 4", b"0_4"])
async def test_lenient_chunk_sizes_are_malformed(raw: list[RawServer], size: bytes) -> None:
    url = serve(raw, chunked_answer(size, REPLY))
    with pytest.raises(ConnectError) as info:
        await unary(url)
    assert info.value.code is Code.UNAVAILABLE
    assert info.value.message == f"protocol error from peer: invalid chunk size {size!r}"
    assert not info.value.remote


@pytest.mark.parametrize("length", [b"0_04", b"+4", b"4.0", b"0x4"])
async def test_lenient_content_lengths_are_malformed(raw: list[RawServer], length: bytes) -> None:
    url = serve(raw, unary_answer("200 OK", "application/proto", REPLY, length=length))
    with pytest.raises(ConnectError) as info:
        await unary(url)
    assert info.value.code is Code.UNAVAILABLE
    assert info.value.message.startswith("protocol error from peer: invalid content-length")


async def test_strict_numbers_still_parse(raw: list[RawServer]) -> None:
    # The same answers with the numbers written as the spec writes them succeed.
    url = serve(raw, chunked_answer(b"4;ext=1", REPLY))
    assert (await unary(url)).payload == b"ok"
    url = serve(raw, unary_answer("200 OK", "application/proto", REPLY, length=b"4"))
    assert (await unary(url)).payload == b"ok"
