from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import wrappers_pb2

from connect_python import Code, ConnectError, ErrorDetail, Headers
from connect_python._code import code_from_http_status
from connect_python._errors import (
    SUMMARY_CHARS,
    error_from_json,
    error_to_json,
    loads_json,
    not_connect_error,
    parse_error_body,
    summarize_body,
)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, Code.INTERNAL),
        (401, Code.UNAUTHENTICATED),
        (403, Code.PERMISSION_DENIED),
        (404, Code.UNIMPLEMENTED),
        (429, Code.UNAVAILABLE),
        (502, Code.UNAVAILABLE),
        (503, Code.UNAVAILABLE),
        (504, Code.UNAVAILABLE),
        (418, Code.UNKNOWN),
        (500, Code.UNKNOWN),
        (800, Code.UNKNOWN),
    ],
)
def test_http_status_mapping(status: int, code: Code) -> None:
    assert code_from_http_status(status) is code
    err = parse_error_body(status, "text/html", b"<html>bad gateway</html>", Headers())
    assert err.code is code
    assert err.http_status == status
    assert err.remote


def test_connect_json_error_with_unpadded_details() -> None:
    detail = wrappers_pb2.StringValue(value="why")
    raw = base64.b64encode(detail.SerializeToString()).decode().rstrip("=")
    body = json.dumps(
        {
            "code": "not_found",
            "message": "nope",
            "details": [{"type": "google.protobuf.StringValue", "value": raw, "debug": {}}],
        }
    ).encode()
    err = parse_error_body(404, "application/json", body, Headers({"x-a": "1"}))
    assert err.code is Code.NOT_FOUND
    assert err.message == "nope"
    assert err.http_status == 404
    assert err.metadata["x-a"] == "1"
    assert len(err.details) == 1
    assert err.details[0].type_name == "google.protobuf.StringValue"
    unpacked = err.details[0].unpack(wrappers_pb2.StringValue)
    assert unpacked is not None and unpacked.value == "why"
    assert err.details[0].unpack(wrappers_pb2.Int32Value) is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"null", 429, Code.UNAVAILABLE),
        (b'{"code": null}', 403, Code.PERMISSION_DENIED),
        (b'{"code": "bogus"}', 429, Code.UNAVAILABLE),
        (b"{not json", 400, Code.INTERNAL),
        (b"[1, 2]", 401, Code.UNAUTHENTICATED),
        (b"\xff\xfe", 503, Code.UNAVAILABLE),
    ],
)
def test_bad_error_bodies_fall_back_to_http_status(body: bytes, status: int, code: Code) -> None:
    err = parse_error_body(status, "application/json", body, Headers())
    assert err.code is code


def test_error_json_roundtrip() -> None:
    err = ConnectError(
        Code.ABORTED,
        "stop",
        details=[ErrorDetail.pack(wrappers_pb2.Int64Value(value=7))],
    )
    back = error_from_json(error_to_json(err), fallback=Code.UNKNOWN)
    assert back.code is Code.ABORTED
    assert back.message == "stop"
    value = back.details[0].unpack(wrappers_pb2.Int64Value)
    assert value is not None and value.value == 7


def test_code_tables() -> None:
    assert Code.from_string("canceled") is Code.CANCELED
    assert Code.from_string("CANCELED") is None
    assert Code.from_string(3) is None
    assert [c.number for c in Code] == list(range(1, 17))
    assert Code.from_number(4) is Code.DEADLINE_EXCEEDED
    assert str(Code.UNAVAILABLE) == "unavailable"


