"""Bidirectional calls (:class:`AsyncBidiStreamCall`): the receiving side
of :class:`~._calls.AsyncStreamCall`, plus sending with :meth:`send` and
:meth:`close_send` or from a request iterable.

Full duplex on HTTP/2: :meth:`AsyncBidiStreamCall.send` puts a message on
the wire at once, whether or not the response has started, and a request
iterable is sent by a background task (a thread in the sync flavour) while
the caller reads. On HTTP/1.1 they are half duplex: the request is finished
before the response is read, and the messages sent are held (up to 64 KiB)
and go out with the end of the request: a server that starts answering as
soon as it has a message may close an HTTP/1.1 request body it has not read
yet (Go's HTTP/1.1 server does so once response headers are flushed), so the
request arrives whole rather than message by message.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Generic, NoReturn, TypeVar

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.request import Request
from connect_python._io.shim_async import Background, CallScope, shield
from connect_python._method import Message
from connect_python.protocol import CallProtocol

from ._calls import AsyncStreamCall
from ._deadlines import arm_idle_timer, arm_open_timer
from ._exchange import AsyncExchange
from ._sender import BATCH_BYTES, send_body
from ._transport import AsyncTransport

__all__ = ["AsyncBidiStreamCall"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

_HALF_DUPLEX = (
    "send after the response was read: this call runs over HTTP/1.1, which is half duplex"
    " (the request ends when the response is first read); full duplex needs HTTP/2:"
    " give the transport h2c=True for http:// URLs, or use an https:// server with HTTP/2"
)


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
            self._reading = not self._closed
        except BaseException as exc:
            await self._end_failed(exc)

    async def _end_failed(self, exc: BaseException) -> NoReturn:
        """As the base class, but a failure of the request iterable (or of
        sending it) is what the caller sees when the call then failed."""
        if isinstance(exc, ConnectError):
            await self._finish()
            send_error = self._send_error
            if send_error is not None:
                try:
                    raise send_error from None
                finally:
                    del send_error, exc  # no cycle through this frame
        try:
            await super()._end_failed(exc)
        finally:
            # The base class may raise ``exc`` itself: its traceback then holds
            # this frame, which must not hold ``exc`` (a cycle kept a sync
            # thread's wake descriptor until the cyclic GC: R2).
            del exc

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
