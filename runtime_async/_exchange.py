"""The exchange: one HTTP request and its response, as both HTTP versions
carry it (:class:`AsyncExchange`, implemented by ``_http11`` and
``_http2_exchange``), and sending a streamed request body over any exchange
(:func:`send_body`).

Also here, because unary and streaming calls both need it: the rule that a
deadline of an enclosing cancel scope ends as that scope's cancellation
(:func:`await_scope_deadline`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Protocol

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._io.shim_async import CallScope, current_deadline, current_time, shield, sleep
from connect_python.protocol.connect_response import HEADER_ROUNDING as _HEADER_ROUNDING

__all__ = [
    "AsyncExchange",
    "RawHeaders",
    "ReleaseHook",
    "await_scope_deadline",
    "send_body",
]

RawHeaders = list[tuple[bytes, bytes]]


class ReleaseHook(Protocol):
    """The pool's hook on a connection, awaited whenever one of its
    exchanges ended (the connection is free again, or closed)."""

    async def __call__(self) -> None: ...


class AsyncExchange(Protocol):
    """One HTTP request/response on a pooled connection (from
    ``AsyncTransport.open_exchange``).

    ``status`` and ``headers`` are set once :meth:`receive_response` returned,
    ``trailers`` once :meth:`receive` returned ``b""``. While ``request_open``,
    request body goes out with :meth:`send` and ends with :meth:`end_request`.
    ``full_duplex``: the response may be read while the request is open
    (HTTP/2); else the request is finished first (HTTP/1.1). :meth:`aclose`
    ends the exchange (abandoning what is left of it) and gives the
    connection back; it is idempotent. Every method that waits takes the
    call's scope (deadline, cancellation).
    """

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> RawHeaders: ...

    @property
    def trailers(self) -> RawHeaders: ...

    @property
    def full_duplex(self) -> bool: ...

    @property
    def request_open(self) -> bool:
        """Whether request body may still be sent."""
        ...

    async def send(self, data: bytes, scope: CallScope, end: bool = False) -> None:
        """Send request body bytes (``end``: and finish the request)."""
        ...

    async def end_request(self, scope: CallScope) -> None:
        """Finish the request body (nothing if it is finished)."""
        ...

    async def receive_response(self, scope: CallScope) -> None:
        """Wait for the response head (sets ``status`` and ``headers``)."""
        ...

    async def receive(self, scope: CallScope) -> bytes:
        """Response body bytes (what arrived, waiting for some if nothing
        did); ``b""`` at the end, when ``trailers`` are set."""
        ...

    async def aclose(self) -> None:
        """End the exchange and give its connection back."""
        ...


_DEADLINE_CODES = (Code.DEADLINE_EXCEEDED, Code.CANCELED)
#: How long past the scope's deadline the wait goes on before giving up on it.
_SCOPE_SLACK = 0.05


async def await_scope_deadline(error: ConnectError, outer: float) -> None:
    """Before a server's deadline error is raised: let the enclosing cancel
    scope whose deadline (``outer``) the call announced cancel the call instead.

    The server enforces the announced ``Connect-Timeout-Ms``, rounded down to
    whole milliseconds, so its deadline error may arrive a moment before the
    scope's deadline. When it does, this waits until the scope fires (at most
    the rounding away), so leaving the scope is a cancellation, never an error.
    Returns at once (the error is the server's answer) for any other error, for
    one that arrives well before the deadline, and when the scope's deadline
    was moved away; returns after a short slack if the scope did not fire.
    """
    if not error.remote or error.code not in _DEADLINE_CODES:
        return
    now = current_time()
    if now < outer - _HEADER_ROUNDING:
        return
    deadline = current_deadline()
    if deadline is None or deadline > outer + _HEADER_ROUNDING:
        return
    await sleep(max(deadline - now, 0.0) + _SCOPE_SLACK)


async def send_body(stream: AsyncExchange, body: AsyncIterable[bytes], scope: CallScope) -> None:
    """Send a streamed request body, then finish it (stops early if the
    server already answered). The body iterator is closed in any case.

    Each message is written as soon as the iterator produces it: a slow
    producer (stdin) is never delayed. (A list or tuple of requests arrives
    here already packed into 64 KiB writes.)
    """
    try:
        async for chunk in body:
            if not stream.request_open:
                break
            await stream.send(chunk, scope)
        await stream.end_request(scope)
    finally:
        close = getattr(body, "aclose", None)
        if close is not None:
            with shield():
                await close()
