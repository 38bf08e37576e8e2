"""The testing kit's gRPC / gRPC-Web server side, sans-IO: request heads and
the trailers that end a call."""

from __future__ import annotations

import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError, ErrorDetail, Headers, MethodInfo
from connect_python.protocol.grpc_server import (
    end_frame,
    is_grpc,
    open_grpc_call,
    status_trailers,
)
from connect_python.protocol.grpc_status import status_from_trailers
from connect_python.protocol.grpc_web import parse_trailers

ECHO = MethodInfo("connectpy.testing.v1.TestService", "Echo", pb.EchoRequest, pb.EchoResponse)


@pytest.mark.parametrize(
    ("content_type", "web", "codec"),
    [
        ("application/grpc", False, "proto"),
        ("application/grpc+json", False, "json"),
        ("application/grpc-web+proto", True, "proto"),
        ("Application/gRPC-Web+JSON; charset=utf-8", True, "json"),
    ],
)
def test_heads(content_type: str, web: bool, codec: str) -> None:
    headers = Headers({"content-type": content_type, "grpc-timeout": "1500m"})
    assert is_grpc(headers)
    call, is_web = open_grpc_call(ECHO, headers)
    assert (is_web, call.codec.name, call.timeout, call.compression) == (web, codec, 1.5, None)


@pytest.mark.parametrize("timeout", ["", "S", "123456789S", "1x", "0x1S", "1_0S", "-1S"])
def test_bad_timeouts(timeout: str) -> None:
    headers = Headers({"content-type": "application/grpc", "grpc-timeout": timeout})
    with pytest.raises(ConnectError) as info:
        open_grpc_call(ECHO, headers)
    assert info.value.code is Code.INVALID_ARGUMENT


def test_unknown_content_type_and_compression() -> None:
    assert not is_grpc(Headers({"content-type": "application/proto"}))
    with pytest.raises(ConnectError):
        open_grpc_call(ECHO, Headers({"content-type": "application/grpcx"}))
    with pytest.raises(ConnectError) as info:
        open_grpc_call(ECHO, Headers({"content-type": "application/grpc", "grpc-encoding": "lz"}))
    assert info.value.code is Code.UNIMPLEMENTED


def test_status_trailers_round_trip() -> None:
    error = ConnectError(
        Code.NOT_FOUND,
        "gone: 100%",
        details=[ErrorDetail.pack(pb.EchoResponse(payload=b"d"))],
        metadata=Headers({"x-why": "1"}),
    )
    trailers = status_trailers(error, Headers({"x-t": "2"}))
    assert trailers["grpc-status"] == "5"
    assert trailers["grpc-message"] == "gone: 100%25"
    assert (trailers["x-t"], trailers["x-why"]) == ("2", "1")
    back = status_from_trailers(trailers, Headers(), 200)
    assert back is not None
    assert (back.code, back.message) == (Code.NOT_FOUND, "gone: 100%")
    assert back.details[0].unpack(pb.EchoResponse) == pb.EchoResponse(payload=b"d")
    assert status_trailers(None, Headers())["grpc-status"] == "0"
    frame = end_frame(Headers({"grpc-status": "0"}))
    assert frame[0] == 0x80
    assert parse_trailers(frame[5:])["grpc-status"] == "0"
