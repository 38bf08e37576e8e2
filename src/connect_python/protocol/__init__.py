"""RPC protocols, sans-IO: what goes on the wire for a call, and what came back.

A protocol has two levels, both described here as :class:`typing.Protocol`
classes so that Connect (:mod:`.connect`), gRPC (:mod:`.grpc`) and gRPC-Web
(:mod:`.grpc_web`) are interchangeable under the call objects (a client picks
one by name: :mod:`.protocols`):

- a :class:`ClientProtocol` is built once per client from its options (codec,
  compressions, limits, default headers) and makes
- a :class:`CallProtocol` per call: it produces the request head and the
  request bytes, and consumes the response head, body chunks and trailers,
  giving back decoded messages and, at the end, an :class:`End`.

Neither touches a socket or an event loop. A call object drives one over an
HTTP exchange (send a head and bytes; receive a status and headers, body
chunks, ``b""`` at the end, then trailers)::

    proto = protocol.call(method, send_compression=None)
    head = proto.request_head(time_left, headers=headers, message=request)
    exchange = open_exchange(head)       # unary and server streams: head.body goes
                                          # along; client/bidi: send each
                                          # proto.encode_request(m), then end the request
    proto.response_head(exchange.status, exchange.headers)
    if proto.error_in_body:               # a stream's error status: read the body,
        ...                               # response_end() returns the error
    while True:                           # whenever the caller wants messages:
        chunk = exchange.receive()        # (a stream drains to b"" once proto.ended)
        if not chunk:
            end = proto.response_end(exchange.trailers)
            break
        batch = proto.messages(MESSAGE_BATCH, chunk)
        while True:
            for flags, payload in batch:
                deliver(proto.decode(flags, payload))
            if len(batch) < MESSAGE_BATCH:
                break                     # nothing more without another chunk
            batch = proto.messages()
    # ConnectError from exchange.receive (it broke): raise proto.response_failed(exc)
    if end.error is not None:
        raise end.error                   # the server's error, after the messages
    return end.message                    # unary; a stream delivered its messages

Messages are split off in bounded batches (:meth:`CallProtocol.messages`,
which takes the chunk too: one call per chunk) and decoded one at a time
(:meth:`CallProtocol.decode`), so a caller handing out a large chunk's
messages can give other work a turn between them. A batch shorter than its
limit means that nothing more can be split before the next chunk.

Errors come in two kinds. An error the server reported (an error status or
error body, an error in the end-stream message) is ``End.error``. A response
that breaks the protocol (bad framing, a message that does not decode, a
missing end-stream message) raises :class:`~connect_python.ConnectError` from
the method that found it; the call is over then and every later ``response_*``
method raises the same error. Either may be a server's deadline error that
the call layer turns into its own (``remote`` is set on the server's errors).

:meth:`CallProtocol.encode_request` keeps no state for streams: a bidi call's
sender may run it while another task or thread feeds the response methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from .._code import Code
from .._errors import ConnectError
from .._headers import Headers, HeadersInput
from .._method import Message, MethodInfo
from .codec import Codec

if TYPE_CHECKING:
    from .envelope import EnvelopeDecoder

__all__ = [
    "DEFAULT_READ_MAX_BYTES",
    "FAULT_FLAG",
    "MESSAGE_BATCH",
    "CallProtocol",
    "ClientProtocol",
    "End",
    "EnvelopedCall",
    "RawHeaders",
    "RequestHead",
    "check_request",
]

#: The largest response message a client accepts unless told otherwise.
DEFAULT_READ_MAX_BYTES = 4 * 1024 * 1024

#: Most messages :meth:`CallProtocol.messages` splits off at once by default
#: (a 256 KiB chunk can hold thousands).
MESSAGE_BATCH = 256

#: The flags of the last entry of a batch from :meth:`CallProtocol.messages`
#: when a fault followed its good messages: decoding that entry raises the
#: fault (outside the flags byte of the wire, so no envelope has it).
FAULT_FLAG = 0x100

#: Header (or trailer) lines as a transport sends and receives them.
RawHeaders = Sequence[tuple[bytes, bytes]]


class EnvelopedCall:
    """What a call of an enveloped protocol (Connect, gRPC, gRPC-Web) checks
    when a split of its messages stopped early or counts messages: the
    stream's last envelope, a call's one message, the fault that ended it."""

    __slots__ = ("_count",)

    _decoder: EnvelopeDecoder
    #: Whether the call has exactly one response message (a second is a fault).
    _single: bool
    #: Response messages split off so far (counted when ``_single``).
    _count: int

    #: The fault that ended a batch (raised by its ``FAULT_FLAG`` entry).
    _fault: ConnectError | None

    def _failed(self, error: ConnectError) -> ConnectError:
        raise NotImplementedError

    def _decompressed(self, flags: int, payload: bytes) -> bytes:
        """A message's payload as its codec takes it."""
        raise NotImplementedError

    def _unwrap(self, flags: int, payload: bytes) -> bytes:
        """The payload of a message whose flags are set, decompressed; the
        ``FAULT_FLAG`` entry that ended a batch raises the batch's fault."""
        if flags == FAULT_FLAG:
            fault = self._fault
            assert fault is not None
            raise fault
        return self._decompressed(flags, payload)

    def _checked(
        self,
        out: list[tuple[int, bytes]],
        on_final: Callable[[int, bytes], None],
        too_many: str,
    ) -> list[tuple[int, bytes]]:
        """``out`` after the split: the envelope that ended the stream goes to
        ``on_final``; of a single-message call only the first message stays
        (a second is the fault ``too_many``); a fault becomes the call's, and
        follows the good messages as a last ``FAULT_FLAG`` entry (raised at
        once when there are none)."""
        decoder = self._decoder
        fault = decoder.fault
        final = decoder.final
        if final is not None:
            decoder.final = None
            try:
                on_final(*final)
            except ConnectError as exc:
                fault = exc
        if self._single and out:
            before = self._count
            self._count = before + len(out)
            if self._count > 1:
                # The second message is the fault: it comes before any other.
                del out[1 if before == 0 else 0 :]
                fault = ConnectError(Code.UNIMPLEMENTED, too_many)
        if fault is not None:
            self._failed(fault)
            if not out:
                raise fault
            out.append((FAULT_FLAG, b""))
        return out


Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)
Req_contra = TypeVar("Req_contra", bound=Message, contravariant=True)
Res_co = TypeVar("Res_co", bound=Message, covariant=True)


