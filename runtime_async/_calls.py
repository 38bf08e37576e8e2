"""Streaming call objects: server, client and bidirectional streams.

A call object drives one call's protocol object (``connect_python.protocol``)
over one HTTP exchange from the transport: it sends the request head and
bytes the protocol made, feeds the response to it, and hands out the
messages it decodes. It owns the exchange. Closing it early (``break``,
:meth:`aclose`, leaving ``async with``, cancellation) abandons the exchange at
once: an HTTP/2 stream is reset, an HTTP/1.1 connection is closed rather than
handed to another call while unread data is still on the wire.

Bidirectional calls are full duplex on HTTP/2: :meth:`AsyncBidiStreamCall.send`
puts a message on the wire at once, whether or not the response has started,
and a request iterable is sent by a background task (a thread in the sync
flavour) while the caller reads. On HTTP/1.1 they are half duplex: the request
is finished before the response is read, and the messages sent are held
(up to 64 KiB) and go out with the end of the request: a server that starts
answering as soon as it has a message may close an HTTP/1.1 request body it
has not read yet (Go's HTTP/1.1 server does so once response headers are
flushed), so the request arrives whole rather than message by message.
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
from connect_python._io.shim_async import Background, CallScope, Turns, shield
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
    "AsyncBidiStreamCall",
    "AsyncServerStreamCall",
    "AsyncStreamCall",
    "client_stream_result",
    "request_body",
]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)
RequestStream = AsyncIterable[Req] | Iterable[Req]

_clock = time.perf_counter

_HALF_DUPLEX = (
    "send after the response was read: this call runs over HTTP/1.1, which is half duplex"
    " (the request ends when the response is first read); full duplex needs HTTP/2:"
    " give the transport h2c=True for http:// URLs, or use an https:// server with HTTP/2"
)


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
        "_outer",
        "_pending",
        "_pending_error",
        "_proto",
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
        self._started = False
        self._ended = False
        self._closed = False
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
        except ConnectError as exc:
            error = broken_error(exc, scope)
            try:
                await self._finish()
                if error is exc:
                    raise
                raise error from exc
            finally:
                del error  # no cycle through this frame (see _unary.unary_call)
        except BaseException:
            await self._finish()
            raise

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

    async def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
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
            error = self._pending_error
            if error is not None:
                # The stream's end reported an error after the messages that
                # arrived with it were delivered.
                self._pending_error = None
                if self._outer is not None:
                    await await_scope_deadline(error, self._outer)
                raise error
            if self._ended or self._closed:
                if self._closed and not self._ended:
                    self.scope.check()
                    raise ConnectError(Code.CANCELED, "call was closed")
                return None
            if not self._started:
                await self.start()
            try:
                await self._fill()
            except ConnectError as exc:
                error = broken_error(exc, self.scope)
                try:
                    await self._finish()
                    if error is exc:
                        raise
                    raise error from exc
                finally:
                    del error  # no cycle through this frame (see _unary.unary_call)
            except BaseException:
                await self._finish()
                raise
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

        Messages already received are split off first, at most
        ``MESSAGE_BATCH`` at a time, and decoded only when handed out, so the
        time between two chances to yield stays short. Once the protocol saw
        the end of the stream, the rest of the body is read at once (so the
        connection can be reused) and the stream's outcome is known.
        """
        exchange = self._exchange
        assert exchange is not None
        proto = self._proto
        pending = self._pending
        scope = self.scope
        while True:
            if not self._ended:
                batch = proto.messages(MESSAGE_BATCH)
                if proto.ended:
                    self._ended = True
                    pending.extend(batch)
                elif batch:
                    pending.extend(batch)
                    return
            if self._request.idle_timeout is not None:
                arm_idle_timer(scope, self._request)
            chunk = await exchange.receive(scope)
            if chunk:
                proto.response_data(chunk)
                continue
            end = proto.response_end(exchange.trailers)
            self._ended = True
            await self._finish()
            if end.error is not None:
                error = remote_error(end.error, scope.call_deadline)
                if pending:
                    self._pending_error = error
                    return
                if self._outer is not None:
                    await await_scope_deadline(error, self._outer)
                raise error
            return


class AsyncServerStreamCall(AsyncStreamCall[Res]):
    """A server-streaming call: one request, a stream of responses."""

    __slots__ = ()


