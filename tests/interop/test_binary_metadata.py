"""Binary metadata (``-bin`` names) from connect-go over Connect, gRPC and
gRPC-Web: values arrive as the base64 text sent (padded or not), and
``Headers.get_bin`` / ``get_all_bin`` give their bytes, on response headers,
trailers (unary and streams) and an error's metadata. A value that is not
base64 is a ``BinaryHeaderError`` when read, not a failed call. Sent values
may be ``bytes`` on every protocol."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import BinaryHeaderError, ConnectError, encode_binary_header
from connect_python.runtime_async import AsyncTransport, ResponseMetadata

HEADERS = ["x-h-bin: AAE", "x-p-bin: AAE=", "x-bad-bin: not base64!"]
TRAILERS = ["x-t-bin: /w", "x-t-bin: AQ=="]


@pytest.fixture(params=["connect", "grpc", "grpc-web"])
def protocol(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


async def test_unary(test_server: Any, testing_connect: ModuleType, protocol: str) -> None:
    async with (
        AsyncTransport(h2c=True) as transport,
        testing_connect.AsyncTestServiceClient(
            test_server.http, transport=transport, protocol=protocol
        ) as client,
    ):
        meta = ResponseMetadata()
        outcome = pb.Outcome(response_headers=HEADERS, response_trailers=TRAILERS)
        response = await client.echo(
            pb.EchoRequest(payload=b"x", outcome=outcome),
            # bytes, or text from encode_binary_header: unpadded base64 either way
            headers={"x-data-bin": b"\x00\xfe", "x-text-bin": encode_binary_header(b"\x01")},
            metadata=meta,
        )
        seen = dict(entry.split(": ", 1) for entry in response.request_headers)
        assert (seen["x-data-bin"], seen["x-text-bin"]) == ("AP4", "AQ")
        assert meta.headers["x-h-bin"] == "AAE"  # the text, as received
        assert meta.headers.get_bin("x-h-bin") == b"\x00\x01"
        assert meta.headers.get_bin("x-p-bin") == b"\x00\x01"
        assert meta.trailers.get_all_bin("x-t-bin") == [b"\xff", b"\x01"]
        with pytest.raises(BinaryHeaderError) as info:
            meta.headers.get_bin("x-bad-bin")
        assert info.value.name == "x-bad-bin"


async def test_streams_and_errors(
    test_server: Any, testing_connect: ModuleType, protocol: str
) -> None:
    async with (
        AsyncTransport(h2c=True) as transport,
        testing_connect.AsyncTestServiceClient(
            test_server.http, transport=transport, protocol=protocol
        ) as client,
    ):
        outcome = pb.Outcome(response_headers=HEADERS[:2], response_trailers=TRAILERS)
        async with client.stream(pb.StreamRequest(count=2, size=1, outcome=outcome)) as call:
            assert len([m async for m in call]) == 2
        assert call.response_headers.get_bin("x-p-bin") == b"\x00\x01"
        assert call.response_trailers.get_all_bin("x-t-bin") == [b"\xff", b"\x01"]

        failing = pb.Outcome(
            error_code="failed_precondition",
            response_headers=HEADERS[:1],
            response_trailers=TRAILERS,
        )
        with pytest.raises(ConnectError) as error:
            await client.echo(pb.EchoRequest(outcome=failing))
        assert error.value.metadata.get_bin("x-h-bin") == b"\x00\x01"
        assert error.value.metadata.get_all_bin("x-t-bin") == [b"\xff", b"\x01"]
