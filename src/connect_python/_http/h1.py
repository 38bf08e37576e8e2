"""HTTP/1.1 client framing, sans-IO: request heads and chunks out, responses in.

A small, strict implementation of what a client needs (RFC 9112): status line
and header fields, informational (1xx) responses skipped, bodies delimited by
``Transfer-Encoding: chunked`` (with trailer fields), ``Content-Length`` or the
end of the connection. It is several times cheaper per exchange than a general
HTTP library, which matters for bursts of small RPCs. Malformed input raises
:class:`HTTP1Error`; nothing is ever buffered beyond ``max_head`` bytes of head.
"""

from __future__ import annotations

__all__ = [
    "LAST_CHUNK",
    "EndOfBody",
    "HTTP1Error",
    "Response",
    "ResponseParser",
    "encode_chunk",
    "encode_request_head",
]

RawHeaders = list[tuple[bytes, bytes]]

#: The end of a chunked request body (no trailer fields).
LAST_CHUNK = b"0\r\n\r\n"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_DIGITS = b"0123456789"
#: Longest accepted chunk size (hex digits) and Content-Length (decimal digits).
_MAX_CHUNK_DIGITS = 16
_MAX_LENGTH_DIGITS = 18


class HTTP1Error(Exception):
    """The peer sent something that is not valid HTTP/1.1."""


def encode_request_head(method: bytes, target: bytes, headers: RawHeaders) -> bytes:
    """The request line and header block. Names and values must not contain CR/LF."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise ValueError(f"invalid header field {name!r}")
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked request body (empty data gives nothing)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


class Response:
    """The head of a response."""

    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: RawHeaders) -> None:
        self.status = status
        self.headers = headers


class EndOfBody:
    """The body ended; ``trailers`` holds chunked trailer fields, if any."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: RawHeaders) -> None:
        self.trailers = trailers


# Body framing modes.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


