"""Calls against connect-go with both message runtimes, in both codecs.

The same methods of the test service, once with Google ``protobuf`` messages
(``_pb2``) and once with Buf's ``protobuf-py`` messages (``_pb``, from
``protoc-gen-py``); the method's ``messages`` picks the codec implementation.
Every call shape, GET, error details unpacked with either runtime's class, and
unknown JSON fields (a response decoded as a type that has none of its fields).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from _support import ServerMode, pattern
from _support import methods as google_methods
from _support import methods_pb as protobuf_py_methods

from connect_python import Code, ConnectError, MethodInfo
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

pytestmark = pytest.mark.anyio

RUNTIMES = {"google": google_methods, "protobuf-py": protobuf_py_methods}


@pytest.fixture(params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> ModuleType:
    return RUNTIMES[request.param]


@pytest.fixture(params=["proto", "json"])
def codec(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def client(server_mode: ServerMode, codec: str) -> AsyncIterator[AsyncConnectClient]:
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        AsyncConnectClient(base_url, transport=transport, codec=codec) as made,
    ):
        yield made


async def test_unary_and_get(client: AsyncConnectClient, runtime: Any, codec: str) -> None:
    pb = runtime.pb
    response = await client.unary(runtime.ECHO, pb.EchoRequest(payload=b"hello"))
    assert isinstance(response, pb.EchoResponse)
    assert response.payload == b"hello"
    assert f"content-type: application/{codec}" in response.request_headers
    got = await client.unary(runtime.ECHO_GET, pb.EchoRequest(payload=b"\x00\xff"), use_get=True)
    assert (got.payload, got.http_method) == (b"\x00\xff", "GET")
    assert f"encoding={codec}" in got.query


async def test_streams(client: AsyncConnectClient, runtime: Any) -> None:
    pb = runtime.pb
    async with client.server_stream(runtime.STREAM, pb.StreamRequest(count=5, size=70)) as call:
        received = [m async for m in call]
    assert [type(m) for m in received] == [pb.StreamResponse] * 5
    assert [m.index for m in received] == list(range(5))
    assert all(m.payload == pattern(70) for m in received)

    chunks = [pb.UploadRequest(chunk=b"ab"), pb.UploadRequest(chunk=b"cde")]
    uploaded = await client.client_stream(runtime.UPLOAD, chunks)
    assert (uploaded.messages, uploaded.bytes) == (2, 5)


@pytest.mark.parametrize("duplex_mode", ["h2c", "h2-tls"])
async def test_bidi(test_server: Any, duplex_mode: str, runtime: Any, codec: str) -> None:
    from .conftest import make_transport

    pb = runtime.pb
    url, transport = make_transport(test_server, duplex_mode)
    client = AsyncConnectClient(url, transport=transport, codec=codec, timeout=10)
    requests = [pb.ChatRequest(text="one"), pb.ChatRequest(text="two")]
    async with transport, client, client.bidi_stream(runtime.CHAT, requests) as call:
        replies = [m async for m in call]
    assert [type(r) for r in replies] == [pb.ChatResponse] * 2
    assert [(r.text, r.index) for r in replies] == [("one", 0), ("two", 1)]


async def test_error_details_unpack_with_either_runtime(
    client: AsyncConnectClient, runtime: Any
) -> None:
    pb = runtime.pb
    request = pb.EchoRequest(
        outcome=pb.Outcome(error_code="not_found", error_message="gone", detail_text="why")
    )
    with pytest.raises(ConnectError) as info:
        await client.unary(runtime.ECHO, request)
    assert (info.value.code, info.value.message) == (Code.NOT_FOUND, "gone")
    (detail,) = info.value.details
    assert detail.type_name == "connectpy.testing.v1.EchoResponse"
    for other in RUNTIMES.values():
        unpacked = detail.unpack(other.pb.EchoResponse)
        assert isinstance(unpacked, other.pb.EchoResponse)
        assert unpacked.payload == b"why"
        assert detail.unpack(other.pb.ChatResponse) is None


async def test_unknown_fields_are_ignored(client: AsyncConnectClient, runtime: Any) -> None:
    """EchoResponse decoded as UploadResponse: none of its fields are known there."""
    pb = runtime.pb
    method: MethodInfo[Any, Any] = MethodInfo(
        runtime.SERVICE,
        "Echo",
        pb.EchoRequest,
        pb.UploadResponse,
        messages=runtime.ECHO.messages,
    )
    response = await client.unary(method, pb.EchoRequest(payload=b"x"))
    assert isinstance(response, pb.UploadResponse)
    assert (response.messages, response.bytes) == (0, 0)


async def test_a_message_of_the_other_runtime_is_refused(
    client: AsyncConnectClient, runtime: Any
) -> None:
    other = next(m for m in RUNTIMES.values() if m is not runtime)
    with pytest.raises(TypeError, match="must be an EchoRequest message"):
        await client.unary(runtime.ECHO, other.pb.EchoRequest(payload=b"x"))
