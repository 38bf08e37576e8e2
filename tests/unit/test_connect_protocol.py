"""The sans-IO Connect protocol object: bytes in, events out, no I/O."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence

import pytest
from google.protobuf import wrappers_pb2

from connect_python import (
    Code,
    ConnectError,
    Headers,
    IdempotencyLevel,
    MethodInfo,
    StreamType,
)
from connect_python.protocol import CallProtocol, ClientProtocol, End
from connect_python.protocol.connect import ConnectCall, ConnectProtocol
from connect_python.protocol.envelope import FLAG_COMPRESSED, FLAG_END_STREAM, encode_envelope

S = wrappers_pb2.StringValue
BASE = "http://127.0.0.1:8080/base"


def method(
    kind: StreamType = StreamType.UNARY,
    idempotency: IdempotencyLevel = IdempotencyLevel.UNKNOWN,
) -> MethodInfo[S, S]:
    return MethodInfo("pkg.v1.Svc", "Do", S, S, kind, idempotency)


UNARY = method()
GET_OK = method(idempotency=IdempotencyLevel.NO_SIDE_EFFECTS)
SERVER = method(StreamType.SERVER_STREAM)
CLIENT = method(StreamType.CLIENT_STREAM)
BIDI = method(StreamType.BIDI_STREAM)


def protocol(**options: object) -> ConnectProtocol:
    options.setdefault("base_url", BASE)
    options.setdefault("accept_compression", ["gzip"])
    return ConnectProtocol(**options)  # type: ignore[arg-type]


def raw(items: dict[str, str] | Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    pairs = items.items() if isinstance(items, dict) else items
    return [(k.encode(), v.encode()) for k, v in pairs]


def headers_of(raw_headers: list[tuple[bytes, bytes]]) -> Headers:
    return Headers.from_raw(raw_headers)


def msg(value: str) -> bytes:
    return S(value=value).SerializeToString()


def env(payload: bytes, flags: int = 0) -> bytes:
    return encode_envelope(flags, payload)


def end_stream(obj: object, flags: int = FLAG_END_STREAM) -> bytes:
    return encode_envelope(flags, json.dumps(obj).encode())


def values(messages: Sequence[S]) -> list[str]:
    return [m.value for m in messages]


def feed(call: ConnectCall[S, S], data: bytes) -> list[S]:
    """Give ``data`` to the call; every message it completed, decoded."""
    call.response_data(data)
    return [call.decode(flags, payload) for flags, payload in call.messages()]


def stream_call(
    kind: MethodInfo[S, S] = SERVER, ctype: str = "application/connect+proto", **options: object
) -> ConnectCall[S, S]:
    call = protocol(**options).call(kind)
    call.request_head(message=S(value="req")) if kind is SERVER else call.request_head()
    call.response_head(200, raw({"content-type": ctype}))
    return call


def unary_call(
    status: int, head: dict[str, str] | list[tuple[str, str]], **options: object
) -> ConnectCall[S, S]:
    call = protocol(**options).call(UNARY)
    call.request_head(message=S(value="req"))
    call.response_head(status, raw(head))
    return call


def test_connect_protocol_satisfies_the_interfaces() -> None:
    client: ClientProtocol = ConnectProtocol()
    call: CallProtocol[S, S] = client.call(UNARY)
    assert client.name == "connect"
    assert isinstance(call, ConnectCall)


# -- unary --------------------------------------------------------------------------------


def test_unary_request_head_and_proto_response() -> None:
    call = protocol().call(UNARY)
    assert call.response_headers == Headers() and call.response_trailers == Headers()
    head = call.request_head(message=S(value="hello"))
    assert (head.verb, head.target, head.body) == (b"POST", b"/base/pkg.v1.Svc/Do", msg("hello"))
    sent = headers_of(head.headers)
    assert sent["content-type"] == "application/proto"
    assert sent["connect-protocol-version"] == "1"
    assert sent["accept-encoding"] == "gzip"
    assert sent["user-agent"].startswith("connect-python/")
    assert "connect-timeout-ms" not in sent and "content-encoding" not in sent

    call.response_head(200, raw({"content-type": "application/proto", "x-h": "1"}))
    body = msg("world")
    assert feed(call, body[:3]) == []
    assert feed(call, body[3:]) == []
    assert not call.ended
    end = call.response_end()
    assert isinstance(end, End)
    assert end.error is None and end.message == S(value="world")
    assert call.ended and call.status == 200
    assert call.response_headers["x-h"] == "1"
    assert end.trailers == Headers()


def test_unary_json() -> None:
    call = protocol(codec="json").call(UNARY)
    head = call.request_head(message=S(value="hi"))
    assert headers_of(head.headers)["content-type"] == "application/json"
    assert head.body == b'"hi"'
    call.response_head(200, raw({"content-type": "application/json; charset=utf-8"}))
    call.response_data(b'"there"')
    assert call.response_end().message == S(value="there")


def test_unary_compressed_response() -> None:
    call = unary_call(200, {"content-type": "application/proto", "content-encoding": "gzip"})
    call.response_data(gzip.compress(msg("zipped")))
    assert call.response_end().message == S(value="zipped")


def test_unary_request_compressed_when_worthwhile() -> None:
    proto = protocol(send_compression="gzip", compress_min_bytes=100)
    small = proto.call(UNARY).request_head(message=S(value="x"))
    assert "content-encoding" not in headers_of(small.headers)
    assert small.body == msg("x")
    big_call = proto.call(UNARY)
    big_body = big_call.encode_request(S(value="y" * 200))
    big = big_call.request_head()
    assert headers_of(big.headers)["content-encoding"] == "gzip"
    assert big.body == big_body and gzip.decompress(big_body) == msg("y" * 200)
    none = proto.call(UNARY, send_compression="identity").request_head(message=S(value="y" * 200))
    assert "content-encoding" not in headers_of(none.headers)


def test_unary_trailer_headers_split() -> None:
    call = unary_call(
        200,
        [
            ("content-type", "application/proto"),
            ("trailer-x-t", "1"),
            ("x-h", "h"),
            ("Trailer-X-T", "2"),
        ],
    )
    call.response_data(msg("ok"))
    end = call.response_end(raw({"x-http": "3"}))
    assert end.message == S(value="ok")
    assert end.trailers.get_all("x-t") == ["1", "2"]
    assert end.trailers["x-http"] == "3"
    assert call.response_trailers is end.trailers
    assert list(call.response_headers) == ["content-type", "x-h"]


def test_unary_error_body_with_details() -> None:
    detail = S(value="why")
    body = json.dumps(
        {
            "code": "not_found",
            "message": "no such thing",
            "details": [
                {
                    "type": "google.protobuf.StringValue",
                    "value": base64.b64encode(detail.SerializeToString()).decode().rstrip("="),
                }
            ],
        }
    ).encode()
    call = unary_call(404, {"content-type": "application/json", "trailer-x-t": "t"})
    call.response_data(body[:10])
    call.response_data(body[10:])
    end = call.response_end()
    assert end.message is None
    error = end.error
    assert error is not None
    assert (error.code, error.message, error.http_status) == (Code.NOT_FOUND, "no such thing", 404)
    assert error.remote
    assert [d.unpack(S) for d in error.details] == [detail]
    assert error.metadata["content-type"] == "application/json"
    assert error.metadata["x-t"] == "t"
    assert end.trailers["x-t"] == "t"


def test_unary_compressed_error_body() -> None:
    call = unary_call(400, {"content-type": "application/json", "content-encoding": "gzip"})
    call.response_data(gzip.compress(b'{"code": "invalid_argument", "message": "bad"}'))
    error = call.response_end().error
    assert error is not None and (error.code, error.message) == (Code.INVALID_ARGUMENT, "bad")


@pytest.mark.parametrize(
    ("ctype", "code"),
    [("application/json", Code.INTERNAL), ("text/html", Code.UNKNOWN), ("", Code.UNKNOWN)],
)
def test_unary_unexpected_content_type(ctype: str, code: Code) -> None:
    call = unary_call(200, {"content-type": ctype} if ctype else {})
    call.response_data(b"<p>hi</p>")
    error = call.response_end().error
    assert error is not None and error.code is code and error.http_status == 200
    assert "(expected application/proto)" in error.message


@pytest.mark.parametrize(
    ("status", "code", "phrase"),
    [(404, Code.UNIMPLEMENTED, "HTTP 404 Not Found"), (503, Code.UNAVAILABLE, "HTTP 503")],
)
def test_unary_html_error_page(status: int, code: Code, phrase: str) -> None:
    page = b"<html><body><h1>Nothing here</h1></body></html>"
    call = unary_call(status, {"content-type": "text/html"})
    call.response_data(page)
    error = call.response_end().error
    assert error is not None
    assert (error.code, error.http_status, error.http_body) == (code, status, page)
    assert error.message.startswith(f"POST {BASE}/pkg.v1.Svc/Do: {phrase}")
    assert "Nothing here" in error.message


def test_unary_empty_body_is_the_empty_message() -> None:
    call = unary_call(200, {"content-type": "application/proto"})
    end = call.response_end()
    assert end.error is None and end.message == S()


def test_unary_empty_error_body_maps_the_status() -> None:
    call = unary_call(503, {})
    error = call.response_end().error
    assert error is not None and error.code is Code.UNAVAILABLE


def test_unary_body_over_the_limit() -> None:
    call = unary_call(200, {"content-type": "application/proto"}, read_max_bytes=8)
    call.response_data(b"12345678")
    with pytest.raises(ConnectError) as info:
        call.response_data(b"9")
    assert info.value.code is Code.RESOURCE_EXHAUSTED
    assert info.value.message == "message size is larger than configured max 8"
    with pytest.raises(ConnectError) as again:
        call.response_end()
    assert again.value is info.value


def test_unary_unknown_content_encoding() -> None:
    call = unary_call(200, {"content-type": "application/proto", "content-encoding": "foo"})
    call.response_data(b"\x00")
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.code is Code.INTERNAL
    assert info.value.message.startswith("unknown compression 'foo'")
    assert info.value.http_status == 200 and info.value.metadata["content-encoding"] == "foo"


def test_unary_malformed_message() -> None:
    call = unary_call(200, {"content-type": "application/proto", "trailer-x": "1"})
    call.response_data(b"\xff\xff\xff")
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.code is Code.INTERNAL
    assert info.value.message.startswith("failed to unmarshal StringValue")
    assert info.value.metadata["x"] == "1"


def test_unary_needs_its_message() -> None:
    with pytest.raises(ValueError, match="unary method"):
        protocol().call(UNARY).request_head()


# -- GET, headers, timeouts -----------------------------------------------------------


def test_get_query_and_headers() -> None:
    call = protocol(headers={"x-token": "t"}).call(GET_OK)
    head = call.request_head(0.25, message=S(value="q"), use_get=True)
    encoded = base64.urlsafe_b64encode(msg("q")).rstrip(b"=")
    assert head.verb == b"GET" and head.body == b""
    assert head.target == (
        b"/base/pkg.v1.Svc/Do?connect=v1&base64=1&encoding=proto&message=" + encoded
    )
    sent = headers_of(head.headers)
    assert "content-type" not in sent and "connect-protocol-version" not in sent
    assert sent["accept-encoding"] == "gzip"
    assert sent["connect-timeout-ms"] == "250"
    assert sent["x-token"] == "t"
    call.response_head(404, raw({"content-type": "text/plain"}))
    error = call.response_end().error
    assert error is not None and error.message.startswith(f"GET {BASE}/pkg.v1.Svc/Do: HTTP 404")


def test_get_compressed_query() -> None:
    call = protocol(send_compression="gzip", compress_min_bytes=0, codec="json").call(GET_OK)
    head = call.request_head(message=S(value="q"), use_get=True)
    query = head.target.split(b"?", 1)[1].decode()
    assert query.startswith("connect=v1&base64=1&compression=gzip&encoding=json&message=")
    data = query.rsplit("=", 1)[1]
    assert gzip.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))) == b'"q"'


def test_get_refused_unless_no_side_effects() -> None:
    with pytest.raises(ValueError, match="not marked NO_SIDE_EFFECTS"):
        protocol().call(UNARY).request_head(message=S(), use_get=True)
    with pytest.raises(ValueError, match="streaming method"):
        protocol().call(SERVER).request_head(use_get=True)


@pytest.mark.parametrize(
    ("left", "value"),
    [(1.5, "1500"), (0.0001, "1"), (0.0, "1"), (-1.0, "1"), (1e12, "9999999999"), (None, None)],
)
def test_timeout_header(left: float | None, value: str | None) -> None:
    for kind in (UNARY, SERVER, CLIENT, BIDI):
        call = protocol().call(kind)
        head = call.request_head(left, message=S()) if kind is UNARY else call.request_head(left)
        assert headers_of(head.headers).get("connect-timeout-ms") == value


def test_per_call_headers_replace_defaults() -> None:
    proto = protocol(headers={"x-a": "client", "x-b": "b"}, user_agent="mine/2")
    head = proto.call(SERVER).request_head(headers=[("X-A", "1"), ("x-a", "2")])
    sent = headers_of(head.headers)
    assert sent.get_all("x-a") == ["1", "2"]
    assert sent["x-b"] == "b" and sent.get_all("user-agent") == ["mine/2"]
    # Protocol headers win over client defaults.
    assert headers_of(
        protocol(headers={"content-type": "text/plain"})
        .call(UNARY)
        .request_head(message=S())
        .headers
    ).get_all("content-type") == ["application/proto"]


def test_stream_request_head_and_compression_per_call() -> None:
    proto = protocol(send_compression="gzip", compress_min_bytes=4)
    head = proto.call(BIDI).request_head()
    sent = headers_of(head.headers)
    assert head.body is None and head.verb == b"POST"
    assert sent["content-type"] == "application/connect+proto"
    assert sent["connect-protocol-version"] == "1"
    assert sent["connect-content-encoding"] == "gzip"
    assert sent["connect-accept-encoding"] == "gzip"
    plain = headers_of(proto.call(BIDI, send_compression="identity").request_head().headers)
    assert "connect-content-encoding" not in plain
    other = protocol().call(CLIENT, send_compression="gzip").request_head()
    assert headers_of(other.headers).get_all("connect-content-encoding") == ["gzip"]
    with pytest.raises(ValueError, match="compression 'nope' is not available"):
        proto.call(BIDI, send_compression="nope")
    with pytest.raises(ValueError, match="compression 'nope' is not available"):
        ConnectProtocol(send_compression="nope")


def test_encode_request_envelopes() -> None:
    call = protocol(send_compression="gzip", compress_min_bytes=10).call(BIDI)
    call.request_head()
    assert call.encode_request(S(value="x")) == env(msg("x"))
    big = call.encode_request(S(value="y" * 20))
    assert big[0] == FLAG_COMPRESSED
    assert int.from_bytes(big[1:5], "big") == len(big) - 5
    assert gzip.decompress(big[5:]) == msg("y" * 20)


def test_server_stream_request_body_is_one_envelope() -> None:
    head = protocol().call(SERVER).request_head(message=S(value="r"))
    assert head.body == env(msg("r"))


# -- streams --------------------------------------------------------------------------


def test_server_stream_messages_and_trailers() -> None:
    call = stream_call()
    chunk = env(msg("a")) + env(msg("b")) + env(msg("")) + env(msg("c"))
    assert values(feed(call, chunk)) == ["a", "b", "", "c"]
    assert not call.ended
    assert feed(call, end_stream({"metadata": {"x-t": ["1", "2"]}})) == []
    assert call.ended
    assert feed(call, b"") == []
    end = call.response_end()
    assert end.error is None and end.message is None
    assert end.trailers.get_all("x-t") == ["1", "2"]
    assert call.response_trailers is end.trailers


def test_stream_message_split_over_chunks() -> None:
    call = stream_call()
    data = env(msg("first")) + env(msg("second" * 50)) + end_stream({})
    got: list[str] = []
    for i in range(len(data)):
        got += values(feed(call, data[i : i + 1]))
    assert got == ["first", "second" * 50]
    assert call.response_end().error is None


def test_stream_json_codec() -> None:
    call = stream_call(ctype="application/connect+json", codec="json")
    assert values(feed(call, env(b'"j"') + end_stream({}))) == ["j"]
    assert call.response_end().error is None


def test_stream_compressed_messages_and_end_stream() -> None:
    call = protocol().call(SERVER)
    call.request_head(message=S())
    call.response_head(
        200,
        raw({"content-type": "application/connect+proto", "connect-content-encoding": "gzip"}),
    )
    end = gzip.compress(json.dumps({"metadata": {"x-z": ["z"]}}).encode())
    data = (
        env(gzip.compress(msg("zip")), FLAG_COMPRESSED)
        + env(msg("plain"))
        + env(end, FLAG_END_STREAM | FLAG_COMPRESSED)
    )
    assert values(feed(call, data)) == ["zip", "plain"]
    assert call.response_end().trailers["x-z"] == "z"


def test_stream_end_with_error() -> None:
    call = stream_call()
    error_json = {
        "code": "resource_exhausted",
        "message": "slow down",
        "details": [{"type": "google.protobuf.StringValue", "value": "CgJoaQ"}],
    }
    data = env(msg("a")) + end_stream({"error": error_json, "metadata": {"x-t": ["t"]}})
    assert values(feed(call, data)) == ["a"]
    end = call.response_end()
    error = end.error
    assert error is not None and error.remote
    assert (error.code, error.message) == (Code.RESOURCE_EXHAUSTED, "slow down")
    assert [d.unpack(S) for d in error.details] == [S(value="hi")]
    assert error.metadata["x-t"] == "t"
    assert error.metadata["content-type"] == "application/connect+proto"
    assert end.trailers["x-t"] == "t"


def test_messages_come_in_bounded_batches_and_decode_one_at_a_time() -> None:
    call = stream_call()
    call.response_data(b"".join(env(msg(str(i))) for i in range(5)) + end_stream({}))
    first = call.messages(2)
    assert [call.decode(*m).value for m in first] == ["0", "1"]
    assert not call.ended
    rest = call.messages(10)
    assert [call.decode(*m).value for m in rest] == ["2", "3", "4"]
    assert call.ended and call.messages() == []
    assert call.response_end().error is None


def test_error_status_is_read_from_the_body() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    assert not call.error_in_body
    call.response_head(500, raw({"content-type": "application/json"}))
    assert call.error_in_body and call.messages() == []
    call.response_data(b'{"code": "internal", "message": "boom"}')
    error = call.response_end().error
    assert error is not None and (error.code, error.message) == (Code.INTERNAL, "boom")
    assert not call.error_in_body and call.ended
    ok = stream_call()
    assert not ok.error_in_body


def test_stream_missing_end_stream() -> None:
    call = stream_call()
    assert values(feed(call, env(msg("a")))) == ["a"]
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.code is Code.INTERNAL
    assert info.value.message == "protocol error: stream ended without an end-stream message"


def test_stream_ends_inside_a_message() -> None:
    call = stream_call()
    call.response_data(env(msg("abc"))[:-1])
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.message == "protocol error: stream ended inside a message"


def _raises(call: ConnectCall[S, S], data: bytes, code: Code, message: str) -> ConnectError:
    with pytest.raises(ConnectError) as info:
        feed(call, data)
    assert (info.value.code, info.value.message) == (code, message)
    return info.value


AFTER_END = "protocol error: data after the end-stream message"


def test_data_after_end_stream() -> None:
    _raises(stream_call(), end_stream({}) + env(msg("late")), Code.INTERNAL, AFTER_END)
    call = stream_call()
    assert feed(call, end_stream({})) == []
    error = _raises(call, b"\x00", Code.INTERNAL, AFTER_END)
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value is error


def test_fault_after_good_messages_waits_for_them() -> None:
    call = stream_call()
    data = env(msg("a")) + env(msg("b")) + end_stream({}) + b"junk"
    assert values(feed(call, data)) == ["a", "b"]
    assert not call.ended
    with pytest.raises(ConnectError) as info:
        call.messages()
    assert info.value.message == AFTER_END
    with pytest.raises(ConnectError) as again:
        call.response_data(b"")
    assert again.value is info.value


def test_malformed_message_after_good_ones() -> None:
    call = stream_call()
    call.response_data(env(msg("a")) + env(b"\xff\xff"))
    first, second = call.messages()
    assert call.decode(*first) == S(value="a")
    with pytest.raises(ConnectError) as info:
        call.decode(*second)
    assert info.value.code is Code.INTERNAL
    assert info.value.message.startswith("failed to unmarshal StringValue")


@pytest.mark.parametrize("encoding", [None, "identity"])
def test_compressed_flag_without_encoding(encoding: str | None) -> None:
    head = {"content-type": "application/connect+proto"}
    if encoding:
        head["connect-content-encoding"] = encoding
    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(200, raw(head))
    _raises(
        call,
        env(gzip.compress(msg("a")), FLAG_COMPRESSED),
        Code.INTERNAL,
        "protocol error: compressed message without connect-content-encoding",
    )
    call = stream_call()
    _raises(
        call,
        env(b"{}", FLAG_END_STREAM | FLAG_COMPRESSED),
        Code.INTERNAL,
        "protocol error: compressed end-stream without encoding",
    )


def test_unknown_stream_encoding() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    with pytest.raises(ConnectError) as info:
        call.response_head(
            200,
            raw({"content-type": "application/connect+proto", "connect-content-encoding": "lz4"}),
        )
    assert info.value.code is Code.INTERNAL
    assert info.value.message == "unknown compression 'lz4': accepted encodings are gzip"


def test_declared_length_over_the_limit_before_buffering() -> None:
    call = stream_call(read_max_bytes=16)
    # Only the prefix arrived: the declared length alone is refused.
    _raises(
        call,
        bytes([0, 0, 0, 4, 0]),
        Code.RESOURCE_EXHAUSTED,
        "message size 1024 is larger than configured max 16",
    )


def test_decompressed_message_over_the_limit() -> None:
    call = protocol(read_max_bytes=64).call(SERVER)
    call.request_head()
    call.response_head(
        200,
        raw({"content-type": "application/connect+proto", "connect-content-encoding": "gzip"}),
    )
    _raises(
        call,
        env(gzip.compress(msg("x" * 200)), FLAG_COMPRESSED),
        Code.RESOURCE_EXHAUSTED,
        "decompressed message is larger than configured max 64",
    )


def test_bad_envelope_flags() -> None:
    _raises(
        stream_call(), env(b"", 0x80), Code.INTERNAL, "protocol error: invalid envelope flags 0x80"
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "protocol error: invalid end-stream message: "),
        (b"[]", "protocol error: end-stream message is not an object"),
        (b'{"metadata": {"x": "1"}}', "protocol error: invalid end-stream metadata 'x'"),
    ],
)
def test_malformed_end_stream(payload: bytes, message: str) -> None:
    call = stream_call()
    with pytest.raises(ConnectError) as info:
        feed(call, env(payload, FLAG_END_STREAM))
    assert info.value.code is Code.INTERNAL and info.value.message.startswith(message)
    assert info.value.metadata["content-type"] == "application/connect+proto"


@pytest.mark.parametrize(
    ("ctype", "code"),
    [
        ("application/connect+json", Code.INTERNAL),
        ("application/proto", Code.UNKNOWN),
        ("text/html", Code.UNKNOWN),
    ],
)
def test_stream_unexpected_content_type(ctype: str, code: Code) -> None:
    call = protocol().call(SERVER)
    call.request_head()
    with pytest.raises(ConnectError) as info:
        call.response_head(200, raw({"content-type": ctype}))
    assert info.value.code is code
    assert "(expected application/connect+proto)" in info.value.message
    with pytest.raises(ConnectError):
        call.response_data(b"")


def test_stream_error_status_with_connect_error_body() -> None:
    call = protocol().call(BIDI)
    call.request_head()
    call.response_head(429, raw({"content-type": "application/json"}))
    body = b'{"code": "aborted", "message": "try again"}'
    assert feed(call, body[:5]) == []
    assert feed(call, body[5:]) == []
    end = call.response_end()
    error = end.error
    assert error is not None
    assert (error.code, error.message, error.http_status) == (Code.ABORTED, "try again", 429)
    assert end.trailers == Headers() and call.ended


def test_stream_error_status_with_html() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(503, raw({"content-type": "text/html"}))
    call.response_data(b"<html><body>maintenance</body></html>")
    error = call.response_end().error
    assert error is not None and error.code is Code.UNAVAILABLE
    assert error.message.startswith(f"POST {BASE}/pkg.v1.Svc/Do: HTTP 503 Service Unavailable")
    assert "maintenance" in error.message


def test_stream_error_status_long_or_broken_body() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(502, raw({"content-type": "text/plain"}))
    call.response_data(b"x" * 65536)
    with pytest.raises(ConnectError) as info:
        call.response_data(b"x")
    assert info.value.code is Code.UNAVAILABLE and info.value.http_body is None

    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(401, raw({}))
    call.response_data(b'{"code": "unauth')
    lost = ConnectError(Code.UNAVAILABLE, "connection reset")
    error = call.response_failed(lost)
    assert error.code is Code.UNAUTHENTICATED and error.http_status == 401


def test_stream_error_status_with_empty_body() -> None:
    call = protocol().call(CLIENT)
    call.request_head()
    call.response_head(503, raw({}))
    error = call.response_end().error
    assert error is not None and error.code is Code.UNAVAILABLE and error.http_status == 503
    assert error.message == (
        f"POST {BASE}/pkg.v1.Svc/Do: HTTP 503 Service Unavailable, not a Connect response"
        " (no content-type): empty body"
    )


def test_response_failed_keeps_its_own_error() -> None:
    call = stream_call()
    with pytest.raises(ConnectError) as info:
        feed(call, env(b"", 0x40))
    assert call.response_failed(info.value) is info.value


def test_response_failed_passes_a_transport_error_on() -> None:
    call = stream_call()
    lost = ConnectError(Code.UNAVAILABLE, "connection reset")
    assert call.response_failed(lost) is lost
    with pytest.raises(ConnectError) as info:
        call.response_data(b"")
    assert info.value is lost


# -- client streams: exactly one response message ----------------------------------------


def test_client_stream_one_response() -> None:
    call = stream_call(CLIENT)
    assert values(feed(call, env(msg("only")) + end_stream({}))) == ["only"]
    assert call.response_end().error is None


def test_client_stream_zero_responses() -> None:
    call = stream_call(CLIENT)
    assert feed(call, end_stream({"metadata": {"x-t": ["1"]}})) == []
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.code is Code.UNIMPLEMENTED
    assert info.value.message == "protocol error: client stream got no response message"
    assert call.response_trailers["x-t"] == "1"


def test_client_stream_zero_responses_with_an_error() -> None:
    call = stream_call(CLIENT)
    assert feed(call, end_stream({"error": {"code": "out_of_range", "message": "oops"}})) == []
    error = call.response_end().error
    assert error is not None and error.code is Code.OUT_OF_RANGE


TWO = "protocol error: client stream got more than one response message"


def test_client_stream_two_responses_in_one_chunk() -> None:
    call = stream_call(CLIENT)
    data = env(msg("a")) + env(msg("b")) + end_stream({"error": {"code": "out_of_range"}})
    assert values(feed(call, data)) == ["a"]
    with pytest.raises(ConnectError) as info:
        call.messages()
    assert (info.value.code, info.value.message) == (Code.UNIMPLEMENTED, TWO)


def test_client_stream_two_responses_in_two_chunks() -> None:
    call = stream_call(CLIENT)
    assert values(feed(call, env(msg("a")))) == ["a"]
    _raises(call, env(msg("b")), Code.UNIMPLEMENTED, TWO)


def test_bidi_stream_full_exchange() -> None:
    call = protocol().call(BIDI)
    head = call.request_head(2.0, headers={"x-req": "1"})
    assert head.body is None
    sent = [call.encode_request(S(value=str(i))) for i in range(3)]
    assert sent == [env(msg(str(i))) for i in range(3)]
    call.response_head(200, raw({"content-type": "application/connect+proto"}))
    assert values(feed(call, env(msg("0")))) == ["0"]
    assert values(feed(call, env(msg("1")) + env(msg("2"))[:3])) == ["1"]
    assert values(feed(call, env(msg("2"))[3:] + end_stream({}))) == ["2"]
    assert call.response_end().error is None


def test_misuse_is_a_runtime_error() -> None:
    call = protocol().call(SERVER)
    with pytest.raises(RuntimeError):
        call.response_data(b"x")
    with pytest.raises(RuntimeError):
        call.response_end()
