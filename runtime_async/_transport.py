"""The HTTP transport: routes a :class:`~connect_python._http.request.Request`
to a pooled connection and returns its exchange.

httpcore's network backends dial and negotiate TLS/ALPN (here); which
connection an exchange uses is the pool's business (``_pool``); HTTP/1.1 is
spoken by ``_http11`` (half duplex), HTTP/2 by ``_http2`` (concurrent
full-duplex streams, RST_STREAM on abandoned streams, flow control that
follows consumption, trailers). The transport knows nothing of the RPC
protocol carried.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpcore

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.h2_state import DEFAULT_CONNECTION_WINDOW, DEFAULT_STREAM_WINDOW
from connect_python._http.request import Request
from connect_python._io.async_net import AnyIOBackend
from connect_python._io.errors import TRANSPORT_ERRORS, transport_cause, transport_error
from connect_python._io.netutil import connect_error, uds_error
from connect_python._io.proxy import Proxy, proxy_for
from connect_python._io.shim_async import CallScope, current_time, shield
from connect_python._io.tls import TLSOptions, negotiated_http2, tls_cause, tls_error
from connect_python._retry import RetryPolicy

from ._exchange import AsyncExchange
from ._http2 import AsyncHTTP2Connection, ConnectionBusy
from ._http2_exchange import AsyncHTTP2Exchange, open_http2_exchange
from ._http11 import AsyncHTTP11Connection, AsyncHTTP11Exchange, open_http11_exchange
from ._pool import AsyncPool, Connection
from ._proxy import open_tunnel
from ._retries import wait_to_retry

__all__ = ["AsyncTransport"]


def _needs_http2(request: Request) -> ConnectError:
    """The error of a request that needs HTTP/2 given an HTTP/1.1 connection
    (nothing was sent)."""
    origin = request.authority.decode("ascii", "replace")
    how = (
        "for http:// URLs give the transport h2c=True (HTTP/2 with prior knowledge)"
        if request.scheme == b"http"
        else "the server must offer HTTP/2 (ALPN h2) and the transport allow it (http2=True)"
    )
    return ConnectError(
        Code.UNAVAILABLE,
        f"{request.http2_only} needs HTTP/2, but the connection to {origin} is HTTP/1.1: {how}",
        remote=False,
    )


class AsyncTransport:
    """A pool of HTTP connections shared by any number of clients and calls.

    ``http1``/``http2`` choose what TLS connections offer through ALPN;
    ``h2c=True`` speaks HTTP/2 with prior knowledge on ``http://`` URLs (else
    those use HTTP/1.1). ``ssl_context`` replaces the default, which verifies
    against the system trust store; ``ca_certs`` (a PEM path or PEM text) adds
    a CA to it; ``client_cert`` (a PEM path or PEM text, with ``client_key``
    and ``client_key_password`` when the key is separate or encrypted) is
    presented to servers that ask for one; ``server_hostname`` is the name the
    server's certificate is checked against instead of the URL's host;
    ``verify=False`` turns certificate verification off; ``tls_min_version``
    is the lowest TLS version accepted. A context passed as ``ssl_context`` is
    used as given, with the client certificate, ``ca_certs`` and the minimum
    version loaded into it. A TLS failure is an ``UNAVAILABLE`` error whose
    message gives the reason and whose cause is the ``ssl`` exception.

    At most ``max_connections`` connections are open at once; an idle
    connection is kept for ``keepalive_expiry`` seconds. An HTTP/2 connection
    carries as many concurrent streams as the server allows (a second one is
    opened when it allows no more). A call that finds no connection free and
    the limit reached waits (first come, first served) until one frees up, its
    deadline passes or it is cancelled; to make room for another origin, an
    idle connection is closed. ``http2_stream_window`` and
    ``http2_connection_window`` are the receive windows, credited as the
    application reads.

    HTTP/2 keepalive: with ``http2_ping_interval`` (seconds), a connection
    that received nothing for that long sends a PING, while calls are open on
    it (also while it is idle with ``http2_ping_while_idle=True``, which keeps
    middleboxes that drop idle flows from dropping it); without an answer
    within ``http2_ping_timeout`` seconds the connection is closed and its
    calls fail with ``UNAVAILABLE``. Independently, a call whose wait ends
    before its answer came (its deadline, or its caller) makes the connection
    send a PING, and the next call waits briefly for its answer before it
    uses that connection (else it dials a new one).

    ``uds`` is the path of a Unix domain socket every connection is made to
    (the URL still gives the scheme, the ``Host`` and the TLS server name):
    local daemons are often reached that way; with ``h2c=True``, HTTP/2.

    ``proxy`` (a URL: ``http://``, ``https://``, ``socks5://`` or
    ``socks5h://``, with ``user:password@`` for basic or SOCKS5
    authentication) tunnels every connection through that proxy (HTTP
    ``CONNECT``, or SOCKS5 with the name resolved by the proxy), TLS and h2c
    inside the tunnel as without one; an ``https://`` proxy is reached over
    TLS, verified like servers are. ``trust_env=True`` takes the proxy from
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, honouring ``NO_PROXY``
    (``connect_python._io.proxy``).

    ``retries`` (a :class:`~connect_python.RetryPolicy`; ``None``: none) says
    which failed tries a call makes again: by default up to 3 tries of a call
    whose request was never written (the connection could not be made, or
    the server refused the HTTP/2 stream unprocessed), with exponential
    backoff and jitter, within the call's deadline. A request that may have
    reached the server is never sent again.
    """

    def __init__(
        self,
        *,
        http1: bool = True,
        http2: bool = True,
        h2c: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        ca_certs: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        client_key_password: str | bytes | None = None,
        server_hostname: str | None = None,
        tls_min_version: ssl.TLSVersion | None = None,
        verify: bool = True,
        max_connections: int = 100,
        keepalive_expiry: float | None = 60.0,
        connect_timeout: float | None = 30.0,
        network_backend: Any = None,
        http2_stream_window: int = DEFAULT_STREAM_WINDOW,
        http2_connection_window: int = DEFAULT_CONNECTION_WINDOW,
        http2_ping_interval: float | None = None,
        http2_ping_timeout: float = 20.0,
        http2_ping_while_idle: bool = False,
        retries: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (frozen: shared safely)
        uds: str | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        if not (http1 or http2):
            raise ValueError("at least one of http1 and http2 must be enabled")
        if h2c and not http2:
            raise ValueError("h2c needs http2=True")
        self.http1 = http1
        self.http2 = http2
        self.h2c = h2c
        self._tls = TLSOptions(
            http1=http1,
            http2=http2,
            ssl_context=ssl_context,
            ca_certs=ca_certs,
            client_cert=client_cert,
            client_key=client_key,
            client_key_password=client_key_password,
            verify=verify,
            server_hostname=server_hostname,
            min_version=tls_min_version,
        )
        # Made on the first https:// connection: loading the system trust
        # store costs tens of milliseconds.
        self._ssl_context: ssl.SSLContext | None = None
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.connect_timeout = connect_timeout
        self._backend = network_backend or AnyIOBackend()
        self.http2_stream_window = http2_stream_window
        self.http2_connection_window = http2_connection_window
        if http2_ping_interval is not None and http2_ping_interval <= 0:
            raise ValueError("http2_ping_interval must be positive (or None: no keepalive)")
        if http2_ping_timeout <= 0:
            raise ValueError("http2_ping_timeout must be positive")
        self.http2_ping_interval = http2_ping_interval
        self.http2_ping_timeout = http2_ping_timeout
        self.http2_ping_while_idle = http2_ping_while_idle
        self.retries = retries
        self.uds = uds
        if uds is not None and (proxy is not None or trust_env):
            raise ValueError("a Unix socket connection cannot go through a proxy")
        self.proxy = Proxy.parse(proxy) if proxy is not None else None
        self.trust_env = trust_env
        self._pool = AsyncPool(
            self._dial, max_connections=max_connections, h2_http=h2c, h2_https=http2
        )

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of ``https://`` connections (made on first use)."""
        ctx = self._ssl_context
        if ctx is None:
            ctx = self._ssl_context = self._tls.context()
        return ctx

    # -- statistics, for tests and monitoring -------------------------------

    @property
    def num_connections(self) -> int:
        """Open connections (idle or busy)."""
        return self._pool.num_connections

    @property
    def num_idle(self) -> int:
        """Idle HTTP/1.1 connections kept for reuse."""
        return self._pool.num_idle

    # -- exchanges ----------------------------------------------------------------

    async def open_exchange(self, request: Request, scope: CallScope) -> AsyncExchange:
        """Start an exchange: the runtime's entry point (internal: ``scope``
        is the runtime's call scope, its deadline and cancellation).

        With ``request.body`` (bytes) the request goes out whole and this
        returns once the response head arrived (a request an HTTP/2 server
        refused unprocessed is sent again). With ``body=None`` it returns once
        the request head is on its way and the caller sends the body: on
        HTTP/2 full duplex, on HTTP/1.1 the body is finished before the
        response is read. Transport failures raise ``ConnectError``
        (``remote == False``).
        """
        pools = self._pool
        pool = pools.origin(request.scheme, request.host, request.port)
        whole = request.body is not None
        tries = 1
        while True:
            conn: Connection | None = None
            try:
                with scope.step():
                    try:
                        conn = await pools.acquire(pool, scope)
                    except ConnectError as exc:
                        # No connection: nothing of the request was written.
                        if exc.code is Code.UNAVAILABLE and await wait_to_retry(
                            self.retries, tries, scope.deadline
                        ):
                            tries += 1
                            continue
                        raise
                    exchange: AsyncHTTP2Exchange | AsyncHTTP11Exchange
                    if isinstance(conn, AsyncHTTP2Connection):
                        try:
                            exchange = await open_http2_exchange(
                                conn, request, pool.authority, scope
                            )
                        except ConnectionBusy:
                            continue  # another call took its last stream: look again
                        conn = None  # the exchange gives it back
                    else:
                        if request.http2_only:
                            raise _needs_http2(request)  # the connection goes back idle
                        h11conn, conn = conn, None  # the exchange gives it back, even if this fails
                        exchange = await open_http11_exchange(
                            h11conn, request, pool.authority, scope
                        )
                    if not whole:
                        return exchange
                    try:
                        await exchange.receive_response(scope)
                    except BaseException as exc:
                        with shield():
                            await exchange.aclose()
                        if (
                            isinstance(exc, ConnectError)
                            and isinstance(exchange, AsyncHTTP2Exchange)
                            and exchange.refused
                            and await wait_to_retry(self.retries, tries, scope.deadline)
                        ):
                            tries += 1
                            continue  # never processed by the server: safe to send again
                        raise
                    return exchange
            except TRANSPORT_ERRORS as exc:
                if conn is not None:
                    with shield():
                        await pools.release(pool, conn)
                raise transport_error(exc) from transport_cause(exc)
            except BaseException:
                if conn is not None:
                    with shield():
                        await pools.release(pool, conn)
                raise

    async def _dial(self, origin: httpcore.Origin, scope: CallScope) -> Connection:
        """Open a connection to ``origin`` (TCP, then TLS and ALPN for ``https``)."""
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
        uds = self.uds
        via = proxy_for(origin.scheme.decode(), host, self.proxy, self.trust_env)
        try:
            if uds is not None:
                net = await self._backend.connect_unix_socket(uds, timeout=timeout)
            elif via is not None:
                net = await self._backend.connect_tcp(via.host, via.port, timeout=timeout)
            else:
                net = await self._backend.connect_tcp(host, origin.port, timeout=timeout)
        except TRANSPORT_ERRORS as exc:
            if uds is not None:
                raise uds_error(uds, exc, timeout) from exc
            if via is not None:
                raise connect_error(via.host, via.port, exc, timeout, "proxy ") from exc
            raise connect_error(host, origin.port, exc, timeout) from exc
        try:
            if via is not None:
                net = await self._through(net, via, host, origin.port, timeout)
            http2 = False
            if origin.scheme == b"https":
                try:
                    net = await net.start_tls(
                        self.ssl_context,
                        server_hostname=self._tls.server_hostname or host,
                        timeout=timeout,
                    )
                except TRANSPORT_ERRORS as exc:
                    cause = tls_cause(exc)
                    if cause is None:
                        # Reset or closed during the handshake: a failed dial.
                        raise connect_error(host, origin.port, exc, timeout) from exc
                    raise tls_error(cause, host, origin.port) from cause
                ssl_object = net.get_extra_info("ssl_object")
                http2 = negotiated_http2(ssl_object, self.http1, host, origin.port)
            elif self.h2c:
                http2 = True
            conn: Connection
            if http2:
                conn = AsyncHTTP2Connection(
                    net,
                    keepalive_expiry=self.keepalive_expiry,
                    stream_window=self.http2_stream_window,
                    connection_window=self.http2_connection_window,
                    ping_interval=self.http2_ping_interval,
                    ping_timeout=self.http2_ping_timeout,
                    ping_while_idle=self.http2_ping_while_idle,
                )
            else:
                conn = AsyncHTTP11Connection(net, self.keepalive_expiry)
        except BaseException:
            with shield():
                await net.aclose()
            raise
        return conn

    async def _through(
        self, net: Any, via: Proxy, host: str, port: int, timeout: float | None
    ) -> Any:
        """A tunnel to ``host:port`` through the proxy ``net`` is connected to."""
        if via.scheme == "https":
            try:
                net = await net.start_tls(
                    self.ssl_context, server_hostname=via.host, timeout=timeout
                )
            except TRANSPORT_ERRORS as exc:
                cause = tls_cause(exc)
                if cause is None:
                    raise connect_error(via.host, via.port, exc, timeout, "proxy ") from exc
                raise tls_error(cause, via.host, via.port) from cause
        await open_tunnel(net, via, host, port, timeout)
        return net

    async def aclose(self) -> None:
        """Close every connection; calls in progress fail, waiting ones too."""
        await self._pool.aclose()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
