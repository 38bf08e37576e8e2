"""Streaming call objects: server, client and bidirectional streams.

A call object drives one call's protocol object (``connect_python.protocol``)
over one HTTP exchange from the transport: it sends the request head and
bytes the protocol made, feeds the response to it, and hands out the
messages it decodes. It owns the exchange. Closing it early (``break``,
:meth:`aclose`, leaving ``async with``, cancellation) abandons the exchange at
once: an HTTP/2 stream is reset, an HTTP/1.1 connection is closed rather than
handed to another call while unread data is still on the wire.

Bidirectional calls (sending too) are in ``_bidi_call``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterable, Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, NoReturn, TypeVar

from connect_python._cancel import CancelToken
from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._headers import Headers
from connect_python._http.request import Request
from connect_python._io.shim_async import CallScope, Turns, shield
from connect_python._method import Message
from connect_python.protocol import MESSAGE_BATCH, CallProtocol

from ._deadlines import (
    arm_idle_timer,
    arm_open_timer,
    await_scope_deadline,
    broken_error,
    remote_error,
)
from ._exchange import AsyncExchange
from ._sender import BATCH_BYTES, send_body
from ._transport import AsyncTransport
from ._unary import ResponseMetadata

__all__ = [
    "AsyncServerStreamCall",
    "AsyncStreamCall",
    "client_stream_result",
    "request_body",
]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)
RequestStream = AsyncIterable[Req] | Iterable[Req]

_clock = time.perf_counter


class AsyncStreamCall(Generic[Res]):
    """A call whose response is a stream of messages.

    Use it as ``async with call: async for message in call`` or iterate it
    directly. ``response_headers`` is set once the response started and
    ``response_trailers`` once the stream ended. :meth:`cancel` stops the call:
    the current and later reads raise ``ConnectError(CANCELED)``.
    """

    __slots__ = (
        "_body",
        "_closed",
        "_ended",
        "_exchange",
        "_more",
        "_outer",
        "_pending",
        "_pending_error",
        "_proto",
        "_reading",
        "_request",
        "_started",
        "_token",
        "_transport",
        "_turns",
        "scope",
    )

    def __init__(
        self,
        transport: AsyncTransport,
        request: Request,
        proto: CallProtocol[Any, Res],
        outer: float | None = None,
        body: AsyncIterable[bytes] | None = None,
    ) -> None:
        self._transport = transport
        #: The request head (with the whole body, or ``body`` streams it).
        self._request = request
        self._proto = proto
        #: The enclosing cancel scope's deadline, when it is the one announced.
        self._outer = outer
        self._body = body
        self.scope = CallScope(request.deadline)
        self._exchange: AsyncExchange | None = None
        #: Messages split off the response, not yet decoded and handed out.
        self._pending: deque[tuple[int, bytes]] = deque()
        #: The last batch was full: more may be split off without reading.
        self._more = False
        self._started = False
        self._ended = False
        self._closed = False
        #: Started, and neither ended nor closed: a receive may read.
        self._reading = False
        self._pending_error: ConnectError | None = None
        self._token: CancelToken | None = None
        self._turns = Turns()

    # -- metadata ---------------------------------------------------------------

    @property
    def response_headers(self) -> Headers:
        """The response headers (empty until the response started)."""
        return self._proto.response_headers

    @property
    def response_trailers(self) -> Headers:
        """The trailers from the end of the stream (empty until it ended)."""
        return self._proto.response_trailers

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Send the request and wait for the response headers (idempotent)."""
        if self._started:
            return
        self._started = True
        scope = self.scope
        request = self._request
        timers = request.open_timeout is not None or request.idle_timeout is not None
        try:
            body = self._body
            if body is None and timers:
                arm_open_timer(scope, request)
            exchange = await self._transport.open_exchange(request, scope)
            self._exchange = exchange
            if body is not None:
                await send_body(exchange, body, scope)
                if timers:
                    # The request streamed at the caller's pace: the wait
                    # for the response starts now.
                    arm_open_timer(scope, request)
                await exchange.receive_response(scope)
            if timers:
                arm_idle_timer(scope, request)
            await self._accept(exchange)
            self._reading = not self._closed
        except BaseException as exc:
            await self._end_failed(exc)

    async def _accept(self, exchange: AsyncExchange) -> None:
        """Give the response head to the protocol; raise for an error response
        (whose body, if it describes the error, is read first)."""
        proto = self._proto
        try:
            proto.response_head(exchange.status, exchange.headers)
            if not proto.error_in_body:
                return
            try:
                while chunk := await exchange.receive(self.scope):
                    proto.response_data(chunk)
                error = proto.response_end(exchange.trailers).error
                assert error is not None
            except ConnectError as exc:
                error = proto.response_failed(exc)
        except ConnectError as exc:
            error = exc
        await self._raise(error)

    async def _raise(self, error: ConnectError) -> NoReturn:
        """Raise an error the response reported, as the caller sees it."""
        error = remote_error(error, self.scope.call_deadline)
        if self._outer is not None:
            await await_scope_deadline(error, self._outer)
        raise error

    async def _end_failed(self, exc: BaseException) -> NoReturn:
        """End the call after ``exc`` (from one of its steps) and raise what
        the caller sees: ``exc``, or the deadline error a connection broken
        by the call's deadline stands for (``broken_error``)."""
        error = broken_error(exc, self.scope) if isinstance(exc, ConnectError) else exc
        try:
            await self._finish()
            if error is exc:
                raise exc
            raise error from exc
        finally:
            del error, exc  # no cycle through this frame (see _unary.unary_call)

    async def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._reading = False
        exchange = self._exchange
        token = self._token
        if token is not None:
            token.detach(self.scope)
        with shield():
            if exchange is not None:
                await exchange.aclose()
            self.scope.close()

    async def aclose(self) -> None:
        """Abandon the call if it has not ended; release its connection."""
        await self._finish()

    def attach_token(self, token: CancelToken) -> None:
        """Let ``token`` cancel this call (until the call is over)."""
        self._token = token
        token.attach(self.scope)

    def cancel(self) -> None:
        """Cancel the call: reads in progress and later raise ``CANCELED``."""
        self.scope.cancel()

    async def __aenter__(self) -> AsyncStreamCall[Res]:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._finish()

    def __aiter__(self) -> AsyncStreamCall[Res]:
        return self

    async def __anext__(self) -> Res:
        message = await self.receive()
        if message is None:
            raise StopAsyncIteration
        return message

    # -- reading --------------------------------------------------------------------

    async def receive(self) -> Res | None:
        """The next message, or ``None`` once the stream ended cleanly.

        Messages already received are handed out without I/O, but not
        without end: the call gives the event loop a turn now and then
        (``Turns``), so a fast stream leaves other tasks their share and
        lets a cancel scope land.
        """
        if self.scope.cancelled:
            await self._finish()
            raise ConnectError(Code.CANCELED, "call canceled")
        turns = self._turns
        if _clock() >= turns.check_at and turns.due():
            try:
                await turns.take()
            except BaseException:
                await self._finish()
                raise
        pending = self._pending
        if not pending:
            if not self._reading:
                error = self._pending_error
                if error is not None:
                    # The stream's end reported an error after the messages
                    # that arrived with it were delivered.
                    self._pending_error = None
                    if self._outer is not None:
                        await await_scope_deadline(error, self._outer)
                    raise error
                if self._ended or self._closed:
                    if self._closed and not self._ended:
                        self.scope.check()
                        raise ConnectError(Code.CANCELED, "call was closed")
                    return None
                await self.start()
            try:
                await self._fill()
            except BaseException as exc:
                await self._end_failed(exc)
            if not pending:
                return None
        flags, payload = pending.popleft()
        try:
            return self._proto.decode(flags, payload)
        except BaseException:
            await self._finish()
            raise

    async def _fill(self) -> None:
        """Read until at least one message or the end of the stream is in.

        Each chunk read goes to the protocol, which splits off at most
        ``MESSAGE_BATCH`` messages at a time; they are decoded only when
        handed out, so the time between two chances to yield stays short. A
        full batch may leave more behind: those are split off before the next
        read. Once the protocol saw the end of the stream, the rest of the body
        is read at once (so the connection can be reused) and the stream's
        outcome is known.
        """
        exchange = self._exchange
        assert exchange is not None
        proto = self._proto
        pending = self._pending
        if self._more:
            batch = proto.messages(MESSAGE_BATCH)
            self._more = len(batch) >= MESSAGE_BATCH
            pending.extend(batch)
            if proto.ended:
                self._ended = True
                self._reading = False
            elif batch:
                return
        scope = self.scope
        request = self._request
        while True:
            if request.idle_timeout is not None:
                arm_idle_timer(scope, request)
            chunk = await exchange.receive(scope)
            if not chunk:
                break
            batch = proto.messages(MESSAGE_BATCH, chunk)
            if proto.ended:
                self._ended = True
                self._reading = False
                pending.extend(batch)
            elif batch:
                self._more = len(batch) >= MESSAGE_BATCH
                pending.extend(batch)
                return
        end = proto.response_end(exchange.trailers)
        self._ended = True
        self._reading = False
        await self._finish()
        if end.error is not None:
            error = remote_error(end.error, scope.call_deadline)
            if pending:
                self._pending_error = error
                return
            if self._outer is not None:
                await await_scope_deadline(error, self._outer)
            raise error


