"""The HTTP transport: a connection pool over httpcore connections.

httpcore dials, negotiates TLS/ALPN and speaks HTTP/1.1 and HTTP/2 on each
connection; this module decides which connection a call uses. The scheduling is
kept O(1) per call (an idle list per origin and one shared HTTP/2 connection)
instead of scanning every connection for every request.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterable
from typing import Any

import httpcore

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._shim_async import CallScope, Event, Lock, current_time, shield
from connect_python._transport_errors import TRANSPORT_ERRORS, transport_error

__all__ = ["AsyncHTTPResponse", "AsyncTransport"]

RawHeaders = list[tuple[bytes, bytes]]
Body = bytes | AsyncIterable[bytes]
_Origin = tuple[bytes, bytes, int]
_Conn = httpcore.AsyncHTTP11Connection | httpcore.AsyncHTTP2Connection


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
    __slots__ = ("dial_lock", "h2", "idle", "origin")

    def __init__(self, origin: httpcore.Origin) -> None:
        self.origin = origin
        self.idle: list[httpcore.AsyncHTTP11Connection] = []
        self.h2: httpcore.AsyncHTTP2Connection | None = None
        self.dial_lock = Lock()


class AsyncTransport:
    """A pool of HTTP connections shared by any number of clients and calls.

    ``http1``/``http2`` choose what TLS connections offer through ALPN;
    ``h2c=True`` speaks HTTP/2 with prior knowledge on ``http://`` URLs (else
    those use HTTP/1.1). ``ssl_context`` replaces the default, which verifies
    against the system trust store; ``ca_certs`` (a PEM path or PEM text) adds a
    CA to it. At most ``max_connections`` connections are open at once; an idle
    HTTP/1.1 connection is kept for ``keepalive_expiry`` seconds.
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
    ) -> None:
        if not (http1 or http2):
            raise ValueError("at least one of http1 and http2 must be enabled")
        if h2c and not http2:
            raise ValueError("h2c needs http2=True")
        self.http1 = http1
        self.http2 = http2
        self.h2c = h2c
        if ssl_context is None:
            ssl_context = default_ssl_context(http2, http1)
            if ca_certs is not None:
                if ca_certs.lstrip().startswith("-----BEGIN"):
                    ssl_context.load_verify_locations(cadata=ca_certs)
                else:
                    ssl_context.load_verify_locations(cafile=ca_certs)
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.connect_timeout = connect_timeout
        self._backend = network_backend or httpcore.AnyIOBackend()
        self._origins: dict[_Origin, _OriginPool] = {}
        self._conns: set[_Conn] = set()
        self._released = Event()
        self._closed = False

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
            pool = self._origins[key] = _OriginPool(httpcore.Origin(scheme, host, port))
        return pool

    def _uses_h2(self, scheme: bytes) -> bool:
        return self.h2c if scheme == b"http" else self.http2

    async def _acquire(self, pool: _OriginPool, scope: CallScope) -> _Conn:
        while True:
            if self._closed:
                raise httpcore.ConnectError("transport is closed")
            h2conn = pool.h2
            if h2conn is not None:
                if h2conn.is_available():
                    return h2conn
                if h2conn.is_closed() or h2conn.has_expired():
                    pool.h2 = None
                    await self._discard(h2conn)
            idle = pool.idle
            while idle:
                conn = idle.pop()
                if conn.has_expired() or not conn.is_idle():
                    await self._discard(conn)
                    continue
                return conn
            if len(self._conns) < self.max_connections:
                if self._uses_h2(pool.origin.scheme):
                    async with pool.dial_lock:
                        if pool.h2 is not None and pool.h2.is_available():
                            return pool.h2
                        return await self._dial(pool, scope)
                return await self._dial(pool, scope)
            self._released = released = Event()
            await released.wait()

    async def _dial(self, pool: _OriginPool, scope: CallScope) -> _Conn:
        origin = pool.origin
        host = origin.host.decode("ascii")
        timeout = self.connect_timeout
        if scope.deadline is not None:
            left = max(scope.deadline - current_time(), 0.001)
            timeout = left if timeout is None else min(timeout, left)
        stream = await self._backend.connect_tcp(host, origin.port, timeout=timeout)
        scope.set_abort(lambda: _abort_stream(stream))
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
                h2conn = httpcore.AsyncHTTP2Connection(origin, stream, self.keepalive_expiry)
                pool.h2 = conn = h2conn
            else:
                conn = httpcore.AsyncHTTP11Connection(origin, stream, self.keepalive_expiry)
        except BaseException:
            await stream.aclose()
            raise
        self._conns.add(conn)
        return conn

    async def _discard(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        try:
            await conn.aclose()
        except TRANSPORT_ERRORS:
            pass
        self._released.set()

    async def _release(self, pool: _OriginPool, conn: _Conn) -> None:
        if isinstance(conn, httpcore.AsyncHTTP2Connection):
            if conn.is_closed():
                if pool.h2 is conn:
                    pool.h2 = None
                await self._discard(conn)
            else:
                self._released.set()
            return
        if conn.is_idle() and not self._closed:
            pool.idle.append(conn)
            self._released.set()
        else:
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
        url = httpcore.URL(scheme=scheme, host=host, port=port, target=target)
        all_headers = [(b"host", pool_host(host, port, scheme)), *headers]
        if not isinstance(body, bytes):
            all_headers.append((b"transfer-encoding", b"chunked"))
        elif body or method != b"GET":
            all_headers.append((b"content-length", str(len(body)).encode()))
        request = httpcore.Request(method, url, headers=all_headers, content=body)
        conn: _Conn | None = None
        try:
            with scope.step():
                conn = await self._acquire(pool, scope)
                if isinstance(conn, httpcore.AsyncHTTP11Connection):
                    stream = conn._network_stream
                    scope.set_abort(lambda: _abort_stream(stream))
                response = await conn.handle_async_request(request)
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
        assert conn is not None
        return AsyncHTTPResponse(self, pool, conn, response)

    async def aclose(self) -> None:
        """Close every connection; calls in progress fail."""
        self._closed = True
        conns = list(self._conns)
        self._conns.clear()
        for pool in self._origins.values():
            pool.idle.clear()
            pool.h2 = None
        for conn in conns:
            try:
                await conn.aclose()
            except TRANSPORT_ERRORS:
                pass
        self._released.set()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def pool_host(host: bytes, port: int, scheme: bytes) -> bytes:
    """The ``Host`` header value for an origin."""
    default = 443 if scheme == b"https" else 80
    return host if port == default else host + b":" + str(port).encode()


def _abort_stream(stream: Any) -> None:
    """Unblock I/O on ``stream`` from another thread (sync cancellation)."""
    sock = stream.get_extra_info("socket")
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class AsyncHTTPResponse:
    """A response whose headers arrived; the body is read with :meth:`receive`.

    Closing it before the body ended abandons the exchange: an HTTP/1.1
    connection is closed rather than reused.
    """

    __slots__ = (
        "_chunks",
        "_conn",
        "_done",
        "_pool",
        "_response",
        "_transport",
        "headers",
        "status",
        "trailers",
    )

    def __init__(
        self,
        transport: AsyncTransport,
        pool: _OriginPool,
        conn: _Conn,
        response: httpcore.Response,
    ) -> None:
        self._transport = transport
        self._pool = pool
        self._conn: _Conn | None = conn
        self._response = response
        self.status = response.status
        self.headers: RawHeaders = response.headers
        self.trailers: RawHeaders = []
        stream = response.stream
        assert isinstance(stream, AsyncIterable)
        self._chunks = stream.__aiter__()
        self._done = False

    @property
    def http_version(self) -> str:
        """``HTTP/1.1`` or ``HTTP/2``."""
        version = self._response.extensions.get("http_version", b"HTTP/1.1")
        return version.decode() if isinstance(version, bytes) else str(version)

    async def receive(self, scope: CallScope) -> bytes:
        """The next chunk of the body; ``b""`` once it ended."""
        if self._done:
            return b""
        try:
            with scope.step():
                chunk: bytes = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            await self.aclose()
            return b""
        except TRANSPORT_ERRORS as exc:
            await self.aclose()
            raise transport_error(exc) from exc
        except BaseException:
            await self.aclose()
            raise
        return chunk

    async def read_all(self, scope: CallScope, limit: int | None) -> bytes:
        """The whole body; more than ``limit`` bytes raise ``RESOURCE_EXHAUSTED``."""
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = await self.receive(scope)
            if not chunk:
                break
            size += len(chunk)
            if limit is not None and size > limit:
                await self.aclose()
                raise ConnectError(
                    Code.RESOURCE_EXHAUSTED,
                    f"message size is larger than configured max {limit}",
                )
            parts.append(chunk)
        return b"".join(parts)

    async def aclose(self) -> None:
        """Release the connection (closing it if the body did not end)."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        chunks = self._chunks
        aclose = getattr(chunks, "aclose", None)
        with shield():
            try:
                if aclose is not None:
                    await aclose()
                await self._response.aclose()
            except TRANSPORT_ERRORS:
                pass
            finally:
                await self._transport._release(self._pool, conn)
