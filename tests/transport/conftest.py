"""Fixtures of the frame-level transport tests: an ``h2`` server in this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from transport.h2server import H2TestServer


@pytest.fixture
def h2_server() -> Iterator[H2TestServer]:
    server = H2TestServer()
    try:
        yield server
    finally:
        server.close()
