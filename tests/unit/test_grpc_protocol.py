"""The sans-IO gRPC protocol object: bytes in, events out, no I/O."""

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
    msg,
    raw,
    take_response,
)
from google.protobuf import wrappers_pb2

from connect_python import Code, ConnectError, ErrorDetail, Headers, MethodInfo
from connect_python.protocol import CallProtocol, ClientProtocol
from connect_python.protocol.envelope import FLAG_COMPRESSED, FLAG_END_STREAM, encode_envelope
from connect_python.protocol.grpc import GrpcCall, GrpcProtocol
from connect_python.protocol.grpc_status import (
    decode_binary_header,
    encode_binary_header,
    encode_status,
)

BASE = "http://127.0.0.1:8080/base"
GRPC = "application/grpc+proto"
OK = raw({"grpc-status": "0"})


def protocol(**options: object) -> GrpcProtocol:
    options.setdefault("base_url", BASE)
    return configured(GrpcProtocol, **options)


def started(
    kind: MethodInfo[S, S] = UNARY,
    head: dict[str, str] | None = None,
    status: int = 200,
    **options: object,
) -> GrpcCall[S, S]:
    call = protocol(**options).call(kind)
    take_response(call, kind, status, head if head is not None else {"content-type": GRPC})
    return call


def test_grpc_protocol_satisfies_the_interfaces() -> None:
    client: ClientProtocol = GrpcProtocol()
    call: CallProtocol[S, S] = client.call(UNARY)
    assert client.name == "grpc" and GrpcProtocol.requires_http2
    assert isinstance(call, GrpcCall)


# -- request -------------------------------------------------------------------------------


def test_unary_request_head() -> None:
    call = protocol().call(UNARY)
    head = call.request_head(2.5, message=S(value="hello"))
    assert (head.verb, head.target) == (b"POST", b"/base/pkg.v1.Svc/Do")
    assert head.body == encode_envelope(0, msg("hello"))
    assert head.headers == [
        (b"grpc-timeout", b"2500000u"),
        (b"te", b"trailers"),
        (b"content-type", b"application/grpc+proto"),
        (b"grpc-accept-encoding", b"gzip"),
        (b"user-agent", b"grpc-python-connect/0.1"),
    ]
    with pytest.raises(ValueError, match="unary method"):
        protocol().call(UNARY).request_head()
    # The message given to encode_request first (as the client does).
    call = protocol().call(UNARY)
    body = call.encode_request(S(value="first"))
    assert call.request_head().body == body == encode_envelope(0, msg("first"))
    with pytest.raises(ValueError, match="no GET"):
        protocol().call(UNARY).request_head(message=S(), use_get=True)


def test_stream_request_head_and_messages() -> None:
    call = protocol(codec="json").call(BIDI)
    head = call.request_head(headers={"x-token": "t"})
    assert head.body is None
    sent = Headers.from_raw(head.headers)
    assert sent["content-type"] == "application/grpc+json"
    assert sent["x-token"] == "t" and "grpc-timeout" not in sent
    assert call.encode_request(S(value="a")) == encode_envelope(0, b'"a"')
    with pytest.raises(TypeError, match="StringValue"):
        call.encode_request(wrappers_pb2.Int32Value())  # type: ignore[arg-type]


def test_default_headers_user_agent_and_per_call_override() -> None:
    proto = protocol(headers={"x-a": "1", "x-b": "2"}, user_agent="mine/2")
    head = proto.call(UNARY).request_head(message=S(), headers={"x-b": "3"})
    sent = Headers.from_raw(head.headers)
    assert sent.get_all("user-agent") == ["mine/2"]
    assert (sent["x-a"], sent.get_all("x-b")) == ("1", ["3"])
    # A user-agent header wins over the option; nothing accepted: no grpc-accept-encoding.
    proto = protocol(headers={"user-agent": "h/1"}, user_agent="mine/2", accept_compression=[])
    lines = proto.call(UNARY).request_head(message=S()).headers
    assert [v for k, v in lines if k == b"user-agent"] == [b"h/1"]
    assert all(k != b"grpc-accept-encoding" for k, _ in lines)


def test_request_compression_only_for_large_messages() -> None:
    call = protocol(send_compression="gzip", compress_min_bytes=10).call(CLIENT)
    head = call.request_head()
    assert (b"grpc-encoding", b"gzip") in head.headers
    small = call.encode_request(S(value="a"))
    assert small[0] == 0
    big = call.encode_request(S(value="x" * 100))
    assert big[0] == FLAG_COMPRESSED
    assert gzip.decompress(big[5:]) == msg("x" * 100)
    assert int.from_bytes(big[1:5], "big") == len(big) - 5
    # Per call: identity.
    plain = protocol(send_compression="gzip").call(CLIENT, send_compression="identity")
    assert all(k != b"grpc-encoding" for k, _ in plain.request_head().headers)
    with pytest.raises(ValueError, match="not available"):
        protocol().call(UNARY, send_compression="lz77")


