"""gRPC and gRPC-Web calls against the connect-go test server (which speaks both):
what only these protocols do. What every protocol does alike is in
``test_call_kinds``.

Over every mode each protocol runs on (gRPC: h2c and TLS with ALPN h2;
gRPC-Web: those and HTTP/1.1), on asyncio and trio and (as a generated twin)
the sync runtime: the request head, binary metadata, reserved names, answers
that are not gRPC, abandoned streams. gRPC refuses HTTP/1.1 before sending
anything.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from typing import Any

import pytest
from _support.concurrency.shim_async import current_time, sleep
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport, ResponseMetadata

from .conftest import make_transport
from .helpers import ECHO, STREAM, UPLOAD, outcome, seen_headers

#: The modes of each protocol (``pytest_generate_tests`` in conftest).
PROTOCOL_MODES = [
    ("grpc", "h2c"),
    ("grpc", "h2-tls"),
    ("grpc-web", "h1"),
    ("grpc-web", "h2c"),
    ("grpc-web", "h2-tls"),
]


async def test_unary_request_head(client: AsyncConnectClient, protocol: str, mode: str) -> None:
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"hello"), timeout=5)
    assert response.payload == b"hello"
    assert response.http_proto == ("HTTP/1.1" if mode == "h1" else "HTTP/2.0")
    seen = seen_headers(response)
    assert seen["content-type"] == [f"application/{protocol}+proto"]
    assert seen.get("te") == (["trailers"] if protocol == "grpc" else None)
    assert "connect-protocol-version" not in seen
    (timeout,) = seen["grpc-timeout"]
    assert len(timeout) <= 9 and timeout[-1] in "HMSmun"
    assert seen["user-agent"] == ["grpc-python-connect/0.1"]
    assert "gzip" in seen["grpc-accept-encoding"][0]


async def test_binary_metadata_both_ways(client: AsyncConnectClient) -> None:
    data = bytes(range(256))
    meta = ResponseMetadata()
    encoded = base64.b64encode(b"\x00\xffhi").decode().rstrip("=")
    request = pb.EchoRequest(
        outcome=outcome(headers=[f"x-h-bin: {encoded}"], trailers=[f"x-t-bin: {encoded}"])
    )
    response = await client.unary(
        ECHO, request, headers={"x-data-bin": data, "x-text": "plain"}, metadata=meta
    )
    seen = seen_headers(response)
    (sent,) = seen["x-data-bin"]
    assert base64.b64decode(sent + "=" * (-len(sent) % 4)) == data
    assert seen["x-text"] == ["plain"]
    for value in (meta.headers["x-h-bin"], meta.trailers["x-t-bin"]):
        assert base64.b64decode(value + "=" * (-len(value) % 4)) == b"\x00\xffhi"


@pytest.mark.parametrize("name", ["grpc-timeout", "te", "content-type", "grpc-status", "Bad Name"])
async def test_reserved_request_headers_are_refused(client: AsyncConnectClient, name: str) -> None:
    with pytest.raises(ValueError, match=r"reserved|not valid gRPC metadata"):
        await client.unary(ECHO, pb.EchoRequest(), headers={name: "x"})


@pytest.mark.parametrize(
    ("raw", "code", "status"),
    [
        ("http_502", Code.UNAVAILABLE, 502),
        ("http_404", Code.UNIMPLEMENTED, 404),
        ("http_429", Code.UNAVAILABLE, 429),
        ("wrong_content_type", Code.UNKNOWN, 200),
    ],
)
async def test_not_grpc_responses(
    client: AsyncConnectClient, raw: str, code: Code, status: int
) -> None:
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers={"x-test-raw": raw})
    assert info.value.code is code
    assert info.value.http_status == status


@pytest.mark.parametrize("transport_mode", ["h1", "https-h1"])
async def test_grpc_refuses_http1(test_server: Any, transport_mode: str) -> None:
    if transport_mode == "h1":
        base_url, transport = make_transport(test_server, "h1")
        hint = "h2c=True"
    else:
        base_url = test_server.https_h1
        transport = AsyncTransport(ca_certs=test_server.ca_pem_text)
        hint = "ALPN h2"
    async with (
        transport,
        AsyncConnectClient(base_url, transport=transport, protocol="grpc") as client,
    ):
        for _ in range(2):
            with pytest.raises(ConnectError) as info:
                await client.unary(ECHO, pb.EchoRequest())
            assert info.value.code is Code.UNAVAILABLE
            assert "the grpc protocol needs HTTP/2" in info.value.message
            assert hint in info.value.message
            assert not info.value.remote
        with pytest.raises(ConnectError, match="needs HTTP/2"):
            async for _ in client.server_stream(STREAM, pb.StreamRequest(count=1)):
                pass
        # Nothing was sent: the one connection stays idle in the pool.
        assert transport.num_connections == 1
        # The same transport serves gRPC-Web over HTTP/1.1.
        async with AsyncConnectClient(base_url, transport=transport, protocol="grpc-web") as web:
            assert (await web.unary(ECHO, pb.EchoRequest(payload=b"w"))).payload == b"w"


async def test_unknown_protocol_is_refused(test_server: Any) -> None:
    with pytest.raises(ValueError, match="protocol must be one of"):
        AsyncConnectClient(test_server.http, protocol="grpcweb")


def _handlers(test_server: Any, tag: str) -> dict[str, int]:
    """How the server's handlers of calls tagged ``tag`` ended (``ended``, and
    ``cancelled``: the client went away before the handler finished)."""
    url = f"{test_server.http}/_reliability/stats?tag={tag}"
    with urllib.request.urlopen(url, timeout=5) as reply:
        data: dict[str, int] = json.loads(reply.read())
    return {"ended": data["ended"], "cancelled": data["cancelled"]}


async def _until(test_server: Any, tag: str, expected: dict[str, int]) -> dict[str, int]:
    seen = _handlers(test_server, tag)
    limit = current_time() + 10
    while seen != expected and current_time() < limit:
        await sleep(0.02)
        seen = _handlers(test_server, tag)
    return seen


async def test_abandoned_stream_is_reset_and_completed_calls_are_not(
    client: AsyncConnectClient, test_server: Any
) -> None:
    tag = f"grpc-reset-{uuid.uuid4().hex}"
    headers = {"x-rel-tag": tag}
    await client.unary(ECHO, pb.EchoRequest(), headers=headers)
    async for _ in client.server_stream(STREAM, pb.StreamRequest(count=3), headers=headers):
        pass
    await client.client_stream(UPLOAD, [pb.UploadRequest(chunk=b"x")], headers=headers)
    # Completed calls: the server's handlers all ended with their client still there.
    assert await _until(test_server, tag, {"ended": 3, "cancelled": 0}) == {
        "ended": 3,
        "cancelled": 0,
    }
    endless = pb.StreamRequest(count=1_000_000, size=64, outcome=outcome(delay_ms=5))
    async with client.server_stream(STREAM, endless, headers=headers) as call:
        assert await call.receive() is not None
    # Abandoned: the stream is reset (HTTP/1.1: the connection closed) at once,
    # and the server's handler sees its client gone.
    assert await _until(test_server, tag, {"ended": 4, "cancelled": 1}) == {
        "ended": 4,
        "cancelled": 1,
    }
