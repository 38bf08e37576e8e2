"""Clients for the runtime tests: one per transport mode, on the shared test server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _support.modes import MODES

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

#: Every protocol with every mode it runs over (gRPC needs HTTP/2). A test
#: module that sets ``PROTOCOL_MODES`` (this list, or part of it) runs each
#: test using ``protocol`` or ``mode`` once per pair (``pytest_generate_tests``).
PROTOCOL_MODES = [
    *(("connect", mode) for mode in MODES),
    ("grpc", "h2c"),
    ("grpc", "h2-tls"),
    *(("grpc-web", mode) for mode in MODES),
]


def make_transport(server: Any, mode: str, **kwargs: Any) -> tuple[str, AsyncTransport]:
    """(base URL, transport) for a mode: HTTP/1.1, h2c prior knowledge, or TLS+ALPN h2."""
    if mode == "h1":
        return server.http, AsyncTransport(http2=False, **kwargs)
    if mode == "h2c":
        return server.http, AsyncTransport(h2c=True, **kwargs)
    return server.https, AsyncTransport(ca_certs=server.ca_pem_text, **kwargs)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    pairs = getattr(metafunc.module, "PROTOCOL_MODES", None)
    names = metafunc.fixturenames
    if pairs is not None and "protocol" in names and "mode" in names:
        ids = ["-".join(pair) for pair in pairs]
        metafunc.parametrize(("protocol", "mode"), pairs, ids=ids)


@pytest.fixture
def protocol() -> str:
    """The client's protocol; a module whose tests hold for every protocol
    overrides it and ``mode`` with ``protocol_mode`` (see ``helpers``)."""
    return "connect"


@pytest.fixture
async def transport(test_server: Any, mode: str) -> AsyncIterator[AsyncTransport]:
    _, made = make_transport(test_server, mode)
    async with made:
        yield made


@pytest.fixture
def base_url(test_server: Any, mode: str) -> str:
    return test_server.https if mode == "h2-tls" else test_server.http


@pytest.fixture
async def client(
    base_url: str, transport: AsyncTransport, protocol: str
) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncConnectClient(base_url, transport=transport, protocol=protocol) as made:
        yield made


@pytest.fixture
def h1_server() -> Iterator[Any]:
    """A raw HTTP/1.1 server for what connect-go can't show (see ``h1server``)."""
    from runtime.h1server import H1TestServer  # after the test protos are importable

    with H1TestServer() as server:
        yield server
