"""Streaming call objects: server, client and bidirectional streams.

A call object owns one HTTP exchange. Closing it early (``break``,
:meth:`aclose`, leaving ``async with``, cancellation) abandons the exchange at
once, so the connection is not handed to another call while unread data is
still on the wire.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from google.protobuf.message import Message

from connect_python._code import Code
from connect_python._envelope import FLAG_COMPRESSED, FLAG_END_STREAM, EnvelopeDecoder
from connect_python._errors import ConnectError
from connect_python._headers import Headers
from connect_python._protocol import check_stream_response, parse_end_stream, unary_error
from connect_python._shim_async import CallScope, shield

if TYPE_CHECKING:
    from ._client import AsyncConnectClient, _CallSetup
    from ._transport import AsyncHTTPResponse

__all__ = ["AsyncBidiStreamCall", "AsyncServerStreamCall", "AsyncStreamCall"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


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
        "_trailers",
        "scope",
    )

    def __init__(self, client: AsyncConnectClient, setup: _CallSetup) -> None:
        self._client = client
        self._setup = setup
        self.scope = CallScope(setup.deadline)
        self._response: AsyncHTTPResponse | None = None
        self._decoder = EnvelopeDecoder(client.read_max_bytes)
        self._pending: deque[tuple[int, bytes]] = deque()
        self._headers: Headers | None = None
        self._trailers: Headers | None = None
        self._started = False
        self._ended = False
        self._closed = False
        self._pending_error: ConnectError | None = None

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
        except BaseException:
            await self._finish()
            raise

    async def _fail_response(self, error: ConnectError) -> None:
        """Raise ``error`` for a non-200 response, using a Connect JSON body if any."""
        response = self._response
        assert response is not None
        if response.status != 200:
            try:
                body = await response.read_all(self.scope, 64 * 1024)
            except ConnectError:
                body = b""
            if body:
                error = unary_error(response.status, error.metadata, Headers(), body)
        raise self.scope.remote_error(error)

    async def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        response = self._response
        with shield():
            if response is not None:
                await response.aclose()
            self.scope.close()

    async def aclose(self) -> None:
        """Abandon the call if it has not ended; release its connection."""
        await self._finish()

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
        """The next message, or ``None`` once the stream ended cleanly."""
        pending = self._pending
        if not pending:
            error = self._pending_error
            if error is not None:
                # The end-stream message reported an error after the messages
                # that arrived with it were delivered.
                self._pending_error = None
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
        """Read until at least one message or the end-stream message is in."""
        response = self._response
        assert response is not None
        decoder = self._decoder
        pending = self._pending
        scope = self.scope
        while True:
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
            while True:
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

    async def _drain_end(self, response: AsyncHTTPResponse) -> None:
        # The end-stream message is last: confirm the body ends, so the
        # connection can be reused, then report the stream's outcome.
        rest = await response.receive(self.scope)
        if rest:
            raise ConnectError(Code.INTERNAL, "protocol error: data after the end-stream message")
        await self._finish()
        error = self._pending_error
        if error is not None and not self._pending:
            self._pending_error = None
            raise error


class AsyncServerStreamCall(AsyncStreamCall[Res]):
    """A server-streaming call: one request, a stream of responses."""

    __slots__ = ()


class AsyncBidiStreamCall(AsyncStreamCall[Res], Generic[Req, Res]):
    """A bidirectional call: messages are sent with :meth:`send` and
    :meth:`close_send` (or taken from the iterable given to the method) and
    received by iterating the call.
    """

    __slots__ = ("_encode", "_queued", "_send_closed")

    def __init__(
        self,
        client: AsyncConnectClient,
        setup: _CallSetup,
        encode: Callable[[Message], bytes],
    ) -> None:
        super().__init__(client, setup)
        self._encode = encode
        self._queued: list[bytes] = []
        self._send_closed = setup.body is not None

    async def send(self, message: Req) -> None:
        """Queue ``message`` for sending."""
        if self._send_closed:
            raise ConnectError(Code.FAILED_PRECONDITION, "send after close_send")
        self._queued.append(self._encode(message))

    async def close_send(self) -> None:
        """Finish the request stream and start the exchange."""
        self._send_closed = True
        await self.start()

    async def _body(self) -> bytes | AsyncIterable[bytes]:
        body = self._setup.body
        if body is not None:
            return body
        self._send_closed = True
        return b"".join(self._queued)

    async def __aenter__(self) -> AsyncBidiStreamCall[Req, Res]:
        if self._setup.body is not None:
            await self.start()
        return self
