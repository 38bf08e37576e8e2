from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import wrappers_pb2

from connect_python import Code, ConnectError, ErrorDetail, Headers
from connect_python._code import code_from_http_status
from connect_python._errors import error_from_json, error_to_json, parse_error_body


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
