"""The tracing interceptor (``otel`` extra) with the OpenTelemetry SDK's
in-memory exporter, against the connect-go test server: one client span per
call with the RPC attributes, the outcome, message events for streams, and the
span's context in the request headers as the server received them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from runtime.helpers import CHAT, ECHO, STREAM, UPLOAD, outcome, seen_headers

from connect_python import ConnectError
from connect_python.interceptors import LoggingInterceptor
from connect_python.interceptors.otel import TracingInterceptor
from connect_python.runtime_async import AsyncConnectClient

from .conftest import make_transport

SERVICE = "connectpy.testing.v1.TestService"


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


@pytest.fixture
async def traced(
    test_server: Any, mode: str, exporter: tuple[TracerProvider, InMemorySpanExporter]
) -> AsyncIterator[tuple[AsyncConnectClient, InMemorySpanExporter, TracerProvider]]:
    provider, memory = exporter
    base_url, transport = make_transport(test_server, mode)
    async with transport:
        interceptors = [TracingInterceptor(provider), LoggingInterceptor()]
        client = AsyncConnectClient(base_url, transport=transport, interceptors=interceptors)
        yield client, memory, provider


async def test_unary_span_and_propagated_context(
    traced: tuple[AsyncConnectClient, InMemorySpanExporter, TracerProvider],
    test_server: Any,
) -> None:
    client, memory, provider = traced
    with provider.get_tracer("test").start_as_current_span("parent") as parent:
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"x"))
    (span,) = [s for s in memory.get_finished_spans() if s.name != "parent"]
    assert span.name == f"{SERVICE}/Echo"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["rpc.system"] == "connect_rpc"
    assert attributes["rpc.service"] == SERVICE
    assert attributes["rpc.method"] == "Echo"
    assert attributes["server.address"] == "127.0.0.1"
    assert isinstance(attributes["server.port"], int)
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    context = span.get_span_context()
    # What the server received: this span as the remote parent of its work.
    assert seen_headers(reply)["traceparent"] == [
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    ]


async def test_error_span(
    traced: tuple[AsyncConnectClient, InMemorySpanExporter, TracerProvider],
) -> None:
    client, memory, _ = traced
    with pytest.raises(ConnectError):
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome("permission_denied", "no")))
    (span,) = memory.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "no"
    assert dict(span.attributes or {})["rpc.connect_rpc.error_code"] == "permission_denied"


async def test_stream_spans_with_message_events(
    traced: tuple[AsyncConnectClient, InMemorySpanExporter, TracerProvider],
) -> None:
    client, memory, _ = traced
    async with client.server_stream(STREAM, pb.StreamRequest(count=3)) as call:
        assert len([m async for m in call]) == 3
    await client.client_stream(UPLOAD, [pb.UploadRequest(chunk=b"a")] * 2)
    server_span, upload_span = memory.get_finished_spans()
    assert server_span.name == f"{SERVICE}/Stream"
    assert [(e.name, dict(e.attributes or {})) for e in server_span.events] == [
        ("message", {"message.type": "SENT", "message.id": 1}),
        ("message", {"message.type": "RECEIVED", "message.id": 1}),
        ("message", {"message.type": "RECEIVED", "message.id": 2}),
        ("message", {"message.type": "RECEIVED", "message.id": 3}),
    ]
    kinds = [dict(e.attributes or {})["message.type"] for e in upload_span.events]
    assert kinds == ["SENT", "SENT", "RECEIVED"]


async def test_abandoned_stream_ends_its_span(
    traced: tuple[AsyncConnectClient, InMemorySpanExporter, TracerProvider],
) -> None:
    client, memory, _ = traced
    async with client.server_stream(STREAM, pb.StreamRequest(count=50)) as call:
        await call.receive()
    (span,) = memory.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["rpc.connect_rpc.error_code"] == "canceled"


async def test_bidi_span(
    test_server: Any, exporter: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, memory = exporter
    base_url, transport = make_transport(test_server, "h2c")
    async with transport:
        client = AsyncConnectClient(
            base_url, transport=transport, interceptors=[TracingInterceptor(provider)]
        )
        async with client.bidi_stream(CHAT) as call:
            await call.send(pb.ChatRequest(text="hi"))
            assert (await call.receive()) is not None
            await call.close_send()
            assert (await call.receive()) is None
    (span,) = memory.get_finished_spans()
    assert span.name == f"{SERVICE}/Chat"
    assert [dict(e.attributes or {})["message.type"] for e in span.events] == ["SENT", "RECEIVED"]
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("protocol", ["grpc", "grpc-web"])
async def test_grpc_spans(
    test_server: Any, exporter: tuple[TracerProvider, InMemorySpanExporter], protocol: str
) -> None:
    provider, memory = exporter
    base_url, transport = make_transport(test_server, "h2c")
    async with transport:
        client = AsyncConnectClient(
            base_url,
            transport=transport,
            protocol=protocol,
            interceptors=[TracingInterceptor(provider)],
        )
        reply = await client.unary(ECHO, pb.EchoRequest())
        with pytest.raises(ConnectError):
            await client.unary(ECHO, pb.EchoRequest(outcome=outcome("not_found", "gone")))
    ok, failed = memory.get_finished_spans()
    assert dict(ok.attributes or {})["rpc.system"] == "grpc"
    assert dict(ok.attributes or {})["rpc.grpc.status_code"] == 0
    assert dict(failed.attributes or {})["rpc.grpc.status_code"] == 5  # NOT_FOUND
    assert failed.status.status_code is StatusCode.ERROR
    context = ok.get_span_context()
    assert seen_headers(reply)["traceparent"][0].split("-")[2] == f"{context.span_id:016x}"
