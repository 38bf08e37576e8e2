"""Network input handed out a few HTTP/2 frames at a time (fairness).

Handling a frame takes a microsecond or two (parsing and dispatching it to
its stream), and one network read can hold thousands of small DATA frames (a
fast stream of small messages): handled at once, it would keep an event loop
from its other tasks for 5-10 ms, and the messages of its first frames from
their consumer meanwhile. The HTTP/2 connection parses a read piece by piece
instead, each at most :data:`FRAMES_PER_PIECE` frames long, with a chance for
the other tasks to run between two pieces, and reads the network again only
once all pieces were parsed.

The cuts only follow the frame boundaries (each frame starts with its 24-bit
length); the frame reader (``_http.frames.FrameReader``) takes a frame that is
split between pieces as it would across two reads, so input that is no valid
framing is still parsed as it would be in one piece (only cut at other places).
"""

from __future__ import annotations

__all__ = ["FRAMES_PER_PIECE", "InputPieces"]

#: The most frames in one piece (about ten microseconds of handling).
FRAMES_PER_PIECE = 8

_HEADER = 9


class InputPieces:
    """A connection's network input, read after read, cut into pieces."""

    __slots__ = ("_carry", "_data", "_head", "_next", "_start", "pending")

    def __init__(self) -> None:
        self._data = b""
        #: Where the next piece starts in ``_data`` (at its end: none left).
        self._start = 0
        #: Where the next frame starts in ``_data`` (may be past its end).
        self._next = 0
        #: Bytes after the last read until the next frame starts.
        self._carry = 0
        #: The start of a frame header split between two reads (< 3 bytes).
        self._head = b""
        #: Whether pieces of the last read are left (an attribute, not a
        #: property: the connection asks three or four times per read).
        self.pending = False

    def feed(self, data: bytes) -> None:
        """Take the next network read (once no pieces are left)."""
        self._data = data
        self._start = 0
        self.pending = bool(data)
        head = self._head
        if head:
            length = head + data[: 3 - len(head)]
            if len(length) < 3:
                # The whole read is part of a frame header.
                self._head = length
                self._next = len(data)
                return
            self._head = b""
            self._next = _HEADER + int.from_bytes(length, "big") - len(head)
        else:
            self._next = self._carry

    def clear(self) -> None:
        """Drop the pieces left (the connection failed)."""
        self._data = b""
        self._start = 0
        self.pending = False

    def next(self) -> bytes | memoryview:
        """The next piece: up to :data:`FRAMES_PER_PIECE` whole frames (the
        first may have begun, the last may end, in another piece)."""
        data = self._data
        size = len(data)
        start = self._start
        pos = self._next
        frames = 0
        while pos + 3 <= size:
            pos += _HEADER + (data[pos] << 16 | data[pos + 1] << 8 | data[pos + 2])
            frames += 1
            if frames == FRAMES_PER_PIECE and pos < size:
                self._start = self._next = pos
                return memoryview(data)[start:pos]
        if pos < size:
            # A frame header starts here and goes on in the next read.
            self._head = data[pos:]
            self._carry = 0
        else:
            self._carry = pos - size
        self._data = b""
        self._start = 0
        self.pending = False
        return memoryview(data)[start:] if start else data
