"""The testing kit answering clients made with ``protocol="grpc"`` and
``"grpc-web"``: the handlers are the same as for Connect; the kit speaks the
protocol the client chose (enveloped unary calls, the status in HTTP trailers
or in the trailers frame, ``grpc-timeout``, ``grpc-encoding``). On asyncio and
trio; the sync twin runs the sync clients through ``FakeTransport``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from _support.concurrency.shim_async import Event, current_time
from google.protobuf import duration_pb2

from connect_python import Code, ConnectError, ErrorDetail, Headers
from connect_python.runtime_async import ResponseMetadata
from connect_python.testing import AsyncFakeTransport, HandlerContext

pytestmark = pytest.mark.anyio

URL = "http://envd.test:49983"


@pytest.fixture(params=["grpc", "grpc-web"])
def protocol(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


async def test_unary_headers_and_trailers(envd: SimpleNamespace, protocol: str) -> None:
    pb = envd.process_pb2
    seen: list[HandlerContext] = []

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        seen.append(ctx)
        ctx.response_headers.set("x-served-by", "fake")
        ctx.response_trailers.set("x-count", "1")
        ctx.response_trailers.set("x-raw-bin", "AAE")
        return pb.ListResponse(processes=[pb.ProcessInfo(pid=1, tag=request.__class__.__name__)])

    async with AsyncFakeTransport({envd.process_connect.PROCESS_LIST: list_}) as transport:
        client = envd.process_connect.AsyncProcessClient(
            URL, transport=transport, protocol=protocol, headers={"x-access-token": "secret"}
        )
        metadata = ResponseMetadata()
        listing = await client.list_(pb.ListRequest(), metadata=metadata, timeout=5)
    assert [p.tag for p in listing.processes] == ["ListRequest"]
    (ctx,) = seen
    assert ctx.request_headers["content-type"] == f"application/{protocol}+proto"
    assert ctx.request_headers["x-access-token"] == "secret"
    assert ctx.timeout is not None and 0 < ctx.timeout <= 5  # from grpc-timeout
    assert metadata.headers["x-served-by"] == "fake"
    assert metadata.trailers["x-count"] == "1"
    assert metadata.trailers.get_bin("x-raw-bin") == b"\x00\x01"
    assert "grpc-status" not in metadata.trailers


async def test_streams(envd: SimpleNamespace, protocol: str) -> None:
    pb = envd.process_pb2
    received: list[bytes] = []
    encodings: list[str | None] = []

    async def start(request: Any, ctx: HandlerContext) -> AsyncIterator[Any]:
        ctx.response_headers.set("x-pid", "7")
        event = pb.ProcessEvent
        yield pb.StartResponse(event=event(start=event.StartEvent(pid=7)))
        yield pb.StartResponse(event=event(end=event.EndEvent(exit_code=0, exited=True)))
        ctx.response_trailers.set("x-exit", "0")

    async def stream_input(requests: AsyncIterator[Any], ctx: HandlerContext) -> Any:
        encodings.append(ctx.request_headers.get("grpc-encoding"))
        async for request in requests:
            received.append(request.data.input.stdin)
        return pb.StreamInputResponse()

    big = pb.StreamInputRequest(data=pb.StreamInputRequest.DataEvent(input={"stdin": b"x" * 5000}))
    routes = {
        envd.process_connect.PROCESS_START: start,
        envd.process_connect.PROCESS_STREAM_INPUT: stream_input,
    }
    async with (
        AsyncFakeTransport(routes) as transport,
        envd.process_connect.AsyncProcessClient(
            URL, transport=transport, protocol=protocol, send_compression="gzip"
        ) as client,
    ):
        async with client.start(pb.StartRequest()) as call:
            got = [r.event.WhichOneof("event") async for r in call]
            assert call.response_headers["x-pid"] == "7"
            assert call.response_trailers["x-exit"] == "0"
        await client.stream_input([big, big])
    assert got == ["start", "end"]
    assert received == [b"x" * 5000] * 2
    assert encodings == ["gzip"]


async def test_bidi_is_full_duplex(testing_connect: ModuleType, protocol: str) -> None:
    from connectpy.testing.v1 import testing_pb2 as pb

    async def chat(requests: AsyncIterator[Any], ctx: HandlerContext) -> AsyncIterator[Any]:
        index = 0
        async for request in requests:
            yield pb.ChatResponse(text=request.text.upper(), index=index)
            index += 1

    async with (
        AsyncFakeTransport({testing_connect.TEST_SERVICE_CHAT: chat}) as transport,
        testing_connect.AsyncTestServiceClient(
            URL, transport=transport, protocol=protocol
        ) as client,
        client.chat() as call,
    ):
        for n, text in enumerate(("a", "b")):
            await call.send(pb.ChatRequest(text=text))
            answer = await call.receive()
            assert answer is not None
            assert (answer.text, answer.index) == (text.upper(), n)
        await call.close_send()
        assert await call.receive() is None


async def test_errors_with_details_and_metadata(envd: SimpleNamespace, protocol: str) -> None:
    pb = envd.process_pb2
    detail = duration_pb2.Duration(seconds=3)

    def error() -> ConnectError:
        return ConnectError(
            Code.NOT_FOUND,
            "no process 9: 100% gone",
            details=[ErrorDetail.pack(detail)],
            metadata=Headers({"x-reason": "gone"}),
        )

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        raise error()

    async def start(request: Any, ctx: HandlerContext) -> AsyncIterator[Any]:
        event = pb.ProcessEvent
        yield pb.StartResponse(event=event(start=event.StartEvent(pid=9)))
        raise error()

    async def stat(request: Any, ctx: HandlerContext) -> Any:
        raise ValueError("a bug")

    async with AsyncFakeTransport() as transport:
        transport.route(envd.process_connect.PROCESS_LIST, list_)
        transport.route(envd.process_connect.PROCESS_START, start)
        transport.route(envd.filesystem_connect.FILESYSTEM_STAT, stat)
        client = envd.process_connect.AsyncProcessClient(
            URL, transport=transport, protocol=protocol
        )
        with pytest.raises(ConnectError) as unary:
            await client.list_(pb.ListRequest())
        got: list[str] = []
        with pytest.raises(ConnectError) as stream:
            async with client.start(pb.StartRequest()) as call:
                async for response in call:
                    got.append(response.event.WhichOneof("event"))
        files = envd.filesystem_connect.AsyncFilesystemClient(
            URL, transport=transport, protocol=protocol
        )
        with pytest.raises(ConnectError) as missing:
            await files.list_dir(envd.filesystem_pb2.ListDirRequest(path="/"))
        with pytest.raises(ConnectError) as bug:
            await files.stat(envd.filesystem_pb2.StatRequest(path="/x"))
    for exc in (unary.value, stream.value):
        assert (exc.code, exc.message, exc.remote) == (
            Code.NOT_FOUND,
            "no process 9: 100% gone",
            True,
        )
        assert [d.unpack(duration_pb2.Duration) for d in exc.details] == [detail]
        assert exc.metadata["x-reason"] == "gone"
    assert got == ["start"]
    assert missing.value.code is Code.UNIMPLEMENTED
    assert (bug.value.code, bug.value.message) == (Code.UNKNOWN, "ValueError: a bug")
    assert [str(e) for e in transport.handler_errors] == ["a bug"]


async def test_deadline_ends_the_call_and_the_handler(envd: SimpleNamespace, protocol: str) -> None:
    pb = envd.process_pb2
    never = Event()
    contexts: list[HandlerContext] = []

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        contexts.append(ctx)
        await never.wait()  # ended by the handler's deadline
        raise AssertionError("never set")

    async with AsyncFakeTransport({envd.process_connect.PROCESS_LIST: list_}) as transport:
        client = envd.process_connect.AsyncProcessClient(
            URL, transport=transport, protocol=protocol, timeout=0.2
        )
        started = current_time()
        with pytest.raises(ConnectError) as exc:
            await client.list_(pb.ListRequest())
        assert 0.15 <= current_time() - started < 5
    assert exc.value.code is Code.DEADLINE_EXCEEDED
    (ctx,) = contexts
    assert ctx.timeout is not None and 0.1 < ctx.timeout <= 0.2
    assert ctx.cancelled
    assert transport.handler_errors == []