@pytest.mark.parametrize(
    "name",
    [
        "grpc-timeout",
        "grpc-status",
        "Grpc-Encoding",
        "te",
        "content-type",
        "connection",
        "transfer-encoding",
        ":path",
        "host",
    ],
)
def test_reserved_request_headers_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"reserved|not valid"):
        protocol(headers={name: "x"})
    with pytest.raises(ValueError, match=r"reserved|not valid"):
        protocol().call(UNARY).request_head(message=S(), headers={name: "x"})


def test_malformed_metadata_is_refused() -> None:
    call = protocol().call(UNARY)
    with pytest.raises(ValueError, match="printable ASCII"):
        call.request_head(message=S(), headers={"x-name": "caf\u00e9"})
    with pytest.raises(ValueError, match="printable ASCII"):
        call.request_head(message=S(), headers={"x-name": "a\nb"})
    with pytest.raises(ValueError, match="not valid gRPC metadata"):
        call.request_head(message=S(), headers={"x name": "1"})
    with pytest.raises(ValueError, match="binary metadata"):
        call.request_head(message=S(), headers={"x-data-bin": "not base64!"})
    with pytest.raises(ValueError, match="printable ASCII"):
        protocol(user_agent="caf\u00e9/1")


def test_binary_metadata_on_requests() -> None:
    call = protocol().call(UNARY)
    head = call.request_head(
        message=S(),
        headers=[("x-data-bin", b"\x00\xff\x10"), ("x-text-bin", "AP8Q"), ("x-b-bin", "AP8Q")],  # type: ignore[list-item]
    )
    sent = Headers.from_raw(head.headers)
    assert sent["x-data-bin"] == "AP8Q"  # unpadded base64
    assert decode_binary_header(sent["x-text-bin"]) == b"\x00\xff\x10"


# -- unary ---------------------------------------------------------------------------------


def test_unary_ok_message_headers_and_trailers() -> None:
    call = started(head={"content-type": "application/grpc", "x-h": "1"})
    assert not call.error_in_body and not call.ended
    data = env("pong")
    for i in range(len(data)):  # byte at a time
        call.response_data(data[i : i + 1])
        assert call.messages() == []  # a unary message is End.message
    end = call.response_end(raw({"grpc-status": "0", "grpc-message": "", "x-t": "2"}))
    assert end.error is None and end.message is not None and end.message.value == "pong"
    assert call.ended and call.status == 200
    assert call.response_headers == Headers({"content-type": "application/grpc", "x-h": "1"})
    assert call.response_trailers == Headers({"x-t": "2"})
    assert end.trailers is call.response_trailers


def test_unary_empty_message() -> None:
    call = started()
    call.response_data(encode_envelope(0, b""))
    end = call.response_end(OK)
    assert end.error is None and end.message == S()


def test_unary_server_error_with_details_and_percent_encoded_message() -> None:
    detail = ErrorDetail.pack(S(value="why"))
    status = encode_binary_header(encode_status(5, "caf\u00e9 not found", [detail]))
    call = started(head={"content-type": GRPC, "x-h": "1"})
    end = call.response_end(
        raw(
            {
                "grpc-status": "5",
                "grpc-message": "caf%C3%A9 not found",
                "grpc-status-details-bin": status,
                "x-t-bin": "AAE,AAI",
            }
        )
    )
    error = end.error
    assert error is not None and end.message is None
    assert (error.code, error.message) == (Code.NOT_FOUND, "caf\u00e9 not found")
    assert error.remote and error.http_status == 200
    [got] = error.details
    assert got.type_name == "google.protobuf.StringValue"
    assert got.unpack(S) == S(value="why")
    assert error.metadata.get_all("x-h") == ["1"]
    assert error.metadata.get_all("x-t-bin") == ["AAE", "AAI"]  # split on commas
    assert "grpc-status" not in error.metadata and "grpc-message" not in call.response_trailers