class RequestHead:
    """The head of a call's HTTP request.

    ``verb`` is ``b"POST"`` or ``b"GET"``; ``target`` the path (the base URL's
    path, then the method's, then a GET's query); ``headers`` the raw header
    lines to send. ``body`` is the whole request body when the call's request
    was given with the head (a unary request, a GET's empty body, one stream
    message); ``None`` when the body follows as :meth:`CallProtocol.encode_request`
    pieces.
    """

    __slots__ = ("body", "headers", "target", "verb")

    def __init__(
        self,
        verb: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None = None,
    ) -> None:
        self.verb = verb
        self.target = target
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"RequestHead({self.verb!r}, {self.target!r}, {len(self.headers)} headers)"


class End(Generic[Res_co]):
    """How a call's response ended.

    ``trailers`` as the user sees them; ``error`` the error the server reported
    (``None`` for a clean end); ``message`` the response message of a unary call
    (``None`` for streams, whose messages came from ``response_data``, and with
    an error).
    """

    __slots__ = ("error", "message", "trailers")

    def __init__(
        self,
        trailers: Headers,
        error: ConnectError | None = None,
        message: Res_co | None = None,
    ) -> None:
        self.trailers = trailers
        self.error = error
        self.message = message

    def __repr__(self) -> str:
        return f"End(trailers={self.trailers!r}, error={self.error!r})"


