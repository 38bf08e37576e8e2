"""Binary metadata (``-bin`` names): base64 values decoded padded or not,
joined values split, anything else a typed error."""

from __future__ import annotations

import pytest

from connect_python import BinaryHeaderError, Headers, decode_binary_header, encode_binary_header
from connect_python.protocol.connect_request import raw_headers


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("", b""),
        ("AAE", b"\x00\x01"),  # unpadded (gRPC, connect-go)
        ("AAE=", b"\x00\x01"),  # padded
        ("/w", b"\xff"),
        ("_w", b"\xff"),  # the URL-safe alphabet
        (" AAEC ", b"\x00\x01\x02"),  # optional whitespace around a header value
    ],
)
def test_decode(text: str, data: bytes) -> None:
    assert decode_binary_header(text) == data


@pytest.mark.parametrize("text", ["!!", "A", "AA=A", "AAE==x", "AA E", "AAE\n=", "é"])
def test_garbage_is_a_typed_error(text: str) -> None:
    with pytest.raises(BinaryHeaderError) as info:
        decode_binary_header(text, "x-trace-bin")
    assert isinstance(info.value, ValueError)
    assert (info.value.name, info.value.value) == ("x-trace-bin", text)
    assert "x-trace-bin" in str(info.value)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x01", b"\xff\xfe\xfd", bytes(range(256))])
def test_round_trip_unpadded(data: bytes) -> None:
    text = encode_binary_header(data)
    assert "=" not in text
    assert decode_binary_header(text) == data


def test_headers_get_bin() -> None:
    headers = Headers(
        [("X-Trace-Bin", "AAE"), ("x-trace-bin", "/w=="), ("x-text", "plain"), ("x-bad-bin", "!")]
    )
    assert headers.get_bin("x-trace-bin") == b"\x00\x01"
    assert headers.get_bin("X-TRACE-BIN") == b"\x00\x01"
    assert headers.get_all_bin("x-trace-bin") == [b"\x00\x01", b"\xff"]
    assert headers.get_bin("x-missing-bin") is None
    assert headers.get_all_bin("x-missing-bin") == []
    # The text stays as received.
    assert headers["x-trace-bin"] == "AAE"
    with pytest.raises(BinaryHeaderError):
        headers.get_bin("x-bad-bin")
    with pytest.raises(ValueError, match="not binary metadata"):
        headers.get_bin("x-text")


def test_values_joined_with_commas_count_one_by_one() -> None:
    # HTTP/1.1 intermediaries may fold repeated headers into one line.
    headers = Headers([("x-ids-bin", "AQ, Ag==,Aw")])
    assert headers.get_all_bin("x-ids-bin") == [b"\x01", b"\x02", b"\x03"]
    assert headers.get_bin("x-ids-bin") == b"\x01"


def test_connect_request_lines_take_bytes_for_binary_metadata() -> None:
    lines = raw_headers(Headers([("x-a-bin", b"\x00\xfe"), ("x-b", "text")]))  # type: ignore[list-item]
    assert lines == [(b"x-a-bin", b"AP4"), (b"x-b", b"text")]
    with pytest.raises(ValueError, match="bytes only for binary metadata"):
        raw_headers(Headers([("x-b", b"\x00")]))  # type: ignore[list-item]
