"""The sans-IO gRPC-Web protocol object: bytes in, events out, no I/O."""

from __future__ import annotations

import gzip

import pytest
from _support.grpc_frames import (
    BIDI,
    CLIENT,
    SERVER,
    UNARY,
    S,
    configured,
    env,
    feed,
    good_then_fault,
    raw,
    take_response,
)

from connect_python import Code, ConnectError, ErrorDetail, Headers, MethodInfo
from connect_python.protocol import CallProtocol, ClientProtocol
from connect_python.protocol.envelope import FLAG_COMPRESSED, FLAG_END_STREAM, encode_envelope
from connect_python.protocol.grpc_status import encode_binary_header, encode_status
from connect_python.protocol.grpc_web import (
    FLAG_TRAILERS,
    GrpcWebCall,
    GrpcWebProtocol,
    encode_trailers,
    parse_trailers,
)

WEB = "application/grpc-web+proto"


def trailers(text: str, flags: int = FLAG_TRAILERS) -> bytes:
    return encode_envelope(flags, text.encode("latin-1"))


OK = trailers("grpc-status: 0\r\n")


def protocol(**options: object) -> GrpcWebProtocol:
    options.setdefault("base_url", "http://127.0.0.1:8080")
    return configured(GrpcWebProtocol, **options)


def started(
    kind: MethodInfo[S, S] = UNARY,
    head: dict[str, str] | None = None,
    status: int = 200,
    **options: object,
) -> GrpcWebCall[S, S]:
    call = protocol(**options).call(kind)
    take_response(call, kind, status, head if head is not None else {"content-type": WEB})
    return call


def test_grpc_web_protocol_satisfies_the_interfaces() -> None:
    client: ClientProtocol = GrpcWebProtocol()
    call: CallProtocol[S, S] = client.call(UNARY)
    assert client.name == "grpc-web" and not GrpcWebProtocol.requires_http2
    assert isinstance(call, GrpcWebCall)


def test_request_head() -> None:
    head = protocol(codec="json").call(SERVER).request_head(0.25, message=S(value="x"))
    assert head.headers == [
        (b"grpc-timeout", b"250000u"),
        (b"content-type", b"application/grpc-web+json"),
        (b"grpc-accept-encoding", b"gzip"),
        (b"user-agent", b"grpc-python-connect/0.1"),
    ]
    assert head.body == encode_envelope(0, b'"x"') and head.target == b"/pkg.v1.Svc/Do"
    with pytest.raises(ValueError, match="reserved"):
        protocol().call(UNARY).request_head(message=S(), headers={"grpc-timeout": "1S"})


# -- trailers in the body ---------------------------------------------------------------------


def test_unary_ok_with_trailers_frame() -> None:
    call = started(head={"content-type": "application/grpc-web", "x-h": "1"})
    data = env("pong") + trailers("grpc-status: 0\r\nx-t: 2")  # no final line break
    for i in range(len(data)):
        call.response_data(data[i : i + 1])
        assert call.messages() == []
    assert call.ended  # the trailers frame ends the response
    call.response_data(b"")
    end = call.response_end(raw({"grpc-status": "13"}))  # HTTP trailers play no part
    assert end.error is None and end.message is not None and end.message.value == "pong"
    assert call.response_trailers == Headers({"x-t": "2"})
    assert call.response_headers == Headers({"content-type": "application/grpc-web", "x-h": "1"})


def test_unary_empty_message() -> None:
    call = started()
    call.response_data(encode_envelope(0, b"") + trailers("grpc-status: 0\r\nx-t: bing\r\n"))
    end = call.response_end(())
    assert end.error is None and end.message == S()
    assert call.response_trailers == Headers({"x-t": "bing"})


