"""Fixtures of the reliability suite: the routes to the Go test server, a
fault proxy in front of it, and the generated client of the test service
(``testing_connect``: the scenarios call through it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from reliability.accounting import record, summary_lines
from reliability.faultproxy import FaultProxy

from .helpers import Route

ROUTES = ("h1", "h2c", "h2-tls")


def route_for(name: str, server: Any) -> tuple[Route, str]:
    """(route, upstream URL) of a route name."""
    if name == "h1":
        return Route(name, "http", {"http2": False}, duplex=False), server.http
    if name == "h2c":
        return Route(name, "http", {"h2c": True}, duplex=True), server.http
    return Route(name, "https", {"ca_certs": server.ca_pem_text}, duplex=True), server.https


@pytest.fixture(params=ROUTES)
def route_name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def route(route_name: str, test_server: Any) -> Route:
    return route_for(route_name, test_server)[0]


@pytest.fixture
def proxy(route_name: str, test_server: Any) -> Iterator[FaultProxy]:
    upstream = urlsplit(route_for(route_name, test_server)[1])
    assert upstream.hostname is not None and upstream.port is not None
    with FaultProxy((upstream.hostname, upstream.port)) as made:
        yield made


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the soak, load and scenario figures of the run (once, though the
    sync twin of this conftest defines the hook again)."""
    lines = summary_lines()
    if lines:
        terminalreporter.section("reliability")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Record each fuzz property's result and example count with the figures."""
    outcome = yield
    report = outcome.get_result()
    examples = getattr(getattr(item, "module", None), "EXAMPLES", None)
    if report.when == "call" and examples is not None and "fuzz" in item.nodeid:
        record("fuzz", {"test": item.name, "examples": examples, "result": report.outcome})


# The generated client module of the test service (made once per session by the plugin).
from generator_e2e.conftest import testing_connect  # noqa: E402, F401
