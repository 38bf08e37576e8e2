"""Fixtures of the interop tests: a grpcio server (started once per session) and
the generated client of the test service (``testing_connect``, as
``generator_e2e`` makes it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from generator_e2e.conftest import testing_connect

__all__ = ["grpcio_url", "testing_connect"]


@pytest.fixture(scope="session")
def grpcio_url() -> Iterator[str]:
    """The base URL of a grpcio server of the test service (h2c)."""
    from interop.grpc_server import GrpcioServer  # after the test protos are importable

    with GrpcioServer() as server:
        yield server.url
