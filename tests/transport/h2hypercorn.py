"""hypercorn, a real ``h2``-based server, for frame-level tests of limits it
enforces (its own ``SETTINGS_MAX_CONCURRENT_STREAMS``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

__all__ = ["HypercornServer"]


async def _hypercorn_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo the request body as a Connect unary answer, 20 ms later (so that
    concurrent calls overlap). EchoRequest and EchoResponse share field 1."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await asyncio.sleep(0.02)
    headers = [(b"content-type", b"application/proto")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HypercornServer:
    """hypercorn (h2c prior knowledge, or HTTP/1.1) on 127.0.0.1, in a thread
    with its own event loop, answering every request with an echo of its body;
    ``max_concurrent_streams`` is advertised and enforced by ``h2``."""

    def __init__(self, *, max_concurrent_streams: int = 100) -> None:
        import hypercorn.config

        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{port}"
        config = hypercorn.config.Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.h2_max_concurrent_streams = max_concurrent_streams
        config.errorlog = None
        config.accesslog = None
        self._config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        assert self._started.wait(10), "hypercorn did not start"
        # Until it accepts connections.
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    async def _serve(self) -> None:
        import hypercorn.asyncio

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        await hypercorn.asyncio.serve(
            _hypercorn_echo, self._config, shutdown_trigger=self._stop.wait
        )

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