def test_status_details_win_over_the_headers() -> None:
    status = encode_binary_header(encode_status(7, "from details"))
    end = started().response_end(
        raw({"grpc-status": "3", "grpc-message": "plain", "grpc-status-details-bin": status})
    )
    assert end.error is not None
    assert (end.error.code, end.error.message) == (Code.PERMISSION_DENIED, "from details")
    # A details code that is no code, and an empty message: the headers' stand.
    status = encode_binary_header(encode_status(0, "", [ErrorDetail.pack(S(value="d"))]))
    end = started().response_end(
        raw({"grpc-status": "3", "grpc-message": "plain", "grpc-status-details-bin": status})
    )
    assert end.error is not None
    assert (end.error.code, end.error.message) == (Code.INVALID_ARGUMENT, "plain")
    assert [d.unpack(S) for d in end.error.details] == [S(value="d")]


def test_unknown_status_number_is_unknown() -> None:
    end = started().response_end(raw({"grpc-status": "99", "grpc-message": "odd"}))
    assert end.error is not None and end.error.code is Code.UNKNOWN
    assert end.error.message == "odd"


@pytest.mark.parametrize("value", ["abc", "01", "-1", "1 2", "", "12345678901"])
def test_malformed_grpc_status_is_internal(value: str) -> None:
    end = started().response_end(raw({"grpc-status": value}))
    assert end.error is not None and end.error.code is Code.INTERNAL
    assert "invalid grpc-status" in end.error.message


def test_malformed_status_details_are_internal() -> None:
    end = started().response_end(raw({"grpc-status": "5", "grpc-status-details-bin": "***"}))
    assert end.error is not None and end.error.code is Code.INTERNAL
    not_status = encode_binary_header(b"\x0a\x05")  # field 1 as a truncated string
    end = started().response_end(raw({"grpc-status": "5", "grpc-status-details-bin": not_status}))
    assert end.error is not None and end.error.code is Code.INTERNAL
    assert "grpc-status-details-bin" in end.error.message


def test_unary_ok_without_a_message_and_with_two() -> None:
    call = started()
    with pytest.raises(ConnectError) as info:
        call.response_end(OK)
    assert info.value.code is Code.UNIMPLEMENTED
    with pytest.raises(ConnectError) as again:
        call.response_end(OK)
    assert again.value is info.value
    call = started()
    with pytest.raises(ConnectError) as info:
        call.response_data(env("a") + env("b"))
    assert info.value.code is Code.UNIMPLEMENTED
    # An error status with no message is the error, not a missing message.
    end = started().response_end(raw({"grpc-status": "14"}))
    assert end.error is not None and end.error.code is Code.UNAVAILABLE


def test_unary_message_that_does_not_decode() -> None:
    call = started()
    call.response_data(encode_envelope(0, b"\xff\xff"))
    with pytest.raises(ConnectError) as info:
        call.response_end(OK)
    assert info.value.code is Code.INTERNAL and info.value.http_status == 200
    with pytest.raises(ConnectError):
        call.response_data(b"")


# -- trailers-only, missing status -----------------------------------------------------------


def test_trailers_only_response() -> None:
    head = {"content-type": GRPC, "grpc-status": "9", "grpc-message": "no", "x-t": "1"}
    call = started(head=head)
    assert call.response_headers == Headers({"content-type": GRPC, "x-t": "1"})
    end = call.response_end(())
    assert end.error is not None and (end.error.code, end.error.message) == (
        Code.FAILED_PRECONDITION,
        "no",
    )
    assert call.response_trailers == Headers({"x-t": "1"})
    assert end.error.metadata.get_all("x-t") == ["1"]  # the head, once
    # A trailers-only OK: no message.
    with pytest.raises(ConnectError) as info:
        started(head={"content-type": GRPC, "grpc-status": "0"}).response_end(())
    assert info.value.code is Code.UNIMPLEMENTED
    # Server stream: a clean end.
    call = started(SERVER, head={"content-type": GRPC, "grpc-status": "0"})
    assert call.response_end(()).error is None


def test_status_in_head_is_ignored_when_a_body_or_trailers_follow() -> None:
    head = {"content-type": GRPC, "grpc-status": "9"}
    call = started(head=head)
    call.response_data(env("x"))
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.INTERNAL
    call = started(head={"content-type": GRPC, "grpc-status": "8"})
    end = call.response_end(raw({"foo": "bar", "grpc-status": "9"}))
    assert end.error is not None and end.error.code is Code.FAILED_PRECONDITION


def test_missing_status() -> None:
    end = started().response_end(raw({"grpc-message": "error"}))
    assert end.error is not None and end.error.code is Code.UNKNOWN
    assert "without grpc-status" in end.error.message
    call = started(SERVER)
    assert feed(call, env("a")) == ["a"]
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.INTERNAL
    assert "without trailers" in end.error.message and not end.error.remote


