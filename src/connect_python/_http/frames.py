"""HTTP/2 frames, sans-IO: a reader of the server's frames and writers of the client's.

:class:`FrameReader` splits received bytes into frames (RFC 9113 §4) and checks
what can be checked without connection state: frame sizes (the limit this side
advertised, the fixed sizes of RST_STREAM, SETTINGS, PING, GOAWAY,
WINDOW_UPDATE and PRIORITY), padding, which frames may (not) use stream 0, and
that a header block split over HEADERS and CONTINUATION frames arrives
uninterrupted. Padding is removed, HEADERS' priority fields skipped, and a
header block is handed on whole, as one HEADERS frame. Frames of unknown
types are dropped. Anything malformed raises :class:`FrameError` (and nothing
else does), carrying the HTTP/2 error code for the GOAWAY and the frames parsed
before it.

DATA payloads are ``memoryview`` slices of the received bytes (no copy; nor
is a ``memoryview`` of ``bytes`` copied, such as a piece of a read); other
payloads are small and copied. An unpadded DATA frame that goes on in the
next read is not kept until it is whole (a copy of up to a frame per read):
each read's part of it is handed on as a DATA frame of its own, only the last
with the frame's END_STREAM. Flow control counts the same bytes either way.

The ``encode_*`` functions build the client's frames.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

__all__ = [
    "CONTINUATION",
    "DATA",
    "END_HEADERS",
    "END_STREAM",
    "GOAWAY",
    "HEADERS",
    "PING",
    "PRIORITY",
    "PUSH_PROMISE",
    "RST_STREAM",
    "SETTINGS",
    "WINDOW_UPDATE",
    "ACK",
    "ErrorCode",
    "Frame",
    "FrameError",
    "FrameReader",
    "PREFACE",
    "Setting",
    "encode_goaway",
    "encode_headers",
    "encode_ping",
    "encode_rst_stream",
    "encode_settings",
    "encode_window_update",
    "error_name",
]

# Frame types (RFC 9113 §6).
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

# Flags.
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: The smallest and largest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2).
MIN_MAX_FRAME_SIZE = 16384
MAX_MAX_FRAME_SIZE = (1 << 24) - 1
#: A header block (all its frames) larger than this is refused.
MAX_HEADER_BLOCK = 256 * 1024


class ErrorCode:
    """HTTP/2 error codes (RFC 9113 §7)."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


_ERROR_NAMES = {value: name for name, value in vars(ErrorCode).items() if not name.startswith("_")}


def error_name(code: int) -> str:
    """The name of an HTTP/2 error code (hex for unknown codes)."""
    return _ERROR_NAMES.get(code) or f"0x{code:x}"


class Setting:
    """SETTINGS identifiers (RFC 9113 §6.5.2)."""

    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6


#: One received frame: type, flags, stream id, payload (padding removed; a
#: whole header block for HEADERS), and the frame's length (for DATA, what
#: flow control counts, padding included).
Frame = tuple[int, int, int, "bytes | memoryview", int]
_Emit = Callable[[Frame], None]


class FrameError(Exception):
    """The peer's bytes are not valid HTTP/2 framing (a connection error).

    ``error_code`` is the HTTP/2 error code to send in GOAWAY; ``frames`` the
    valid frames that came before the fault, in order.
    """

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.frames: list[Frame] = []


_HEAD = struct.Struct(">BHBBL")
_U32 = struct.Struct(">L")
_U32_PAIR = struct.Struct(">LL")
_SETTING = struct.Struct(">HL")
#: Payload sizes of frames whose size is fixed.
_FIXED_SIZES = {RST_STREAM: 4, PING: 8, WINDOW_UPDATE: 4, PRIORITY: 5}
_KNOWN = frozenset(range(10))
#: The flags that decide how a HEADERS frame's block is read.
_BLOCK_FLAGS = END_HEADERS | PADDED | PRIORITY_FLAG


