"""Helpers of the interceptor tests: transports for each mode (the root
conftest's ``mode``) on the connect-go test server, and the generated client
of tests/generator_e2e. The ``h2`` frame server is the root conftest's
``h2_server``."""

from __future__ import annotations

from typing import Any

from connect_python.runtime_async import AsyncTransport


def make_transport(server: Any, mode: str) -> tuple[str, AsyncTransport]:
    """(base URL, transport) for a mode: HTTP/1.1, h2c prior knowledge, or TLS+ALPN h2."""
    if mode == "h1":
        return server.http, AsyncTransport(http2=False)
    if mode == "h2c":
        return server.http, AsyncTransport(h2c=True)
    return server.https, AsyncTransport(ca_certs=server.ca_pem_text)


# The generated client of the test service (made once per session by the plugin).
from generator_e2e.conftest import testing_connect  # noqa: E402, F401
