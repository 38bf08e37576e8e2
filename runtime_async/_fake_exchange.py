"""The testing kit's exchange: one request, answered in-process by a handler
function speaking the server side of the protocol the client chose: Connect
(``connect_python.protocol.connect_server``), gRPC or gRPC-Web
(``connect_python.protocol.grpc_server``), with no socket.

The client's calls run exactly as over the network (the same protocol
object, call objects, deadlines and cancellation); only the bytes travel
through two in-memory pipes instead of HTTP. The handler runs detached from
the caller (a task, or a thread in the sync flavour), as a server would:
full duplex, with its own deadline (the one the client announced), and
cancelled when the client abandons the call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._headers import Headers
from connect_python._http.request import Request
from connect_python._io.shim_async import (
    Background,
    CallScope,
    Event,
    StateLock,
    current_time,
)
from connect_python._method import MethodInfo, StreamType
from connect_python.protocol.connect_server import (
    HandlerContext,
    RequestReader,
    ServerCall,
    decode_unary,
    end_stream,
    open_call,
    stream_message,
    stream_response_head,
    unary_error_response,
)
from connect_python.protocol.connect_server import unary_response as _unary_response
from connect_python.protocol.grpc_server import (
    end_frame,
    grpc_response_head,
    is_grpc,
    open_grpc_call,
    status_trailers,
)

from ._exchange import RawHeaders

__all__ = ["AsyncFakeExchange", "Handler", "Route"]

#: A handler: ``(request or request iterator, context)``, returning a message,
#: an awaitable of one, or an iterator of them, depending on the method.
Handler = Callable[..., Any]
Route = tuple[MethodInfo[Any, Any], Handler]

#: Chunks in flight per direction: a side that does not read holds up the
#: other (as flow control does on the network) instead of buffering without end.
_PIPE_CHUNKS = 32


class _Gone(ConnectError):
    """The other side of the exchange went away (the client abandoned the
    call): what a handler sees when it sends or receives after that."""

    def __init__(self) -> None:
        super().__init__(Code.CANCELED, "the client abandoned the call")


class _Pipe:
    """Bytes from one side of an exchange to the other, in order. One writer
    and one reader; at most ``_PIPE_CHUNKS`` chunks wait to be read."""

    __slots__ = ("_broken", "_chunks", "_ended", "_lock", "_readable", "_writable")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._ended = False
        self._broken = False
        self._lock = StateLock()
        self._readable = Event()
        self._writable = Event()

    async def put(self, data: bytes) -> None:
        """Queue ``data`` (waiting for room); raises ``_Gone`` once broken."""
        while True:
            with self._lock:
                if self._broken:
                    raise _Gone()
                if len(self._chunks) < _PIPE_CHUNKS:
                    self._chunks.append(data)
                    self._readable.set()
                    return
                wait = self._writable
                if wait.is_set():
                    self._writable = wait = Event()
            await wait.wait()

    def end(self) -> None:
        """No more data: the reader gets ``b""`` after what is queued."""
        with self._lock:
            self._ended = True
            self._readable.set()

    def break_(self) -> None:
        """Stop both sides: waits end and raise ``_Gone``."""
        with self._lock:
            self._broken = True
            self._readable.set()
            self._writable.set()

    async def get(self) -> bytes:
        """Everything queued (waiting for some), ``b""`` at the end; raises
        ``_Gone`` once broken."""
        while True:
            with self._lock:
                if self._broken:
                    raise _Gone()
                chunks = self._chunks
                if chunks:
                    data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                    chunks.clear()
                    self._writable.set()
                    return data
                if self._ended:
                    return b""
                wait = self._readable
                if wait.is_set():
                    self._readable = wait = Event()
            await wait.wait()


class AsyncFakeExchange:
    """An exchange answered by a handler (see ``AsyncExchange`` for the
    contract); made by ``AsyncFakeTransport.open_exchange``."""

    __slots__ = (
        "_calls",
        "_closed",
        "_ctx",
        "_errors",
        "_finished",
        "_head",
        "_headers",
        "_live",
        "_request",
        "_request_open",
        "_requests",
        "_responses",
        "_route",
        "_scope",
        "_server",
        "_status",
        "_trailers",
        "_web",
    )

    def __init__(
        self,
        request: Request,
        route: Route | None,
        errors: list[BaseException],
        live: set[AsyncFakeExchange] | None = None,
        calls: list[HandlerContext] | None = None,
    ) -> None:
        self._request = request
        self._route = route
        self._errors = errors
        self._calls = calls
        self._live = live
        self._status = 0
        self._headers: RawHeaders = []
        self._trailers: RawHeaders = []
        #: ``None``: Connect; else gRPC-Web (``True``) or gRPC (``False``).
        self._web: bool | None = None
        self._head = Event()
        self._requests = _Pipe()
        self._responses = _Pipe()
        self._request_open = request.body is None
        if not self._request_open:
            self._requests.end()
        self._closed = False
        self._finished = False
        self._ctx: HandlerContext | None = None
        self._server: Background | None = None
        #: The handler's scope: its deadline, and cancelled when the client abandons the call.
        self._scope: CallScope | None = None

    def start(self) -> None:
        """Start the server side (its handler runs detached)."""
        self._server = Background(self._serve)

    # -- the client's side: AsyncExchange ---------------------------------------

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> RawHeaders:
        return self._headers

    @property
    def trailers(self) -> RawHeaders:
        # Only gRPC's: Connect and gRPC-Web carry theirs in the body (or head).
        return self._trailers

    @property
    def full_duplex(self) -> bool:
        return True

    @property
    def request_open(self) -> bool:
        return self._request_open

    async def send(self, data: bytes, scope: CallScope, end: bool = False) -> None:
        if self._request_open:
            with scope.step():
                try:
                    await self._requests.put(data)
                except _Gone:
                    pass  # the server answered and reads no more: dropped, as on HTTP/2
        if end:
            await self.end_request(scope)

    async def end_request(self, scope: CallScope) -> None:
        if self._request_open:
            self._request_open = False
            self._requests.end()

    async def receive_response(self, scope: CallScope) -> None:
        with scope.step():
            await self._head.wait()

    async def receive(self, scope: CallScope) -> bytes:
        with scope.step():
            return await self._responses.get()

    async def aclose(self) -> None:
        """Abandon the exchange if the response did not end: the handler is
        cancelled (its context says so, its sends and receives fail)."""
        if self._closed:
            return
        self._closed = True
        self._request_open = False
        if not self._finished:
            ctx = self._ctx
            if ctx is not None:
                ctx.cancelled = True
            self._requests.break_()
            self._responses.break_()
            scope = self._scope
            if scope is not None:
                scope.cancel()
            server = self._server
            if server is not None:
                server.cancel()

    async def wait_server(self) -> None:
        """Wait until the handler returned (after :meth:`aclose`: until it
        noticed the cancellation)."""
        server = self._server
        if server is not None:
            await server.wait()

    # -- the server's side ----------------------------------------------------------

    def _respond(self, status: int, headers: RawHeaders) -> None:
        if not self._head.is_set():
            self._status = status
            self._headers = headers
            self._head.set()

    async def _serve(self) -> None:
        try:
            await self._answer()
        except _Gone:
            pass  # the client abandoned the call: nobody reads an answer
        finally:
            self._finished = True
            self._requests.break_()  # a client still sending: the data is dropped
            self._head.set()
            if self._live is not None:
                self._live.discard(self)

    async def _answer(self) -> None:
        route = self._route
        request = self._request
        if route is None:
            self._respond(404, [(b"content-type", b"text/plain; charset=utf-8")])
            await self._responses.put(b"404 page not found\n")
            self._responses.end()
            return
        method, handler = route
        headers = Headers.from_raw(request.headers)
        try:
            if is_grpc(headers):
                self._web = False  # gRPC's rules, even if the head is refused
                call, self._web = open_grpc_call(method, headers)
            else:
                call = open_call(method, request.method, request.target, headers)
        except ConnectError as exc:
            await self._fail(method, None, exc, Headers(), Headers())
            return
        ctx = self._ctx = HandlerContext(method, headers, call.timeout)
        if self._calls is not None:
            self._calls.append(ctx)
        deadline = None if call.timeout is None else current_time() + call.timeout
        scope = self._scope = CallScope(deadline)
        if self._closed:
            scope.cancel()  # abandoned while the handler was being set up
        try:
            with scope.step():
                if method.stream_type is StreamType.UNARY and self._web is None:
                    await self._unary(call, handler, ctx)
                else:
                    await self._stream(call, handler, ctx)
        except ConnectError as exc:
            if isinstance(exc, _Gone) or self._closed:
                raise _Gone() from None
            # The handler's deadline passed.
            ctx.cancelled = True
            await self._fail(method, call, exc, ctx.response_headers, ctx.response_trailers)
        finally:
            scope.close()

    def _unexpected(self, exc: Exception) -> ConnectError:
        """A handler's own exception: kept for the test to see, sent as
        ``UNKNOWN`` (as connect-go sends an error that is not a Connect error)."""
        self._errors.append(exc)
        return ConnectError(Code.UNKNOWN, f"{type(exc).__name__}: {exc}")

    async def _fail(
        self,
        method: MethodInfo[Any, Any],
        call: ServerCall | None,
        error: ConnectError,
        headers: Headers,
        trailers: Headers,
    ) -> None:
        if self._web is not None:
            if call is None:  # a head the server rejected: trailers only
                raw = [(b"content-type", self._request_type())]
                self._respond(200, raw + _raw(headers) + _raw(status_trailers(error, trailers)))
            else:
                self._respond(*grpc_response_head(call, headers, self._web))
                await self._end(error, trailers)
        elif method.stream_type is StreamType.UNARY or call is None:
            status, raw, body = unary_error_response(error, headers, trailers)
            self._respond(status, raw)
            await self._responses.put(body)
        else:
            self._respond(*stream_response_head(call, headers))
            await self._end(error, trailers)
        self._responses.end()

    def _request_type(self) -> bytes:
        for name, value in self._request.headers:
            if name.lower() == b"content-type":
                return value
        return b"application/grpc"

    def _head_of(self, call: ServerCall, headers: Headers) -> tuple[int, RawHeaders]:
        """The head of a streaming response (every gRPC response is one)."""
        if self._web is None:
            return stream_response_head(call, headers)
        return grpc_response_head(call, headers, self._web)

    async def _end(self, error: ConnectError | None, trailers: Headers) -> None:
        """End the response with the call's outcome and trailers, as the
        protocol does: Connect's end-stream message, gRPC's HTTP trailers,
        gRPC-Web's trailers frame."""
        if self._web is None:
            await self._responses.put(end_stream(error, trailers))
        elif self._web:
            await self._responses.put(end_frame(status_trailers(error, trailers)))
        else:
            self._trailers = _raw(status_trailers(error, trailers))

    async def _unary(self, call: ServerCall, handler: Handler, ctx: HandlerContext) -> None:
        try:
            message = decode_unary(call, self._request.body or b"")
            response = await handler(message, ctx)
            _check_output(call.method, response)
            status, raw, body = _unary_response(
                call, response, ctx.response_headers, ctx.response_trailers
            )
        except ConnectError as exc:
            if isinstance(exc, _Gone):
                raise
            status, raw, body = unary_error_response(
                exc, ctx.response_headers, ctx.response_trailers
            )
        except Exception as exc:
            status, raw, body = unary_error_response(
                self._unexpected(exc), ctx.response_headers, ctx.response_trailers
            )
        self._respond(status, raw)
        await self._responses.put(body)
        self._responses.end()

    async def _stream(self, call: ServerCall, handler: Handler, ctx: HandlerContext) -> None:
        method = call.method
        reader = RequestReader(call)
        error: ConnectError | None = None
        try:
            if method.stream_type is StreamType.UNARY:  # gRPC: enveloped
                response = await handler(_one(reader, self._request.body), ctx)
                _check_output(method, response)
                self._respond(*self._head_of(call, ctx.response_headers))
                await self._responses.put(stream_message(call, response))
            elif method.stream_type is StreamType.SERVER_STREAM:
                await self._send_all(call, handler(_one(reader, self._request.body), ctx), ctx)
            else:
                requests = self._receive_all(reader)
                try:
                    if method.stream_type is StreamType.CLIENT_STREAM:
                        response = await handler(requests, ctx)
                        _check_output(method, response)
                        self._respond(*self._head_of(call, ctx.response_headers))
                        await self._responses.put(stream_message(call, response))
                    else:
                        await self._send_all(call, handler(requests, ctx), ctx)
                finally:
                    await _close(requests)
        except ConnectError as exc:
            if isinstance(exc, _Gone):
                raise
            error = exc
        except Exception as exc:
            error = self._unexpected(exc)
        self._respond(*self._head_of(call, ctx.response_headers))
        await self._end(error, ctx.response_trailers)
        self._responses.end()

    async def _send_all(
        self, call: ServerCall, responses: AsyncIterator[Any], ctx: HandlerContext
    ) -> None:
        """Send what a streaming handler yields, each message as it comes."""
        try:
            async for response in responses:
                _check_output(call.method, response)
                self._respond(*self._head_of(call, ctx.response_headers))
                await self._responses.put(stream_message(call, response))
        finally:
            await _close(responses)

    async def _receive_all(self, reader: RequestReader) -> AsyncIterator[Any]:
        """The request messages of a client or bidi stream, as they arrive."""
        while True:
            data = await self._requests.get()
            if not data:
                reader.end()
                return
            for message in reader.feed(data):
                yield message


def _raw(headers: Headers) -> RawHeaders:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.multi_items()]


def _one(reader: RequestReader, body: bytes | None) -> Any:
    """The one request message of a unary or server-stream call."""
    messages = list(reader.feed(body or b""))
    reader.end()
    if len(messages) != 1:
        raise ConnectError(
            Code.INVALID_ARGUMENT, f"expected one request message, got {len(messages)}"
        )
    return messages[0]


def _check_output(method: MethodInfo[Any, Any], response: object) -> None:
    if not isinstance(response, method.output):
        raise TypeError(
            f"the handler of {method.path} returned {type(response).__name__},"
            f" expected {method.output.__name__}"
        )


async def _close(iterator: AsyncIterator[Any]) -> None:
    """Close a generator a handler made or was given, rather than leave it to
    the garbage collector (an async generator would be finalized out of task)."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
