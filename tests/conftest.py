"""Session-wide test setup.

At configure time (before collection): regenerate the runtime packages from
``runtime_async/`` (so tests always see the current source; cheap, it only
writes what changed), the test protos into ``tests/_generated`` (put on
``sys.path``) and the sync twins of the async tests (``tests/twins.py``).

Fixtures:
- ``anyio_backend``: every ``@pytest.mark.anyio`` test runs on asyncio and trio.
- ``test_server``: the Go test server (:class:`_support.ServerInfo`), started
  once per session.
- ``server_mode``: parametrized over h1 / h2c / h2-tls (:class:`_support.ServerMode`).
- ``mode``: the same modes, as plain names (folders may override it).
- ``h2_server``: the frame-level ``h2`` server of ``tests/transport``
  (:class:`transport.h2server.H2TestServer`), one per test.
- ``demo_url``: the URL of the demo server of ``examples/`` (see
  ``_support.demo``), one per test module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from _support import (  # noqa: E402
    MODES,
    ServerInfo,
    ServerMode,
    TestServer,
    add_generated_to_path,
    generate_test_protos,
    server_mode_for,
)


def _regenerate_runtime() -> None:
    import connect_python

    package_dir = Path(connect_python.__file__).resolve().parent
    if package_dir != ROOT / "src" / "connect_python":
        return  # testing an installed wheel: its runtime is already built
    from connect_python.codegen.unasync import build_generated

    build_generated(ROOT)


def pytest_configure(config: pytest.Config) -> None:
    _regenerate_runtime()
    generate_test_protos()
    add_generated_to_path()
    from twins import generate_sync_twins

    generate_sync_twins()


@pytest.fixture(scope="session", params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def test_server() -> Iterator[ServerInfo]:
    with TestServer() as info:
        yield info


@pytest.fixture(params=MODES)
def server_mode(request: pytest.FixtureRequest, test_server: ServerInfo) -> ServerMode:
    return server_mode_for(request.param, test_server)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def h2_server() -> Iterator[Any]:
    from transport.h2server import H2TestServer  # after the test protos are importable

    server = H2TestServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from _support.demo import running_demo

    with running_demo(tmp_path_factory) as (url, _):
        yield url
