"""The connection pool: which connection an exchange uses.

Per origin, a list of idle HTTP/1.1 connections and a short list of HTTP/2
connections (each carrying as many concurrent streams as its server allows),
so the scheduling is O(1) per exchange instead of a scan of every connection.
At most ``max_connections`` are open or being dialled at once; an exchange
that finds none free waits, first come first served, on its origin (and, when
the limit is what stops it, for any connection to free up, an idle one of
another origin being closed to make room). An origin expected to speak HTTP/2
is dialled once at a time (its streams are shared); one whose server chose
HTTP/1.1 through ALPN is dialled in parallel.

The pool knows nothing of how a connection is made (the transport's ``dial``)
nor of what is sent on it; a connection hands itself back through its
``on_release`` hook when one of its exchanges ended.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpcore

from connect_python._http.request import authority_of
from connect_python._io.errors import TRANSPORT_ERRORS
from connect_python._io.shim_async import CallScope, Event, StateLock, shield

from ._http2 import AsyncHTTP2Connection
from ._http11 import AsyncHTTP11Connection

__all__ = ["AsyncPool", "Connection", "Dial", "OriginPool"]

Connection = AsyncHTTP11Connection | AsyncHTTP2Connection


class Dial(Protocol):
    """Opens a connection to an origin, within a call's scope (the transport's)."""

    async def __call__(self, origin: httpcore.Origin, scope: CallScope, /) -> Connection: ...


_Origin = tuple[bytes, bytes, int]


class OriginPool:
    """The connections of one origin (scheme, host, port)."""

    __slots__ = (
        "authority",
        "dialling",
        "h1_only",
        "h2",
        "h2_expected",
        "idle",
        "origin",
        "waiters",
    )

    def __init__(self, origin: httpcore.Origin, h2_expected: bool) -> None:
        self.origin = origin
        #: ``host[:port]``, as requests to this origin carry it.
        self.authority = authority_of(origin.scheme, origin.host, origin.port)
        #: Whether a new connection is expected to speak HTTP/2.
        self.h2_expected = h2_expected
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

    def __init__(self, pool: OriginPool) -> None:
        self.event = Event()
        self.pool = pool
        self.target: OriginPool | None = None
        self.woken = False


# What the pool hands a call (see ``AsyncPool._choose``).
_H2, _H11, _SETTINGS, _DIAL, _WAIT, _WAIT_ORIGIN = range(6)


class AsyncPool:
    """The connections of a transport (see the module docstring).

    ``dial`` opens a connection; ``h2_http``/``h2_https`` say whether a new
    connection to an ``http://``/``https://`` origin is expected to speak
    HTTP/2 (the dial has the last word: ALPN).
    """

    def __init__(self, dial: Dial, *, max_connections: int, h2_http: bool, h2_https: bool) -> None:
        self._dial_connection = dial
        self.max_connections = max_connections
        self._h2_http = h2_http
        self._h2_https = h2_https
        self._origins: dict[_Origin, OriginPool] = {}
        self._conns: set[Connection] = set()
        #: Connections open or being dialled (what ``max_connections`` limits).
        self._count = 0
        #: Calls waiting for a connection to free up anywhere (oldest first).
        self._waiters: dict[_Waiter, None] = {}
        #: Guards the pool's state between threads (sync); never held across I/O.
        self._lock = StateLock()
        self._closed = False

    @property
    def num_connections(self) -> int:
        """Open connections (idle or busy; one that failed or was closed,
        such as by its keepalive, no longer counts)."""
        return sum(
            1
            for conn in list(self._conns)
            if not (isinstance(conn, AsyncHTTP2Connection) and conn.is_closed())
        )

    @property
    def num_idle(self) -> int:
        """Idle HTTP/1.1 connections kept for reuse."""
        return sum(len(o.idle) for o in self._origins.values())

    def origin(self, scheme: bytes, host: bytes, port: int) -> OriginPool:
        """The pool of an origin (made on first use)."""
        key = (scheme, host, port)
        pool = self._origins.get(key)
        if pool is None:
            with self._lock:
                pool = self._origins.get(key)
                if pool is None:
                    h2_expected = self._h2_http if scheme == b"http" else self._h2_https
                    origin = httpcore.Origin(scheme, host, port)
                    pool = self._origins[key] = OriginPool(origin, h2_expected)
        return pool

    def _choose(self, pool: OriginPool, stale: list[Connection]) -> tuple[int, Any]:
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
        h2_origin = pool.h2_expected and not pool.h1_only
        if h2_origin and pool.dialling:
            return _WAIT_ORIGIN, None
        if self._count < self.max_connections or self._evict(pool, stale):
            self._count += 1
            if h2_origin:
                pool.dialling += 1
            return _DIAL, h2_origin
        return _WAIT, None

    def _forget(self, conn: Connection) -> bool:
        """Stop counting ``conn`` (locked); whether it was counted."""
        if conn in self._conns:
            self._conns.discard(conn)
            self._count -= 1
            return True
        return False

    def _evict(self, pool: OriginPool, stale: list[Connection]) -> bool:
        """At the limit: give up an idle connection to another origin (locked)."""
        for other in self._origins.values():
            if other is pool:
                continue
            victim: Connection | None = None
            if other.idle:
                victim = other.idle.pop(0)
            else:
                for h2conn in other.h2:
                    # (Another thread may be about to open a stream on it.)
                    if h2conn.retire_if_idle():
                        other.h2.remove(h2conn)
                        victim = h2conn
                        break
            if victim is not None and self._forget(victim):
                stale.append(victim)
                return True
        return False

    def _wait_for(self, pool: OriginPool, anywhere: bool) -> _Waiter:
        """Queue a waiter (locked): on ``pool``, and for any free connection
        when ``anywhere``."""
        waiter = _Waiter(pool)
        pool.waiters[waiter] = None
        if anywhere:
            self._waiters[waiter] = None
        return waiter

    def _wake(self, pool: OriginPool | None) -> None:
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

    async def acquire(self, pool: OriginPool, scope: CallScope) -> Connection:
        """A connection for an exchange with ``pool``'s origin: an HTTP/2 one
        with a free stream, an idle HTTP/1.1 one (now busy), or a new one;
        waits (with ``scope``) while there is none."""
        while True:
            stale: list[Connection] = []
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
                # _choose found it available; what follows may change that
                # (another thread's stream on it is open_stream's to see).
                available = True
                if h2conn.is_idle() and await h2conn.refresh():
                    # Input arrived while it was idle (a GOAWAY, EOF).
                    available = h2conn.is_available()
                if available and h2conn.probe_pending():
                    # A call's deadline found the peer silent: is it there?
                    # Without the PING's ACK soon, the connection is retired.
                    await h2conn.await_probe(scope)
                    available = h2conn.is_available()
                if available and not h2conn.has_expired():
                    if pool.waiters:
                        with self._lock:
                            if h2conn.is_available():
                                self._wake(pool)  # more streams to take here
                    return h2conn
                if not h2conn.is_usable() or h2conn.has_expired():
                    with self._lock:
                        if h2conn in pool.h2:
                            pool.h2.remove(h2conn)
                    # In use by another call (a stream another thread opened
                    # since): that call ends first, and release() closes the
                    # connection then.
                    if h2conn.retire() or h2conn.is_closed():
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

    async def _dial(self, pool: OriginPool, scope: CallScope, h2_origin: bool) -> Connection:
        """Open a connection; the pool already counted it (``_choose``), and
        ``h2_origin`` says it counts as the origin's one HTTP/2 dial."""
        try:
            conn = await self._dial_connection(pool.origin, scope)
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
                conn.on_release = _Release(self, pool, conn)
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

    async def _discard(self, conn: Connection) -> None:
        with self._lock:
            if self._forget(conn):
                self._wake(None)  # room for a dial, for any origin
        await _close_quietly(conn)

    def take_back(self, pool: OriginPool, conn: Connection) -> bool:
        """Take ``conn`` back after one of its exchanges ended; ``False``:
        it is to be closed (:meth:`discard`)."""
        if isinstance(conn, AsyncHTTP2Connection):
            # Unusable first, then idle: no stream opens on an unusable one.
            if conn.is_closed() or ((self._closed or not conn.is_usable()) and conn.is_idle()):
                with self._lock:
                    if conn in pool.h2:
                        pool.h2.remove(conn)
                return False
            if pool.waiters or self._waiters:
                with self._lock:
                    self._wake(pool)  # a stream is free
            return True
        if conn.is_idle() and not self._closed:
            with self._lock:
                if not self._closed and conn in self._conns:
                    pool.idle.append(conn)
                    self._wake(pool)
                    return True
        return False

    async def release(self, pool: OriginPool, conn: Connection) -> None:
        """Take ``conn`` back, or close it (a connection no exchange got)."""
        if not self.take_back(pool, conn):
            await self._discard(conn)

    # -- requests ---------------------------------------------------------------

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


class _Release:
    """A connection's :class:`~._exchange.ReleaseHook` into this pool."""

    __slots__ = ("_conn", "_origin", "_pools")

    def __init__(self, pools: AsyncPool, origin: OriginPool, conn: Connection) -> None:
        self._pools = pools
        self._origin = origin
        self._conn = conn

    def take_back(self) -> bool:
        return self._pools.take_back(self._origin, self._conn)

    async def discard(self) -> None:
        await self._pools._discard(self._conn)


async def _close_quietly(conn: Connection) -> None:
    try:
        await conn.aclose()
    except TRANSPORT_ERRORS:
        pass