# -- streams -------------------------------------------------------------------------------


def test_server_stream_across_chunk_boundaries() -> None:
    call = started(SERVER, head={"content-type": GRPC, "x-h": "v"})
    data = env("a") + env("bb") + env("") + env("c" * 300)
    got: list[str] = []
    for i in range(0, len(data), 3):
        got += feed(call, data[i : i + 3])
        assert not call.ended
    assert got == ["a", "bb", "", "c" * 300]
    end = call.response_end(raw({"grpc-status": "0", "x-t": "1"}))
    assert end.error is None and end.message is None and call.ended
    assert call.response_trailers == Headers({"x-t": "1"})


def test_messages_in_bounded_batches() -> None:
    call = started(SERVER)
    call.response_data(b"".join(env(str(i)) for i in range(10)))
    assert len(call.messages(4)) == 4
    assert len(call.messages(4)) == 4
    assert len(call.messages(4)) == 2
    assert call.messages(4) == []
    assert call.response_end(OK).error is None


def test_bidi_messages_then_an_error() -> None:
    call = started(BIDI)
    assert feed(call, env("a") + env("b")) == ["a", "b"]
    end = call.response_end(raw({"grpc-status": "10", "grpc-message": "aborted%21"}))
    assert end.error is not None and (end.error.code, end.error.message) == (
        Code.ABORTED,
        "aborted!",
    )


def test_client_stream_exactly_one_message() -> None:
    call = started(CLIENT)
    assert feed(call, env("one")) == ["one"]
    assert call.response_end(OK).error is None
    call = started(CLIENT)
    call.response_data(env("one") + env("two"))
    got, error = good_then_fault(call)
    assert got == ["one"]
    assert error.code is Code.UNIMPLEMENTED
    with pytest.raises(ConnectError) as info:
        call.messages()
    assert info.value is error
    call = started(CLIENT)
    with pytest.raises(ConnectError) as info:
        call.response_end(OK)
    assert info.value.code is Code.UNIMPLEMENTED


def test_body_ending_inside_a_message() -> None:
    for cut in (env("abc")[:-1], b"\x00\x00\x00"):
        call = started(SERVER)
        assert feed(call, env("a") + cut) == ["a"]
        with pytest.raises(ConnectError) as info:
            call.response_end(OK)
        assert info.value.code is Code.INTERNAL and "inside a message" in info.value.message
    # The server's error wins over the cut.
    call = started(SERVER)
    feed(call, b"\x00\x00")
    end = call.response_end(raw({"grpc-status": "4"}))
    assert end.error is not None and end.error.code is Code.DEADLINE_EXCEEDED


@pytest.mark.parametrize("flags", [FLAG_END_STREAM, 0x80, 0x04])
def test_bad_flags_after_good_messages(flags: int) -> None:
    call = started(SERVER)
    call.response_data(env("ok") + encode_envelope(flags, b"{}"))
    got, error = good_then_fault(call)
    assert got == ["ok"]
    assert error.code is Code.INTERNAL and "flags" in error.message
    assert error.metadata.get("content-type") == GRPC
    with pytest.raises(ConnectError) as again:
        call.response_end(OK)
    assert again.value is error


# -- compression and limits ------------------------------------------------------------------


def test_compressed_response_messages() -> None:
    call = started(SERVER, head={"content-type": GRPC, "grpc-encoding": "gzip"})
    data = encode_envelope(FLAG_COMPRESSED, gzip.compress(msg("zipped"))) + env("plain")
    assert feed(call, data) == ["zipped", "plain"]


def test_unknown_response_compression() -> None:
    call = protocol().call(UNARY)
    call.request_head(message=S())
    with pytest.raises(ConnectError) as info:
        call.response_head(200, raw({"content-type": GRPC, "grpc-encoding": "foo"}))
    assert info.value.code is Code.INTERNAL and "foo" in info.value.message


@pytest.mark.parametrize("encoding", [None, "identity"])
def test_compressed_flag_without_encoding(encoding: str | None) -> None:
    head = {"content-type": GRPC}
    if encoding:
        head["grpc-encoding"] = encoding
    call = started(SERVER, head=head)
    call.response_data(encode_envelope(FLAG_COMPRESSED, gzip.compress(msg("z"))))
    [m] = call.messages()
    with pytest.raises(ConnectError) as info:
        call.decode(*m)
    assert info.value.code is Code.INTERNAL


