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

from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

from google.protobuf.message import Message

from .._code import Code
from .._errors import ConnectError
from .._headers import Headers, HeadersInput, merge_headers
from .._method import MethodInfo, StreamType
from . import DEFAULT_READ_MAX_BYTES, MESSAGE_BATCH, End, RawHeaders, RequestHead, check_request
from .codec import Codec, codec_for_name
from .compression import Compression, available_compressions, compression_for_name
from .envelope import FLAG_COMPRESSED, EnvelopeDecoder, encode_envelope
from .grpc_status import (
    content_type_error,
    encode_timeout,
    http_status_error,
    request_metadata,
    status_from_trailers,
    user_metadata,
)

__all__ = ["USER_AGENT", "GrpcCall", "GrpcProtocol"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

#: The default ``User-Agent`` (the gRPC spec's ``grpc-<language>-<variant>/<version>``).
USER_AGENT = "grpc-python-connect/0.1"

#: The most of a non-gRPC error body kept for the error's message.
_ERROR_BODY_LIMIT = 64 * 1024
#: More than any body: "every message that has arrived".
_ALL = 1 << 62

# What a call does with response bytes (GrpcCall._mode).
_HEAD = 0  # no response head yet
_MESSAGES = 1  # length-prefixed messages
_ERROR_BODY = 2  # a non-200 response's body, kept (up to a limit) for the error
_AFTER_END = 3  # gRPC-Web: the trailers frame was read; only the end of the body may follow
_DONE = 4  # response_end returned
_FAILED = 5  # a fault was raised (or is waiting in _fault)


def _compression(name: str) -> Compression:
    comp = compression_for_name(name)
    if comp is None:
        raise ValueError(f"compression {name!r} is not available")
    return comp


class GrpcProtocol:
    """The gRPC protocol as configured for one client.

    The options mean what they mean for
    :class:`~connect_python.protocol.connect.ConnectProtocol`. ``headers``
    (and every call's headers) are checked once: a name the protocol reserves,
    or a value gRPC metadata can't carry, raises ``ValueError``
    (:func:`~connect_python.protocol.grpc_status.request_metadata`).
    """

    __slots__ = (
        "_accept",
        "_accept_line",
        "_base_url",
        "_default_raw",
        "_defaults",
        "_prefix",
        "_targets",
        "codec",
        "compress_min_bytes",
        "read_max_bytes",
        "send_compression",
    )

    name: ClassVar[str] = "grpc"
    #: The response content type without its codec suffix.
    content_type: ClassVar[str] = "application/grpc"

    def __init__(
        self,
        *,
        codec: str | Codec = "proto",
        send_compression: str | None = None,
        accept_compression: Sequence[str] | None = None,
        compress_min_bytes: int = 1024,
        read_max_bytes: int | None = DEFAULT_READ_MAX_BYTES,
        headers: HeadersInput = None,
        user_agent: str | None = None,
        base_url: str = "",
    ) -> None:
        self.codec: Codec = codec_for_name(codec) if isinstance(codec, str) else codec
        self.send_compression: Compression | None = None
        if send_compression is not None and send_compression != "identity":
            self.send_compression = _compression(send_compression)
        if accept_compression is None:
            accept = available_compressions()
        else:
            accept = [_compression(name) for name in accept_compression]
        self._accept = {c.name: c for c in accept}
        if self.send_compression is not None:
            self._accept.setdefault(self.send_compression.name, self.send_compression)
        self._accept_line = (b"grpc-accept-encoding", ", ".join(self._accept).encode())
        self.compress_min_bytes = compress_min_bytes
        self.read_max_bytes = read_max_bytes
        defaults = Headers(headers)
        if user_agent is not None:
            defaults.set("user-agent", user_agent)
        self._defaults = defaults
        self._default_raw = self._metadata_lines(defaults)
        self._prefix = urlsplit(base_url).path.rstrip("/") if base_url else ""
        self._targets: dict[str, bytes] = {}
        self._base_url = base_url

    def call(
        self, method: MethodInfo[Req, Res], *, send_compression: str | None = None
    ) -> GrpcCall[Req, Res]:
        """The protocol state of one call of ``method``.

        ``send_compression`` overrides the client's request compression for
        this call (``"identity"``: none); an unavailable one raises ``ValueError``.
        """
        if send_compression is None:
            comp = self.send_compression
        elif send_compression == "identity":
            comp = None
        else:
            comp = _compression(send_compression)
        return self._make_call(method, comp)

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
        agent = headers.get("user-agent")
        if agent is not None:
            headers = headers.copy()
            headers.remove("user-agent")
        else:
            agent = USER_AGENT
        return [(b"user-agent", agent.encode("latin-1")), *request_metadata(headers)]

    def request_lines(
        self,
        time_left: float | None,
        compression: Compression | None,
        headers: HeadersInput,
    ) -> list[tuple[bytes, bytes]]:
        """A call's request headers: ``grpc-timeout`` for ``time_left`` seconds,
        the protocol's own, ``grpc-encoding`` for ``compression``, then the
        client's default headers with the call's ``headers`` replacing those of
        the same name."""
        raw: list[tuple[bytes, bytes]] = []
        if time_left is not None:
            raw.append((b"grpc-timeout", encode_timeout(time_left).encode()))
        raw += self._protocol_lines()
        if compression is not None:
            raw.append((b"grpc-encoding", compression.name.encode()))
        raw.append(self._accept_line)
        if headers:
            raw += self._metadata_lines(merge_headers(self._defaults, headers))
        else:
            raw += self._default_raw
        return raw

    def target(self, path: str) -> bytes:
        """The request target of the method at ``path`` (``/pkg.Service/Method``)."""
        target = self._targets.get(path)
        if target is None:
            target = self._targets[path] = (self._prefix + path).encode()
        return target

    def compression_named(self, name: str) -> Compression:
        """The accepted compression ``name``; anything else is ``INTERNAL``."""
        comp = self._accept.get(name)
        if comp is None:
            raise ConnectError(
                Code.INTERNAL,
                f"unknown compression {name!r}: accepted encodings are "
                f"{', '.join(self._accept) or 'identity only'}",
            )
        return comp


class GrpcCall(Generic[Req, Res]):
    """The gRPC protocol state of one call (any stream type).

    See :class:`connect_python.protocol.CallProtocol` for the order of the
    methods and how errors are reported. A unary call's response message is
    ``End.message``; the messages of the other kinds come out of
    :meth:`messages` (a client stream's: exactly one).
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_body_trailers",
        "_compression",
        "_count",
        "_decoder",
        "_fault",
        "_head",
        "_headers",
        "_method",
        "_mode",
        "_protocol",
        "_received",
        "_send_compression",
        "_single",
        "_trailers",
        "_unary",
        "_unary_message",
        "status",
    )

    #: The envelope flags a response may use.
    known_flags: ClassVar[int] = FLAG_COMPRESSED

    def __init__(
        self,
        protocol: GrpcProtocol,
        method: MethodInfo[Req, Res],
        send_compression: Compression | None,
    ) -> None:
        self._protocol = protocol
        self._method = method
        self._send_compression = send_compression
        kind = method.stream_type
        self._unary = kind is StreamType.UNARY
        #: Exactly one response message (unary and client streams).
        self._single = self._unary or kind is StreamType.CLIENT_STREAM
        self._mode = _HEAD
        self.status: int | None = None
        self._head = Headers()  # the response head as received
        self._headers: Headers | None = None
        self._trailers: Headers | None = None
        self._compression: Compression | None = None
        self._decoder: EnvelopeDecoder | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._received = 0
        self._count = 0
        self._unary_message: tuple[int, bytes] | None = None
        self._body_trailers: Headers | None = None
        self._fault: ConnectError | None = None

    # -- what the user sees ------------------------------------------------------------

    @property
    def response_headers(self) -> Headers:
        """The response headers (without the status, which the user sees as
        the call's outcome)."""
        return self._headers if self._headers is not None else Headers()

    @property
    def response_trailers(self) -> Headers:
        """The trailers (of a trailers-only response: its head but the content type)."""
        return self._trailers if self._trailers is not None else Headers()

    @property
    def ended(self) -> bool:
        """Whether the end of the response was seen (gRPC: only at :meth:`response_end`)."""
        return self._mode in (_AFTER_END, _DONE)

    @property
    def error_in_body(self) -> bool:
        """Whether the response is not gRPC (a non-200 status): its body is
        read to the end and :meth:`response_end` returns the error."""
        return self._mode == _ERROR_BODY

    def _label(self) -> str:
        base = self._protocol._base_url
        return f"POST {base.rstrip('/')}{self._method.path}" if base else ""

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
        GET). A unary call needs its ``message``; ``body`` is then the whole
        request body. A stream may give its only message too.
        """
        method = self._method
        if use_get:
            raise ValueError(f"{method.path}: the {self._protocol.name} protocol has no GET")
        if self._unary and message is None:
            raise ValueError(f"{method.path} is a unary method: give its message to request_head()")
        raw = self._protocol.request_lines(time_left, self._send_compression, headers)
        body = None if message is None else self.encode_request(message)
        return RequestHead(b"POST", self._protocol.target(method.path), raw, body)

    def encode_request(self, message: Req) -> bytes:
        """``message`` as one length-prefixed message, compressed when it is at
        least ``compress_min_bytes``."""
        if type(message) is not self._method.input:
            check_request(self._method, message)
        protocol = self._protocol
        data = protocol.codec.encode(message)
        comp = self._send_compression
        if comp is not None and len(data) >= protocol.compress_min_bytes:
            return encode_envelope(FLAG_COMPRESSED, comp.compress(data))
        return encode_envelope(0, data)

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
        head = Headers.from_raw(raw_headers)
        self._head = head
        self._headers = user_metadata(head)
        if status != 200:
            self._mode = _ERROR_BODY
            return
        ctype = head.get("content-type", "")
        error = content_type_error(ctype, protocol.content_type, protocol.codec.name, self._label())
        if error is not None:
            raise self._failed(error)
        encoding = head.get("grpc-encoding")
        if encoding is not None and encoding != "identity":
            try:
                self._compression = protocol.compression_named(encoding)
            except ConnectError as exc:
                raise self._failed(exc) from None
        self._decoder = EnvelopeDecoder(protocol.read_max_bytes, self.known_flags)
        self._mode = _MESSAGES

    def response_data(self, chunk: bytes) -> None:
        """Take a body chunk.

        A unary call's message is kept for :meth:`response_end`; a second one
        raises ``UNIMPLEMENTED``. Raises ``ConnectError`` for data after a
        gRPC-Web trailers frame, malformed frames (unary), and once the call
        failed (the same error again).
        """
        mode = self._mode
        if mode == _MESSAGES:
            decoder = self._decoder
            assert decoder is not None
            self._received += len(chunk)
            decoder.feed(chunk)
            if self._unary:
                self._take_unary()
            return
        if mode == _ERROR_BODY:
            size = self._body_size + len(chunk)
            self._body_size = size
            if size > _ERROR_BODY_LIMIT:
                raise self._failed(self._status_error(None, None))
            if chunk:
                self._body.append(chunk)
            return
        if mode == _AFTER_END:
            if chunk:
                raise self._failed(_data_after_trailers())
            return
        self._raise_fault()
        raise RuntimeError(f"response_data() out of order (state {mode})")

    def _take_unary(self) -> None:
        out, fault = self._split(_ALL)
        if out:
            self._count += len(out)
            if self._count > 1:
                raise self._failed(_more_than_one())
            self._unary_message = out[0]
        if fault is not None:
            raise self._failed(fault)

    def _split(self, limit: int) -> tuple[list[tuple[int, bytes]], ConnectError | None]:
        """Up to ``limit`` messages off the input, and the fault that stopped it."""
        decoder = self._decoder
        assert decoder is not None
        next_envelope = decoder.next
        out: list[tuple[int, bytes]] = []
        append = out.append
        try:
            for _ in range(limit):
                envelope = next_envelope()
                if envelope is None:
                    break
                if envelope[0] & ~FLAG_COMPRESSED:
                    self._trailers_frame(*envelope)
                    break
                append(envelope)
        except ConnectError as exc:
            return out, exc
        return out, None

    def messages(self, limit: int = MESSAGE_BATCH) -> list[tuple[int, bytes]]:
        """Split up to ``limit`` complete messages off the body received so
        far, in order and undecoded (:meth:`decode` makes each a message).

        Raises ``ConnectError`` for malformed input: bad flags, a declared
        length over ``read_max_bytes`` (before the message is buffered), a
        malformed gRPC-Web trailers frame, a second message of a client stream.
        Good messages before the fault are returned, and the fault is raised by
        the next call. Returns nothing for a unary call (its message is
        ``End.message``) or outside the messages.
        """
        if self._mode != _MESSAGES or self._unary:
            self._raise_fault()
            return []
        out, fault = self._split(limit)
        if self._single and out:
            count = self._count + len(out)
            self._count = count
            if count > 1:
                # The second message is the fault: it comes before any other.
                del out[max(0, 1 - (count - len(out))) :]
                fault = _more_than_one()
        if fault is not None:
            if not out:
                raise self._failed(fault)
            self._mode = _FAILED
            self._fault = self._with_metadata(fault)
        return out

    def decode(self, flags: int, payload: bytes) -> Res:
        """One message split off by :meth:`messages`, decompressed and decoded.

        Raises ``ConnectError`` for a compressed message without
        ``grpc-encoding``, one that does not decompress (or exceeds
        ``read_max_bytes`` once decompressed), or does not decode.
        """
        if flags & FLAG_COMPRESSED:
            payload = self._decompress(payload)
        return self._protocol.codec.decode(payload, self._method.output)

    def _decompress(self, payload: bytes) -> bytes:
        compression = self._compression
        if compression is None:
            raise ConnectError(
                Code.INTERNAL, "protocol error: compressed message without grpc-encoding"
            )
        return compression.decompress(payload, self._protocol.read_max_bytes)

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
        decoder = self._decoder
        assert decoder is not None
        if decoder.pending:
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
            body = b"".join(self._body)
            self._body = []
            return End(self.response_trailers, self._status_error(raw_trailers, body))
        if mode not in (_MESSAGES, _AFTER_END):
            self._raise_fault()
            raise RuntimeError(f"response_end() out of order (state {mode})")
        self._mode = _DONE
        trailers = self._end_trailers(raw_trailers)
        if trailers is None and not self._received and "grpc-status" in self._head:
            trailers = self._head  # trailers-only
            self._trailers = user_metadata(trailers, drop=("content-type",))
        elif trailers is not None:
            self._trailers = user_metadata(trailers)
        metadata = self._metadata()
        error = status_from_trailers(trailers, metadata, self.status or 0)
        decoder = self._decoder
        assert decoder is not None
        if error is None and decoder.pending and mode == _MESSAGES:
            raise self._failed(
                ConnectError(Code.INTERNAL, "protocol error: the body ended inside a message")
            )
        if error is not None:
            return End(self.response_trailers, error)
        if self._single and self._count == 0:
            raise self._failed(
                ConnectError(
                    Code.UNIMPLEMENTED, "protocol error: the call's response message is missing"
                )
            )
        if not self._unary:
            return End(self.response_trailers)
        assert self._unary_message is not None
        try:
            message = self.decode(*self._unary_message)
        except ConnectError as exc:
            raise self._failed(exc) from None
        return End(self.response_trailers, None, message)

    def _status_error(self, raw_trailers: RawHeaders | None, body: bytes | None) -> ConnectError:
        """The error of a non-200 response: the ``grpc-status`` of its trailers
        or (with an empty body) its head, else its HTTP status' code."""
        status = self.status or 0
        found: Headers | None = None
        if raw_trailers:
            found = Headers.from_raw(raw_trailers)
            self._trailers = user_metadata(found)
        elif not body and "grpc-status" in self._head:
            found = self._head
            self._trailers = user_metadata(found, drop=("content-type",))
        if found is not None and "grpc-status" in found:
            error = status_from_trailers(found, self._metadata(), status)
            if error is not None:
                return error
        ctype = self._head.get("content-type", "")
        return http_status_error(status, ctype, body, self._metadata(), self._label())

    def _metadata(self) -> Headers:
        metadata = self.response_headers.copy()
        metadata.extend(self.response_trailers)
        return metadata

    def _raise_fault(self) -> None:
        if self._mode == _FAILED and self._fault is not None:
            raise self._fault

    def _with_metadata(self, error: ConnectError) -> ConnectError:
        if not error.metadata and self._headers is not None:
            error.metadata = self._metadata()
        if error.http_status is None:
            error.http_status = self.status
        return error

    def _failed(self, error: ConnectError) -> ConnectError:
        """Record that the call failed with ``error`` (returned, to be raised)."""
        self._mode = _FAILED
        self._fault = self._with_metadata(error)
        return error

    def response_failed(self, error: ConnectError) -> ConnectError:
        """The error to report for ``error``, raised while the response was read:
        by the exchange (it broke), or by this object (returned as it is).

        For a non-200 response the status' error stands; otherwise ``error``.
        """
        if self._mode == _ERROR_BODY:
            error = self._status_error(None, None)
        return self._failed(error)


def _more_than_one() -> ConnectError:
    return ConnectError(Code.UNIMPLEMENTED, "protocol error: more than one response message")


def _data_after_trailers() -> ConnectError:
    return ConnectError(Code.INTERNAL, "protocol error: data after the trailers")
