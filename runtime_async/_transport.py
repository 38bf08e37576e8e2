"""The HTTP transport: a connection pool over httpcore network streams.

httpcore's network backends dial and negotiate TLS/ALPN; HTTP/1.1 is spoken by
httpcore's HTTP/1.1 connection (half duplex), HTTP/2 by our own connection
(``_http2``: concurrent full-duplex streams, RST_STREAM on abandoned streams,
flow control that follows consumption, trailers). This module decides which
connection a call uses. The scheduling is kept O(1) per call (an idle list per
origin and a short list of HTTP/2 connections) instead of scanning every
connection for every request.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterable, Callable
from typing import Any

import httpcore

from connect_python._errors import ConnectError
from connect_python._http.h2_state import DEFAULT_CONNECTION_WINDOW, DEFAULT_STREAM_WINDOW
from connect_python._io.errors import TRANSPORT_ERRORS, transport_error
from connect_python._io.netutil import connect_error
from connect_python._io.shim_async import (
    AnyIOBackend,
    CallScope,
    Event,
    StateLock,
    current_time,
    shield,
)

from ._exchange import send_body
from ._http2 import AsyncHTTP2Connection, AsyncHTTP2Stream, ConnectionBusy
from ._http11 import AsyncHTTP11Connection, AsyncHTTP11Stream

__all__ = ["AsyncExchange", "AsyncHTTPResponse", "AsyncTransport"]

RawHeaders = list[tuple[bytes, bytes]]
Body = bytes | AsyncIterable[bytes]
_Origin = tuple[bytes, bytes, int]
_Conn = AsyncHTTP11Connection | AsyncHTTP2Connection
#: Attempts for a request the server refused unprocessed (GOAWAY, REFUSED_STREAM).
_REFUSED_ATTEMPTS = 3


def default_ssl_context(http2: bool, http1: bool = True) -> ssl.SSLContext:
    """A verifying TLS context using the system trust store, with ALPN set."""
    ctx = ssl.create_default_context()
    _set_alpn(ctx, http2, http1)
    return ctx


def _set_alpn(ctx: ssl.SSLContext, http2: bool, http1: bool) -> None:
    protocols = []
    if http2:
        protocols.append("h2")
    if http1:
        protocols.append("http/1.1")
    ctx.set_alpn_protocols(protocols)


class _OriginPool:
    __slots__ = ("dialling", "h1_only", "h2", "idle", "origin", "waiters")

    def __init__(self, origin: httpcore.Origin) -> None:
        self.origin = origin
        self.idle: list[AsyncHTTP11Connection] = []
        self.h2: list[AsyncHTTP2Connection] = []
        #: Dials in progress for an origin expected to speak HTTP/2 (one at a
        #: time: its streams are shared; the other calls wait for it).
        self.dialling = 0
        #: The server chose HTTP/1.1 through ALPN: dial in parallel.
        self.h1_only = False
        #: Calls waiting for this origin (oldest first).
        self.waiters: dict[_Waiter, None] = {}


class _Waiter:
    """A call waiting in the pool. ``woken`` is set (under the pool lock) by
    whoever hands it a reason to look again; a waiter that leaves after that
    passes the wake-up on, so none is lost."""

    __slots__ = ("event", "pool", "target", "woken")

    def __init__(self, pool: _OriginPool) -> None:
        self.event = Event()
        self.pool = pool
        self.target: _OriginPool | None = None
        self.woken = False


# What the pool hands a call (see ``AsyncTransport._choose``).
_H2, _H11, _SETTINGS, _DIAL, _WAIT, _WAIT_ORIGIN = range(6)


class AsyncTransport:
    """A pool of HTTP connections shared by any number of clients and calls.

    ``http1``/``http2`` choose what TLS connections offer through ALPN;
    ``h2c=True`` speaks HTTP/2 with prior knowledge on ``http://`` URLs (else
    those use HTTP/1.1). ``ssl_context`` replaces the default, which verifies
    against the system trust store; ``ca_certs`` (a PEM path or PEM text) adds a
    CA to it. At most ``max_connections`` connections are open at once; an idle
    connection is kept for ``keepalive_expiry`` seconds. An HTTP/2 connection
    carries as many concurrent streams as the server allows (a second one is
    opened when it allows no more). A call that finds no connection free and
    the limit reached waits (first come, first served) until one frees up, its
    deadline passes or it is cancelled; to make room for another origin, an
    idle connection is closed. ``http2_stream_window`` and
    ``http2_connection_window`` are the receive windows, credited as the
    application reads.
    """

    def __init__(
        self,
        *,
        http1: bool = True,
        http2: bool = True,
        h2c: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        ca_certs: str | None = None,
        max_connections: int = 100,
        keepalive_expiry: float | None = 60.0,
        connect_timeout: float | None = 30.0,
        network_backend: Any = None,
        http2_stream_window: int = DEFAULT_STREAM_WINDOW,
        http2_connection_window: int = DEFAULT_CONNECTION_WINDOW,
    ) -> None:
        if not (http1 or http2):
            raise ValueError("at least one of http1 and http2 must be enabled")
        if h2c and not http2:
            raise ValueError("h2c needs http2=True")
        self.http1 = http1
        self.http2 = http2
        self.h2c = h2c
        # The default TLS context is made on the first https:// connection:
        # loading the system trust store costs tens of milliseconds.
        pem = ca_certs is not None and ca_certs.lstrip().startswith("-----BEGIN")
        if ca_certs is not None and not pem and not os.path.isfile(ca_certs):
            raise ValueError(f"ca_certs: no such file {ca_certs!r} (expected a path or PEM text)")
        self._ssl_context = ssl_context
        self._ca_certs = ca_certs
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.connect_timeout = connect_timeout
        self._backend = network_backend or AnyIOBackend()
        self.http2_stream_window = http2_stream_window
        self.http2_connection_window = http2_connection_window
        self._origins: dict[_Origin, _OriginPool] = {}
        self._conns: set[_Conn] = set()
        #: Connections open or being dialled (what ``max_connections`` limits).
        self._count = 0
        #: Calls waiting for a connection to free up anywhere (oldest first).
        self._waiters: dict[_Waiter, None] = {}
        #: Guards the pool's state between threads (sync); never held across I/O.
        self._lock = StateLock()
        self._closed = False

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of ``https://`` connections (made on first use)."""
        ctx = self._ssl_context
        if ctx is None:
            ctx = default_ssl_context(self.http2, self.http1)
            ca_certs = self._ca_certs
            if ca_certs is not None:
                if ca_certs.lstrip().startswith("-----BEGIN"):
                    ctx.load_verify_locations(cadata=ca_certs)
                else:
                    ctx.load_verify_locations(cafile=ca_certs)
            self._ssl_context = ctx
        return ctx

    # -- statistics, for tests and monitoring -------------------------------

    @property
    def num_connections(self) -> int:
        """Open connections (idle or busy)."""
        return len(self._conns)

    @property
    def num_idle(self) -> int:
        """Idle HTTP/1.1 connections kept for reuse."""
        return sum(len(o.idle) for o in self._origins.values())

    # -- connections ----------------------------------------------------------

    def _origin(self, scheme: bytes, host: bytes, port: int) -> _OriginPool:
        key = (scheme, host, port)
        pool = self._origins.get(key)
        if pool is None:
            with self._lock:
                pool = self._origins.get(key)
                if pool is None:
                    pool = self._origins[key] = _OriginPool(httpcore.Origin(scheme, host, port))
        return pool

    def _uses_h2(self, scheme: bytes) -> bool:
        return self.h2c if scheme == b"http" else self.http2

    def _choose(self, pool: _OriginPool, stale: list[_Conn]) -> tuple[int, Any]:
        """What a call for ``pool`` does next (locked; no I/O): take an HTTP/2
        connection or an idle HTTP/1.1 one, wait for SETTINGS, dial (the
        connection is counted now), or wait. Connections to close go to ``stale``."""
        h2s = pool.h2
        if h2s:
            for h2conn in h2s:
                if h2conn.is_available():
                    return _H2, h2conn
            for h2conn in [c for c in h2s if not c.is_usable()]:
                h2s.remove(h2conn)
                if (h2conn.is_idle() or h2conn.is_closed()) and self._forget(h2conn):
                    stale.append(h2conn)
            for h2conn in h2s:
                if h2conn.awaiting_settings:
                    # A new connection allows few streams until the server's
                    # SETTINGS arrive (on their way): wait for them, don't dial.
                    return _SETTINGS, h2conn
        if pool.idle:
            return _H11, pool.idle.pop()
        h2_origin = not pool.h1_only and self._uses_h2(pool.origin.scheme)
        if h2_origin and pool.dialling:
            return _WAIT_ORIGIN, None
        if self._count < self.max_connections or self._evict(pool, stale):
            self._count += 1
            if h2_origin:
                pool.dialling += 1
            return _DIAL, h2_origin
        return _WAIT, None

    def _forget(self, conn: _Conn) -> bool:
        """Stop counting ``conn`` (locked); whether it was counted."""
        if conn in self._conns:
            self._conns.discard(conn)
            self._count -= 1
            return True
        return False

    def _evict(self, pool: _OriginPool, stale: list[_Conn]) -> bool:
        """At the limit: give up an idle connection to another origin (locked)."""
        for other in self._origins.values():
            if other is pool:
                continue
            victim: _Conn | None = None
            if other.idle:
                victim = other.idle.pop(0)
            else:
                for h2conn in other.h2:
                    if h2conn.is_idle():
                        other.h2.remove(h2conn)
                        victim = h2conn
                        break
            if victim is not None and self._forget(victim):
                stale.append(victim)
                return True
        return False

    def _wait_for(self, pool: _OriginPool, anywhere: bool) -> _Waiter:
        """Queue a waiter (locked): on ``pool``, and for any free connection
        when ``anywhere``."""
        waiter = _Waiter(pool)
        pool.waiters[waiter] = None
        if anywhere:
            self._waiters[waiter] = None
        return waiter

    def _wake(self, pool: _OriginPool | None) -> None:
        """Wake the oldest waiter of ``pool`` (it may use what ``pool`` freed),
        else the oldest waiting for any connection (locked)."""
        waiters = pool.waiters if pool is not None and pool.waiters else self._waiters
        if not waiters:
            return
        waiter = next(iter(waiters))
        waiter.pool.waiters.pop(waiter, None)
        self._waiters.pop(waiter, None)
        waiter.woken = True
        waiter.target = pool
        waiter.event.set()

    async def _acquire(self, pool: _OriginPool, scope: CallScope) -> _Conn:
        while True:
            stale: list[_Conn] = []
            with self._lock:
                if self._closed:
                    raise httpcore.ConnectError("transport is closed")
                kind, conn = self._choose(pool, stale)
                waiter = None
                if kind in (_WAIT, _WAIT_ORIGIN):
                    waiter = self._wait_for(pool, kind == _WAIT)
            if stale:
                with shield():
                    for old in stale:
                        await _close_quietly(old)
            if kind == _H2:
                h2conn: AsyncHTTP2Connection = conn
                if h2conn.is_idle():
                    # Take in what arrived while it was idle (a GOAWAY, EOF).
                    await h2conn.refresh()
                if h2conn.is_available() and not h2conn.has_expired():
                    if pool.waiters:
                        with self._lock:
                            if h2conn.is_available():
                                self._wake(pool)  # more streams to take here
                    return h2conn
                if h2conn.is_closed() or not h2conn.is_usable() or h2conn.has_expired():
                    with self._lock:
                        if h2conn in pool.h2:
                            pool.h2.remove(h2conn)
                    await self._discard(h2conn)
                # else another thread took its last free stream: look again
            elif kind == _H11:
                h11conn: AsyncHTTP11Connection = conn
                if h11conn.has_expired() or not h11conn.is_idle():
                    await self._discard(h11conn)
                    continue
                return h11conn
            elif kind == _SETTINGS:
                await conn.wait_settings(scope)
            elif kind == _DIAL:
                return await self._dial(pool, scope, conn)
            else:
                assert waiter is not None
                try:
                    await waiter.event.wait()
                except BaseException:
                    with self._lock:
                        if waiter.woken:
                            self._wake(waiter.target)  # pass it on
                        else:
                            pool.waiters.pop(waiter, None)
                            self._waiters.pop(waiter, None)
                    raise

    async def _dial(self, pool: _OriginPool, scope: CallScope, h2_origin: bool) -> _Conn:
        """Open a connection; the pool already counted it (``_choose``), and
        ``h2_origin`` says it counts as the origin's one HTTP/2 dial."""
        try:
            conn = await self._connect(pool, scope)
        except BaseException:
            with self._lock:
                self._count -= 1
                if h2_origin:
                    pool.dialling -= 1
                self._wake(pool)  # room for another dial
            raise
        with self._lock:
            if h2_origin:
                pool.dialling -= 1
            closed = self._closed
            if not closed:
                self._conns.add(conn)
                if isinstance(conn, AsyncHTTP2Connection):
                    pool.h2.append(conn)
                    self._wake(pool)  # its other streams are for the waiters
                elif h2_origin:
                    # The server chose HTTP/1.1: the waiters dial for themselves.
                    pool.h1_only = True
                    for _ in range(len(pool.waiters)):
                        self._wake(pool)
            else:
                self._count -= 1
        if closed:
            with shield():
                await _close_quietly(conn)
            raise httpcore.ConnectError("transport is closed")
        return conn

    async def _connect(self, pool: _OriginPool, scope: CallScope) -> _Conn:
        origin = pool.origin
        host = origin.host.decode("ascii")
        # The connect timeout applies when it ends before the call's deadline;
        # else the call's deadline (its step) ends the dial, as DEADLINE_EXCEEDED.
        timeout = self.connect_timeout
        if (
            timeout is not None
            and scope.deadline is not None
            and scope.deadline - current_time() <= timeout
        ):
            timeout = None
        try:
            stream = await self._backend.connect_tcp(host, origin.port, timeout=timeout)
        except TRANSPORT_ERRORS as exc:
            raise connect_error(host, origin.port, exc, timeout) from exc
        try:
            http2 = False
            if origin.scheme == b"https":
                stream = await stream.start_tls(
                    self.ssl_context, server_hostname=host, timeout=timeout
                )
                ssl_object = stream.get_extra_info("ssl_object")
                http2 = ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
            elif self.h2c:
                http2 = True
            conn: _Conn
            if http2:
                conn = AsyncHTTP2Connection(
                    stream,
                    keepalive_expiry=self.keepalive_expiry,
                    stream_window=self.http2_stream_window,
                    connection_window=self.http2_connection_window,
                )
            else:
                conn = AsyncHTTP11Connection(stream, self.keepalive_expiry)
        except BaseException:
            with shield():
                await stream.aclose()
            raise
        return conn

    async def _discard(self, conn: _Conn) -> None:
        with self._lock:
            if self._forget(conn):
                self._wake(None)  # room for a dial, for any origin
        await _close_quietly(conn)

    async def _release(self, pool: _OriginPool, conn: _Conn) -> None:
        if isinstance(conn, AsyncHTTP2Connection):
            if conn.is_closed() or (conn.is_idle() and (self._closed or not conn.is_usable())):
                with self._lock:
                    if conn in pool.h2:
                        pool.h2.remove(conn)
                await self._discard(conn)
            elif pool.waiters or self._waiters:
                with self._lock:
                    self._wake(pool)  # a stream is free
            return
        if conn.is_idle() and not self._closed:
            with self._lock:
                if not self._closed and conn in self._conns:
                    pool.idle.append(conn)
                    self._wake(pool)
                    return
        await self._discard(conn)

    # -- requests ---------------------------------------------------------------

    async def request(
        self,
        method: bytes,
        scheme: bytes,
        host: bytes,
        port: int,
        target: bytes,
        headers: RawHeaders,
        body: Body,
        scope: CallScope,
    ) -> AsyncHTTPResponse:
        """Send a request and return once the response headers arrived.

        Transport failures raise ``ConnectError`` (``remote == False``).
        """
        pool = self._origin(scheme, host, port)
        attempt = 0
        while True:
            attempt += 1
            conn: _Conn | None = None
            try:
                with scope.step():
                    conn = await self._acquire(pool, scope)
                    if isinstance(conn, AsyncHTTP2Connection):
                        try:
                            stream = await self._request_h2(
                                pool, conn, method, scheme, host, port, target, headers, body, scope
                            )
                        except _Refused as refused:
                            # Never processed by the server: safe to send again.
                            if attempt < _REFUSED_ATTEMPTS:
                                continue
                            raise refused.error from None
                        if stream is None:
                            attempt -= 1  # busy (another call took its last stream)
                            continue
                        return stream
                    owned, conn = conn, None  # the exchange releases it from here on
                    return await self._request_h11(
                        pool, owned, method, scheme, host, port, target, headers, body, scope
                    )
            except TRANSPORT_ERRORS as exc:
                if conn is not None:
                    with shield():
                        await self._release(pool, conn)
                raise transport_error(exc) from exc
            except BaseException:
                if conn is not None:
                    with shield():
                        await self._release(pool, conn)
                raise

    async def _request_h2(
        self,
        pool: _OriginPool,
        conn: AsyncHTTP2Connection,
        method: bytes,
        scheme: bytes,
        host: bytes,
        port: int,
        target: bytes,
        headers: RawHeaders,
        body: Body,
        scope: CallScope,
    ) -> AsyncHTTP2Stream | None:
        """The request on an HTTP/2 connection; ``None`` if it was busy."""
        authority = pool_host(host, port, scheme)
        try:
            stream = await conn.open_stream(
                method,
                scheme,
                authority,
                target,
                headers,
                scope,
                body if isinstance(body, bytes) else None,
            )
        except ConnectionBusy:
            return None
        stream.set_release(_releaser(self, pool, conn))
        try:
            if not isinstance(body, bytes):
                await send_body(stream, body, scope)
            await stream.receive_response(scope)
        except ConnectError as exc:
            with shield():
                await stream.aclose()
            if stream.refused and isinstance(body, bytes):
                raise _Refused(exc) from exc
            raise
        except BaseException:
            with shield():
                await stream.aclose()
            raise
        return stream

    async def _request_h11(
        self,
        pool: _OriginPool,
        conn: AsyncHTTP11Connection,
        method: bytes,
        scheme: bytes,
        host: bytes,
        port: int,
        target: bytes,
        headers: RawHeaders,
        body: Body,
        scope: CallScope,
    ) -> AsyncHTTP11Stream:
        """The request on an HTTP/1.1 connection (body sent, then the response head)."""
        stream = await self._open_h11(
            pool,
            conn,
            method,
            scheme,
            host,
            port,
            target,
            headers,
            scope,
            body if isinstance(body, bytes) else None,
        )
        try:
            if not isinstance(body, bytes):
                await send_body(stream, body, scope)
            await stream.receive_response(scope)
        except BaseException:
            with shield():
                await stream.aclose()
            raise
        return stream

    async def _open_h11(
        self,
        pool: _OriginPool,
        conn: AsyncHTTP11Connection,
        method: bytes,
        scheme: bytes,
        host: bytes,
        port: int,
        target: bytes,
        headers: RawHeaders,
        scope: CallScope,
        body: bytes | None,
    ) -> AsyncHTTP11Stream:
        try:
            stream = await conn.open_stream(
                method, scheme, pool_host(host, port, scheme), target, headers, scope, body
            )
        except BaseException:
            with shield():
                await self._release(pool, conn)
            raise
        stream.set_release(_releaser(self, pool, conn))
        return stream

    async def open_exchange(
        self,
        method: bytes,
        scheme: bytes,
        host: bytes,
        port: int,
        target: bytes,
        headers: RawHeaders,
        scope: CallScope,
    ) -> AsyncExchange:
        """Start a request whose body is sent piece by piece.

        On HTTP/2 the exchange is full duplex: the request headers are sent
        now, and body and response flow at the same time. On HTTP/1.1 the body
        is collected and sent when it is finished (or when the response is
        first awaited).
        """
        pool = self._origin(scheme, host, port)
        while True:
            conn: _Conn | None = None
            try:
                with scope.step():
                    conn = await self._acquire(pool, scope)
                    if isinstance(conn, AsyncHTTP2Connection):
                        authority = pool_host(host, port, scheme)
                        try:
                            stream = await conn.open_stream(
                                method, scheme, authority, target, headers, scope
                            )
                        except ConnectionBusy:
                            continue
                        stream.set_release(_releaser(self, pool, conn))
                        return stream
            except TRANSPORT_ERRORS as exc:
                if conn is not None:
                    with shield():
                        await self._release(pool, conn)
                raise transport_error(exc) from exc
            assert isinstance(conn, AsyncHTTP11Connection)
            return await self._open_h11(
                pool, conn, method, scheme, host, port, target, headers, scope, None
            )

    async def aclose(self) -> None:
        """Close every connection; calls in progress fail, waiting ones too."""
        with self._lock:
            self._closed = True
            conns = list(self._conns)
            self._conns.clear()
            self._count -= len(conns)  # dials in progress give theirs back
            for pool in self._origins.values():
                pool.idle.clear()
                pool.h2.clear()
                while pool.waiters:
                    self._wake(pool)
            while self._waiters:
                self._wake(None)
        for conn in conns:
            await _close_quietly(conn)

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Refused(Exception):
    """The server refused a stream unprocessed (REFUSED_STREAM, GOAWAY)."""

    def __init__(self, error: ConnectError) -> None:
        super().__init__(error.message)
        self.error = error


def _releaser(transport: AsyncTransport, pool: _OriginPool, conn: _Conn) -> Callable[[], Any]:
    async def release() -> None:
        await transport._release(pool, conn)

    return release


def pool_host(host: bytes, port: int, scheme: bytes) -> bytes:
    """The ``Host`` header value for an origin."""
    default = 443 if scheme == b"https" else 80
    return host if port == default else host + b":" + str(port).encode()


async def _close_quietly(conn: _Conn) -> None:
    try:
        await conn.aclose()
    except TRANSPORT_ERRORS:
        pass


#: A response whose headers arrived (HTTP/1.1 or HTTP/2).
AsyncHTTPResponse = AsyncHTTP11Stream | AsyncHTTP2Stream
#: A request whose body is sent piece by piece (see ``AsyncTransport.open_exchange``).
AsyncExchange = AsyncHTTP2Stream | AsyncHTTP11Stream
