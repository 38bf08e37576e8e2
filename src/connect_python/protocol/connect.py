"""The Connect protocol: :class:`ConnectProtocol` per client, :class:`ConnectCall` per call.

One :class:`ConnectCall` serves every kind of call; the method's stream type
decides the wire format:

- unary: a POST whose body is the message (``Content-Encoding`` when
  compressed), or a GET with the message in the query; the response body is
  the message, or a JSON error for a non-200 status; trailers travel as
  ``trailer-``-prefixed headers;
- streams: enveloped messages both ways; the response ends with an end-stream
  message holding the trailers and an optional error; a non-200 status carries
  a JSON error body; a client stream's response holds exactly one message.

The wire details live in :mod:`.connect_request` (headers, timeout, GET
query) and :mod:`.connect_response` (response checks, errors, end-stream);
this module keeps the state of a call and drives them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from .._code import Code
from .._errors import ConnectError
from .._headers import Headers, HeadersInput
from .._method import IdempotencyLevel, Message, MethodInfo, StreamType
from . import (
    MESSAGE_BATCH,
    End,
    EnvelopedCall,
    RawHeaders,
    RequestHead,
    check_request,
)
from .compression import Compression
from .connect_request import (
    RequestTemplate,
    get_query,
)
from .connect_response import (
    check_stream_response,
    check_unary_response,
    data_after_end,
    parse_end_stream,
    request_label,
    split_unary_trailers,
    unary_content_type_error,
    unary_error,
)
from .envelope import FLAG_COMPRESSED, FLAG_END_STREAM, EnvelopeDecoder, encode_envelope
from .options import ProtocolOptions

__all__ = ["ConnectCall", "ConnectProtocol"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

#: The most of a streaming call's error body read for its JSON error.
_ERROR_BODY_LIMIT = 64 * 1024
_TOO_MANY = "protocol error: client stream got more than one response message"

# What a call does with response bytes (ConnectCall._mode).
_HEAD = 0  # no response head yet
_MESSAGES = 1  # a stream's envelopes
_UNARY_BODY = 2  # a unary body, buffered until the end
_ERROR_BODY = 3  # a stream's error body, buffered until the end
_AFTER_END = 4  # the end-stream message was read: only the end of the body may follow
_DONE = 5  # response_end returned
_FAILED = 6  # a fault was raised (or is waiting in _fault)


class ConnectProtocol(ProtocolOptions):
    """The Connect protocol as configured for one client.

    Takes the keywords of :class:`~connect_python.protocol.options.ProtocolOptions`:
    ``codec`` is ``"proto"``, ``"json"`` or a :class:`~connect_python.Codec`;
    ``send_compression`` names the compression of requests (``None`` or
    ``"identity"``: none), applied to messages of at least
    ``compress_min_bytes``; ``accept_compression`` the encodings advertised for
    responses (``None``: every one available); ``read_max_bytes`` the largest
    response message accepted; ``headers`` are sent with every call (protocol
    headers win over them; per-call headers win over both); ``user_agent``
    replaces the default ``User-Agent``. ``base_url`` gives the path prefix of
    every request and names the request in error messages. An unavailable
    compression raises ``ValueError``.
    """

    __slots__ = ("template",)

    name = "connect"

    def _configured(self) -> None:
        self.template = RequestTemplate(
            self.codec, self.default_headers, self.send_compression, self.accept.values()
        )

    def call(
        self, method: MethodInfo[Req, Res], *, send_compression: str | None = None
    ) -> ConnectCall[Req, Res]:
        """The protocol state of one call of ``method``.

        ``send_compression`` overrides the client's request compression for
        this call (``"identity"``: none); an unavailable one raises ``ValueError``.
        """
        return ConnectCall(self, method, self.call_compression(send_compression))


class ConnectCall(EnvelopedCall, Generic[Req, Res]):
    """The Connect protocol state of one call (any stream type).

    See :class:`connect_python.protocol.CallProtocol` for the order of the
    methods and how errors are reported.
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_codec",
        "_compression",
        "_decode",
        "_decoder",
        "_end_error",
        "_fault",
        "_headers",
        "_method",
        "_mode",
        "_output",
        "_protocol",
        "_send_compression",
        "_single",
        "_split",
        "_status_error",
        "_trailers",
        "_unary",
        "_unary_body",
        "_unary_compression",
        "_verb",
        "ended",
        "status",
    )

    def __init__(
        self,
        protocol: ConnectProtocol,
        method: MethodInfo[Req, Res],
        send_compression: Compression | None,
    ) -> None:
        self._protocol = protocol
        self._method = method
        self._codec = codec = protocol.codec_for(method)
        self._decode = codec.decode
        self._output = method.output
        self._send_compression = send_compression
        kind = method.stream_type
        self._unary = kind is StreamType.UNARY
        #: A client stream: exactly one response message.
        self._single = kind is StreamType.CLIENT_STREAM
        self._verb = b"POST"
        self._mode = _HEAD
        #: Whether the end of the response was seen (the end-stream message of a
        #: stream; the end of the body of a unary call or an error response).
        self.ended = False
        self.status: int | None = None
        self._headers: Headers | None = None
        self._trailers: Headers | None = None
        #: The compression of response messages (streams) or body (unary).
        self._compression: Compression | None = None
        #: A stream's envelopes (set with the response head: unary calls have none).
        self._decoder: EnvelopeDecoder
        self._split: Callable[[bytes, int], list[tuple[int, bytes]]]
        self._body: list[bytes] = []
        self._body_size = 0
        self._count = 0
        self._end_error: ConnectError | None = None
        self._status_error: ConnectError | None = None
        self._fault: ConnectError | None = None
        #: A unary call's request body and its compression (encode_request).
        self._unary_body: bytes | None = None
        self._unary_compression: Compression | None = None

    # -- what the user sees ----------------------------------------------------------

    @property
    def response_headers(self) -> Headers:
        """The response headers (unary: without the ``trailer-`` ones)."""
        return self._headers if self._headers is not None else Headers()

    @property
    def response_trailers(self) -> Headers:
        """The trailers (unary: ``trailer-`` headers and HTTP trailers; streams:
        the end-stream message's metadata)."""
        return self._trailers if self._trailers is not None else Headers()

    @property
    def error_in_body(self) -> bool:
        """Whether a stream's response head announced an error (a non-200
        status) that its body describes: read the body to its end, and
        :meth:`response_end` returns the error."""
        return self._mode == _ERROR_BODY

    def _label(self) -> str:
        """The request, as error messages name it (empty without a base URL)."""
        protocol = self._protocol
        if not protocol.base_url:
            return ""
        return request_label(self._verb, protocol.base_url, self._method.path)

    # -- request ----------------------------------------------------------------------

    def request_head(
        self,
        time_left: float | None = None,
        *,
        headers: HeadersInput = None,
        message: Req | None = None,
        use_get: bool = False,
    ) -> RequestHead:
        """The request head; ``time_left`` (seconds) becomes ``Connect-Timeout-Ms``.

        ``headers`` (per call) replace the defaults of the same name. A unary
        call needs its ``message`` (here, or to :meth:`encode_request` first):
        the head announces the body's compression, and a GET (``use_get``, only
        for ``NO_SIDE_EFFECTS`` methods, else ``ValueError``) carries the
        message in its query; ``body`` is the request body (empty for a GET).
        A stream may give its only ``message`` as well; ``body`` then holds it
        as one envelope.
        """
        protocol = self._protocol
        template = protocol.template
        method = self._method
        if not self._unary:
            if use_get:
                raise ValueError(f"{method.path} is a streaming method: GET is not allowed")
            raw = template.headers(template.stream_raw, headers, time_left)
            comp = self._send_compression
            if comp is not protocol.send_compression:
                raw = [(k, v) for k, v in raw if k != b"connect-content-encoding"]
                if comp is not None:
                    raw.append((b"connect-content-encoding", comp.name.encode()))
            body = None if message is None else self.encode_request(message)
            return RequestHead(b"POST", protocol.target(method.path), raw, body)
        if message is not None:
            self.encode_request(message)
        data = self._unary_body
        if data is None:
            raise ValueError(f"{method.path} is a unary method: give its message to request_head()")
        comp = self._unary_compression
        if use_get:
            if method.idempotency_level is not IdempotencyLevel.NO_SIDE_EFFECTS:
                raise ValueError(f"{method.path} is not marked NO_SIDE_EFFECTS: GET is not allowed")
            self._verb = b"GET"
            query = get_query(protocol.codec, data, comp)
            target = protocol.target(method.path) + b"?" + query.encode()
            raw = template.headers(template.get_raw, headers, time_left)
            return RequestHead(b"GET", target, raw, b"")
        raw = template.headers(template.unary_raw, headers, time_left)
        if comp is not None:
            raw.append((b"content-encoding", comp.name.encode()))
        return RequestHead(b"POST", protocol.target(method.path), raw, data)

    def encode_request(self, message: Req) -> bytes:
        """``message`` as request bytes, compressed when it is at least
        ``compress_min_bytes``: a stream's envelope, or a unary call's body (which
        :meth:`request_head` then announces, or puts in a GET's query)."""
        if type(message) is not self._method.input:
            check_request(self._method, message)
        protocol = self._protocol
        data = self._codec.encode(message)
        comp = self._send_compression
        if self._unary:
            if comp is not None and len(data) < protocol.compress_min_bytes:
                comp = None
            if comp is not None:
                data = comp.compress(data)
            self._unary_body = data
            self._unary_compression = comp
            return data
        if comp is not None and len(data) >= protocol.compress_min_bytes:
            return encode_envelope(FLAG_COMPRESSED, comp.compress(data))
        return encode_envelope(0, data)

    # -- response ----------------------------------------------------------------------

    def response_head(self, status: int, raw_headers: RawHeaders) -> None:
        """Take the response status and headers.

        A unary response is judged at its end (its error messages quote the
        body). A stream's raises for a 200 with another content type or an
        unknown ``Connect-Content-Encoding``; for another status, the body is
        read as a JSON error and :meth:`response_end` reports it.
        """
        self.status = status
        protocol = self._protocol
        if self._unary:
            self._headers, self._trailers = split_unary_trailers(Headers.from_raw(raw_headers))
            self._mode = _UNARY_BODY
            return
        headers = Headers.from_raw(raw_headers)
        self._headers = headers
        error = check_stream_response(status, headers, protocol.codec)
        if error is not None:
            label = self._label()
            if label:
                error = check_stream_response(status, headers, protocol.codec, label) or error
            if status != 200:
                self._status_error = error
                self._mode = _ERROR_BODY
                return
            raise self._failed(error)
        encoding = headers.get("connect-content-encoding")
        if encoding is not None and encoding != "identity":
            try:
                self._compression = protocol.accepted(encoding)
            except ConnectError as exc:
                self._failed(exc)
                raise
        self._decoder = decoder = EnvelopeDecoder(
            protocol.read_max_bytes, stop_flags=FLAG_END_STREAM
        )
        self._split = decoder.split
        self._mode = _MESSAGES

    def response_data(self, chunk: bytes) -> None:
        """Take a body chunk (a stream's messages come out of :meth:`messages`).

        Raises ``ConnectError`` for data after the end-stream message, a unary
        body over ``read_max_bytes``, a stream's error body too long to be a
        Connect error, and once the call failed (the same error again).
        """
        if self._mode == _MESSAGES:
            self._decoder.feed(chunk)
            return
        self._other_data(chunk)

    def messages(self, limit: int = MESSAGE_BATCH, data: bytes = b"") -> list[tuple[int, bytes]]:
        """Take ``data``, a body chunk, as :meth:`response_data` does, then split
        up to ``limit`` complete messages off the body received so far, in
        order and undecoded (:meth:`decode` makes each a message).

        A stream's end-stream message is read here: :attr:`ended` is then true
        and nothing follows it. Raises ``ConnectError`` for malformed input: bad
        envelope flags, a declared length over ``read_max_bytes`` (before the
        message is buffered), a malformed end-stream message, data after it, a
        second message of a client stream. When good messages precede the
        fault, they are returned with the fault as a last entry whose
        :meth:`decode` raises it. Returns nothing outside a stream's messages.
        """
        if self._mode != _MESSAGES:
            if data:
                self.response_data(data)
            self._raise_fault()
            return []
        try:
            out = self._split(data, limit)
        except ConnectError as exc:
            raise self._failed(exc) from None
        if self._decoder.stopped or self._single:
            return self._checked(out, self._end_stream, _TOO_MANY)
        return out

    def decode(self, flags: int, payload: bytes) -> Res:
        """One message split off by :meth:`messages`, decompressed and decoded.

        Raises ``ConnectError`` for a compressed message without an encoding,
        one that does not decompress (or exceeds ``read_max_bytes`` once
        decompressed), or does not decode, and the fault that ended a batch.
        """
        if flags:
            payload = self._unwrap(flags, payload)
        return self._decode(payload, self._output)

    def _decompressed(self, flags: int, payload: bytes) -> bytes:
        compression = self._compression
        if compression is None:
            raise ConnectError(
                Code.INTERNAL,
                "protocol error: compressed message without connect-content-encoding",
            )
        return compression.decompress(payload, self._protocol.read_max_bytes)

    def _end_stream(self, flags: int, payload: bytes) -> None:
        if flags & FLAG_COMPRESSED:
            compression = self._compression
            if compression is None:
                raise ConnectError(
                    Code.INTERNAL, "protocol error: compressed end-stream without encoding"
                )
            payload = compression.decompress(payload, self._protocol.read_max_bytes)
        end = parse_end_stream(payload, self.response_headers)
        self._trailers = end.trailers
        self._end_error = end.error
        self._mode = _AFTER_END
        self.ended = True
        if self._decoder.pending:
            raise data_after_end()

    def _other_data(self, chunk: bytes) -> None:
        mode = self._mode
        if mode in (_UNARY_BODY, _ERROR_BODY):
            size = self._body_size + len(chunk)
            self._body_size = size
            if mode == _UNARY_BODY:
                limit = self._protocol.read_max_bytes
                if limit is not None and size > limit:
                    raise self._failed(
                        ConnectError(
                            Code.RESOURCE_EXHAUSTED,
                            f"message size is larger than configured max {limit}",
                        )
                    )
            elif size > _ERROR_BODY_LIMIT:
                # Too long to be a Connect error: the status tells the error.
                error = self._status_error
                assert error is not None
                raise self._failed(error)
            if chunk:
                self._body.append(chunk)
            return
        if mode == _AFTER_END:
            if chunk:
                raise self._failed(data_after_end())
            return
        self._raise_fault()
        raise RuntimeError(f"response_data() out of order (state {mode})")

    def _raise_fault(self) -> None:
        if self._mode == _FAILED and self._fault is not None:
            raise self._fault

    def _failed(self, error: ConnectError) -> ConnectError:
        """Record that the call failed with ``error`` (returned, to be raised)."""
        self._mode = _FAILED
        self.ended = False
        self._fault = error
        return error

    def response_end(self, raw_trailers: RawHeaders = ()) -> End[Res]:
        """Take the end of the body and the HTTP trailers; return how the call ended.

        Unary: the body is decompressed, then judged (status, content type) and
        decoded; the trailers are the ``trailer-`` headers and the HTTP
        trailers. Streams: the trailers are the end-stream message's metadata
        (HTTP trailers are not part of Connect); a missing end-stream message
        raises ``INTERNAL``; a client stream without its response message
        raises ``UNIMPLEMENTED``. A non-200 stream response ends with the
        error of its JSON body or of its status.
        """
        mode = self._mode
        if mode == _AFTER_END:
            self._mode = _DONE
            self.ended = True
            trailers = self.response_trailers
            if self._single and self._count == 0 and self._end_error is None:
                raise self._failed(
                    ConnectError(
                        Code.UNIMPLEMENTED,
                        "protocol error: client stream got no response message",
                    )
                )
            return End(trailers, self._end_error)
        if mode == _MESSAGES:
            if self._decoder.pending:
                raise self._failed(
                    ConnectError(Code.INTERNAL, "protocol error: stream ended inside a message")
                )
            raise self._failed(
                ConnectError(
                    Code.INTERNAL, "protocol error: stream ended without an end-stream message"
                )
            )
        if mode == _UNARY_BODY:
            return self._unary_end(raw_trailers)
        if mode == _ERROR_BODY:
            self._mode = _DONE
            self.ended = True
            error = self._status_error
            assert error is not None
            body = b"".join(self._body)
            self._body = []
            status = self.status or 0
            error = unary_error(status, error.metadata, Headers(), body, self._label())
            return End(Headers(), error)
        self._raise_fault()
        raise RuntimeError(f"response_end() out of order (state {mode})")

    def _unary_end(self, raw_trailers: RawHeaders) -> End[Res]:
        self._mode = _DONE
        self.ended = True
        protocol = self._protocol
        headers = self.response_headers
        trailers = self.response_trailers
        if raw_trailers:
            trailers.extend(Headers.from_raw(raw_trailers))
        status = self.status
        assert status is not None
        body = self._body
        payload = body[0] if len(body) == 1 else b"".join(body)
        self._body = []
        encoding = headers.get("content-encoding")
        if encoding is not None and encoding != "identity" and payload:
            try:
                comp = protocol.accepted(encoding)
                payload = comp.decompress(payload, protocol.read_max_bytes)
            except ConnectError as exc:
                exc.metadata = headers.copy()
                exc.metadata.extend(trailers)
                exc.http_status = status
                self._failed(exc)
                raise
        if status != 200:
            return End(trailers, unary_error(status, headers, trailers, payload, self._label()))
        codec = protocol.codec
        code = check_unary_response(status, headers, codec)
        if code is not None:
            label = self._label()
            error = unary_content_type_error(status, headers, trailers, codec, label, payload, code)
            return End(trailers, error)
        try:
            message = self._codec.decode(payload, self._method.output)
        except ConnectError as exc:
            exc.metadata = headers.copy()
            exc.metadata.extend(trailers)
            self._failed(exc)
            raise
        return End(trailers, None, message)

    def response_failed(self, error: ConnectError) -> ConnectError:
        """The error to report for ``error``, raised while the response was read:
        by the exchange (it broke), or by this object (returned as it is).

        While a stream's error body is read, the status' error stands (the body
        only adds detail); otherwise ``error`` itself. The call is over.
        """
        if self._mode == _ERROR_BODY:
            status_error = self._status_error
            assert status_error is not None
            error = status_error
        self._failed(error)
        return error
