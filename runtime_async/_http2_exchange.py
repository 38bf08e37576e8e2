"""An HTTP/2 exchange: one request/response over one stream of an
:class:`~._http2.AsyncHTTP2Connection` (the :class:`~._exchange.AsyncExchange`
of HTTP/2). Full duplex: request body may be sent while the response is read.
"""

from __future__ import annotations

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.h2_state import H2StreamState
from connect_python._http.request import Request
from connect_python._io.shim_async import CallScope, shield

from ._exchange import RawHeaders
from ._http2 import AsyncHTTP2Connection
from ._http2_writer import copy_error

__all__ = ["AsyncHTTP2Exchange", "open_http2_exchange"]


async def open_http2_exchange(
    conn: AsyncHTTP2Connection, request: Request, authority: bytes, scope: CallScope
) -> AsyncHTTP2Exchange:
    """Send the request's headers (and its body, if it is known whole,
    finishing the request) on a new stream of ``conn``.

    Raises :class:`~._http2.ConnectionBusy` when ``conn`` cannot take
    another stream. Once the exchange exists it is the one that gives
    ``conn`` back (also when this fails).
    """
    h2_headers = conn._state.request_headers(
        request.method, request.scheme, authority, request.target, request.headers
    )
    stream, rest = conn.open_stream(h2_headers, request.body)
    exchange = AsyncHTTP2Exchange(conn, stream)
    if scope.cancellable:
        # Another thread may cancel the call: the stream's waiters wake then.
        scope.set_abort(lambda: conn._interrupt(stream))
    try:
        await conn._flush(stream, scope)
        if rest is not None and len(rest):
            await exchange._send_rest(rest, True, scope)
    except BaseException:
        await exchange.aclose()
        raise
    return exchange


class AsyncHTTP2Exchange:
    """One request/response exchange on an HTTP/2 stream.

    ``status`` and ``headers`` are set by :meth:`receive_response`, the body
    is read with :meth:`receive` and ``trailers`` are set once it ended. The
    request body may be sent with :meth:`send` while the response is read
    (full duplex). :meth:`aclose` resets the stream unless it completed.
    """

    __slots__ = ("_conn", "_finished", "_stream", "headers", "status", "trailers")

    full_duplex = True

    def __init__(self, conn: AsyncHTTP2Connection, stream: H2StreamState) -> None:
        self._conn = conn
        self._stream = stream
        self._finished = False
        self.status = 0
        self.headers: RawHeaders = []
        self.trailers: RawHeaders = []

    def __del__(self) -> None:
        if not self._finished:
            self._finished = True
            self._conn._abandon(self._stream)

    @property
    def refused(self) -> bool:
        """Whether the server refused the stream unprocessed (safe to send again)."""
        return self._stream.refused

    @property
    def request_open(self) -> bool:
        """Whether request body may still be sent."""
        stream = self._stream
        return not (stream.send_closed or stream.closed or stream.ended)

    def _error(self) -> ConnectError:
        error = self._stream.error
        if error is None:
            return ConnectError(Code.CANCELED, "stream was reset")
        return copy_error(error)

    # -- sending ------------------------------------------------------------------

    async def send(self, data: bytes, scope: CallScope, end: bool = False) -> None:
        """Send request body bytes as the peer's flow control allows.

        Once the server finished the exchange (it answered completely), the
        data is dropped; if the stream failed, its error is raised.
        """
        conn = self._conn
        stream = self._stream
        with conn._lock:
            if stream.error is not None:
                raise self._error()
            if not self.request_open:
                return
            rest = conn._send_now(stream, memoryview(data), end)
            if end and not data:
                conn._state.end_stream(stream)
        await conn._flush(stream, scope)
        if len(rest):
            await self._send_rest(rest, end, scope)

    async def _send_rest(self, rest: memoryview, end: bool, scope: CallScope) -> None:
        conn = self._conn
        state = conn._state
        stream = self._stream

        def ready() -> bool:
            return stream.closed or stream.ended or state.send_window(stream) > 0

        while len(rest):
            with scope.step():
                await conn._wait(stream, ready, scope)
            with conn._lock:
                if stream.error is not None:
                    raise self._error()
                if not self.request_open:
                    return
                rest = conn._send_now(stream, rest, end)
            await conn._flush(stream, scope)

    async def end_request(self, scope: CallScope) -> None:
        """Finish the request body."""
        await self.send(b"", scope, end=True)

    # -- receiving ----------------------------------------------------------------

    async def receive_response(self, scope: CallScope) -> None:
        """Wait for the response headers (sets ``status`` and ``headers``)."""
        stream = self._stream
        if stream.headers is None and not stream.done:
            with scope.step():
                await self._conn._wait(
                    stream, lambda: stream.headers is not None or stream.done, scope
                )
        if stream.headers is None:
            raise self._error()
        self.status = stream.status
        # Led by :status, its one pseudo-header field (checked on arrival).
        self.headers = stream.headers[1:]

    async def receive(self, scope: CallScope) -> bytes:
        """The next part of the response body; ``b""`` once it ended."""
        stream = self._stream
        conn = self._conn
        if not stream.buffered and not stream.done:
            with scope.step():
                await conn._wait(stream, None, scope)
        if stream.buffered:
            state = conn._state
            with conn._lock:
                data = state.consume(stream)
                pending = state.has_output()
            if pending:
                await conn._flush(stream, scope)
            return data
        if stream.error is not None or not stream.ended:
            error = self._error()
            await self.aclose()
            raise error
        self.trailers = stream.trailers
        await self.aclose()
        return b""

    # -- closing ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release the stream, resetting it unless it completed.

        The reset is sent without waiting for the network (see
        ``_http2_writer``): closing never blocks.
        """
        if self._finished:
            return
        self._finished = True
        conn = self._conn
        stream = self._stream
        with conn._lock:
            conn._state.reset(stream)
            if stream.waiters:
                # Another task (or thread) waits on this stream.
                conn._wake({stream})
            conn._write_soon()
            conn._release(stream)
        release = conn.on_release
        if release is not None and not release.take_back():
            # Closing a connection never blocks.
            with shield():
                await release.discard()