class AsyncBidiStreamCall(AsyncStreamCall[Res], Generic[Req, Res]):
    """A bidirectional call: messages are sent with :meth:`send` and
    :meth:`close_send` (or taken from the iterable given to the method) and
    received by iterating the call.

    On HTTP/2 both directions flow at once: entering the call (or the first
    :meth:`send`) sends the request headers, each :meth:`send` puts a message
    on the wire, and the response can be read at any time. On HTTP/1.1 the
    request is finished before the response is read.
    """

    __slots__ = ("_half_duplex", "_held", "_held_bytes", "_pump", "_send_closed", "_send_error")

    def __init__(
        self,
        transport: AsyncTransport,
        request: Request,
        proto: CallProtocol[Req, Res],
        outer: float | None = None,
        body: AsyncIterable[bytes] | None = None,
    ) -> None:
        super().__init__(transport, request, proto, outer, body)
        self._pump: Background | None = None
        self._send_closed = body is not None
        self._send_error: BaseException | None = None
        #: The request was ended by reading the response (HTTP/1.1), not by close_send.
        self._half_duplex = False
        #: HTTP/1.1: messages sent but not yet written (see the module docstring).
        self._held: list[bytes] = []
        self._held_bytes = 0

    async def _open(self) -> AsyncExchange:
        """Send the request headers (once); start sending a request iterable."""
        exchange = self._exchange
        if exchange is not None:
            return exchange
        if self._closed:
            self.scope.check()
            raise ConnectError(Code.CANCELED, "call was closed")
        try:
            exchange = await self._transport.open_exchange(self._request, self.scope)
            self._exchange = exchange
            body = self._body
            if body is not None:
                if exchange.full_duplex:
                    self._pump = Background(self._send_all, exchange, body)
                else:
                    await self._send_all(exchange, body)
        except BaseException:
            await self._finish()
            raise
        return exchange

    async def _send_all(self, exchange: AsyncExchange, body: AsyncIterable[bytes]) -> None:
        """Send the request iterable, then finish the request."""
        scope = CallScope(self.scope.call_deadline)
        try:
            await send_body(exchange, body, scope)
        except BaseException as exc:
            if not self._closed:
                # Fail the call: the reader sees the reset and reports this.
                self._send_error = exc
                if isinstance(exc, Exception) and not isinstance(exc, ConnectError):
                    # The request iterable itself failed: the call can't go on.
                    # The reader may be waiting on the network for a response
                    # that will never come: interrupt it.
                    self.scope.cancel()
                with shield():
                    await exchange.aclose()
            raise
        finally:
            scope.close()

    async def send(self, message: Req) -> None:
        """Send ``message`` (on HTTP/2 at once; on HTTP/1.1 as part of the request)."""
        if self._send_closed:
            if self._half_duplex:
                raise ConnectError(Code.FAILED_PRECONDITION, _HALF_DUPLEX)
            raise ConnectError(Code.FAILED_PRECONDITION, "send after close_send")
        data = self._proto.encode_request(message)
        exchange = await self._open()
        if not exchange.full_duplex:
            self._held.append(data)
            self._held_bytes += len(data)
            if self._held_bytes < BATCH_BYTES:
                return
            data = self._take_held()
        try:
            await exchange.send(data, self.scope)
        except ConnectError:
            raise
        except BaseException:
            await self._finish()
            raise

    async def close_send(self) -> None:
        """Finish the request stream (the response may still be read)."""
        if self._send_closed:
            if self._body is not None:
                raise ConnectError(
                    Code.FAILED_PRECONDITION, "the request stream comes from an iterable"
                )
            return
        self._send_closed = True
        exchange = await self._open()
        try:
            await self._end_request(exchange)
        except ConnectError:
            raise
        except BaseException:
            await self._finish()
            raise

    def _take_held(self) -> bytes:
        data = b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        return data

    async def _end_request(self, exchange: AsyncExchange) -> None:
        """Finish the request, with the messages held for it."""
        if self._held:
            await exchange.send(self._take_held(), self.scope, end=True)
        else:
            await exchange.end_request(self.scope)

    async def start(self) -> None:
        """Send the request headers if not yet sent, then wait for the response headers."""
        if self._started:
            return
        exchange = await self._open()
        self._started = True
        try:
            if not exchange.full_duplex and exchange.request_open:
                # Half duplex: the request is over once the response is awaited.
                self._send_closed = True
                self._half_duplex = True
                await self._end_request(exchange)
            request = self._request
            timers = request.open_timeout is not None or request.idle_timeout is not None
            if timers:
                arm_open_timer(self.scope, request)
            await exchange.receive_response(self.scope)
            if timers:
                arm_idle_timer(self.scope, request)
            await self._accept(exchange)
        except BaseException as exc:
            broken = broken_error(exc, self.scope) if isinstance(exc, ConnectError) else exc
            try:
                await self._finish()
                if self._send_error is not None and isinstance(exc, ConnectError):
                    raise self._send_error from None
                if broken is exc:
                    raise
                raise broken from exc
            finally:
                del broken  # no cycle through this frame (see _unary.unary_call)

    async def receive(self) -> Res | None:
        """The next message, or ``None`` once the stream ended cleanly."""
        try:
            return await super().receive()
        except ConnectError:
            error = self._send_error
            if error is not None:
                self._send_error = None
                raise error from None
            raise

    async def _finish(self) -> None:
        if self._closed:
            return
        pump = self._pump
        if pump is not None:
            pump.cancel()
        await super()._finish()

    async def __aenter__(self) -> AsyncBidiStreamCall[Req, Res]:
        await self._open()
        return self


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
