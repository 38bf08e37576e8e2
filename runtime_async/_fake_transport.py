"""``AsyncFakeTransport``: the testing kit's transport. Calls of any client
given it as ``transport=`` are answered in-process by handler functions,
with no socket; everything else about the calls is as over the network
(see ``_fake_exchange``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connect_python._http.request import Request
from connect_python._io.shim_async import CallScope, shield
from connect_python._method import MethodInfo
from connect_python.protocol.connect_server import HandlerContext

from ._exchange import AsyncExchange
from ._fake_exchange import AsyncFakeExchange, Handler, Route
from ._transport import AsyncTransport

__all__ = ["AsyncFakeTransport"]

_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake(name: str) -> str:
    return _WORD.sub("_", name).lower()


class AsyncFakeTransport(AsyncTransport):
    """A transport whose calls are answered by handler functions, in-process.

    Give it to a client as ``transport=`` (any base URL will do) and route
    methods to handlers with :meth:`route` or :meth:`service`. A handler
    takes the request (for client and bidi streams: an async iterator of
    requests) and a :class:`~connect_python.testing.HandlerContext`, and
    returns the response (unary, client stream) or is an async generator of
    responses (server, bidi stream). In the sync flavour handlers are plain
    functions and generators, run in a thread.

    A handler's ``ConnectError`` (code, message, details, metadata) reaches
    the client as the server's error; any other exception reaches it as
    ``UNKNOWN`` and is kept in :attr:`handler_errors`. A method with no
    handler is ``UNIMPLEMENTED`` (an HTTP 404, as from a real server). The
    kit answers in the protocol the client was made with (``protocol=``:
    Connect, gRPC or gRPC-Web; the same handlers serve all three), reads
    compressed requests and sends its responses uncompressed.
    Deadlines and cancellation behave as over the network: the client
    enforces its own deadline, the handler is cancelled at the deadline it
    announced, and abandoning a call (closing a stream early, cancelling
    it) cancels the handler.

    :meth:`aclose` (or leaving ``async with``) cancels the handlers still
    running and waits for them to return.
    """

    def __init__(self, handlers: Mapping[MethodInfo[Any, Any], Handler] | None = None) -> None:
        super().__init__()
        self._routes: dict[str, Route] = {}
        self._live: set[AsyncFakeExchange] = set()
        #: Exceptions handlers raised that were not ``ConnectError``.
        self.handler_errors: list[BaseException] = []
        #: The context of every call a handler answered, in order: what the
        #: client sent (method, headers, deadline) and what came back.
        self.calls: list[HandlerContext] = []
        for method, handler in (handlers or {}).items():
            self.route(method, handler)

    def route(self, method: MethodInfo[Any, Any], handler: Handler) -> None:
        """Answer calls of ``method`` with ``handler`` (replacing any before)."""
        self._routes[method.path] = (method, handler)

    def service(self, implementation: object, *methods: MethodInfo[Any, Any]) -> None:
        """Route each of ``methods`` to the method of ``implementation`` with
        its name in snake case (``ListFiles`` -> ``list_files``, or
        ``list_`` where the name is a builtin, as generated clients name it)."""
        for method in methods:
            name = _snake(method.name)
            handler = getattr(implementation, name, None) or getattr(
                implementation, name + "_", None
            )
            if handler is None:
                raise AttributeError(
                    f"{type(implementation).__name__} has no method {name!r} for {method.path}"
                )
            self.route(method, handler)

    async def open_exchange(self, request: Request, scope: CallScope) -> AsyncExchange:
        """Start an exchange answered by the method's handler (see
        ``AsyncTransport.open_exchange`` for the contract)."""
        path = request.target.split(b"?", 1)[0].decode("latin-1")
        exchange = AsyncFakeExchange(
            request, self._routes.get(path), self.handler_errors, self._live, self.calls
        )
        self._live.add(exchange)
        exchange.start()
        if request.body is not None:
            try:
                await exchange.receive_response(scope)
            except BaseException:
                with shield():
                    await exchange.aclose()
                raise
        return exchange

    async def aclose(self) -> None:
        """Cancel the handlers still running and wait for them to return."""
        with shield():
            while self._live:
                exchange = self._live.pop()
                await exchange.aclose()
                await exchange.wait_server()
        await super().aclose()

    async def __aenter__(self) -> AsyncFakeTransport:
        return self
