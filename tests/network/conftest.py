"""Fixtures of the network tests: the Go test server reached over HTTP/2 (h2c
and TLS), directly or through the fault-injecting proxy of the reliability
suite (which stalls, silences or resets a connection on demand)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from reliability.faultproxy import FaultProxy


@dataclass(frozen=True)
class H2Route:
    """How a test reaches the server over HTTP/2."""

    name: str  # h2c, h2-tls
    scheme: str
    #: Keywords of the transport for this route.
    kwargs: dict[str, Any]
    #: The server's own URL for this route.
    upstream: str


@pytest.fixture(params=["h2c", "h2-tls"])
def h2_route(request: pytest.FixtureRequest, test_server: Any) -> H2Route:
    if request.param == "h2c":
        return H2Route("h2c", "http", {"h2c": True}, test_server.http)
    return H2Route("h2-tls", "https", {"ca_certs": test_server.ca_pem_text}, test_server.https)


@pytest.fixture
def fault_proxy(h2_route: H2Route) -> Iterator[FaultProxy]:
    upstream = urlsplit(h2_route.upstream)
    assert upstream.hostname is not None and upstream.port is not None
    with FaultProxy((upstream.hostname, upstream.port)) as made:
        yield made


@pytest.fixture(params=["h1", "h2c"])
def direct_route(request: pytest.FixtureRequest, test_server: Any) -> tuple[str, dict[str, Any]]:
    """(URL, transport keywords) of the Go test server, over HTTP/1.1 or h2c."""
    if request.param == "h1":
        return test_server.http, {"http2": False}
    return test_server.http, {"h2c": True}
