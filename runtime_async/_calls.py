"""Streaming call objects: server, client and bidirectional streams.

A call object owns one HTTP exchange. Closing it early (``break``,
:meth:`aclose`, leaving ``async with``, cancellation) abandons the exchange at
once: an HTTP/2 stream is reset, an HTTP/1.1 connection is closed rather than
handed to another call while unread data is still on the wire.

Bidirectional calls are full duplex on HTTP/2: :meth:`AsyncBidiStreamCall.send`
puts a message on the wire at once, whether or not the response has started,
and a request iterable is sent by a background task (a thread in the sync
flavour) while the caller reads. On HTTP/1.1 they are half duplex: the request
is finished before the response is read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from google.protobuf.message import Message

from connect_python._cancel import CancelToken
from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._headers import Headers
from connect_python._io.shim_async import Background, CallScope, Turns, shield
from connect_python.protocol.connect_wire import (
    check_stream_response,
    parse_end_stream,
    request_label,
    unary_error,
)
from connect_python.protocol.envelope import FLAG_COMPRESSED, FLAG_END_STREAM, EnvelopeDecoder

from ._exchange import await_scope_deadline, read_all, send_body

if TYPE_CHECKING:
    from ._client import AsyncConnectClient, _CallSetup
    from ._exchange import AsyncExchange

__all__ = ["AsyncBidiStreamCall", "AsyncServerStreamCall", "AsyncStreamCall"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

#: Most envelopes split off a received chunk at once.
_BATCH = 256
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
        "_client",
        "_closed",
        "_decoder",
        "_ended",
        "_headers",
        "_pending",
        "_pending_error",
        "_response",
        "_setup",
        "_started",
        "_token",
        "_trailers",
        "_turns",
        "scope",
    )

    def __init__(self, client: AsyncConnectClient, setup: _CallSetup) -> None:
        self._client = client
        self._setup = setup
        self.scope = CallScope(setup.deadline)
        self._response: AsyncExchange | None = None
        self._decoder = EnvelopeDecoder(client.read_max_bytes)
        self._pending: deque[tuple[int, bytes]] = deque()
        self._headers: Headers | None = None
        self._trailers: Headers | None = None
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
        return self._headers if self._headers is not None else Headers()

    @property
    def response_trailers(self) -> Headers:
        """The trailers from the end of the stream (empty until it ended)."""
        return self._trailers if self._trailers is not None else Headers()

    # -- lifecycle ----------------------------------------------------------------

    async def _body(self) -> bytes | AsyncIterable[bytes]:
        body = self._setup.body
        assert body is not None
        return body

    async def start(self) -> None:
        """Send the request and wait for the response headers (idempotent)."""
        if self._started:
            return
        self._started = True
        setup = self._setup
        try:
            response = await self._client._open(setup, await self._body(), self.scope)
            await self._accept(response)
        except BaseException:
            await self._finish()
            raise

    async def _accept(self, response: AsyncExchange) -> None:
        """Take the response whose headers arrived (raises for an error response)."""
        self._response = response
        headers = Headers.from_raw(response.headers)
        self._headers = headers
        error = check_stream_response(response.status, headers, self._client.codec)
        if error is not None:
            await self._fail_response(error)
        encoding = headers.get("connect-content-encoding")
        self._setup.response_compression = (
            None
            if encoding in (None, "identity")
            else self._client.template.compression_named(encoding)
        )

    async def _fail_response(self, error: ConnectError) -> None:
        """Raise ``error`` for a non-200 response, using a Connect JSON body if any."""
        response = self._response
        assert response is not None
        setup = self._setup
        url = request_label(setup.verb, self._client.base_url, setup.method.path)
        if response.status != 200:
            body: bytes | None
            try:
                body = await read_all(response, self.scope, 64 * 1024)
            except ConnectError:
                body = None  # not read (too large): the message quotes nothing
            error = unary_error(response.status, error.metadata, Headers(), body, url)
        else:
            error = check_stream_response(200, error.metadata, self._client.codec, url) or error
        error = self.scope.remote_error(error)
        if self._setup.outer is not None:
            await await_scope_deadline(error, self._setup.outer)
        raise error

    async def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        response = self._response
        token = self._token
        if token is not None:
            token.detach(self.scope)
        with shield():
            if response is not None:
                await response.aclose()
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
                # The end-stream message reported an error after the messages
                # that arrived with it were delivered.
                self._pending_error = None
                if self._setup.outer is not None:
                    await await_scope_deadline(error, self._setup.outer)
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
            except BaseException:
                await self._finish()
                raise
            if not pending:
                return None
        flags, payload = pending.popleft()
        try:
            return self._decode(flags, payload)
        except BaseException:
            await self._finish()
            raise

    def _decode(self, flags: int, payload: bytes) -> Res:
        client = self._client
        if flags & FLAG_COMPRESSED:
            compression = self._setup.response_compression
            if compression is None:
                raise ConnectError(
                    Code.INTERNAL,
                    "protocol error: compressed message without connect-content-encoding",
                )
            payload = compression.decompress(payload, client.read_max_bytes)
        output: type[Res] = self._setup.method.output  # type: ignore[assignment]
        return client.codec.decode(payload, output)

    async def _fill(self) -> None:
        """Read until at least one message or the end-stream message is in.

        Envelopes already received are split off first, at most
        ``_BATCH`` at a time (a 256 KiB read can hold thousands), so the
        time between two chances to yield stays short.
        """
        response = self._response
        assert response is not None
        decoder = self._decoder
        pending = self._pending
        scope = self.scope
        while True:
            for _ in range(_BATCH):
                envelope = decoder.next()
                if envelope is None:
                    break
                if envelope[0] & FLAG_END_STREAM:
                    self._end_stream(envelope)
                    if decoder.pending:
                        raise ConnectError(
                            Code.INTERNAL, "protocol error: data after the end-stream message"
                        )
                    await self._drain_end(response)
                    return
                pending.append(envelope)
            if pending:
                return
            chunk = await response.receive(scope)
            if not chunk:
                if decoder.pending:
                    raise ConnectError(
                        Code.INTERNAL, "protocol error: stream ended inside a message"
                    )
                raise ConnectError(
                    Code.INTERNAL, "protocol error: stream ended without an end-stream message"
                )
            decoder.feed(chunk)

    def _end_stream(self, envelope: tuple[int, bytes]) -> None:
        flags, payload = envelope
        if flags & FLAG_COMPRESSED:
            compression = self._setup.response_compression
            if compression is None:
                raise ConnectError(
                    Code.INTERNAL, "protocol error: compressed end-stream without encoding"
                )
            payload = compression.decompress(payload, self._client.read_max_bytes)
        end = parse_end_stream(payload, self.response_headers)
        self._trailers = end.trailers
        self._ended = True
        if end.error is not None:
            self._pending_error = self.scope.remote_error(end.error)

    async def _drain_end(self, response: AsyncExchange) -> None:
        # The end-stream message is last: confirm the body ends, so the
        # connection can be reused, then report the stream's outcome.
        rest = await response.receive(self.scope)
        if rest:
            raise ConnectError(Code.INTERNAL, "protocol error: data after the end-stream message")
        await self._finish()
        error = self._pending_error
        if error is not None and not self._pending:
            self._pending_error = None
            if self._setup.outer is not None:
                await await_scope_deadline(error, self._setup.outer)
            raise error


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

    __slots__ = ("_encode", "_exchange", "_half_duplex", "_pump", "_send_closed", "_send_error")

    def __init__(
        self,
        client: AsyncConnectClient,
        setup: _CallSetup,
        encode: Callable[[Message], bytes],
    ) -> None:
        super().__init__(client, setup)
        self._encode = encode
        self._exchange: AsyncExchange | None = None
        self._pump: Background | None = None
        self._send_closed = setup.body is not None
        self._send_error: BaseException | None = None
        #: The request was ended by reading the response (HTTP/1.1), not by close_send.
        self._half_duplex = False

    async def _open(self) -> AsyncExchange:
        """Send the request headers (once); start sending a request iterable."""
        exchange = self._exchange
        if exchange is not None:
            return exchange
        if self._closed:
            self.scope.check()
            raise ConnectError(Code.CANCELED, "call was closed")
        try:
            exchange = await self._client._open_exchange(self._setup, self.scope)
            self._exchange = exchange
            body = self._setup.body
            if body is not None:
                assert not isinstance(body, bytes)
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
        scope = CallScope(self.scope.deadline)
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
        data = self._encode(message)
        exchange = await self._open()
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
            if self._setup.body is not None:
                raise ConnectError(
                    Code.FAILED_PRECONDITION, "the request stream comes from an iterable"
                )
            return
        self._send_closed = True
        exchange = await self._open()
        try:
            await exchange.end_request(self.scope)
        except ConnectError:
            raise
        except BaseException:
            await self._finish()
            raise

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
                await exchange.end_request(self.scope)
            await exchange.receive_response(self.scope)
            await self._accept(exchange)
        except BaseException as exc:
            await self._finish()
            error = self._send_error
            if error is not None and isinstance(exc, ConnectError):
                raise error from None
            raise

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
        exchange = self._exchange
        if exchange is not None:
            with shield():
                await exchange.aclose()

    async def __aenter__(self) -> AsyncBidiStreamCall[Req, Res]:
        await self._open()
        return self