class FrameReader:
    """Splits the peer's bytes into checked frames (see the module doc).

    ``max_frame_size`` is the SETTINGS_MAX_FRAME_SIZE this side advertised.
    """

    __slots__ = (
        "_block",
        "_block_flags",
        "_block_sid",
        "_block_size",
        "_data_flags",
        "_data_left",
        "_data_sid",
        "_pending",
        "_rest",
        "_rest_pos",
        "frames_per_feed",
        "max_frame_size",
        "more",
    )

    def __init__(
        self, max_frame_size: int = MIN_MAX_FRAME_SIZE, frames_per_feed: int | None = None
    ) -> None:
        self.max_frame_size = max_frame_size
        #: The most frames one :meth:`feed` or :meth:`resume` parses (at least
        #: 2; ``None``: all).
        self.frames_per_feed = 1 << 62 if frames_per_feed is None else frames_per_feed
        #: Whether whole frames of the last input are left for :meth:`resume`
        #: (``data[pos:]`` of ``_rest``, ``_rest_pos``; not copied).
        self.more = False
        self._rest: bytes | memoryview = b""
        self._rest_pos = 0
        #: The start of a frame not complete yet.
        self._pending = bytearray()
        #: A header block in progress (HEADERS without END_HEADERS so far).
        self._block: list[bytes | memoryview] | None = None
        self._block_sid = 0
        self._block_flags = 0
        self._block_size = 0
        #: The rest of an unpadded DATA frame begun in an earlier read: its
        #: payload bytes still to come, flags and stream.
        self._data_left = 0
        self._data_flags = 0
        self._data_sid = 0

    @property
    def unparsed(self) -> bytes:
        """The start of what was received and not parsed yet (for error messages)."""
        return bytes(self._pending[:64])

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """The complete frames in what arrived so far, up to
        ``frames_per_feed`` of them (raises :class:`FrameError`). Call
        :meth:`resume` for the others while :attr:`more`; only then feed the
        next input."""
        if type(data) is bytes and not self._pending and not self._data_left:
            # A sparse stream's read (an event, a message): one whole DATA
            # frame. Anything else, or anything wrong with it, is parsed below.
            size = len(data) - 9
            if size >= 0 and self._block is None:
                high, low, kind, flags, sid = _HEAD.unpack_from(data)
                sid &= 0x7FFFFFFF
                if (
                    kind == DATA
                    and (high << 16) | low == size
                    and sid
                    and not flags & PADDED
                    and size <= self.max_frame_size
                ):
                    return [(DATA, flags, sid, memoryview(data)[9:], size)]
        frames: list[Frame] = []
        try:
            if type(data) is not bytes and not (
                type(data) is memoryview and type(data.obj) is bytes
            ):
                data = bytes(data)  # a mutable buffer: copied as it is now
            pos = self._complete(data, frames) if self._pending or self._data_left else 0
            self._parse(data, pos, frames)
        except FrameError as exc:
            exc.frames = frames
            raise
        return frames

    def _complete(self, data: bytes | memoryview, frames: list[Frame]) -> int:
        """Go on with the frame begun in an earlier read; where ``data``'s next frame starts."""
        pos = 0
        pending = self._pending
        if pending:
            # Complete the frame begun in an earlier read (copying only it).
            if len(pending) < 9:
                take = 9 - len(pending)
                pending += data[:take]
                pos = take
                if len(pending) < 9:
                    return len(data)
            length = (pending[0] << 16) | (pending[1] << 8) | pending[2]
            self._check_length(length, pending[3])
            if (
                pending[3] == DATA
                and length
                and len(pending) == 9
                and self._split_data(pending, 0, 0)
            ):
                pending.clear()
            else:
                need = 9 + length - len(pending)
                pending += data[pos : pos + need]
                pos += need
                if len(pending) < 9 + length:
                    return len(data)
                whole = bytes(pending)
                pending.clear()
                self._parse(whole, 0, frames)
        left = self._data_left
        if left and pos < len(data):
            # The next part of a DATA frame: a frame of its own (no copy).
            take = len(data) - pos
            if take > left:
                take = left
            left -= take
            self._data_left = left
            flags = self._data_flags
            if left:
                flags &= ~END_STREAM
            stop = pos + take
            frames.append((DATA, flags, self._data_sid, memoryview(data)[pos:stop], take))
            pos = stop
        return pos

    def resume(self) -> list[Frame]:
        """The next frames of the input that :meth:`feed` stopped parsing
        after ``frames_per_feed`` frames (see :attr:`more`)."""
        frames: list[Frame] = []
        data = self._rest
        self._rest = b""
        self.more = False
        try:
            self._parse(data, self._rest_pos, frames)
        except FrameError as exc:
            exc.frames = frames
            raise
        return frames

    def drop(self) -> None:
        """Forget the frames left for :meth:`resume` (the connection failed)."""
        self._rest = b""
        self.more = False

    def _split_data(self, data: bytes | bytearray | memoryview, pos: int, here: int) -> bool:
        """Whether the DATA frame whose head is at ``data[pos:]`` (``here``
        bytes of its payload follow it there) is taken in parts: unpadded,
        outside a header block. Its payload then needs no copy: each read's
        part is handed on as a DATA frame of its own, only the last with the
        frame's END_STREAM."""
        flags = data[pos + 4]
        if flags & PADDED or self._block is not None:
            return False
        sid = _U32.unpack_from(data, pos + 5)[0] & 0x7FFFFFFF
        if not sid:
            raise FrameError(ErrorCode.PROTOCOL_ERROR, "DATA frame on stream 0")
        self._data_left = ((data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]) - here
        self._data_flags = flags
        self._data_sid = sid
        return True

    def _check_length(self, length: int, kind: int) -> None:
        if length > self.max_frame_size:
            raise FrameError(
                ErrorCode.FRAME_SIZE_ERROR,
                f"frame of type 0x{kind:x} has {length} bytes, more than the"
                f" {self.max_frame_size} allowed",
            )

    def _parse(self, data: bytes | memoryview, pos: int, frames: list[Frame]) -> None:
        """Parse the frames of ``data[pos:]``, up to the budget (the rest is
        left for :meth:`resume`); an incomplete frame at the end is kept."""
        end = len(data)
        view = memoryview(data)
        unpack = _HEAD.unpack_from
        limit = self.max_frame_size
        append = frames.append
        for _ in range(self.frames_per_feed - len(frames)):
            if end - pos < 9:
                break
            high, low, kind, flags, sid = unpack(data, pos)
            length = (high << 16) | low
            if length > limit:
                self._check_length(length, kind)
            start = pos + 9
            stop = start + length
            if stop > end:
                if kind == DATA and self._split_data(data, pos, end - start):
                    # The part of its payload here is a frame of its own.
                    if end > start:
                        append(
                            (
                                DATA,
                                flags & ~END_STREAM,
                                sid & 0x7FFFFFFF,
                                view[start:end],
                                end - start,
                            )
                        )
                    return
                break
            pos = stop
            sid &= 0x7FFFFFFF
            if kind == DATA and self._block is None:
                if not sid:
                    raise FrameError(ErrorCode.PROTOCOL_ERROR, "DATA frame on stream 0")
                if flags & PADDED:
                    start, stop = _unpad(data, start, stop, "DATA")
                append((DATA, flags, sid, view[start:stop], length))
            elif (
                kind == HEADERS
                and flags & _BLOCK_FLAGS == END_HEADERS
                and sid
                and self._block is None
            ):
                # A whole header block, unpadded (every response's): passes all of _frame's checks.
                append((HEADERS, flags, sid, data[start:stop], length))
            else:
                self._frame(kind, flags, sid, data[start:stop], length, append)
        else:
            if end - pos >= 9:
                # The budget is spent: the rest waits for resume() (not copied).
                self._rest = data
                self._rest_pos = pos
                self.more = True
                return
        if pos < end:
            self._pending += data[pos:]

    def _frame(
        self,
        kind: int,
        flags: int,
        sid: int,
        payload: bytes | memoryview,
        length: int,
        emit: _Emit,
    ) -> None:
        if self._block is not None:
            if kind != CONTINUATION or sid != self._block_sid:
                raise FrameError(
                    ErrorCode.PROTOCOL_ERROR,
                    f"frame of type 0x{kind:x} inside a header block (CONTINUATION expected)",
                )
            self._block_size += length
            if self._block_size > MAX_HEADER_BLOCK:
                raise FrameError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large")
            self._block.append(payload)
            if flags & END_HEADERS:
                block = b"".join(self._block)
                self._block = None
                emit((HEADERS, self._block_flags | END_HEADERS, sid, block, len(block)))
            return
        if kind not in _KNOWN:
            return  # unknown frame types are ignored (RFC 9113 §4.1)
        if kind in (HEADERS, PUSH_PROMISE):
            if not sid:
                raise FrameError(ErrorCode.PROTOCOL_ERROR, "header block on stream 0")
            start, stop = 0, length
            if flags & PADDED:
                start, stop = _unpad(payload, 0, length, "HEADERS")
            if kind == HEADERS and flags & PRIORITY_FLAG:
                start += 5
                if start > stop:
                    raise FrameError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for priority")
            elif kind == PUSH_PROMISE:
                start += 4
                if start > stop:
                    raise FrameError(ErrorCode.FRAME_SIZE_ERROR, "PUSH_PROMISE too short")
            if start or stop != length:
                payload = payload[start:stop]
            if flags & END_HEADERS:
                emit((kind, flags, sid, payload, len(payload)))
                return
            self._block = [payload]
            self._block_sid = sid
            self._block_flags = flags & END_STREAM if kind == HEADERS else 0
            self._block_size = length
            if kind == PUSH_PROMISE:
                # Reported at once: push is never enabled by this client.
                emit((kind, flags, sid, payload, length))
            return
        if kind == CONTINUATION:
            raise FrameError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block")
        fixed = _FIXED_SIZES.get(kind)
        if fixed is not None and length != fixed:
            raise FrameError(
                ErrorCode.FRAME_SIZE_ERROR, f"frame of type 0x{kind:x} has {length} bytes"
            )
        if kind in (SETTINGS, PING, GOAWAY):
            if sid:
                raise FrameError(
                    ErrorCode.PROTOCOL_ERROR, f"frame of type 0x{kind:x} on stream {sid}"
                )
            if kind == SETTINGS and (length % 6 or (flags & ACK and length)):
                raise FrameError(ErrorCode.FRAME_SIZE_ERROR, f"SETTINGS frame of {length} bytes")
            if kind == GOAWAY and length < 8:
                raise FrameError(ErrorCode.FRAME_SIZE_ERROR, f"GOAWAY frame of {length} bytes")
        elif (kind in (RST_STREAM, PRIORITY)) and not sid:
            raise FrameError(ErrorCode.PROTOCOL_ERROR, f"frame of type 0x{kind:x} on stream 0")
        emit((kind, flags, sid, payload, length))


