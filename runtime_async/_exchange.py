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
from connect_python._shim_async import PEEKS_READY, CallScope, anext_nowait, shield

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

    Messages that are ready at once go out together, up to 64 KiB per write
    (one write, one HTTP/2 DATA frame); before waiting for the next message,
    what was collected is written, so a slow producer (stdin) is never delayed.
    """
    iterator = body.__aiter__()
    batch: list[bytes] = []
    size = 0
    try:
        while stream.request_open:
            if batch and not PEEKS_READY:
                # This flavour cannot tell a ready item from one that blocks.
                await stream.send(b"".join(batch), scope)
                batch.clear()
                size = 0
            try:
                ready, got = anext_nowait(iterator)
                if not ready:
                    if batch:
                        await stream.send(b"".join(batch), scope)
                        batch.clear()
                        size = 0
                    got = await got
            except StopAsyncIteration:
                break
            batch.append(got)
            size += len(got)
            if size >= _BATCH_BYTES:
                await stream.send(b"".join(batch), scope)
                batch.clear()
                size = 0
        if batch and stream.request_open:
            await stream.send(b"".join(batch), scope)
        await stream.end_request(scope)
    finally:
        close = getattr(body, "aclose", None)
        if close is not None:
            with shield():
                await close()


_BATCH_BYTES = 64 * 1024
