"""Unary calls: one request, one response, over one exchange.

:func:`unary_call` drives a protocol object (``connect_python.protocol``) over
an exchange from the transport: the request goes out whole, the response body
is fed to the protocol, and the protocol's :class:`~connect_python.protocol.End`
gives the message or the server's error. Also here, shared with streaming
calls: :class:`ResponseMetadata`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from connect_python._cancel import CancelToken
from connect_python._errors import ConnectError
from connect_python._headers import Headers
from connect_python._http.request import Request
from connect_python._io.shim_async import CallScope
from connect_python._method import Message
from connect_python.protocol import CallProtocol

from ._deadlines import (
    arm_idle_timer,
    arm_open_timer,
    await_scope_deadline,
    broken_error,
    remote_error,
)
from ._transport import AsyncTransport

__all__ = ["ResponseMetadata", "unary_call"]

Res = TypeVar("Res", bound=Message)


class ResponseMetadata:
    """Receives the response headers and trailers of a unary call.

    Pass one as ``metadata=`` to a unary or client-streaming call; it is filled
    whether the call succeeds or fails.
    """

    __slots__ = ("headers", "http_status", "trailers")

    def __init__(self) -> None:
        self.headers = Headers()
        self.trailers = Headers()
        self.http_status: int | None = None


async def unary_call(
    transport: AsyncTransport,
    request: Request,
    proto: CallProtocol[Any, Res],
    outer: float | None,
    metadata: ResponseMetadata | None,
    cancel: CancelToken | None,
) -> Res:
    """Send ``request`` (its body whole) and return the response message.

    ``outer`` is the enclosing cancel scope's deadline when it is the one the
    request announced; ``cancel`` a token that may cancel the call.
    """
    # One step covers the whole exchange (no cancel scope at all without a
    # deadline, a token or a timer).
    idle = request.idle_timeout is not None
    timers = idle or request.open_timeout is not None
    scope = CallScope(request.deadline, cancellable=cancel is not None or timers)
    if cancel is not None:
        cancel.attach(scope)
    if timers:
        arm_open_timer(scope, request)
    try:
        with scope.step():
            exchange = await transport.open_exchange(request, scope)
            try:
                proto.response_head(exchange.status, exchange.headers)
                while True:
                    if timers:
                        arm_idle_timer(scope, request)
                    chunk = await exchange.receive(scope)
                    if not chunk:
                        break
                    proto.response_data(chunk)
                trailers = exchange.trailers
            finally:
                await exchange.aclose()
    except ConnectError as broke:
        error = broken_error(broke, scope)
        try:
            if error is broke:
                raise
            raise error from broke
        finally:
            # This frame is in the raised error's traceback: a local naming the
            # error is a reference cycle that keeps the call's resources (a sync
            # thread's wake descriptor) until the cyclic GC (reliability R2).
            del error
    finally:
        scope.close()
        if cancel is not None:
            cancel.detach(scope)
    try:
        end = proto.response_end(trailers)
        exc = end.error
    except ConnectError as raised:
        exc = raised
    finally:
        if metadata is not None:
            metadata.headers = proto.response_headers
            metadata.trailers = proto.response_trailers
            metadata.http_status = proto.status
    if exc is None:
        message = end.message
        assert message is not None
        return message
    error = remote_error(exc, scope.call_deadline)
    if outer is not None:
        await await_scope_deadline(error, outer)
    if error is exc:
        raise error
    # A local deadline error: the server's error stays its cause.
    raise error from exc