class ResponseParser:
    """Parses one response at a time from the bytes given to :meth:`feed`.

    :meth:`next_event` returns a :class:`Response`, then ``bytes`` of body
    (as much as is buffered), then :class:`EndOfBody`; or ``None`` when more bytes are needed.
    Call :meth:`feed_eof` when the connection closed. After ``EndOfBody``,
    :attr:`reusable` tells whether the connection may carry another exchange.
    """

    __slots__ = ("_buf", "_eof", "_left", "_mode", "_no_body", "_pos", "max_head", "reusable")

    def __init__(self, max_head: int = 64 * 1024) -> None:
        #: Received bytes from ``_pos`` on are not parsed yet. Bytes, not a
        #: bytearray: a read that arrives when everything before it was
        #: parsed (the usual case) becomes the buffer without a copy, and body
        #: bytes are sliced out of it with one copy (none for all of it).
        self._buf = b""
        self._pos = 0
        self._mode = _HEAD
        self._left = 0
        self._eof = False
        self._no_body = False
        self.max_head = max_head
        self.reusable = True

    def start(self, head_request: bool = False) -> None:
        """Expect the response to a new request (``head_request``: no body follows)."""
        self._mode = _HEAD
        self._no_body = head_request

    @property
    def done(self) -> bool:
        """Whether the current response ended."""
        return self._mode == _DONE

    @property
    def pending(self) -> int:
        """Bytes buffered and not yet returned."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        pos = self._pos
        buf = self._buf
        self._pos = 0
        if pos < len(buf):
            # Unparsed input is at most a head or a chunk-size line (body
            # bytes are handed on as they come): small.
            self._buf = buf[pos:] + data
        else:
            self._buf = data

    def feed_eof(self) -> None:
        """The peer closed the connection."""
        self._eof = True

    def next_event(self) -> Response | bytes | EndOfBody | None:
        """The next event, or ``None`` when more bytes are needed."""
        while True:
            mode = self._mode
            if mode == _CHUNK_SIZE:
                buf = self._buf
                pos = self._pos
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if len(buf) - pos > self.max_head:
                        raise HTTP1Error("line too long")
                    self._need()
                    return None
                line = buf[pos:end]
                self._pos = end + 2
                # chunk-size = 1*HEXDIG, then optional whitespace and extensions
                # (int() alone would take "0x5", "+5", " 5" or "5_0").
                size_text = line
                if not line or line.strip(_HEX_DIGITS) or len(line) > _MAX_CHUNK_DIGITS:
                    size_text = line.split(b";", 1)[0].rstrip(b" \t")
                    if (
                        not size_text
                        or size_text.strip(_HEX_DIGITS)
                        or len(size_text) > _MAX_CHUNK_DIGITS
                    ):
                        raise HTTP1Error(f"invalid chunk size {line[:20]!r}")
                size = int(size_text, 16)
                if size == 0:
                    self._mode = _TRAILERS
                    continue
                self._left = size
                self._mode = mode = _CHUNK_DATA
            if mode == _CHUNK_DATA:
                data = self._take()
                if not self._left:
                    # The CRLF after the chunk usually came with it.
                    if self._buf.startswith(b"\r\n", self._pos):
                        self._pos += 2
                        self._mode = _CHUNK_SIZE
                    else:
                        self._mode = _CHUNK_CRLF
                return data
            if mode == _CHUNK_CRLF:
                if len(self._buf) - self._pos < 2:
                    self._need()
                    return None
                if not self._buf.startswith(b"\r\n", self._pos):
                    raise HTTP1Error("missing CRLF after chunk data")
                self._pos += 2
                self._mode = _CHUNK_SIZE
                continue
            if mode == _HEAD:
                head = self._head()
                if head is None:
                    self._need()
                    return None
                if head.status < 200:
                    continue  # informational: the real response follows
                self._body_mode(head)
                return head
            if mode == _LENGTH:
                if self._left == 0:
                    return self._end([])
                return self._take()
            if mode == _TRAILERS:
                fields = self._fields()
                if fields is None:
                    self._need()
                    return None
                return self._end(fields)
            if mode == _UNTIL_CLOSE:
                buf = self._buf
                if self._pos < len(buf):
                    data = buf[self._pos :]
                    self._pos = len(buf)
                    return data
                if self._eof:
                    self.reusable = False
                    return self._end([])
                return None
            raise HTTP1Error("no response expected")

    def _take(self) -> bytes | None:
        """Up to ``_left`` body bytes from the buffer; ``None`` if it is empty."""
        buf = self._buf
        start = self._pos
        end = start + self._left
        if end > len(buf):
            end = len(buf)
            if end == start:
                self._need()
                return None
        self._pos = end
        self._left -= end - start
        return buf[start:end]

    def _need(self) -> None:
        """Raise if no more data can come (the caller then returns ``None``)."""
        if self._eof:
            raise HTTP1Error("connection closed in the middle of a response")

    def _end(self, trailers: RawHeaders) -> EndOfBody:
        self._mode = _DONE
        return EndOfBody(trailers)

    def _fields(self) -> RawHeaders | None:
        """Header fields up to an empty line, or ``None`` (nothing consumed) if incomplete."""
        buf = self._buf
        start = self._pos
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            if buf.startswith(b"\r\n", start):
                self._pos = start + 2
                return []
            if len(buf) - start > self.max_head:
                raise HTTP1Error("header section too large")
            return None
        if buf.startswith(b"\r\n", start):
            self._pos = start + 2
            return []
        block = buf[start:end]
        self._pos = end + 4
        fields: RawHeaders = []
        lines = block.split(b"\r\n")
        # CR, LF and NUL only in line ends (RFC 9110 section 5.5: reject the others).
        if len(block.translate(None, b"\r\n\x00")) != len(block) - 2 * (len(lines) - 1):
            raise HTTP1Error("invalid character (CR, LF or NUL) in a header field")
        for line in lines:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or b" " in name:
                raise HTTP1Error(f"invalid header line {line[:40]!r}")
            fields.append((name.lower(), value.strip(b" \t")))
        return fields

    def _head(self) -> Response | None:
        buf = self._buf
        start = self._pos
        line_end = buf.find(b"\r\n", start)
        if line_end < 0:
            if not buf.startswith(b"HTTP/"[: len(buf) - start], start):
                # Not HTTP/1.x (e.g. HTTP/2 frames): say so now, don't wait for a line end.
                raise HTTP1Error(_not_http1(buf[start : start + 64]))
            if len(buf) - start > self.max_head:
                raise HTTP1Error("status line too long")
            return None
        if buf.find(b"\r\n\r\n", start) < 0:
            if len(buf) - start > self.max_head:
                raise HTTP1Error("header section too large")
            return None
        # status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]. Codes from 600
        # on are taken (mapped to UNKNOWN, as the Connect conformance suite
        # expects); below 100 there are none, and no 101 (this client never asks to
        # switch protocols).
        status_line = buf[start:line_end]
        version = status_line[:9]
        code = status_line[9:12]
        if (
            (version != b"HTTP/1.1 " and version != b"HTTP/1.0 ")
            or len(code) != 3
            or not code.isdigit()
            or code < b"100"
            or code == b"101"
            or status_line[12:13] not in (b"", b" ")
        ):
            if not status_line.startswith(b"HTTP/"):
                raise HTTP1Error(_not_http1(status_line[:64]))
            raise HTTP1Error(f"invalid status line {status_line[:40]!r}")
        self._pos = line_end + 2
        fields = self._fields()
        assert fields is not None
        if version == b"HTTP/1.0 ":
            self.reusable = False
        return Response(int(code), fields)

    def _body_mode(self, head: Response) -> None:
        chunked = False
        length = None
        for name, value in head.headers:
            if name == b"transfer-encoding":
                codings = [c.strip().lower() for c in value.split(b",")]
                if codings and codings[-1] == b"chunked":
                    chunked = True
            elif name == b"content-length":
                # Content-Length = 1*DIGIT (no sign, no spaces inside, no "_").
                if not value or len(value) > _MAX_LENGTH_DIGITS or value.strip(_DIGITS):
                    raise HTTP1Error(f"invalid content-length {value[:20]!r}")
                parsed = int(value)
                if length is not None and length != parsed:
                    raise HTTP1Error("conflicting content-length values")
                length = parsed
            elif name == b"connection" and b"close" in value.lower():
                self.reusable = False
        status = head.status
        if self._no_body or status in (204, 304):
            self._mode = _LENGTH
            self._left = 0
        elif chunked:
            self._mode = _CHUNK_SIZE
        elif length is not None:
            self._mode = _LENGTH
            self._left = length
        else:
            self._mode = _UNTIL_CLOSE


def _not_http1(start: bytes) -> str:
    """The error text for a response that does not begin with ``HTTP/``."""
    # An HTTP/2 frame header: 3 bytes of length, then the type; a server that
    # speaks only HTTP/2 (prior knowledge, as gRPC servers do) starts with SETTINGS.
    if len(start) >= 9 and start[3] == 0x04 and start[5:9] == b"\x00\x00\x00\x00":
        return (
            "the server answered with HTTP/2 frames: it speaks only HTTP/2 (gRPC servers "
            "do); for an http:// URL use h2c=True (HTTP/2 without TLS)"
        )
    return f"the response is not HTTP/1.x: it starts with {start[:20]!r}"
