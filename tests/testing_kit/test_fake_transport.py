"""The testing kit: envd's generated clients (and the test service's, for a
bidi stream) calling handlers in-process through ``AsyncFakeTransport``, on
asyncio and trio; the sync twin of this file runs the sync clients through
``FakeTransport``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from _support.concurrency.shim_async import Background, Event, current_time
from google.protobuf import duration_pb2

from connect_python import CancelToken, Code, ConnectError, ErrorDetail, Headers
from connect_python.runtime_async import ResponseMetadata
from connect_python.testing import AsyncFakeTransport, HandlerContext

pytestmark = pytest.mark.anyio

URL = "http://envd.test:49983"


def events(pb: Any, pid: int, chunks: list[bytes]) -> list[Any]:
    event = pb.ProcessEvent
    return [
        pb.StartResponse(event=event(start=event.StartEvent(pid=pid))),
        *(pb.StartResponse(event=event(data=event.DataEvent(stdout=c))) for c in chunks),
        pb.StartResponse(event=event(end=event.EndEvent(exit_code=0, exited=True))),
    ]


async def test_unary_headers_and_trailers(envd: SimpleNamespace) -> None:
    pb = envd.process_pb2
    seen: list[HandlerContext] = []

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        seen.append(ctx)
        ctx.response_headers.set("x-served-by", "fake")
        ctx.response_trailers.set("x-count", "2")
        return pb.ListResponse(
            processes=[pb.ProcessInfo(pid=1, tag="a"), pb.ProcessInfo(pid=2, tag="b")]
        )

    async with AsyncFakeTransport({envd.process_connect.PROCESS_LIST: list_}) as transport:
        client = envd.process_connect.AsyncProcessClient(
            URL, transport=transport, headers={"x-access-token": "secret"}, codec="json"
        )
        metadata = ResponseMetadata()
        listing = await client.list_(pb.ListRequest(), metadata=metadata, timeout=5)
    assert [p.tag for p in listing.processes] == ["a", "b"]
    (ctx,) = seen
    assert ctx.request_headers["x-access-token"] == "secret"
    assert ctx.request_headers["content-type"] == "application/json"
    assert ctx.timeout is not None and 0 < ctx.timeout <= 5
    assert transport.calls == [ctx]
    assert ctx.method is envd.process_connect.PROCESS_LIST
    assert metadata.headers["x-served-by"] == "fake"
    assert metadata.trailers["x-count"] == "2"
    assert metadata.http_status == 200


async def test_server_stream_client_stream(envd: SimpleNamespace) -> None:
    pb = envd.process_pb2
    received: list[bytes] = []

    async def start(request: Any, ctx: HandlerContext) -> AsyncIterator[Any]:
        ctx.response_headers.set("x-pid", "7")
        for response in events(pb, 7, [request.process.cmd.encode(), b"two"]):
            yield response
        ctx.response_trailers.set("x-exit", "0")

    async def stream_input(requests: AsyncIterator[Any], ctx: HandlerContext) -> Any:
        async for request in requests:
            received.append(request.data.input.stdin)
        return pb.StreamInputResponse()

    async def stdin() -> AsyncIterator[Any]:
        for line in (b"one\n", b"two\n"):
            yield pb.StreamInputRequest(data=pb.StreamInputRequest.DataEvent(input={"stdin": line}))

    async with AsyncFakeTransport() as transport:
        transport.service(_Process(start, stream_input), envd.process_connect.PROCESS_START)
        transport.route(envd.process_connect.PROCESS_STREAM_INPUT, stream_input)
        async with envd.process_connect.AsyncProcessClient(URL, transport=transport) as client:
            request = pb.StartRequest(process=pb.ProcessConfig(cmd="ls"))
            async with client.start(request) as call:
                got = [r.event.WhichOneof("event") async for r in call]
                assert call.response_headers["x-pid"] == "7"
                assert call.response_trailers["x-exit"] == "0"
            await client.stream_input(stdin())
    assert got == ["start", "data", "data", "end"]
    assert received == [b"one\n", b"two\n"]


class _Process:
    """A handler object for ``service()``: methods named as the client's."""

    def __init__(self, start: Any, stream_input: Any) -> None:
        self.start = start
        self.stream_input = stream_input