class CallProtocol(Protocol[Req_contra, Res_co]):
    """One call's protocol state: request head and bytes out, response events in.

    Methods are called in this order: :meth:`request_head` (once), then
    :meth:`encode_request` for each streamed message, :meth:`response_head`
    (once), :meth:`response_data` for each body chunk (or, for a stream,
    :meth:`messages` with the chunk, which also takes its messages out; each
    is made a message by :meth:`decode`), :meth:`response_end` (once, at the
    end of the body). :meth:`response_failed` replaces the last two when the
    exchange breaks.
    """

    @property
    def status(self) -> int | None:
        """The HTTP status of the response (``None`` before its head)."""
        ...

    @property
    def response_headers(self) -> Headers:
        """The response headers as the user sees them (empty before the head)."""
        ...

    @property
    def response_trailers(self) -> Headers:
        """The response trailers as the user sees them (empty before the end)."""
        ...

    @property
    def ended(self) -> bool:
        """Whether the protocol saw the end of the response (its end-stream
        message, or for unary calls and error responses the end of the body)."""
        ...

    def request_head(
        self,
        time_left: float | None = None,
        *,
        headers: HeadersInput = None,
        message: Req_contra | None = None,
        use_get: bool = False,
    ) -> RequestHead:
        """The request head; ``time_left`` (seconds) is announced as the timeout.

        ``headers`` (per call) replace defaults of the same name. A unary call
        needs its ``message`` here (the head depends on the body); a stream may
        give its only message too. ``use_get`` asks for a GET request.
        """
        ...

    def encode_request(self, message: Req_contra) -> bytes:
        """``message`` as request bytes (compressed when worthwhile)."""
        ...

    def response_head(self, status: int, raw_headers: RawHeaders) -> None:
        """Take the response status and headers; raises when the response can't be read."""
        ...

    @property
    def error_in_body(self) -> bool:
        """Whether the response head announced an error that the body
        describes: the caller reads the body to its end, and
        :meth:`response_end` returns the error."""
        ...

    def response_data(self, chunk: bytes) -> None:
        """Take a body chunk (raises when the response can't be read)."""
        ...

    def messages(
        self, limit: int = MESSAGE_BATCH, data: bytes = b""
    ) -> Sequence[tuple[int, bytes]]:
        """Take ``data``, a body chunk (as :meth:`response_data` does), then
        split up to ``limit`` complete messages off what was received,
        undecoded; the end of a stream found among them sets :attr:`ended`.
        Fewer than ``limit`` means none is left before more data comes.

        When the input also holds a fault after some good messages, those are
        returned, followed by an entry with :data:`FAULT_FLAG` whose
        :meth:`decode` raises the fault (later calls raise it too).
        """
        ...

    def decode(self, flags: int, payload: bytes) -> Res_co:
        """One message from :meth:`messages`, decompressed and decoded (or
        the fault of a :data:`FAULT_FLAG` entry raised)."""
        ...

    def response_end(self, raw_trailers: RawHeaders = ()) -> End[Res_co]:
        """Take the end of the body and the HTTP trailers; return how the call ended."""
        ...

    def response_failed(self, error: ConnectError) -> ConnectError:
        """The error to report for ``error``, raised while the response was read
        (by the exchange, which broke, or by this object); the call is over."""
        ...


def check_request(method: MethodInfo[Req, Res], message: object) -> None:
    """Raise ``TypeError`` unless ``message`` is a ``method.input`` message."""
    expected = method.input
    if isinstance(message, expected):
        return
    name = expected.__name__
    full_name = getattr(getattr(expected, "DESCRIPTOR", None), "full_name", name)
    hint = f" (build one with {name}(**values))" if isinstance(message, dict) else ""
    article = "an" if name[:1] in "AEIOU" else "a"
    raise TypeError(
        f"{method.path}: the request must be {article} {name} message ({full_name}),"
        f" not {type(message).__name__}{hint}"
    )


class ClientProtocol(Protocol):
    """A protocol configured for one client: makes a :class:`CallProtocol` per call."""

    @property
    def name(self) -> str:
        """The protocol's name (``connect``, ``grpc``, ``grpc-web``)."""
        ...

    @property
    def codec(self) -> Codec:
        """The codec of messages."""
        ...

    @property
    def requires_http2(self) -> bool:
        """Whether calls need HTTP/2 (the client refuses an HTTP/1.1 exchange)."""
        ...

    @property
    def read_max_bytes(self) -> int | None:
        """The largest response message accepted (``None``: no limit)."""
        ...

    def call(
        self, method: MethodInfo[Req, Res], *, send_compression: str | None = None
    ) -> CallProtocol[Req, Res]:
        """The protocol state of one call of ``method``.

        ``send_compression`` overrides the client's request compression for
        this call (``"identity"``: none).
        """
        ...
