"""What both HTTP versions' exchanges share: sending a streamed request body
and reading a whole response body. An exchange is an ``AsyncHTTP11Stream`` or
an ``AsyncHTTP2Stream``; both offer ``request_open``, ``send``,
``end_request``, ``receive`` and ``aclose``.

Also here, because unary and streaming calls both need it: the rule that a
deadline of an enclosing cancel scope ends as that scope's cancellation
(:func:`await_scope_deadline`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._io.shim_async import CallScope, current_deadline, current_time, shield, sleep
from connect_python.protocol.connect_wire import _HEADER_ROUNDING

__all__ = ["await_scope_deadline", "read_all", "send_body"]

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


async def read_all(stream: Any, scope: CallScope, limit: int | None) -> bytes:
    """The whole response body; more than ``limit`` bytes raise ``RESOURCE_EXHAUSTED``
    (and abandon the exchange)."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.receive(scope)
        if not chunk:
            break
        size += len(chunk)
        if limit is not None and size > limit:
            await stream.aclose()
            raise ConnectError(
                Code.RESOURCE_EXHAUSTED, f"message size is larger than configured max {limit}"
            )
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def send_body(stream: Any, body: AsyncIterable[bytes], scope: CallScope) -> None:
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
