"""The sans-IO Connect protocol object: bytes in, events out, no I/O."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from _support.connect_calls import (
    BASE,
    BIDI,
    CLIENT,
    GET_OK,
    SERVER,
    UNARY,
    S,
    env,
    feed,
    headers_of,
    msg,
    protocol,
    raw,
    unary_call,
)

from connect_python import (
    Code,
    ConnectError,
    Headers,
)
from connect_python.protocol import CallProtocol, ClientProtocol, End
from connect_python.protocol.connect import ConnectCall, ConnectProtocol
from connect_python.protocol.envelope import FLAG_COMPRESSED


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
