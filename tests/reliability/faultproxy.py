"""A fault-injecting TCP proxy for the reliability suite (loopback only).

:class:`FaultProxy` listens on ``127.0.0.1`` and forwards every connection to
one upstream address. It runs its own asyncio event loop on a daemon thread,
so clients of every flavour (asyncio, trio, threads) can go through it, and it
is steered from any thread with plain method calls.

Faults (``faults.py``, re-exported here) are small objects. Those given to
:meth:`FaultProxy.set_faults` apply to every connection accepted afterwards;
:meth:`FaultProxy.inject` adds a fault to the connections open now (counting
bytes from that moment); :meth:`FaultProxy.heal` removes every fault from the
open connections (stalled data flows again), and no effect of a fault is
carried out once it returns. What a connection does with its faults is in
``faultconn.py``. :attr:`FaultProxy.stats` counts connections and bytes.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any

from reliability.faultconn import Connection
from reliability.faults import (
    DOWN,
    UP,
    Bandwidth,
    Blackhole,
    Direction,
    Fault,
    HalfClose,
    HalfOpen,
    IdleDrop,
    Latency,
    ProxyStats,
    Refuse,
    Reset,
    Stall,
)

__all__ = [
    "DOWN",
    "UP",
    "Bandwidth",
    "Blackhole",
    "Direction",
    "Fault",
    "FaultProxy",
    "HalfClose",
    "HalfOpen",
    "IdleDrop",
    "Latency",
    "ProxyStats",
    "Refuse",
    "Reset",
    "Stall",
]


class FaultProxy:
    """A TCP proxy to ``upstream`` (``(host, port)``) on its own thread."""

    def __init__(self, upstream: tuple[str, int], *, seed: int = 0) -> None:
        self.upstream = upstream
        self.stats = ProxyStats()
        self._faults: list[Fault] = []
        #: How many more accepted connections get ``_faults`` (``None``: all).
        self._faults_left: int | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._conns: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: socket.socket | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name="faultproxy", daemon=True
        )
        self._thread.start()
        ready.result(10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stop = self._stop
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def _main(self, ready: Future[None]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # pragma: no cover - reported to start()
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def _serve(self, ready: Future[None]) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(512)
        server.setblocking(False)
        self._server = server
        self.port = server.getsockname()[1]
        accept = loop.create_task(self._accept_loop(server))
        tasks = self._tasks
        ready.set_result(None)
        await self._stop.wait()
        accept.cancel()
        server.close()
        for conn in list(self._conns):
            conn.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(accept, *tasks, return_exceptions=True)

    async def _accept_loop(self, server: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(server)
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                faults = list(self._faults)
                if self._faults_left is not None:
                    self._faults_left -= 1
                    if self._faults_left <= 0:
                        self._faults, self._faults_left = [], None
                self.stats.accepted += 1
                seed = self._rng.getrandbits(32)
            conn = Connection(self, client, faults, seed)
            # Known to heal() and inject() from now on, in this same step as
            # the copy of the faults: a heal() can't fall between the two.
            self._conns.add(conn)
            self.stats.open += 1
            task = loop.create_task(self._run(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, conn: Connection) -> None:
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass
        finally:
            conn.close()
            self._conns.discard(conn)
            self.stats.open -= 1

    # -- steering (any thread) ----------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        loop = self._loop
        if loop is None:
            raise RuntimeError("proxy not running")
        if threading.current_thread() is self._thread:
            return fn()
        done: Future[Any] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(10)

    def set_faults(self, *faults: Fault, connections: int | None = None) -> None:
        """Faults of every connection accepted from now on (none: a clean
        proxy), or of the next ``connections`` only."""
        with self._lock:
            self._faults = list(faults)
            self._faults_left = connections

    def inject(self, fault: Fault) -> int:
        """Add ``fault`` to every open connection; returns how many it reached."""

        def run() -> int:
            n = 0
            for conn in self._conns:
                if not conn.closed and conn.dirs:
                    conn.add(fault)
                    n += 1
            return n

        result: int = self._call(run)
        return result

    def heal(self) -> None:
        """No faults any more: new connections are clean, stalled data flows."""
        self.set_faults()

        def run() -> None:
            for conn in self._conns:
                conn.heal()

        self._call(run)

    def reset_all(self) -> int:
        """Reset every open connection now; returns how many."""

        def run() -> int:
            conns = [c for c in self._conns if not c.closed]
            for conn in conns:
                conn.abort()
            return len(conns)

        result: int = self._call(run)
        return result

    def snapshot(self) -> ProxyStats:
        result: ProxyStats = self._call(self.stats.copy)
        return result

    # -- called on the proxy's loop -----------------------------------------------------

    def count(self, direction: Direction, n: int) -> None:
        if direction == UP:
            self.stats.bytes_up += n
        else:
            self.stats.bytes_down += n

    def trigger(self, fault: Fault) -> None:
        name = type(fault).__name__
        self.stats.triggered[name] = self.stats.triggered.get(name, 0) + 1
