"""The gRPC protocol (over HTTP/2): :class:`GrpcProtocol` per client, :class:`GrpcCall` per call.

Every kind of call has the same shape on the wire: a POST of length-prefixed
messages (one flags byte, bit 0 = compressed with ``grpc-encoding``, then a
4-byte big-endian length), ``te: trailers``, ``content-type:
application/grpc+<codec>``, ``grpc-timeout``, ``grpc-accept-encoding``; the
response is a head, length-prefixed messages, and trailers that hold the
status (:mod:`.grpc_status`). A response that is all trailers (the status in
the head, no body: "trailers-only") ends the call at once; a non-200 response
without ``grpc-status`` is an error with the code the gRPC spec gives its HTTP
status.

gRPC-Web (:mod:`.grpc_web`) is this protocol with the trailers in the body:
it subclasses both classes and overrides the hooks marked below.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from .._code import Code
from .._errors import ConnectError
from .._headers import Headers, HeadersInput, merge_headers
from .._method import Message, MethodInfo, StreamType
from . import (
    MESSAGE_BATCH,
    End,
    EnvelopedCall,
    RawHeaders,
    RequestHead,
    check_request,
)
from .compression import Compression
from .envelope import FLAG_COMPRESSED, EnvelopeDecoder, encode_envelope
from .grpc_status import (
    content_type_error,
    encode_timeout,
    http_status_error,
    request_metadata,
    status_from_trailers,
    user_metadata,
)
from .options import ProtocolOptions

__all__ = ["USER_AGENT", "GrpcCall", "GrpcProtocol"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

_TOO_MANY = "protocol error: more than one response message"

#: The default ``User-Agent`` (the gRPC spec's ``grpc-<language>-<variant>/<version>``).
USER_AGENT = "grpc-python-connect/0.1"

#: The most of a non-gRPC error body kept for the error's message.
_ERROR_BODY_LIMIT = 64 * 1024
#: More than any body holds: "every message that has arrived".
_ALL = 1 << 62

# What a call does with response bytes (GrpcCall._mode).
_HEAD = 0  # no response head yet
_MESSAGES = 1  # length-prefixed messages
_ERROR_BODY = 2  # a non-200 response's body, kept (up to a limit) for the error
_AFTER_END = 3  # gRPC-Web: the trailers frame was read; only the end of the body may follow
_DONE = 4  # response_end returned
_FAILED = 5  # a fault was raised (or is waiting in _fault)


class _NoEncoding:
    """The response compression when the head names none: a message flagged
    as compressed is a protocol error."""

    name = "identity"

    def compress(self, data: bytes) -> bytes:
        return data

    def decompress(self, data: bytes, max_size: int | None) -> bytes:
        raise ConnectError(
            Code.INTERNAL, "protocol error: compressed message without grpc-encoding"
        )


_NO_ENCODING = _NoEncoding()


class GrpcProtocol(ProtocolOptions):
    """The gRPC protocol as configured for one client.

    Takes the keywords of :class:`~connect_python.protocol.options.ProtocolOptions`.
    The default ``headers`` (and every call's) are checked: a name the protocol
    reserves, or a value gRPC metadata can't carry, raises ``ValueError``
    (:func:`~connect_python.protocol.grpc_status.request_metadata`).
    """

    __slots__ = ("_default_lines", "_fixed_lines")

    name: ClassVar[str] = "grpc"
    #: The response content type without its codec suffix.
    content_type: ClassVar[str] = "application/grpc"
    #: The protocol needs HTTP/2 (its status travels in HTTP trailers): a client
    #: must refuse an HTTP/1.1 exchange for it.
    requires_http2: ClassVar[bool] = True

    def _configured(self) -> None:
        self._fixed_lines = self._protocol_lines()
        if self.accept:
            self._fixed_lines.append((b"grpc-accept-encoding", ", ".join(self.accept).encode()))
        self._default_lines = self._metadata_lines(self.default_headers)

    def call(
        self, method: MethodInfo[Req, Res], *, send_compression: str | None = None
    ) -> GrpcCall[Req, Res]:
        """The protocol state of one call of ``method``; ``send_compression``
        overrides the client's request compression (``"identity"``: none; an
        unavailable one raises ``ValueError``)."""
        return self._make_call(method, self.call_compression(send_compression))

    # -- hooks (gRPC-Web overrides them) -------------------------------------------------

    def _make_call(
        self, method: MethodInfo[Req, Res], compression: Compression | None
    ) -> GrpcCall[Req, Res]:
        return GrpcCall(self, method, compression)

    def _protocol_lines(self) -> list[tuple[bytes, bytes]]:
        """The request lines that say which protocol this is."""
        ctype = f"{self.content_type}+{self.codec.name}".encode()
        return [(b"te", b"trailers"), (b"content-type", ctype)]

    # -- request head --------------------------------------------------------------------

    @staticmethod
    def _metadata_lines(headers: Headers) -> list[tuple[bytes, bytes]]:
        lines = request_metadata(headers)
        if "user-agent" not in headers:
            lines.insert(0, (b"user-agent", USER_AGENT.encode()))
        return lines

    def request_lines(
        self, time_left: float | None, compression: Compression | None, headers: HeadersInput
    ) -> list[tuple[bytes, bytes]]:
        """A call's request headers: ``grpc-timeout`` for ``time_left`` seconds
        (first, as the spec asks), the protocol's own, ``grpc-encoding`` for
        ``compression``, then the client's default headers with the call's
        ``headers`` replacing those of the same name."""
        lines = [] if time_left is None else [(b"grpc-timeout", encode_timeout(time_left).encode())]
        lines += self._fixed_lines
        if compression is not None:
            lines.append((b"grpc-encoding", compression.name.encode()))
        if headers:
            return lines + self._metadata_lines(merge_headers(self.default_headers, headers))
        return lines + self._default_lines


class GrpcCall(EnvelopedCall, Generic[Req, Res]):
    """The gRPC protocol state of one call (any stream type).

    See :class:`connect_python.protocol.CallProtocol` for the order of the
    methods and how errors are reported. A unary call's response message is
    ``End.message``; the messages of the other kinds come out of
    :meth:`messages` (a client stream's: exactly one).
    """

    __slots__ = (
        "_body_trailers",
        "_codec",
        "_compression",
        "_decode",
        "_decoder",
        "_error_body",
        "_fault",
        "_head",
        "_headers",
        "_method",
        "_mode",
        "_output",
        "_protocol",
        "_request_body",
        "_seen_body",
        "_send_compression",
        "_single",
        "_split",
        "_trailers",
        "_trailers_only",
        "_unary",
        "_unary_message",
        "ended",
        "status",
    )

    #: The flags a response frame may carry.
    known_flags: ClassVar[int] = FLAG_COMPRESSED

    def __init__(
        self, protocol: GrpcProtocol, method: MethodInfo[Req, Res], compression: Compression | None
    ) -> None:
        self._protocol = protocol
        self._method = method
        self._codec = codec = protocol.codec_for(method)
        self._decode = codec.decode
        self._output = method.output
        self._send_compression = compression
        self._request_body: bytes | None = None  # a unary call's (encode_request)
        self._unary = method.stream_type is StreamType.UNARY
        #: Exactly one response message: unary calls and client streams.
        self._single = self._unary or method.stream_type is StreamType.CLIENT_STREAM
        self._mode = _HEAD
        #: Whether the end of the response was seen (gRPC: at :meth:`response_end`;
        #: gRPC-Web: at the trailers frame).
        self.ended = False
        self.status: int | None = None
        self._head = Headers()  # the response head as received
        self._headers = Headers()  # ... as the user sees it
        self._trailers = Headers()
        self._trailers_only = False
        self._body_trailers: Headers | None = None  # gRPC-Web: the trailers frame's
        self._compression: Compression = _NO_ENCODING
        known = self.known_flags
        self._decoder = EnvelopeDecoder(
            protocol.read_max_bytes, known, stop_flags=known & ~FLAG_COMPRESSED
        )
        self._split = self._decoder.split
        self._error_body = bytearray()
        self._seen_body = False
        self._count = 0
        self._unary_message: tuple[int, bytes] | None = None
        self._fault: ConnectError | None = None

    @property
    def response_headers(self) -> Headers:
        """The response headers (without a status: the user sees it as the outcome)."""
        return self._headers

    @property
    def response_trailers(self) -> Headers:
        """The trailers (of a trailers-only response: its head but the content type)."""
        return self._trailers

    @property
    def error_in_body(self) -> bool:
        """Whether the response is not gRPC (a non-200 status): its body is
        read to the end and :meth:`response_end` returns the error."""
        return self._mode == _ERROR_BODY

    # -- request -----------------------------------------------------------------------

    def request_head(
        self,
        time_left: float | None = None,
        *,
        headers: HeadersInput = None,
        message: Req | None = None,
        use_get: bool = False,
    ) -> RequestHead:
        """The request head; ``time_left`` (seconds) becomes ``grpc-timeout``.

        ``headers`` (per call) replace the defaults of the same name; a reserved
        or malformed one raises ``ValueError``, as does ``use_get`` (gRPC has no
        GET). A unary call needs its ``message`` (here, or to
        :meth:`encode_request` first); ``body`` is then the whole request body.
        A stream may give its only message too.
        """
        path = self._method.path
        if use_get:
            raise ValueError(f"{path}: the {self._protocol.name} protocol has no GET")
        body = self._request_body if message is None else self.encode_request(message)
        if body is None and self._unary:
            raise ValueError(f"{path} is a unary method: give its message to request_head()")
        lines = self._protocol.request_lines(time_left, self._send_compression, headers)
        return RequestHead(b"POST", self._protocol.target(path), lines, body)

    def encode_request(self, message: Req) -> bytes:
        """``message`` as one length-prefixed message, compressed when it is at
        least ``compress_min_bytes`` (a unary call's is kept for :meth:`request_head`)."""
        if type(message) is not self._method.input:
            check_request(self._method, message)
        data = self._codec.encode(message)
        comp = self._send_compression
        if comp is None or len(data) < self._protocol.compress_min_bytes:
            frame = encode_envelope(0, data)
        else:
            frame = encode_envelope(FLAG_COMPRESSED, comp.compress(data))
        if self._unary:
            self._request_body = frame
        return frame

    # -- response ----------------------------------------------------------------------

    def response_head(self, status: int, raw_headers: RawHeaders) -> None:
        """Take the response status and headers.

        Raises for a 200 with another content type (``INTERNAL`` for this
        protocol with another codec, else ``UNKNOWN``) or an unknown
        ``grpc-encoding``. For another status the body is read and
        :meth:`response_end` reports the error.
        """
        self.status = status
        protocol = self._protocol
        self._head = head = Headers.from_raw(raw_headers)
        self._headers = user_metadata(head)
        if status != 200:
            self._mode = _ERROR_BODY
            return
        wrong = content_type_error(
            head.get("content-type", ""),
            protocol.content_type,
            protocol.codec.name,
            protocol.label(self._method.path),
        )
        if wrong is not None:
            raise self._failed(wrong)
        encoding = head.get("grpc-encoding", "identity")
        if encoding != "identity":
            try:
                self._compression = protocol.accepted(encoding)
            except ConnectError as exc:
                raise self._failed(exc) from None
        self._mode = _MESSAGES

    def response_data(self, chunk: bytes) -> None:
        """Take a body chunk.

        A unary call's message is kept for :meth:`response_end`; a second one
        raises ``UNIMPLEMENTED``, as do malformed frames. Raises
        ``ConnectError`` for data after a gRPC-Web trailers frame, and once the
        call failed (the same error again).
        """
        mode = self._mode
        if mode == _MESSAGES:
            if chunk:
                self._seen_body = True
                self._decoder.feed(chunk)
                if self._unary:
                    self._take_unary()
        elif mode == _ERROR_BODY:
            self._error_body += chunk
            if len(self._error_body) > _ERROR_BODY_LIMIT:
                raise self._failed(self._status_error((), None))
        elif mode != _AFTER_END or chunk:
            self._raise_fault()
            if mode == _AFTER_END:
                raise self._failed(_data_after_trailers())
            raise RuntimeError(f"response_data() out of order (state {mode})")

    def _take_unary(self) -> None:
        try:
            frames = self._split(b"", _ALL)
        except ConnectError as exc:
            raise self._failed(exc) from None
        frames = self._checked(frames, self._trailers_frame, _TOO_MANY)
        if frames and self._unary_message is None:
            self._unary_message = frames[0]
        self._raise_fault()

    def messages(self, limit: int = MESSAGE_BATCH, data: bytes = b"") -> list[tuple[int, bytes]]:
        """Take ``data``, a body chunk, as :meth:`response_data` does, then split
        up to ``limit`` complete messages off the body received so far, in
        order and undecoded (:meth:`decode` makes each a message).

        Raises ``ConnectError`` for malformed input: bad flags, a declared
        length over ``read_max_bytes`` (before the message is buffered), a
        malformed gRPC-Web trailers frame, a second message of a client stream.
        Good messages before the fault are returned with the fault as a last
        entry whose :meth:`decode` raises it. Returns nothing for a unary call
        (its message is ``End.message``) or outside the messages.
        """
        if self._unary or self._mode != _MESSAGES:
            if data:
                self.response_data(data)
            self._raise_fault()
            return []
        if data:
            self._seen_body = True
        try:
            frames = self._split(data, limit)
        except ConnectError as exc:
            raise self._failed(exc) from None
        if self._decoder.stopped or self._single:
            return self._checked(frames, self._trailers_frame, _TOO_MANY)
        return frames

    def decode(self, flags: int, payload: bytes) -> Res:
        """One message split off by :meth:`messages`, decompressed and decoded.

        Raises ``ConnectError`` for a compressed message without
        ``grpc-encoding``, one that does not decompress (or exceeds
        ``read_max_bytes`` once decompressed), or does not decode, and the
        fault that ended a batch.
        """
        if flags:
            payload = self._unwrap(flags, payload)
        return self._decode(payload, self._output)

    def _decompressed(self, flags: int, payload: bytes) -> bytes:
        if flags & FLAG_COMPRESSED:
            return self._compression.decompress(payload, self._protocol.read_max_bytes)
        return payload

    # -- hooks (gRPC-Web overrides them) -------------------------------------------------

    def _trailers_frame(self, flags: int, payload: bytes) -> None:
        """A frame with a flag other than "compressed" (the decoder lets none
        through for gRPC; gRPC-Web reads its trailers here)."""
        raise ConnectError(Code.INTERNAL, f"protocol error: invalid message flags 0x{flags:02x}")

    def _end_trailers(self, raw_trailers: RawHeaders) -> Headers | None:
        """The trailers that end the response (``None``: there were none)."""
        return Headers.from_raw(raw_trailers) if raw_trailers else None

    def _trailers_seen(self, trailers: Headers) -> None:
        """The body held the trailers (gRPC-Web): nothing may follow them."""
        self._body_trailers = trailers
        self._mode = _AFTER_END
        self.ended = True
        if self._decoder.pending:
            raise _data_after_trailers()

    # -- the end -----------------------------------------------------------------------

    def response_end(self, raw_trailers: RawHeaders = ()) -> End[Res]:
        """Take the end of the body and the HTTP trailers; return how the call ended.

        The status comes from the trailers; when there are none and the body
        was empty, from the head (a trailers-only response). A response
        without a status is an error (``INTERNAL`` without trailers,
        ``UNKNOWN`` for trailers without ``grpc-status``), as is a body that
        ends inside a message. With an OK status a unary call or client stream
        without its response message raises ``UNIMPLEMENTED``.
        """
        mode = self._mode
        if mode == _ERROR_BODY:
            self._mode = _DONE
            self.ended = True
            return End(self._trailers, self._status_error(raw_trailers, bytes(self._error_body)))
        if mode != _MESSAGES and mode != _AFTER_END:
            self._raise_fault()
            raise RuntimeError(f"response_end() out of order (state {mode})")
        self._mode = _DONE
        self.ended = True
        trailers = self._end_trailers(raw_trailers)
        if trailers is not None:
            self._trailers = user_metadata(trailers)
        elif not self._seen_body and "grpc-status" in self._head:
            trailers = self._trailers_only_head()
        error = status_from_trailers(trailers, self._metadata(), self.status or 0)
        if error is not None:
            return End(self._trailers, error)
        if self._decoder.pending:
            raise self._failed(
                ConnectError(Code.INTERNAL, "protocol error: the body ended inside a message")
            )
        if self._single and self._count == 0:
            raise self._failed(
                ConnectError(
                    Code.UNIMPLEMENTED, "protocol error: the call's response message is missing"
                )
            )
        if self._unary_message is None:
            return End(self._trailers)
        try:
            return End(self._trailers, None, self.decode(*self._unary_message))
        except ConnectError as exc:
            raise self._failed(exc) from None

    def _status_error(self, raw_trailers: RawHeaders, body: bytes | None) -> ConnectError:
        """The error of a non-200 response: the ``grpc-status`` of its trailers
        or (with an empty body) its head, else its HTTP status' code."""
        status = self.status or 0
        found = None
        if raw_trailers:
            found = Headers.from_raw(raw_trailers)
            self._trailers = user_metadata(found)
        elif not body and "grpc-status" in self._head:
            found = self._trailers_only_head()
        if found is not None and "grpc-status" in found:
            error = status_from_trailers(found, self._metadata(), status)
            if error is not None:
                return error
        ctype = self._head.get("content-type", "")
        label = self._protocol.label(self._method.path)
        return http_status_error(status, ctype, body, self._metadata(), label)

    def _metadata(self) -> Headers:
        """Headers and trailers, for an error (a trailers-only response's
        trailers are its headers: once)."""
        metadata = self._headers.copy()
        if self._trailers_only:
            return metadata
        metadata.extend(self._trailers)
        return metadata

    def _trailers_only_head(self) -> Headers:
        """The head as the trailers of a trailers-only response."""
        self._trailers_only = True
        self._trailers = user_metadata(self._head, drop=("content-type",))
        return self._head

    def _raise_fault(self) -> None:
        if self._mode == _FAILED and self._fault is not None:
            raise self._fault

    def _failed(self, error: ConnectError) -> ConnectError:
        """Record that the call failed with ``error`` (returned, to be raised);
        the error gets the response's metadata and status if it has none."""
        if not error.metadata:
            error.metadata = self._metadata()
        if error.http_status is None:
            error.http_status = self.status
        self._mode = _FAILED
        self.ended = False
        self._fault = error
        return error

    def response_failed(self, error: ConnectError) -> ConnectError:
        """The error to report for ``error``, raised while the response was read
        (by the exchange, which broke, or by this object); the call is over.

        For a non-200 response the status' error stands; otherwise ``error``.
        """
        if self._mode == _ERROR_BODY:
            error = self._status_error((), None)
        return self._failed(error)


def _data_after_trailers() -> ConnectError:
    return ConnectError(Code.INTERNAL, "protocol error: data after the trailers")