def test_error_in_trailers_mixed_case_and_duplicates() -> None:
    detail = ErrorDetail.pack(S(value="d"))
    status = encode_binary_header(encode_status(9, "error", [detail]))
    call = started()
    call.response_data(
        trailers(
            f"Grpc-Status: 9\r\ngRPC-Message: error\r\nX-Custom-Trailer: bing\r\n"
            f"x-custom-trailer:quuz\r\ngrpc-status-details-bin: {status}\r\n"
        )
    )
    end = call.response_end(())
    assert end.error is not None
    assert (end.error.code, end.error.message) == (Code.FAILED_PRECONDITION, "error")
    assert [d.unpack(S) for d in end.error.details] == [S(value="d")]
    assert call.response_trailers.get_all("x-custom-trailer") == ["bing", "quuz"]
    assert end.error.metadata.get_all("x-custom-trailer") == ["bing", "quuz"]


def test_compressed_trailers_frame() -> None:
    call = started(SERVER, head={"content-type": WEB, "grpc-encoding": "gzip"})
    zipped = encode_envelope(FLAG_COMPRESSED, gzip.compress(S(value="z").SerializeToString()))
    frame = encode_envelope(FLAG_TRAILERS | FLAG_COMPRESSED, gzip.compress(b"grpc-status: 0\r\n"))
    assert feed(call, zipped + frame) == ["z"]
    assert call.response_end(()).error is None
    # A compressed frame without grpc-encoding.
    call = started(SERVER)
    with pytest.raises(ConnectError) as info:
        feed(call, encode_envelope(FLAG_TRAILERS | FLAG_COMPRESSED, gzip.compress(b"x: 1")))
    assert info.value.code is Code.INTERNAL


def test_server_stream_byte_at_a_time() -> None:
    call = started(SERVER)
    data = env("a") + env("b" * 100) + trailers("grpc-status: 0\r\nx-t: 1\r\n")
    got: list[str] = []
    for i in range(len(data)):
        got += feed(call, data[i : i + 1])
    assert got == ["a", "b" * 100] and call.ended
    assert call.response_end(()).error is None
    assert call.response_trailers == Headers({"x-t": "1"})


def test_bidi_and_client_stream() -> None:
    call = started(BIDI)
    assert feed(call, env("a") + env("b") + trailers("grpc-status: 14\r\n")) == ["a", "b"]
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.UNAVAILABLE
    call = started(CLIENT)
    call.response_data(env("one") + env("two") + OK)
    got, error = good_then_fault(call)
    assert got == ["one"]
    assert error.code is Code.UNIMPLEMENTED
    call = started(CLIENT)
    call.response_data(OK)
    assert call.messages() == []
    with pytest.raises(ConnectError) as info:
        call.response_end(())
    assert info.value.code is Code.UNIMPLEMENTED


def test_unary_ok_without_a_message_and_with_two() -> None:
    call = started()
    call.response_data(OK)
    with pytest.raises(ConnectError) as info:
        call.response_end(())
    assert info.value.code is Code.UNIMPLEMENTED
    call = started()
    with pytest.raises(ConnectError) as info:
        call.response_data(env("a") + env("b") + OK)
    assert info.value.code is Code.UNIMPLEMENTED


def test_data_after_the_trailers_frame() -> None:
    call = started(SERVER)
    call.response_data(env("a") + OK + env("late"))
    got, error = good_then_fault(call)
    assert got == ["a"]
    assert error.code is Code.INTERNAL and "after the trailers" in error.message
    call = started(SERVER)
    assert feed(call, OK) == []
    with pytest.raises(ConnectError) as info:
        call.response_data(b"\x00")
    assert info.value.code is Code.INTERNAL
    # A unary call's trailers frame followed by data.
    call = started()
    with pytest.raises(ConnectError):
        call.response_data(env("a") + OK + b"\x00")


def test_missing_trailers_and_status() -> None:
    call = started(SERVER)
    assert feed(call, env("a")) == ["a"]
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.INTERNAL
    call = started()
    call.response_data(env("a") + trailers("grpc-message: error\r\n"))
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.UNKNOWN