def _unpad(data: bytes | memoryview, start: int, stop: int, what: str) -> tuple[int, int]:
    """The bounds of a padded frame's content (``start``: its pad length byte)."""
    if stop == start:
        raise FrameError(ErrorCode.FRAME_SIZE_ERROR, f"padded {what} frame without pad length")
    pad = data[start]
    if pad >= stop - start:
        raise FrameError(ErrorCode.PROTOCOL_ERROR, f"{what} padding longer than the frame")
    return start + 1, stop - pad


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    """The (identifier, value) pairs of a SETTINGS payload (length checked)."""
    return [_SETTING.unpack_from(payload, i) for i in range(0, len(payload), 6)]


def parse_u32(payload: bytes | memoryview) -> int:
    """The first 32-bit field of a payload (RST_STREAM code, WINDOW_UPDATE increment)."""
    value: int = _U32.unpack_from(payload)[0]
    return value


def parse_goaway(payload: bytes | memoryview) -> tuple[int, int, bytes]:
    """Last stream id, error code and debug data of a GOAWAY payload."""
    last, code = _U32_PAIR.unpack_from(payload)
    return last & 0x7FFFFFFF, code, bytes(payload[8:])


# -- writing ---------------------------------------------------------------------


def _head(length: int, kind: int, flags: int, sid: int) -> bytes:
    return _HEAD.pack(length >> 16, length & 0xFFFF, kind, flags, sid)


