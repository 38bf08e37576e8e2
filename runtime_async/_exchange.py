"""The exchange: one HTTP request and its response, as both HTTP versions
carry it (:class:`AsyncExchange`, implemented by ``_http11`` and
``_http2_exchange``). A streamed request body is sent over any exchange by
``_sender.send_body``.
"""

from __future__ import annotations

from typing import Protocol

from connect_python._io.shim_async import CallScope

__all__ = [
    "AsyncExchange",
    "RawHeaders",
    "ReleaseHook",
]

RawHeaders = list[tuple[bytes, bytes]]


class ReleaseHook(Protocol):
    """The pool's hook on a connection, called whenever one of its
    exchanges ended (the connection is free again, or closed).

    Taking a connection back needs no waiting; only closing one does, which
    is rare. Split in two, the common case needs no shielded cancel scope
    (on trio that scope costs more than the rest of the bookkeeping).
    """

    def take_back(self) -> bool:
        """Take the connection back; ``False``: it is to be closed, with
        :meth:`discard` (under a shield: it must happen)."""
        ...

    async def discard(self) -> None:
        """Close the connection and forget it."""
        ...


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
