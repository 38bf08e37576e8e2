from __future__ import annotations

import pytest

from connect_python import Code, ConnectError, Headers, JSONCodec, ProtoCodec
from connect_python._compression import GzipCompression
from connect_python._protocol import (
    RequestTemplate,
    check_stream_response,
    check_unary_response,
    encode_timeout,
    get_query,
    parse_end_stream,
    split_unary_trailers,
)


@pytest.mark.parametrize(
    ("seconds", "value"),
    [(1.5, "1500"), (0.0001, "1"), (0, "1"), (1e12, "9999999999"), (0.2, "200")],
)
def test_timeout_header(seconds: float, value: str) -> None:
    assert encode_timeout(seconds) == value
    assert len(value) <= 10


def test_get_query_parameter_order() -> None:
    q = get_query(ProtoCodec(), b"\xff\xfe", GzipCompression())
    assert q == "connect=v1&base64=1&compression=gzip&encoding=proto&message=__4"
    assert get_query(JSONCodec(), b"{}", None) == "connect=v1&base64=1&encoding=json&message=e30"


def test_template_headers_defaults_and_overrides() -> None:
    t = RequestTemplate(
        ProtoCodec(),
        Headers({"user-agent": "mine/1", "x-token": "t"}),
        GzipCompression(),
        [GzipCompression()],
        1024,
    )
    assert t.unary["user-agent"] == "mine/1"
    assert t.unary["content-type"] == "application/proto"
    assert t.unary["connect-protocol-version"] == "1"
    assert t.unary["accept-encoding"] == "gzip"
    assert t.stream["content-type"] == "application/connect+proto"
    assert t.stream["connect-content-encoding"] == "gzip"
    assert t.stream["connect-accept-encoding"] == "gzip"
    assert t.get.get("content-type") is None
    assert t.unary.get_all("user-agent") == ["mine/1"]


def test_unary_trailers_split() -> None:
    headers, trailers = split_unary_trailers(
        Headers([("content-type", "application/proto"), ("trailer-x-t", "1"), ("trailer-x-t", "2")])
    )
    assert list(headers) == ["content-type"]
    assert trailers.get_all("x-t") == ["1", "2"]


@pytest.mark.parametrize(
    ("status", "ctype", "codec", "expected"),
    [
        (200, "application/proto", ProtoCodec(), None),
        (200, "application/json; charset=utf-8", JSONCodec(), None),
        (200, "application/json", ProtoCodec(), Code.INTERNAL),
        (200, "text/html", ProtoCodec(), Code.UNKNOWN),
        (200, "", ProtoCodec(), Code.UNKNOWN),
        (404, "application/json", ProtoCodec(), Code.UNIMPLEMENTED),
    ],
)
def test_unary_content_type(
    status: int, ctype: str, codec: ProtoCodec, expected: Code | None
) -> None:
    assert check_unary_response(status, Headers({"content-type": ctype}), codec) is expected


@pytest.mark.parametrize(
    ("status", "ctype", "expected"),
    [
        (200, "application/connect+proto", None),
        (200, "application/connect+json", Code.INTERNAL),
        (200, "application/proto", Code.UNKNOWN),
        (502, "text/plain", Code.UNAVAILABLE),
    ],
)
def test_stream_content_type(status: int, ctype: str, expected: Code | None) -> None:
    err = check_stream_response(status, Headers({"content-type": ctype}), ProtoCodec())
    assert (err.code if err else None) is expected


def test_end_stream_parsing() -> None:
    end = parse_end_stream(b'{"metadata": {"x-a": ["1", "2"]}}', Headers())
    assert end.error is None
    assert end.trailers.get_all("x-a") == ["1", "2"]
    end = parse_end_stream(
        b'{"error": {"code": "bogus", "message": "m"}, "metadata": {"t": ["v"]}}', Headers()
    )
    assert end.error is not None and end.error.code is Code.UNKNOWN
    assert end.error.metadata["t"] == "v"
    assert parse_end_stream(b"", Headers()).error is None
    for bad in (b"{nope", b"[]", b"\xff"):
        with pytest.raises(ConnectError) as info:
            parse_end_stream(bad, Headers())
        assert info.value.code is Code.INTERNAL