class AsyncServerStreamCall(AsyncStreamCall[Res]):
    """A server-streaming call: one request, a stream of responses."""

    __slots__ = ()


async def request_body(
    proto: CallProtocol[Req, Message], requests: RequestStream[Req]
) -> AsyncIterable[bytes]:
    """Request messages as the protocol frames them, each handed on as soon
    as it is produced (``_sender.send_body`` batches what comes faster than
    it is written).

    A list or tuple is all there up front: its messages are joined into
    pieces of up to 64 KiB here.
    """
    encode = proto.encode_request
    if isinstance(requests, Sequence):
        batch: list[bytes] = []
        size = 0
        for message in requests:
            data = encode(message)
            batch.append(data)
            size += len(data)
            if size >= BATCH_BYTES:
                yield b"".join(batch)
                batch.clear()
                size = 0
        if batch:
            yield b"".join(batch)
    elif isinstance(requests, AsyncIterable):
        iterator = requests.__aiter__()
        try:
            async for message in iterator:
                yield encode(message)
        finally:
            # Stopped early (an error, the server answered): close the
            # caller's generator rather than leave it to the collector.
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()
    else:
        for message in requests:
            yield encode(message)


async def client_stream_result(
    call: AsyncStreamCall[Res], metadata: ResponseMetadata | None
) -> Res:
    """Run a client-streaming call: send its requests, return its one response.

    The protocol holds the call to exactly one response message (none, or a
    second one, is its error). ``metadata`` receives the response headers
    and trailers, whether the call succeeds or fails.
    """
    try:
        # The whole call is one step: no cancel scope per message sent.
        with call.scope.step():
            async with call:
                message = await call.receive()
                # Read on to the end: the outcome of the call is there.
                rest = await call.receive()
    except ConnectError as exc:
        if metadata is not None:
            metadata.headers = call.response_headers
            metadata.trailers = call.response_trailers
        if not exc.metadata:
            exc.metadata = call.response_headers.copy()
            exc.metadata.extend(call.response_trailers)
        raise
    assert message is not None and rest is None
    if metadata is not None:
        metadata.headers = call.response_headers
        metadata.trailers = call.response_trailers
        metadata.http_status = 200
    return message
