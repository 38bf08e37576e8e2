from __future__ import annotations

import pytest

from connect_python import Code, ConnectError, Headers, JSONCodec, ProtoCodec
from connect_python.protocol.compression import GzipCompression
from connect_python.protocol.connect_request import RequestTemplate, encode_timeout, get_query
from connect_python.protocol.connect_response import (
    check_stream_response,
    check_unary_response,
    parse_end_stream,
    request_label,
    split_unary_trailers,
    unary_content_type_error,
    unary_error,
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


DEEP = b"[" * 100_000


@pytest.mark.parametrize(
    "payload",
    [
        DEEP,
        b'{"error": ' + DEEP,
        b'{"metadata": {"x": ' + DEEP,
        b'{"error": {"code": "internal", "details": [' + b'{"a": ' * 100_000,
    ],
)
def test_deeply_nested_end_stream_is_a_typed_error(payload: bytes) -> None:
    headers = Headers({"content-type": "application/connect+proto", "x-h": "1"})
    with pytest.raises(ConnectError) as info:
        parse_end_stream(payload, headers)
    assert info.value.code is Code.INTERNAL
    assert "nested too deeply" in info.value.message
    assert info.value.metadata["x-h"] == "1"
    assert not info.value.remote


@pytest.mark.parametrize(
    "payload",
    [
        b'{"metadata": []}',
        b'{"metadata": "x-a: 1"}',
        b'{"metadata": {"x-a": "1"}}',  # a string, not an array of strings
        b'{"metadata": {"x-a": [1]}}',
        b'{"metadata": {"x-a": [null]}}',
        b'{"metadata": {"x-a": [["1"]]}}',
        b'{"metadata": {"x-a": {"v": "1"}}}',
        b'{"metadata": {"x a": ["1"]}}',  # not a header name
        b'{"metadata": {"": ["1"]}}',
        b'{"metadata": {"x-a\\n": ["1"]}}',
        b'{"metadata": {"x-a": ["1\\r\\nx-injected: 2"]}}',
        b'{"metadata": {"x-a": ["1\\u0000"]}}',
    ],
)
def test_end_stream_metadata_must_be_names_to_arrays_of_strings(payload: bytes) -> None:
    with pytest.raises(ConnectError) as info:
        parse_end_stream(payload, Headers())
    assert info.value.code is Code.INTERNAL
    assert info.value.message.startswith("protocol error: ")


def test_end_stream_metadata_null_and_empty_are_no_trailers() -> None:
    assert not parse_end_stream(b'{"metadata": null}', Headers()).trailers
    assert not parse_end_stream(b'{"metadata": {}}', Headers()).trailers
    assert not parse_end_stream(b'{"metadata": {"x-a": []}}', Headers()).trailers


def test_end_stream_error_detail_with_surrogate_type_is_dropped() -> None:
    payload = b'{"error": {"code": "aborted", "details": [{"type": "\\udfff", "value": "AA"}]}}'
    end = parse_end_stream(payload, Headers())
    assert end.error is not None
    assert end.error.code is Code.ABORTED
    assert end.error.details == []


def test_request_label() -> None:
    assert (
        request_label(b"POST", "http://h:1/base/", "/pkg.Svc/M") == "POST http://h:1/base/pkg.Svc/M"
    )
    assert request_label(b"GET", "https://h", "/pkg.Svc/M") == "GET https://h/pkg.Svc/M"


def test_stream_errors_name_the_request() -> None:
    url = "POST http://h/pkg.Svc/M"
    err = check_stream_response(404, Headers({"content-type": "text/plain"}), ProtoCodec(), url)
    assert err is not None
    assert err.message.startswith(f"{url}: HTTP 404 Not Found, not a Connect response")
    err = check_stream_response(
        200, Headers({"content-type": "application/grpc"}), ProtoCodec(), url
    )
    assert err is not None and err.code is Code.UNKNOWN
    assert err.message == (
        f"{url}: unexpected response content type 'application/grpc' (expected "
        "application/connect+proto); the server answered with content-type application/grpc: "
        "it speaks gRPC, not Connect"
    )


def test_unary_errors_name_the_request() -> None:
    url = "POST http://h/pkg.Svc/M"
    headers = Headers({"content-type": "text/html"})
    err = unary_error(502, headers, Headers(), b"<html><h1>Bad Gateway</h1></html>", url)
    assert err.message == (
        f"{url}: HTTP 502 Bad Gateway, not a Connect response (content-type text/html): "
        '"Bad Gateway"'
    )
    err = unary_content_type_error(200, headers, Headers(), ProtoCodec(), url, b"<p>hi</p>")
    assert err.code is Code.UNKNOWN
    assert err.message == (
        f"{url}: unexpected response content type 'text/html' (expected application/proto): \"hi\""
    )
    assert err.http_body == b"<p>hi</p>"
