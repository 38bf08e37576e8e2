"""The shipped interceptors against the connect-go test server: default headers
(a call's own header wins) and logging (records, levels, no bodies unless asked)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb
from runtime.helpers import ECHO, STREAM, UPLOAD, outcome, seen_headers

from connect_python import Code, ConnectError
from connect_python.interceptors import DefaultHeaders, LoggingInterceptor
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

from .conftest import make_transport
from .helpers import Event, Recorder

LOGGER = "connect_python.calls"
SECRET = b"secret-payload"


@pytest.fixture
async def transport(test_server: Any, mode: str) -> AsyncIterator[tuple[str, AsyncTransport]]:
    base_url, made = make_transport(test_server, mode)
    async with made:
        yield base_url, made


async def test_default_headers_per_call_wins(transport: tuple[str, AsyncTransport]) -> None:
    base_url, pool = transport
    defaults = DefaultHeaders(
        [
            ("user-agent", "sdk/1.0"),
            ("x-access-token", "default"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ]
    )
    client = AsyncConnectClient(base_url, transport=pool, interceptors=[defaults])
    reply = await client.unary(
        ECHO, pb.EchoRequest(), headers={"x-access-token": "per-call", "authorization": "Bearer t"}
    )
    seen = seen_headers(reply)
    assert seen["x-access-token"] == ["per-call"]
    assert seen["authorization"] == ["Bearer t"]
    assert seen["user-agent"] == ["sdk/1.0"]
    assert seen["x-multi"] == ["1", "2"]
    # A call without headers of its own gets every default.
    plain = seen_headers(await client.unary(ECHO, pb.EchoRequest()))
    assert plain["x-access-token"] == ["default"]


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def logged_client(
    transport: tuple[str, AsyncTransport],
    caplog: pytest.LogCaptureFixture,
    level: int,
    log: LoggingInterceptor | None = None,
    logger: str = LOGGER,
) -> AsyncConnectClient:
    """A client with ``log`` (by default a ``LoggingInterceptor()``), the
    records of ``logger`` from ``level`` up captured."""
    base_url, pool = transport
    caplog.set_level(level, logger=logger)
    interceptor = LoggingInterceptor() if log is None else log
    return AsyncConnectClient(base_url, transport=pool, interceptors=[interceptor])


async def test_logging_unary(
    transport: tuple[str, AsyncTransport], caplog: pytest.LogCaptureFixture
) -> None:
    client = logged_client(transport, caplog, logging.DEBUG)
    await client.unary(ECHO, pb.EchoRequest(payload=SECRET))
    got = records(caplog)
    assert [(r.levelno, r.getMessage().split(" in ")[0]) for r in got] == [
        (logging.INFO, "rpc connectpy.testing.v1.TestService/Echo started (unary)"),
        (logging.DEBUG, "rpc connectpy.testing.v1.TestService/Echo sent message 1 (EchoRequest)"),
        (
            logging.DEBUG,
            "rpc connectpy.testing.v1.TestService/Echo received message 1 (EchoResponse)",
        ),
        (logging.INFO, "rpc connectpy.testing.v1.TestService/Echo ended ok"),
    ]
    end = got[-1]
    assert end.rpc_code == "ok" and end.rpc_method == "connectpy.testing.v1.TestService/Echo"  # type: ignore[attr-defined]
    assert end.duration_ms >= 0.0  # type: ignore[attr-defined]
    assert all("secret" not in r.getMessage() for r in got)


async def test_logging_errors_and_streams(
    transport: tuple[str, AsyncTransport], caplog: pytest.LogCaptureFixture
) -> None:
    log = LoggingInterceptor(error_level=logging.WARNING)
    client = logged_client(transport, caplog, logging.DEBUG, log)
    with pytest.raises(ConnectError):
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome("not_found", "gone")))
    end = records(caplog)[-1]
    assert end.levelno == logging.WARNING
    assert end.rpc_code == "not_found"  # type: ignore[attr-defined]
    assert end.getMessage().endswith(": gone")
    caplog.clear()
    async with client.server_stream(STREAM, pb.StreamRequest(count=3)) as call:
        assert len([m async for m in call]) == 3
    got = records(caplog)
    received = [r for r in got if "received message" in r.getMessage()]
    assert [r.levelno for r in received] == [logging.DEBUG] * 3
    assert got[0].getMessage().endswith("started (server stream)")
    assert got[-1].rpc_code == "ok"  # type: ignore[attr-defined]
    caplog.clear()
    reply = await client.client_stream(UPLOAD, [pb.UploadRequest(chunk=b"x")] * 2)
    assert reply.messages == 2
    sent = [r for r in records(caplog) if "sent message" in r.getMessage()]
    assert len(sent) == 2


async def test_logging_bodies_only_when_asked(
    transport: tuple[str, AsyncTransport], caplog: pytest.LogCaptureFixture
) -> None:
    log = LoggingInterceptor("sdk.rpc", log_bodies=True, body_chars=20)
    client = logged_client(transport, caplog, logging.DEBUG, log, logger="sdk.rpc")
    await client.unary(ECHO, pb.EchoRequest(payload=SECRET))
    sent = [r.getMessage() for r in caplog.records if "sent message" in r.getMessage()]
    assert len(sent) == 1 and sent[0].endswith(': payload: "secret-pay...')


async def test_logging_at_info_has_no_message_records(
    transport: tuple[str, AsyncTransport], caplog: pytest.LogCaptureFixture
) -> None:
    client = logged_client(transport, caplog, logging.INFO)
    async with client.server_stream(STREAM, pb.StreamRequest(count=3)) as call:
        assert len([m async for m in call]) == 3
    got = records(caplog)
    assert [r.levelno for r in got] == [logging.INFO, logging.INFO]
    assert got[-1].rpc_code == "ok"  # type: ignore[attr-defined]


async def test_logging_a_cancelled_stream(
    transport: tuple[str, AsyncTransport], caplog: pytest.LogCaptureFixture
) -> None:
    client = logged_client(transport, caplog, logging.INFO)
    async with client.server_stream(STREAM, pb.StreamRequest(count=50)) as call:
        await call.receive()
    assert records(caplog)[-1].rpc_code == Code.CANCELED.value  # type: ignore[attr-defined]


async def test_generated_client_takes_interceptors_and_status_map(
    transport: tuple[str, AsyncTransport], testing_connect: Any
) -> None:
    base_url, pool = transport
    log: list[Event] = []
    async with testing_connect.AsyncTestServiceClient(
        base_url,
        transport=pool,
        interceptors=[DefaultHeaders({"x-sdk": "1"}), Recorder("r", log)],
        http_status_codes={502: Code.UNAVAILABLE, 404: Code.NOT_FOUND},
    ) as client:
        reply = await client.echo(pb.EchoRequest())
        assert seen_headers(reply)["x-sdk"] == ["1"]
        async with client.stream(pb.StreamRequest(count=2)) as call:
            assert len([m async for m in call]) == 2
        with pytest.raises(ConnectError) as info:
            await client.echo(pb.EchoRequest(), headers={"x-test-raw": "http_404"})
        assert info.value.code is Code.NOT_FOUND
    assert [value[0] for _, event, value in log if event == "end"][:2] == [None, None]
