"""Envelope framing of Connect streams (sans-IO, shared by both flavours).

An envelope is one flags byte, a 4-byte big-endian length and the payload.
"""

from __future__ import annotations

from .._code import Code
from .._errors import ConnectError

__all__ = [
    "FLAG_COMPRESSED",
    "FLAG_END_STREAM",
    "EnvelopeDecoder",
    "encode_envelope",
]

FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02
_KNOWN_FLAGS = FLAG_COMPRESSED | FLAG_END_STREAM
_HEADER = 5


def encode_envelope(flags: int, payload: bytes) -> bytes:
    """One envelope holding ``payload``."""
    size = len(payload)
    if size > 0xFFFFFFFF:
        raise ConnectError(Code.RESOURCE_EXHAUSTED, "message larger than 4 GiB")
    return (
        bytes((flags, size >> 24, (size >> 16) & 0xFF, (size >> 8) & 0xFF, size & 0xFF)) + payload
    )


class EnvelopeDecoder:
    """Splits a byte stream into envelopes, incrementally.

    Feed chunks with :meth:`feed`, then call :meth:`next` until it returns
    ``None``. Bytes are kept in one buffer that is compacted only once the
    consumed prefix dominates, so parsing is linear in the stream size. A declared
    length above ``max_size`` raises before any of the payload is buffered.
    ``known_flags`` are the flag bits the protocol defines (Connect: compressed
    and end-stream); a frame with any other bit set raises.
    """

    __slots__ = ("_buf", "_known", "_pos", "max_size")

    def __init__(self, max_size: int | None = None, known_flags: int = _KNOWN_FLAGS) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._known = known_flags
        self.max_size = max_size

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        buf = self._buf
        pos = self._pos
        if pos:
            if pos >= len(buf):
                buf.clear()
                self._pos = 0
            elif pos > 65536 and pos * 2 > len(buf):
                del buf[:pos]
                self._pos = 0
        buf += data

    def next(self) -> tuple[int, bytes] | None:
        """The next complete envelope as ``(flags, payload)``, or ``None``."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < _HEADER:
            return None
        flags = buf[pos]
        size = int.from_bytes(buf[pos + 1 : pos + 5], "big")
        if flags & ~self._known:
            raise ConnectError(
                Code.INTERNAL, f"protocol error: invalid envelope flags 0x{flags:02x}"
            )
        if self.max_size is not None and size > self.max_size:
            raise ConnectError(
                Code.RESOURCE_EXHAUSTED,
                f"message size {size} is larger than configured max {self.max_size}",
            )
        end = pos + _HEADER + size
        if end > len(buf):
            return None
        payload = bytes(buf[pos + _HEADER : end])
        self._pos = end
        return flags, payload

    @property
    def pending(self) -> int:
        """Bytes received that are not part of a returned envelope."""
        return len(self._buf) - self._pos
