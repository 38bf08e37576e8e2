"""Our HTTP/1.1 connection over an httpcore network stream, and its exchange.

One exchange at a time, half duplex: the request (headers, then a body sent
whole or streamed in chunks) and then the response. :class:`AsyncHTTP11Exchange`
is the :class:`~._exchange.AsyncExchange` of HTTP/1.1, so call objects do not
care which protocol carries them. A response that was not read to its end
leaves the connection in an unknown state: closing the exchange early closes
the connection instead of handing it to the next exchange.

A server may answer before it read the whole request (a 401 to an upload it
refuses) and close the connection; the upload's next write then fails. The
answer is what the caller needs: after a failed write the response is read,
and only if there is none is the write's failure reported.

An exchange garbage-collected before it finished (a bare ``for`` loop over a
streaming call left with ``break``) closes its connection and frees its pool slot,
from a task started for that (a thread in the sync flavour).
"""

from __future__ import annotations

import time
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.h1 import (
    LAST_CHUNK,
    EndOfBody,
    HTTP1Error,
    Response,
    ResponseParser,
    encode_chunk,
    encode_request_head,
)
from connect_python._http.request import Request
from connect_python._io.async_net import direct_stream, has_buffered_input
from connect_python._io.errors import TRANSPORT_ERRORS, transport_cause, transport_error
from connect_python._io.netutil import socket_is_readable
from connect_python._io.shim_async import CallScope, run_detached, shield

from ._exchange import RawHeaders, ReleaseHook

__all__ = ["AsyncHTTP11Connection", "AsyncHTTP11Exchange", "open_http11_exchange"]

#: What the response parser yields: the head, body bytes, the end, or
#: ``None`` (it needs more input).
_Event = Response | bytes | EndOfBody | None
#: What one read asks for. A read allocates all it asks for, then gives back
#: what it did not fill: above the C allocator's mmap threshold (128 KiB,
#: unless it moved) each read maps fresh memory and takes page faults filling
#: it (27 per 64 KiB message of a fast stream, sync flavour).
_READ_SIZE = 64 * 1024
#: The most body parts (chunks) one receive() parses: a read can hold
#: thousands of tiny chunks, and parsing them takes no scheduling point.
_PARTS_PER_RECEIVE = 128


