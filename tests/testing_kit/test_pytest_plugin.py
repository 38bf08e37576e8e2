# unasync: skip -- the plugin's two fixtures, one per flavour, each used once here.
"""The testing kit's pytest fixtures, as a user's test suite would use them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from connect_python.testing import AsyncFakeTransport, FakeTransport, HandlerContext


def test_fake_transport_fixture(fake_transport: FakeTransport, envd: SimpleNamespace) -> None:
    pb = envd.process_pb2

    def list_(request: Any, ctx: HandlerContext) -> Any:
        return pb.ListResponse(processes=[pb.ProcessInfo(pid=3)])

    fake_transport.route(envd.process_connect.PROCESS_LIST, list_)
    with envd.process_connect.ProcessClient("http://envd", transport=fake_transport) as client:
        assert [p.pid for p in client.list_(pb.ListRequest()).processes] == [3]


@pytest.mark.anyio
async def test_async_fake_transport_fixture(
    async_fake_transport: AsyncFakeTransport, envd: SimpleNamespace
) -> None:
    pb = envd.process_pb2

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        return pb.ListResponse(processes=[pb.ProcessInfo(pid=4)])

    async_fake_transport.route(envd.process_connect.PROCESS_LIST, list_)
    client = envd.process_connect.AsyncProcessClient("http://envd", transport=async_fake_transport)
    assert [p.pid for p in (await client.list_(pb.ListRequest())).processes] == [4]
