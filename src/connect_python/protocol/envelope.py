"""Envelope framing of Connect streams (sans-IO, shared by both flavours).

An envelope is one flags byte, a 4-byte big-endian length and the payload.
"""

from __future__ import annotations

import struct

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
_unpack_header = struct.Struct(">BI").unpack_from


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

    :meth:`split` takes a chunk and returns the envelopes it completed. An
    envelope inside one chunk is sliced out of it (one copy); one that spans
    chunks is joined from them once it is complete (one copy); chunks that
    cannot complete an envelope are kept without being looked at again. A
    declared length above ``max_size`` raises before any of the payload is
    buffered. ``known_flags`` are the flag bits the protocol defines
    (Connect: compressed and end-stream); a frame with any other bit set
    raises. An envelope with one of ``stop_flags`` (the end of the stream)
    ends a split: it becomes :attr:`final`, not part of the split's result.

    A fault (bad flags, a length over ``max_size``) found after good envelopes
    ends the split that returns them: :attr:`fault` holds it (a split that
    finds it first raises it). :attr:`stopped` says that :attr:`final` or
    :attr:`fault` ended a split.
    """

    __slots__ = (
        "_bad",
        "_buf",
        "_limit",
        "_parts",
        "_pos",
        "_short",
        "_special",
        "_stop",
        "fault",
        "final",
        "max_size",
        "stopped",
    )

    def __init__(
        self, max_size: int | None = None, known_flags: int = _KNOWN_FLAGS, stop_flags: int = 0
    ) -> None:
        #: The input not split yet starts at ``_pos`` of ``_buf`` ...
        self._buf = b""
        self._pos = 0
        #: ... and goes on in ``_parts`` while the envelope there is
        #: ``_short`` bytes short of complete (0: not waiting for input).
        self._parts: list[bytes] = []
        self._short = 0
        self._bad = 0xFF & ~known_flags
        self._stop = stop_flags
        self._special = self._bad | stop_flags
        self._limit = 0xFFFFFFFF if max_size is None else max_size
        self.max_size = max_size
        #: The envelope with a stop flag that ended a split.
        self.final: tuple[int, bytes] | None = None
        #: The fault that ended a split after good envelopes.
        self.fault: ConnectError | None = None
        self.stopped = False

    def feed(self, data: bytes) -> None:
        """Keep received bytes for the next :meth:`split` (or :meth:`next`)."""
        if not data:
            return
        short = self._short
        if short > 0 and len(data) < short:
            self._parts.append(data)
            self._short = short - len(data)
            return
        if short:
            # Joined with what is waiting (once per envelope completed).
            data = b"".join((memoryview(self._buf)[self._pos :], *self._parts, data))
            self._parts.clear()
        self._buf = data
        self._pos = 0
        self._short = -1

    def next(self) -> tuple[int, bytes] | None:
        """The next complete envelope as ``(flags, payload)``, or ``None``
        (for readers that take envelopes one at a time)."""
        found = self.split(b"", 1)
        if found:
            return found[0]
        final = self.final
        self.final = None
        return final

    def split(self, data: bytes, limit: int) -> list[tuple[int, bytes]]:
        """Take ``data`` (may be empty) and split off up to ``limit``
        complete envelopes as ``(flags, payload)``, in order."""
        short = self._short
        if not short and len(data) >= _HEADER and limit:
            # A sparse stream's chunk: one whole envelope (an event). Anything
            # else, or anything special about it, is split below.
            flags, size = _unpack_header(data, 0)
            if size == len(data) - _HEADER and not flags & self._special and size <= self._limit:
                return [(flags, data[_HEADER:])]
        out: list[tuple[int, bytes]] = []
        if not short:
            buf = data
            pos = 0
        elif short > 0:
            if len(data) < short:
                if data:
                    self._parts.append(data)
                    self._short = short - len(data)
                return out
            buf, pos = self._completed(data, short, out)
            short = self._short = 0
            if self.stopped:
                if pos < len(buf):
                    self._buf = buf
                    self._pos = pos
                    self._short = -1
                return out
            limit -= len(out)
        else:
            # Input is left from a split that stopped early.
            buf = self._buf
            pos = self._pos
            if data:
                buf = b"".join((memoryview(buf)[pos:], data))
                pos = 0
            short = self._short = 0
        end_buf = len(buf)
        special = self._special
        max_size = self._limit
        for _ in range(limit):
            rest = end_buf - pos
            if rest < _HEADER:
                if rest:
                    short = _HEADER - rest
                break
            flags, size = _unpack_header(buf, pos)
            if flags & special or size > max_size:
                if flags & self._bad or size > max_size:
                    self._fault(flags, size, bool(out))
                    break
                if rest - _HEADER >= size:
                    end = pos + _HEADER + size
                    self.final = (flags, buf[pos + _HEADER : end])
                    self.stopped = True
                    pos = end
                    break
            start = pos + _HEADER
            end = start + size
            if end > end_buf:
                short = end - end_buf
                break
            out.append((flags, buf[start:end]))
            pos = end
        if pos < end_buf:
            # Kept: an incomplete envelope (``short`` bytes missing), or input
            # after a limit, a stop or a fault (-1: split it next time).
            self._buf = buf
            self._pos = pos
            self._short = short or -1
        return out

    def _completed(
        self, data: bytes, short: int, out: list[tuple[int, bytes]]
    ) -> tuple[bytes, int]:
        """The waiting envelope, completed by the first ``short`` bytes of
        ``data``, appended to ``out`` (or made :attr:`final`); returns where the
        input goes on. When only its header was known to be short, the header
        is joined with ``data`` instead (rare) and splitting starts there."""
        buf = self._buf
        pos = self._pos
        parts = self._parts
        if len(buf) - pos < _HEADER:
            joined = b"".join((memoryview(buf)[pos:], *parts, data))
            parts.clear()
            return joined, 0
        flags, _ = _unpack_header(buf, pos)
        payload = b"".join((memoryview(buf)[pos + _HEADER :], *parts, memoryview(data)[:short]))
        parts.clear()
        if flags & self._stop:
            self.final = (flags, payload)
            self.stopped = True
        else:
            out.append((flags, payload))
        return data, short

    def _fault(self, flags: int, size: int, after: bool) -> None:
        """Raise the fault of a bad header, or (``after`` good envelopes)
        keep it for the caller; the header stays unsplit."""
        if flags & self._bad:
            error = ConnectError(
                Code.INTERNAL, f"protocol error: invalid envelope flags 0x{flags:02x}"
            )
        else:
            error = ConnectError(
                Code.RESOURCE_EXHAUSTED,
                f"message size {size} is larger than configured max {self.max_size}",
            )
        if not after:
            raise error
        self.fault = error
        self.stopped = True

    @property
    def pending(self) -> int:
        """Bytes received that are not part of a returned envelope."""
        if not self._short:
            return 0
        return len(self._buf) - self._pos + sum(map(len, self._parts))
