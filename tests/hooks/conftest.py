"""Fixtures of the interceptor tests: clients on the connect-go test server
(every transport mode; the ``h2`` frame server of tests/transport is the root
conftest's ``h2_server``)."""

from __future__ import annotations

from typing import Any

import pytest

from connect_python.runtime_async import AsyncTransport

MODES = ("h1", "h2c", "h2-tls")


def make_transport(server: Any, mode: str) -> tuple[str, AsyncTransport]:
    """(base URL, transport) for a mode: HTTP/1.1, h2c prior knowledge, or TLS+ALPN h2."""
    if mode == "h1":
        return server.http, AsyncTransport(http2=False)
    if mode == "h2c":
        return server.http, AsyncTransport(h2c=True)
    return server.https, AsyncTransport(ca_certs=server.ca_pem_text)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


# The generated client of the test service (made once per session by the plugin).
from generator_e2e.conftest import testing_connect  # noqa: E402, F401
