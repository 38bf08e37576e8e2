"""What both HTTP versions' exchanges share: sending a streamed request body
and reading a whole response body. An exchange is an ``AsyncHTTP11Stream`` or
an ``AsyncHTTP2Stream``; both offer ``request_open``, ``send``,
``end_request``, ``receive`` and ``aclose``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._shim_async import CallScope, shield

__all__ = ["read_all", "send_body"]


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