class AsyncHTTP11Connection:
    """One HTTP/1.1 connection; see the module docstring. ``on_release``
    (the pool's hook) is awaited whenever its exchange ended."""

    __slots__ = (
        "_broken",
        "_busy",
        "_closed",
        "_expire_at",
        "_io",
        "_keepalive",
        "_net",
        "_parser",
        "_request_open",
        "_sock",
        "on_release",
    )

    def __init__(self, network_stream: Any, keepalive_expiry: float | None) -> None:
        self._net = network_stream
        self._io = direct_stream(network_stream)
        self._sock = network_stream.get_extra_info("socket")
        self._parser = ResponseParser()
        self._request_open = False
        self._keepalive = keepalive_expiry
        self._busy = False
        self._closed = False
        #: A request write failed: the connection is never reused.
        self._broken = False
        self._expire_at: float | None = None
        self.on_release: ReleaseHook | None = None

    def is_idle(self) -> bool:
        """Whether the connection is open with no exchange in progress."""
        return not self._busy and not self._closed

    def has_expired(self) -> bool:
        """Whether an idle connection is past its keep-alive time or was closed by the peer."""
        if self._closed:
            return True
        if self._expire_at is not None and time.monotonic() > self._expire_at:
            return True
        # An idle connection with readable data (usually EOF) was dropped by the server.
        return has_buffered_input(self._io) or socket_is_readable(self._sock)

    async def aclose(self) -> None:
        """Close the connection."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._net.aclose()
        except TRANSPORT_ERRORS:
            pass

    def _finished(self) -> bool:
        """After an exchange: make the connection reusable if both sides are done."""
        self._busy = False
        parser = self._parser
        if (
            not self._request_open
            and not self._broken
            and parser.done
            and parser.reusable
            and not parser.pending
        ):
            if self._keepalive is not None:
                self._expire_at = time.monotonic() + self._keepalive
            return True
        return False


async def open_http11_exchange(
    conn: AsyncHTTP11Connection, request: Request, authority: bytes, scope: CallScope
) -> AsyncHTTP11Exchange:
    """Send the request head on the idle ``conn`` (and the body, if it is known
    whole, finishing the request). The exchange gives ``conn`` back (also
    when this fails)."""
    if not conn.is_idle():
        raise RuntimeError("HTTP/1.1 connection is busy")
    conn._busy = True
    conn._expire_at = None
    method = request.method
    body = request.body
    all_headers = [(b"host", authority), *request.headers]
    if body is None:
        all_headers.append((b"transfer-encoding", b"chunked"))
    elif body or method != b"GET":
        all_headers.append((b"content-length", str(len(body)).encode()))
    exchange = AsyncHTTP11Exchange(conn)
    conn._parser.start(head_request=method == b"HEAD")
    try:
        data = encode_request_head(method, request.target, all_headers)
        if body is not None:
            data += body
        conn._request_open = body is None
        await exchange._write(data, scope)
    except ValueError as exc:
        await exchange.aclose()
        raise ConnectError(Code.INTERNAL, f"invalid request: {exc}") from exc
    except BaseException:
        await exchange.aclose()
        raise
    return exchange


class AsyncHTTP11Exchange:
    """One exchange on an HTTP/1.1 connection (see the module docstring)."""

    __slots__ = ("_conn", "_done", "_early", "_end", "_over", "headers", "status", "trailers")

    full_duplex = False

    def __init__(self, conn: AsyncHTTP11Connection) -> None:
        self._conn = conn
        self._done = False
        self._end: _Event = None  # what the parser gave after body bytes
        self._over = False
        self._early: Response | None = None
        self.status = 0
        self.headers: RawHeaders = []
        self.trailers: RawHeaders = []

    @property
    def request_open(self) -> bool:
        """Whether request body may still be sent."""
        return self._conn._request_open

    async def _write(self, data: bytes, scope: CallScope) -> None:
        try:
            with scope.step():
                await self._conn._io.write(data)
        except TRANSPORT_ERRORS as exc:
            if not await self._early_answer(scope):
                raise transport_error(exc) from transport_cause(exc)

    async def _early_answer(self, scope: CallScope) -> bool:
        """After a failed write: whether the server answered already (then
        the request is over and that answer is the response)."""
        conn = self._conn
        conn._request_open = False
        conn._broken = True
        if self._early is not None:
            return True
        try:
            # Bounded by the call's deadline; a connection whose write failed
            # yields its buffered input, then EOF or an error, at once.
            event = await self._next_event(scope)
        except ConnectError as exc:
            if exc.code in (Code.DEADLINE_EXCEEDED, Code.CANCELED):
                raise
            return False
        if not isinstance(event, Response):
            return False
        self._early = event
        return True

    async def send(self, data: bytes, scope: CallScope, end: bool = False) -> None:
        """Send request body bytes (as one chunk)."""
        conn = self._conn
        if not conn._request_open:
            raise ConnectError(Code.INTERNAL, "request body already finished")
        out = encode_chunk(data)
        if end:
            out += LAST_CHUNK
            conn._request_open = False
        if out:
            await self._write(out, scope)

    async def end_request(self, scope: CallScope) -> None:
        """Finish the request body."""
        if self.request_open:
            await self.send(b"", scope, end=True)

    async def _next_event(
        self, scope: CallScope, parsed: bool = False
    ) -> Response | bytes | EndOfBody:
        """The parser's next event, reading as needed (``parsed``: the
        parser just said it needs more bytes)."""
        parser = self._conn._parser
        network = self._conn._io
        # Parsing is inside the step too: in sync code an abort (deadline or
        # cancel from another thread) shows up as an early EOF.
        with scope.step():
            while True:
                if not parsed:
                    try:
                        event = parser.next_event()
                    except HTTP1Error as exc:
                        raise transport_error(exc) from transport_cause(exc)
                    if event is not None:
                        return event
                parsed = False
                try:
                    data = await network.read(_READ_SIZE)
                except TRANSPORT_ERRORS as exc:
                    raise transport_error(exc) from transport_cause(exc)
                if data:
                    parser.feed(data)
                else:
                    parser.feed_eof()

    async def receive_response(self, scope: CallScope) -> None:
        """Wait for the response head (sets ``status`` and ``headers``).

        HTTP/1.1 is half duplex here: a request still open is finished first.
        """
        try:
            if self.request_open:
                await self.end_request(scope)
            event: _Event = self._early
            if event is None:
                event = await self._next_event(scope)
            assert isinstance(event, Response)
            self.status = event.status
            self.headers = event.headers
        except BaseException:
            await self.aclose()
            raise

    def _parse(self) -> _Event:
        try:
            return self._conn._parser.next_event()
        except HTTP1Error as exc:
            raise transport_error(exc) from transport_cause(exc)

    async def receive(self, scope: CallScope) -> bytes:
        """The response body bytes received so far (waiting for some if there
        are none); ``b""`` once it ended.

        What is already buffered is returned at once (up to
        ``_PARTS_PER_RECEIVE`` chunks), without I/O or a cancel scope, so a
        burst of small messages costs one call, not one each.
        """
        if self._done:
            return b""
        try:
            end = self._end
            if end is None:
                event = self._parse()
                if isinstance(event, bytes):
                    parts = [event]
                    while len(parts) < _PARTS_PER_RECEIVE:
                        event = self._parse()
                        if not isinstance(event, bytes):
                            self._end = event
                            break
                        parts.append(event)
                    return parts[0] if len(parts) == 1 else b"".join(parts)
                if event is None:
                    event = await self._next_event(scope, parsed=True)
                    if isinstance(event, bytes):
                        return event
                end = event
            assert isinstance(end, EndOfBody)
            self.trailers = end.trailers
            self._done = True
            await self.aclose()
            return b""
        except BaseException:
            await self.aclose()
            raise

    def __del__(self) -> None:
        # Collected before it ended (nobody closed it): close the connection
        # and free its pool slot, from a task started for that.
        if self._over:
            return
        self._over = True
        run_detached(_abandoned, self._conn)

    async def aclose(self) -> None:
        """End the exchange; the connection is closed unless it completed cleanly."""
        if self._over:
            return
        self._over = True
        conn = self._conn
        release = conn.on_release
        if conn._finished():
            if release is None or release.take_back():
                return
            with shield():
                await release.discard()
            return
        with shield():
            await conn.aclose()
            if release is not None and not release.take_back():
                await release.discard()


async def _abandoned(conn: AsyncHTTP11Connection) -> None:
    """Close the connection of an exchange collected unfinished; release its slot."""
    release = conn.on_release
    conn._busy = False
    conn._broken = True
    with shield():
        await conn.aclose()
        if release is not None and not release.take_back():
            await release.discard()