async def test_bidi_is_full_duplex(testing_connect: ModuleType) -> None:
    from connectpy.testing.v1 import testing_pb2 as pb

    async def chat(requests: AsyncIterator[Any], ctx: HandlerContext) -> AsyncIterator[Any]:
        index = 0
        async for request in requests:
            yield pb.ChatResponse(text=request.text.upper(), index=index)
            index += 1

    async with (
        AsyncFakeTransport({testing_connect.TEST_SERVICE_CHAT: chat}) as transport,
        testing_connect.AsyncTestServiceClient(URL, transport=transport) as client,
        client.chat() as call,
    ):
        # Each answer arrives before the next request is sent.
        for n, text in enumerate(("a", "b", "c")):
            await call.send(pb.ChatRequest(text=text))
            answer = await call.receive()
            assert answer is not None
            assert (answer.text, answer.index) == (text.upper(), n)
        await call.close_send()
        assert await call.receive() is None


async def test_errors_with_details_and_metadata(envd: SimpleNamespace) -> None:
    pb = envd.process_pb2
    detail = duration_pb2.Duration(seconds=3)

    def error() -> ConnectError:
        return ConnectError(
            Code.NOT_FOUND,
            "no process 9",
            details=[ErrorDetail.pack(detail)],
            metadata=Headers({"x-reason": "gone"}),
        )

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        raise error()

    async def start(request: Any, ctx: HandlerContext) -> AsyncIterator[Any]:
        for response in events(pb, 9, [b"partial"])[:2]:
            yield response
        raise error()

    async with AsyncFakeTransport() as transport:
        transport.route(envd.process_connect.PROCESS_LIST, list_)
        transport.route(envd.process_connect.PROCESS_START, start)
        client = envd.process_connect.AsyncProcessClient(URL, transport=transport)
        with pytest.raises(ConnectError) as unary:
            await client.list_(pb.ListRequest())
        got: list[str] = []
        with pytest.raises(ConnectError) as stream:
            async with client.start(pb.StartRequest()) as call:
                async for response in call:
                    got.append(response.event.WhichOneof("event"))
    for exc in (unary.value, stream.value):
        assert exc.code is Code.NOT_FOUND
        assert exc.message == "no process 9"
        assert exc.remote
        assert [d.unpack(duration_pb2.Duration) for d in exc.details] == [detail]
        assert exc.metadata["x-reason"] == "gone"
    assert unary.value.http_status == 404
    assert got == ["start", "data"]


async def test_unrouted_method_and_handler_bug(envd: SimpleNamespace) -> None:
    pb = envd.filesystem_pb2

    async def stat(request: Any, ctx: HandlerContext) -> Any:
        raise ValueError(f"bad path {request.path}")

    async with AsyncFakeTransport({envd.filesystem_connect.FILESYSTEM_STAT: stat}) as transport:
        client = envd.filesystem_connect.AsyncFilesystemClient(URL, transport=transport)
        with pytest.raises(ConnectError) as missing:
            await client.list_dir(pb.ListDirRequest(path="/"))
        with pytest.raises(ConnectError) as bug:
            await client.stat(pb.StatRequest(path="/x"))
    assert missing.value.code is Code.UNIMPLEMENTED
    assert missing.value.http_status == 404
    assert bug.value.code is Code.UNKNOWN
    assert bug.value.message == "ValueError: bad path /x"
    assert [str(e) for e in transport.handler_errors] == ["bad path /x"]


async def test_deadline_ends_the_call_and_the_handler(envd: SimpleNamespace) -> None:
    pb = envd.process_pb2
    never = Event()
    contexts: list[HandlerContext] = []

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        contexts.append(ctx)
        await never.wait()  # ended by the handler's deadline
        raise AssertionError("never set")

    async with AsyncFakeTransport({envd.process_connect.PROCESS_LIST: list_}) as transport:
        client = envd.process_connect.AsyncProcessClient(URL, transport=transport, timeout=0.2)
        started = current_time()
        with pytest.raises(ConnectError) as exc:
            await client.list_(pb.ListRequest())
        assert 0.15 <= current_time() - started < 5
    assert exc.value.code is Code.DEADLINE_EXCEEDED
    assert not exc.value.remote  # the client's own deadline, as over the network
    (ctx,) = contexts
    assert ctx.timeout is not None and 0.1 < ctx.timeout <= 0.2
    assert ctx.cancelled
    assert transport.handler_errors == []


