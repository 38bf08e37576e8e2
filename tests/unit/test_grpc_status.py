"""The rules gRPC and gRPC-Web share (protocol/grpc_status.py): timeouts,
binary metadata, grpc-message, google.rpc.Status."""

from __future__ import annotations

import math

import pytest
from _support.grpc_frames import S

from connect_python import ErrorDetail
from connect_python.protocol.grpc_status import (
    decode_binary_header,
    decode_status,
    encode_binary_header,
    encode_status,
    encode_timeout,
    percent_decode,
    percent_encode,
)


@pytest.mark.parametrize(
    ("seconds", "value"),
    [
        (0.05, "50000000n"),
        (0.099999999, "99999999n"),
        (1.5, "1500000u"),
        (100.0, "100000m"),
        (1e6, "1000000S"),
        (1e9, "16666666M"),
        (1e11, "27777777H"),
        (1e14, "99999999H"),
        (0.0, "1n"),
        (1e-12, "1n"),
        (-math.inf, "1n"),
    ],
)
def test_grpc_timeout_finest_unit_that_fits(seconds: float, value: str) -> None:
    assert encode_timeout(seconds) == value
    assert len(value) <= 9 and value[:-1].isdigit() and value[-1] in "HMSmun"


def test_binary_header_codec() -> None:
    for data in (b"", b"\x00", b"\x00\x01", b"\xfb\xff\xfe", bytes(range(256))):
        text = encode_binary_header(data)
        assert "=" not in text
        assert decode_binary_header(text) == data
        assert decode_binary_header(text + "=" * (-len(text) % 4)) == data
    assert decode_binary_header("-_-_") == b"\xfb\xff\xbf"  # URL-safe alphabet
    for bad in ("a", "!!!!", "AP8Q,AP8Q"):
        with pytest.raises(ValueError):
            decode_binary_header(bad)


def test_status_roundtrip() -> None:
    detail = ErrorDetail.pack(S(value="d"))
    code, message, details = decode_status(encode_status(9, "m", [detail]))
    assert (code, message, [d.any for d in details]) == (9, "m", [detail.any])


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("plain text", "plain text"),
        ("100%", "100%25"),
        ("caf\u00e9", "caf%C3%A9"),
        ("line\nbreak\t", "line%0Abreak%09"),
        ("\u2603 snow", "%E2%98%83 snow"),
    ],
)
def test_grpc_message_percent_encoding(text: str, wire: str) -> None:
    assert percent_encode(text) == wire
    assert percent_decode(wire) == text


@pytest.mark.parametrize(
    ("wire", "text"),
    [("50%", "50%"), ("%zz ok", "%zz ok"), ("%4", "%4"), ("%FF", "\ufffd"), ("a%2", "a%2")],
)
def test_broken_percent_encoding_never_fails(wire: str, text: str) -> None:
    assert percent_decode(wire) == text
