"""``google.rpc.Status`` without a protobuf runtime (protocol/rpc_status.py),
checked against Google's own encoder and parser of the same message."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

from connect_python.protocol.rpc_status import (
    StatusError,
    decode_status_message,
    encode_status_message,
)


def _google_status() -> Any:
    """``google.rpc.Status`` built by Google's runtime from its descriptor."""
    pool = descriptor_pool.DescriptorPool()
    any_file = descriptor_pb2.FileDescriptorProto()
    any_pb2.DESCRIPTOR.CopyToProto(any_file)
    pool.Add(any_file)
    f = descriptor_pb2.FileDescriptorProto(
        name="status.proto", package="google.rpc", dependency=[any_file.name], syntax="proto3"
    )
    fd = descriptor_pb2.FieldDescriptorProto
    m = f.message_type.add(name="Status")
    m.field.add(name="code", number=1, type=fd.TYPE_INT32, label=fd.LABEL_OPTIONAL)
    m.field.add(name="message", number=2, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
    m.field.add(
        name="details",
        number=3,
        type=fd.TYPE_MESSAGE,
        label=fd.LABEL_REPEATED,
        type_name=".google.protobuf.Any",
    )
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


STATUS = _google_status()
CASES = [
    (0, "", []),
    (9, "m", [("type.googleapis.com/a.B", b"\x08\x01")]),
    (-1, "h\u00e9llo \U0001f600", [("", b""), ("t/x", b"\x00" * 300), ("u/y", b"")]),
    (2**31 - 1, "x" * 200, []),
]


@pytest.mark.parametrize(("code", "message", "details"), CASES)
def test_same_bytes_as_google_and_read_back(
    code: int, message: str, details: list[tuple[str, bytes]]
) -> None:
    google = STATUS(code=code, message=message)
    for url, value in details:
        google.details.add(type_url=url, value=value)
    data = encode_status_message(code, message, details)
    assert data == google.SerializeToString(deterministic=True)
    assert decode_status_message(data) == (code, message, details)
    assert STATUS.FromString(data) == google


def test_unknown_fields_and_mismatched_wire_types_are_skipped() -> None:
    known = encode_status_message(5, "m", [("t/a", b"v")])
    extra = (
        b"\x20\x07"  # field 4, varint
        + b"\x2d\x01\x02\x03\x04"  # field 5, fixed32
        + b"\x31" + b"\x00" * 8  # field 6, fixed64
        + b"\x0a\x01x"  # field 1 (code) length-delimited: not its declared type
    )  # fmt: skip
    assert decode_status_message(known + extra) == (5, "m", [("t/a", b"v")])
    assert STATUS.FromString(known + extra).code == 5


@pytest.mark.parametrize(
    "data",
    [
        b"\x08",  # a varint cut short
        b"\x12\x05ab",  # a string longer than the data
        b"\x12\x02\xff\xfe",  # a message that is not UTF-8
        b"\x1a\x03\x0a\x05a",  # a detail whose type URL is cut short
        b"\x00\x01",  # field number 0
        b"\x0b",  # a group
        b"\x08" + b"\xff" * 11,  # a varint over ten bytes
    ],
)
def test_not_a_status(data: bytes) -> None:
    with pytest.raises(StatusError):
        decode_status_message(data)