def test_declared_length_over_the_limit_before_buffering() -> None:
    call = started(SERVER, read_max_bytes=100)
    call.response_data(b"\x00" + (101).to_bytes(4, "big"))
    with pytest.raises(ConnectError) as info:
        call.messages()
    assert info.value.code is Code.RESOURCE_EXHAUSTED
    unary = started(read_max_bytes=100)
    with pytest.raises(ConnectError) as info:
        unary.response_data(b"\x00" + (101).to_bytes(4, "big"))
    assert info.value.code is Code.RESOURCE_EXHAUSTED


def test_decompressed_size_over_the_limit() -> None:
    call = started(SERVER, head={"content-type": GRPC, "grpc-encoding": "gzip"}, read_max_bytes=50)
    call.response_data(encode_envelope(FLAG_COMPRESSED, gzip.compress(msg("x" * 200))))
    [m] = call.messages()
    with pytest.raises(ConnectError) as info:
        call.decode(*m)
    assert info.value.code is Code.RESOURCE_EXHAUSTED


# -- responses that are not gRPC --------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctype", "code"),
    [
        ("image/jpeg", Code.UNKNOWN),
        ("", Code.UNKNOWN),
        ("application/grpc+json", Code.INTERNAL),
        ("application/grpc-web+proto", Code.UNKNOWN),
        ("application/proto", Code.UNKNOWN),
    ],
)
def test_unexpected_content_type(ctype: str, code: Code) -> None:
    call = protocol().call(UNARY)
    call.request_head(message=S())
    with pytest.raises(ConnectError) as info:
        call.response_head(200, raw({"content-type": ctype}))
    assert info.value.code is code and info.value.http_status == 200
    assert "POST http://127.0.0.1:8080/base/pkg.v1.Svc/Do" in info.value.message
    with pytest.raises(ConnectError):
        call.response_end(OK)


def test_bare_content_type_is_proto_only() -> None:
    call = protocol(codec="json").call(UNARY)
    call.request_head(message=S())
    with pytest.raises(ConnectError) as info:
        call.response_head(200, raw({"content-type": "application/grpc"}))
    assert info.value.code is Code.INTERNAL
    call = protocol(codec="json").call(SERVER)
    call.request_head(message=S())
    call.response_head(200, raw({"content-type": "application/grpc+json; charset=utf-8"}))


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, Code.INTERNAL),
        (401, Code.UNAUTHENTICATED),
        (404, Code.UNIMPLEMENTED),
        (502, Code.UNAVAILABLE),
        (500, Code.UNKNOWN),
    ],
)
def test_http_status_without_grpc_status(status: int, code: Code) -> None:
    call = started(SERVER, head={"content-type": "text/html"}, status=status)
    assert call.error_in_body
    call.response_data(b"<html><body><h1>Bad gateway</h1></body></html>")
    assert call.messages() == []
    end = call.response_end(())
    assert end.error is not None and end.error.code is code
    assert end.error.http_status == status and end.error.remote
    assert f"HTTP {status}" in end.error.message and "not a gRPC response" in end.error.message
    assert "Bad gateway" in end.error.message
    assert end.error.http_body is not None


def test_grpc_status_wins_over_the_http_status() -> None:
    call = started(head={"content-type": GRPC, "grpc-status": "7", "x-t": "1"}, status=500)
    end = call.response_end(())
    assert end.error is not None and end.error.code is Code.PERMISSION_DENIED
    assert call.response_trailers == Headers({"x-t": "1"})
    call = started(head={"content-type": GRPC}, status=503)
    end = call.response_end(raw({"grpc-status": "8"}))
    assert end.error is not None and end.error.code is Code.RESOURCE_EXHAUSTED


def test_long_error_body_and_a_broken_exchange() -> None:
    call = started(head={"content-type": "text/plain"}, status=502)
    with pytest.raises(ConnectError) as info:
        call.response_data(b"x" * (65 * 1024))
    assert info.value.code is Code.UNAVAILABLE
    call = started(head={"content-type": "text/plain"}, status=401)
    broken = ConnectError(Code.UNAVAILABLE, "connection reset")
    reported = call.response_failed(broken)
    assert reported.code is Code.UNAUTHENTICATED
    with pytest.raises(ConnectError) as again:
        call.response_end(())
    assert again.value is reported
    # Outside an error body, the exchange's error stands.
    call = started(SERVER)
    assert call.response_failed(broken) is broken


# -- grpc-message --------------------------------------------------------------------------


def test_out_of_order_calls() -> None:
    call = protocol().call(SERVER)
    with pytest.raises(RuntimeError):
        call.response_data(b"x")
    with pytest.raises(RuntimeError):
        call.response_end(())
    assert call.messages() == []