DEEP = b"[" * 100_000


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"code": "internal", "details": ' + DEEP, b'{"a": ' + b'{"a": ' * 100_000],
)
def test_deeply_nested_json_error_body_is_a_typed_error(body: bytes) -> None:
    # json.loads raises RecursionError for these; the client must not let it out.
    err = parse_error_body(500, "application/json", body, Headers())
    assert isinstance(err, ConnectError)
    assert err.code is Code.UNKNOWN
    assert err.remote
    assert err.http_status == 500
    assert len(err.message) < 400


def test_loads_json_turns_every_failure_into_value_error() -> None:
    for bad in (DEEP, b"\xff", b"{", b"1" * 5000):
        with pytest.raises(ValueError):
            loads_json(bad)


def test_detail_with_a_type_name_that_is_not_utf8_is_dropped() -> None:
    body = (
        b'{"code": "aborted", "message": "m", "details": ['
        b'{"type": "\\ud800", "value": "AAAA"}, {"type": "x.Y", "value": "AAAA"}]}'
    )
    err = parse_error_body(409, "application/json", body, Headers())
    assert err.code is Code.ABORTED
    assert err.message == "m"
    assert [d.type_name for d in err.details] == ["x.Y"]


URL = "POST http://127.0.0.1:9/base/pkg.Svc/Method"

HTML_501 = b"""<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
        <style>body { color: red; }</style>
        <script>var x = "<b>not text</b>";</script>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: 501</p>
        <p>Message: Unsupported method (&#x27;POST&#x27;).</p>
        <p>Error code explanation: 501 - Server does not support this operation.</p>
        <!-- a comment -->
    </body>
</html>
"""


def test_html_page_is_summarised_and_kept_on_the_error() -> None:
    err = parse_error_body(501, "text/html;charset=utf-8", HTML_501, Headers(), URL)
    assert err.code is Code.UNKNOWN
    assert err.message == (
        "POST http://127.0.0.1:9/base/pkg.Svc/Method: HTTP 501 Not Implemented, not a Connect "
        'response (content-type text/html;charset=utf-8): "Error response Error response '
        "Error code: 501 Message: Unsupported method ('POST'). Error code explanation: 501 - "
        'Server does not support this operation."'
    )
    assert err.http_body == HTML_501
    assert err.http_status == 501


def test_long_text_is_cut() -> None:
    body = ("word " * 1000).encode()
    err = parse_error_body(502, "text/plain", body, Headers(), URL)
    quoted = err.message.split(": ", 2)[2]
    assert quoted.startswith('"word word') and quoted.endswith('..."')
    assert len(quoted) <= SUMMARY_CHARS + 2
    assert err.code is Code.UNAVAILABLE


def test_binary_body_is_described_by_its_size() -> None:
    err = parse_error_body(503, "application/octet-stream", bytes(range(256)) * 4, Headers(), URL)
    assert err.message.endswith(
        "(content-type application/octet-stream): 1024 bytes of application/octet-stream"
    )
    assert err.code is Code.UNAVAILABLE


@pytest.mark.parametrize(
    ("ctype", "body", "summary"),
    [
        ("", b"", "empty body"),
        ("", b"plain words\n", '"plain words"'),
        ("", b"\x00\x01\x02binary", "9 bytes"),
        ("", b"<html><title>Oops</title></html>", '"Oops"'),
        ("application/json", b'{"detail": "Not Found"}', '"{"detail": "Not Found"}"'),
        ("application/problem+json", b'{"title": "x"}', '"{"title": "x"}"'),
        ("text/plain", b"  \n\t ", "5 bytes of whitespace"),
        ("text/plain", b"caf\xc3\xa9 \xff", '"caf\u00e9 \ufffd"'),
        ("text/plain; charset=ISO-8859-1", b"caf\xe9", '"caf\u00e9"'),
        ('text/html; charset="latin-1"', b"<p>caf\xe9</p>", '"caf\u00e9"'),
        ("text/plain; charset=no-such-charset", b"caf\xc3\xa9", '"caf\u00e9"'),
        ("image/png", b"\x89PNG", "4 bytes of image/png"),
    ],
)
def test_body_summaries(ctype: str, body: bytes, summary: str) -> None:
    assert summarize_body(ctype, body) == summary


def test_json_that_is_not_a_connect_error_is_not_connect() -> None:
    # A web framework's 404 (no Connect route): no "code", no "message".
    err = parse_error_body(404, "application/json", b'{"detail": "Not Found"}', Headers(), URL)
    assert err.code is Code.UNIMPLEMENTED
    assert err.message.startswith(f"{URL}: HTTP 404 Not Found, not a Connect response")
    assert '"{"detail": "Not Found"}"' in err.message
    assert "is the base URL right?" in err.message


def test_connect_errors_keep_their_message() -> None:
    body = b'{"code": "not_found", "message": "no such sandbox"}'
    err = parse_error_body(404, "application/json", body, Headers(), URL)
    assert err.code is Code.NOT_FOUND
    assert err.message == "no such sandbox"
    assert err.http_body is None


@pytest.mark.parametrize(
    ("status", "ctype", "hint"),
    [
        (415, "application/grpc", "it speaks gRPC, not Connect"),
        (200, "application/grpc+proto", "it speaks gRPC, not Connect"),
        (400, "application/grpc-web+proto", "it speaks gRPC-Web, not Connect"),
        (404, "text/plain; charset=utf-8", "is the base URL right?"),
        (415, "", "does not accept the request's content type"),
    ],
)
def test_hints_for_servers_that_are_not_connect(status: int, ctype: str, hint: str) -> None:
    err = not_connect_error(status, ctype, b"", Headers(), URL)
    assert err.message.startswith(URL + ": ")
    assert hint in err.message


def test_status_without_a_known_reason_phrase() -> None:
    err = parse_error_body(599, "", b"", Headers(), URL)
    assert err.message == f"{URL}: HTTP 599, not a Connect response (no content-type): empty body"


def test_detail_whose_bytes_do_not_decode_is_a_typed_error() -> None:
    corrupt = base64.b64encode(b"\x0a\xff\xff").decode().rstrip("=")
    body = json.dumps(
        {"code": "internal", "details": [{"type": "google.protobuf.StringValue", "value": corrupt}]}
    ).encode()
    err = parse_error_body(500, "application/json", body, Headers())
    assert err.details[0].unpack(wrappers_pb2.Int32Value) is None  # another type
    with pytest.raises(ConnectError) as info:
        err.details[0].unpack(wrappers_pb2.StringValue)
    assert info.value.code is Code.INTERNAL
    assert info.value.message.startswith(
        "failed to unmarshal error detail google.protobuf.StringValue: "
    )