async def test_abandoned_stream_cancels_the_handler(envd: SimpleNamespace) -> None:
    pb = envd.process_pb2
    finished: list[str] = []

    async def start(request: Any, ctx: HandlerContext) -> AsyncIterator[Any]:
        try:
            for n in range(100_000):
                yield pb.StartResponse(
                    event=pb.ProcessEvent(data=pb.ProcessEvent.DataEvent(stdout=b"%d" % n))
                )
        finally:
            finished.append("cancelled" if ctx.cancelled else "ended")

    async with AsyncFakeTransport({envd.process_connect.PROCESS_START: start}) as transport:
        client = envd.process_connect.AsyncProcessClient(URL, transport=transport)
        async with client.start(pb.StartRequest()) as call:
            async for response in call:
                assert response.event.data.stdout == b"0"
                break
    # Closing the transport waited for the handler: it noticed the cancellation
    # long before producing all its messages (the pipe holds only a few).
    assert finished == ["cancelled"]


async def test_cancel_token_and_call_cancel(envd: SimpleNamespace) -> None:
    pb = envd.process_pb2
    token = CancelToken()
    waiting = Event()
    never = Event()

    async def list_(request: Any, ctx: HandlerContext) -> Any:
        waiting.set()
        await never.wait()
        raise AssertionError("never set")

    async def start(request: Any, ctx: HandlerContext) -> AsyncIterator[Any]:
        yield events(pb, 1, [])[0]
        await never.wait()

    async with AsyncFakeTransport() as transport:
        transport.route(envd.process_connect.PROCESS_LIST, list_)
        transport.route(envd.process_connect.PROCESS_START, start)
        client = envd.process_connect.AsyncProcessClient(URL, transport=transport, timeout=10)
        canceller = Background(_cancel_when, waiting, token)
        with pytest.raises(ConnectError) as by_token:
            await client.list_(pb.ListRequest(), cancel=token)
        await canceller.wait()
        async with client.start(pb.StartRequest(), timeout=math.inf) as call:
            assert await call.receive() is not None
            call.cancel()
            with pytest.raises(ConnectError) as by_call:
                await call.receive()
    assert by_token.value.code is Code.CANCELED
    assert by_call.value.code is Code.CANCELED


async def _cancel_when(event: Any, token: CancelToken) -> None:
    await event.wait()
    token.cancel()


async def test_get_and_compressed_requests(
    envd: SimpleNamespace, testing_connect: ModuleType
) -> None:
    from connectpy.testing.v1 import testing_pb2 as tpb

    pb = envd.process_pb2
    seen: list[str] = []

    async def echo_get(request: Any, ctx: HandlerContext) -> Any:
        seen.append(ctx.request_headers.get("content-type", "GET"))
        return tpb.EchoResponse(payload=request.payload)

    async def stream_input(requests: AsyncIterator[Any], ctx: HandlerContext) -> Any:
        seen.append(ctx.request_headers["connect-content-encoding"])
        seen.extend([r.data.input.stdin.decode()[:3] async for r in requests])
        return pb.StreamInputResponse()

    big = pb.StreamInputRequest(data=pb.StreamInputRequest.DataEvent(input={"stdin": b"x" * 5000}))
    async with AsyncFakeTransport() as transport:
        transport.route(testing_connect.TEST_SERVICE_ECHO_GET, echo_get)
        transport.route(envd.process_connect.PROCESS_STREAM_INPUT, stream_input)
        tclient = testing_connect.AsyncTestServiceClient(URL, transport=transport)
        echoed = await tclient.echo_get(tpb.EchoRequest(payload=b"hi"), use_get=True)
        pclient = envd.process_connect.AsyncProcessClient(
            URL, transport=transport, send_compression="gzip"
        )
        await pclient.stream_input([big, big])
    assert echoed.payload == b"hi"
    assert seen == ["GET", "gzip", "xxx", "xxx"]