@pytest.mark.parametrize(
    "block",
    [
        "grpc-status 0\r\n",
        "grpc status: 0\r\n",
        ": 0\r\n",
        "grpc-status: 0\r\n folded\r\n",
        "grpc-status: 0\rx-a: 1\r\n",
        "x-a: \x00\r\n",
    ],
)
def test_malformed_trailers_frame(block: str) -> None:
    call = started(SERVER)
    call.response_data(env("ok") + trailers(block))
    got, error = good_then_fault(call)
    assert got == ["ok"]
    assert error.code is Code.INTERNAL and "trailers" in error.message


def test_trailers_block_codec() -> None:
    block = encode_trailers(Headers([("grpc-status", "0"), ("x-a", "1"), ("x-a", "2")]))
    assert block == b"grpc-status: 0\r\nx-a: 1\r\nx-a: 2\r\n"
    assert parse_trailers(block) == Headers([("grpc-status", "0"), ("x-a", "1"), ("x-a", "2")])
    assert parse_trailers(b"A: \t v \t\nb:\n\n") == Headers([("a", "v"), ("b", "")])


# -- trailers-only and status rules -------------------------------------------------------------


def test_trailers_only_response() -> None:
    head = {
        "content-type": "application/grpc-web",
        "x-custom-header": "foo",
        "grpc-status": "9",
        "grpc-message": "error",
    }
    call = started(head=head)
    end = call.response_end(())
    assert end.error is not None
    assert (end.error.code, end.error.message) == (Code.FAILED_PRECONDITION, "error")
    assert call.response_headers.get("x-custom-header") == "foo"
    assert call.response_trailers == Headers({"x-custom-header": "foo"})
    with pytest.raises(ConnectError) as info:
        started(head={"content-type": WEB, "grpc-status": "0"}).response_end(())
    assert info.value.code is Code.UNIMPLEMENTED
    end = started(head={"content-type": WEB, "grpc-message": "error"}).response_end(())
    assert end.error is not None and end.error.code is Code.INTERNAL


def test_status_in_head_is_ignored_when_the_body_has_trailers() -> None:
    call = started(head={"content-type": WEB, "grpc-status": "8"})
    call.response_data(trailers("grpc-status: 9\r\n"))
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.FAILED_PRECONDITION


def test_not_grpc_web() -> None:
    for ctype, code in (("image/jpeg", Code.UNKNOWN), ("application/grpc+proto", Code.UNKNOWN)):
        call = protocol().call(UNARY)
        call.request_head(message=S())
        with pytest.raises(ConnectError) as info:
            call.response_head(200, raw({"content-type": ctype}))
        assert info.value.code is code
    call = protocol().call(UNARY)
    call.request_head(message=S())
    with pytest.raises(ConnectError) as info:
        call.response_head(200, raw({"content-type": "application/grpc-web+json"}))
    assert info.value.code is Code.INTERNAL
    call = started(head={"content-type": "text/plain"}, status=429)
    assert call.error_in_body
    call.response_data(b"slow down")
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.UNAVAILABLE
    assert '"slow down"' in end.error.message


# -- limits and framing -------------------------------------------------------------------------


def test_trailers_frame_over_the_limit() -> None:
    call = started(SERVER, read_max_bytes=10)
    call.response_data(trailers("grpc-status: 0\r\nx-long: " + "v" * 20 + "\r\n"))
    with pytest.raises(ConnectError) as info:
        call.messages()
    assert info.value.code is Code.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("flags", [FLAG_END_STREAM, 0x40, 0x82])
def test_unknown_flags(flags: int) -> None:
    call = started(SERVER)
    call.response_data(encode_envelope(flags, b""))
    with pytest.raises(ConnectError) as info:
        call.messages()
    assert info.value.code is Code.INTERNAL and "flags" in info.value.message