def encode_settings(settings: Iterable[tuple[int, int]] = (), ack: bool = False) -> bytes:
    """A SETTINGS frame (or its ACK)."""
    payload = b"".join(_SETTING.pack(ident, value) for ident, value in settings)
    return _head(len(payload), SETTINGS, ACK if ack else 0, 0) + payload


def encode_ping(data: bytes, ack: bool = False) -> bytes:
    """A PING frame with 8 bytes of opaque data (or its ACK)."""
    return _head(8, PING, ACK if ack else 0, 0) + data


def encode_window_update(sid: int, increment: int) -> bytes:
    """A WINDOW_UPDATE frame (stream 0: the connection)."""
    return _head(4, WINDOW_UPDATE, 0, sid) + _U32.pack(increment)


def encode_rst_stream(sid: int, code: int) -> bytes:
    """An RST_STREAM frame."""
    return _head(4, RST_STREAM, 0, sid) + _U32.pack(code)


def encode_goaway(last_sid: int, code: int, debug: bytes = b"") -> bytes:
    """A GOAWAY frame."""
    return _head(8 + len(debug), GOAWAY, 0, 0) + _U32_PAIR.pack(last_sid, code) + debug


def encode_data_head(sid: int, length: int, end_stream: bool) -> bytes:
    """The 9-byte head of a DATA frame whose payload follows it."""
    return _head(length, DATA, END_STREAM if end_stream else 0, sid)


def encode_headers(sid: int, block: bytes, end_stream: bool, max_frame_size: int) -> bytes:
    """A header block as HEADERS (and CONTINUATION frames if it is larger than a frame)."""
    flags = END_STREAM if end_stream else 0
    size = len(block)
    if size <= max_frame_size:
        return _head(size, HEADERS, flags | END_HEADERS, sid) + block
    parts = [_head(max_frame_size, HEADERS, flags, sid), block[:max_frame_size]]
    pos = max_frame_size
    while pos < size:
        piece = block[pos : pos + max_frame_size]
        pos += len(piece)
        parts.append(_head(len(piece), CONTINUATION, END_HEADERS if pos >= size else 0, sid))
        parts.append(piece)
    return b"".join(parts)
