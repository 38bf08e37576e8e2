"""Liveness of an HTTP/2 connection: PINGs that tell a silent peer from a
dead one (the base of ``_http2``'s connection class, over the write path).

A peer can vanish without a word (a NAT or middlebox that forgot the flow, a
paused host, a proxy that stopped forwarding): no FIN, no RST, just silence.
Two mechanisms find out:

- **The probe** (always on). When a call's wait ends before what it waited
  for came (its deadline, or its caller), and when a stream is reset (its
  caller left it while the server's answer was still coming: if the
  connection dies then, no call waits to notice), the connection sends a
  PING (``H2State.probe``). It stays
  in the pool: a healthy server that is merely slow answers at once, and the
  next call (:meth:`await_probe`, from the pool) waits briefly for that ACK,
  within its own deadline, before it opens a stream here. Without the ACK
  in time the connection is retired (new calls go to a new one; open
  streams may finish), so a dead connection costs one call's deadline, not
  every following call's.
- **Keepalive** (``ping_interval``). A connection that received nothing for
  ``ping_interval`` seconds sends a PING (only while streams are open,
  unless ``ping_while_idle``, which also keeps middleboxes that drop idle
  flows from doing so); without its ACK within ``ping_timeout`` the
  connection is closed and its calls fail with ``UNAVAILABLE``. The loop runs
  detached (a task, or a thread in the sync flavour) until the connection
  closes; whoever reads the network delivers the ACK (the loop reads itself
  when nobody else does).
"""

from __future__ import annotations

import time
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.h2_state import H2StreamState
from connect_python._io.shim_async import Background, CallScope, Event, current_time

from ._http2_writer import _AsyncHTTP2Writer

__all__ = ["PROBE_WAIT"]

#: The longest a call waits for the ACK of a probe before it uses another
#: connection (also at most half of what is left of its deadline).
PROBE_WAIT = 1.0
_clock = time.perf_counter


class _AsyncHTTP2Liveness(_AsyncHTTP2Writer):
    """PING probe and keepalive (see the module docstring)."""

    def __init__(
        self,
        network_stream: Any,
        *,
        ping_interval: float | None = None,
        ping_timeout: float = 20.0,
        ping_while_idle: bool = False,
    ) -> None:
        super().__init__(network_stream)
        #: When the network last brought input (``_clock()``; the reader sets it).
        self.read_at = _clock()
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ping_while_idle = ping_while_idle
        #: Set when the connection closes: the keepalive loop ends.
        self._closing = Event()
        if ping_interval is not None:
            Background(self._keepalive)

    # -- the probe ------------------------------------------------------------------

    def _probe(self) -> None:
        """A call's wait ended before what it waited for came: send the
        probe PING (see ``H2State.probe``). Locked."""
        if not self._closed:
            self._state.probe()
            self._write_soon()

    def probe_pending(self) -> bool:
        """Whether the ACK of a probe is still due."""
        return self._state.probe_pending() and not self._closed

    async def await_probe(self, scope: CallScope) -> bool:
        """Wait for the ACK of the probe, at most :data:`PROBE_WAIT` and half of
        what is left of ``scope``'s deadline; without it, the connection is
        retired. Whether the ACK came."""
        bound = PROBE_WAIT
        deadline = scope.deadline
        now = current_time()
        if deadline is not None:
            bound = min(bound, max(0.0, deadline - now) / 2)
        if await self._await_ack(self._state.probe_target, now + bound, scope):
            return True
        scope.check()  # the call was cancelled: no fault of the connection
        with self._lock:
            self._state.retired = True
        return False

    async def _await_ack(self, target: int, deadline: float, call: CallScope | None = None) -> bool:
        """Wait until PING ``target`` is acknowledged (reading the network if
        nobody else does), the connection fails, ``deadline`` passes, or
        ``call`` (the waiting call's scope) is cancelled; whether the ACK
        came."""
        state = self._state
        marker = H2StreamState(0)
        marker.life_seen = state.signs_of_life
        scope = CallScope(deadline, cancellable=False)
        if call is not None:
            # A sync wait ends only on the cancel of the scope it runs under
            # (this one, not the call's): the call's cancel must reach it.
            # (Async cancel scopes nest: ``set_abort`` does nothing there.)
            call.set_abort(scope.cancel)

        def ready() -> bool:
            return state.pings_acked >= target or self._closed or state.error is not None

        try:
            with scope.step():
                await self._wait(marker, ready, scope)
        except ConnectError:
            pass  # the deadline, or the call's cancel (the caller checks)
        finally:
            if call is not None:
                call.set_abort(None)
            scope.close()
        return state.pings_acked >= target

    # -- keepalive ------------------------------------------------------------------

    async def _keepalive(self) -> None:
        interval = self._ping_interval
        assert interval is not None
        state = self._state
        while not self._closed and state.error is None:
            quiet = _clock() - self.read_at
            if quiet < interval or not (self._ping_while_idle or state.streams):
                await self._sleep(interval - quiet if quiet < interval else interval)
                continue
            with self._lock:
                target = state.ping()
                self._write_soon()
            timeout = self._ping_timeout
            if not await self._await_ack(target, current_time() + timeout):
                if self._closed or state.error is not None:
                    return
                await self._fail(
                    ConnectError(
                        Code.UNAVAILABLE,
                        f"HTTP/2 connection closed: no answer to a keepalive PING within"
                        f" {timeout:g} s (the peer or the path to it is gone)",
                    )
                )
                return

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or until the connection closes."""
        scope = CallScope(current_time() + seconds, cancellable=False)
        try:
            with scope.step():
                await self._closing.wait()
        except ConnectError:
            pass  # the time is up
        finally:
            scope.close()
