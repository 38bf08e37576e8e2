"""``google.rpc.Status`` on the wire, without a protobuf runtime.

gRPC's ``grpc-status-details-bin`` holds a binary ``google.rpc.Status``
(``int32 code = 1; string message = 2; repeated google.protobuf.Any details =
3``; ``Any`` is ``string type_url = 1; bytes value = 2``). The runtime reads
and writes it here with a few lines of wire format, so error details work
whichever message runtime (Google's ``protobuf`` or ``protobuf-py``) is
installed, or neither. Unknown fields are skipped, as a protobuf parser does.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["StatusError", "decode_status_message", "encode_status_message"]

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class StatusError(ValueError):
    """The bytes are not a ``google.rpc.Status``."""


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int32: ten bytes, two's complement
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def encode_status_message(code: int, message: str, details: Iterable[tuple[str, bytes]]) -> bytes:
    """A binary ``google.rpc.Status``; ``details`` are ``(type_url, value)`` pairs."""
    out = bytearray()
    if code:
        out += _varint(1 << 3 | _VARINT) + _varint(code)
    if message:
        out += _field(2, message.encode())
    for type_url, value in details:
        packed = (_field(1, type_url.encode()) if type_url else b"") + (
            _field(2, value) if value else b""
        )
        out += _field(3, packed)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise StatusError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterable[tuple[int, int | bytes]]:
    """``(number, value)`` of every field: an int, or the bytes of a
    length-delimited field; fixed-size fields are skipped."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise StatusError("field number 0")
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
            yield number, value
        elif wire == _LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise StatusError("truncated length-delimited field")
            yield number, data[pos : pos + size]
            pos += size
        elif wire in (_I64, _I32):
            pos += 8 if wire == _I64 else 4
            if pos > len(data):
                raise StatusError("truncated fixed-size field")
        else:
            raise StatusError(f"unsupported wire type {wire}")


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise StatusError(f"{what}: invalid UTF-8") from exc


def decode_status_message(data: bytes) -> tuple[int, str, list[tuple[str, bytes]]]:
    """``(code, message, [(type_url, value), ...])`` of a binary ``google.rpc.Status``;
    :class:`StatusError` when ``data`` is not one."""
    code, message, details = 0, "", []
    # A field with another wire type than its declared one is an unknown field.
    for number, value in _fields(data):
        if number == 1 and isinstance(value, int):
            code = value & 0xFFFFFFFF  # int32: the low 32 bits, signed
            code = code - (1 << 32) if code >= 1 << 31 else code
        elif number == 2 and isinstance(value, bytes):
            message = _text(value, "message")
        elif number == 3 and isinstance(value, bytes):
            type_url, packed = "", b""
            for inner, item in _fields(value):
                if inner == 1 and isinstance(item, bytes):
                    type_url = _text(item, "type_url")
                elif inner == 2 and isinstance(item, bytes):
                    packed = item
            details.append((type_url, packed))
    return code, message, details
