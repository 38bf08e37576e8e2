"""An interceptor chain sees every header, message, trailer and error of each
call kind, in order, against the connect-go test server.

Runs on asyncio and trio, and (as a generated twin) on the sync runtime, over
HTTP/1.1, h2c and TLS with HTTP/2.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb
from runtime.helpers import CHAT, ECHO, STREAM, UPLOAD, outcome, seen_headers

from connect_python import Code, ConnectError, Headers
from connect_python.interceptors import CallHooks, CallInfo, Interceptor
from connect_python.runtime_async import AsyncConnectClient, ResponseMetadata

from .conftest import make_transport
from .helpers import Event, Recorder, end_of, events, layered

NAMES = ("a", "b", "c")


@pytest.fixture
async def recorded(
    test_server: Any, mode: str
) -> AsyncIterator[tuple[AsyncConnectClient, list[Event]]]:
    log: list[Event] = []
    base_url, transport = make_transport(test_server, mode)
    async with transport:
        interceptors = [Recorder(name, log) for name in NAMES]
        yield AsyncConnectClient(base_url, transport=transport, interceptors=interceptors), log


@pytest.fixture(params=["h2c", "h2-tls"])
async def recorded_h2(
    test_server: Any, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[AsyncConnectClient, list[Event]]]:
    """Like ``recorded``, over HTTP/2 only (connect-go serves bidi streams on HTTP/2 only)."""
    log: list[Event] = []
    base_url, transport = make_transport(test_server, request.param)
    async with transport:
        interceptors = [Recorder(name, log) for name in NAMES]
        yield AsyncConnectClient(base_url, transport=transport, interceptors=interceptors), log


async def test_unary_in_order(recorded: tuple[AsyncConnectClient, list[Event]]) -> None:
    client, log = recorded
    request = pb.EchoRequest(
        payload=b"hi", outcome=outcome(headers=["x-h: 1"], trailers=["x-t: 2"])
    )
    response = await client.unary(ECHO, request)
    assert events(log) == layered(["start", "request", "headers", "response", "end"])
    for _name, event, value in log:
        if event == "request":
            assert value == request
        elif event == "headers":
            assert value["x-h"] == "1"
        elif event == "response":
            assert value == response
        elif event == "end":
            assert value[0] is None
            assert value[1]["x-t"] == "2"
    # Every interceptor's header edit reached the server, in chain order.
    assert seen_headers(response)["x-seen-by"] == ["a", "b", "c"]


async def test_unary_error(recorded: tuple[AsyncConnectClient, list[Event]]) -> None:
    client, log = recorded
    meta = ResponseMetadata()
    request = pb.EchoRequest(outcome=outcome("not_found", "gone", headers=["x-h: 1"]))
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, request, metadata=meta)
    assert info.value.code is Code.NOT_FOUND and info.value.remote
    assert events(log) == layered(["start", "request", "headers", "end"])
    for name in NAMES:
        error, _ = end_of(log, name)
        assert error is info.value
    assert meta.headers["x-h"] == "1"


async def test_server_stream_in_order(recorded: tuple[AsyncConnectClient, list[Event]]) -> None:
    client, log = recorded
    request = pb.StreamRequest(count=3, size=4, outcome=outcome(trailers=["x-t: end"]))
    async with client.server_stream(STREAM, request) as call:
        indexes = [message.index async for message in call]
    assert indexes == [0, 1, 2]
    assert events(log) == layered(
        ["start", "request", "headers", "response", "response", "response", "end"]
    )
    received = [value.index for name, event, value in log if name == "a" and event == "response"]
    assert received == [0, 1, 2]
    error, trailers = end_of(log, "a")
    assert error is None and trailers["x-t"] == "end"


async def test_server_stream_error_after_messages(
    recorded: tuple[AsyncConnectClient, list[Event]],
) -> None:
    client, log = recorded
    request = pb.StreamRequest(count=2, outcome=outcome("resource_exhausted", "quota"))
    got = []
    with pytest.raises(ConnectError) as info:
        async with client.server_stream(STREAM, request) as call:
            async for message in call:
                got.append(message.index)
    assert got == [0, 1]
    assert info.value.code is Code.RESOURCE_EXHAUSTED
    assert events(log) == layered(["start", "request", "headers", "response", "response", "end"])
    for name in NAMES:
        assert end_of(log, name)[0] is info.value


async def test_client_stream_in_order(recorded: tuple[AsyncConnectClient, list[Event]]) -> None:
    client, log = recorded
    chunks = [pb.UploadRequest(chunk=bytes([n]) * 3) for n in range(3)]
    meta = ResponseMetadata()
    reply = await client.client_stream(UPLOAD, chunks, metadata=meta)
    assert (reply.messages, reply.bytes) == (3, 9)
    assert events(log) == layered(
        ["start", "request", "request", "request", "headers", "response", "end"]
    )
    sent = [value for name, event, value in log if name == "c" and event == "request"]
    assert sent == chunks


async def test_client_stream_from_a_generator(
    recorded: tuple[AsyncConnectClient, list[Event]],
) -> None:
    client, log = recorded

    async def chunks() -> AsyncIterator[pb.UploadRequest]:
        for _n in range(2):
            yield pb.UploadRequest(chunk=b"xy")

    reply = await client.client_stream(UPLOAD, chunks())
    assert reply.messages == 2
    assert events(log) == layered(["start", "request", "request", "headers", "response", "end"])


async def test_bidi_in_order(recorded_h2: tuple[AsyncConnectClient, list[Event]]) -> None:
    client, log = recorded_h2
    texts = ["one", "two"]
    async with client.bidi_stream(CHAT, [pb.ChatRequest(text=t) for t in texts]) as call:
        replies = [reply.text async for reply in call]
    assert replies == texts
    assert events(log) == layered(
        ["start", "request", "request", "headers", "response", "response", "end"]
    )
    assert end_of(log, "b")[0] is None


async def test_bidi_send_and_receive(recorded_h2: tuple[AsyncConnectClient, list[Event]]) -> None:
    client, log = recorded_h2
    async with client.bidi_stream(CHAT) as call:
        await call.send(pb.ChatRequest(text="ping"))
        first = await call.receive()
        assert first is not None and first.text == "ping"
        await call.close_send()
        assert await call.receive() is None
    assert events(log) == layered(["start", "request", "headers", "response", "end"])


class Rewriter(Interceptor):
    """Changes request and response messages and the error of a failed call."""

    def intercept(self, call: CallInfo) -> CallHooks | None:
        return RewriterHooks()


class RewriterHooks(CallHooks):
    def on_request(self, message: Any) -> Any:
        return pb.EchoRequest(payload=message.payload + b"+req", outcome=message.outcome)

    def on_response(self, message: Any) -> Any:
        return pb.EchoResponse(payload=message.payload + b"+res")

    def on_end(self, error: ConnectError | None, trailers: Headers) -> ConnectError | None:
        if error is not None and error.code is Code.NOT_FOUND:
            return ConnectError(Code.FAILED_PRECONDITION, "rewritten: " + error.message)
        return error


async def test_interceptors_change_messages_and_errors(test_server: Any, mode: str) -> None:
    log: list[Event] = []
    base_url, transport = make_transport(test_server, mode)
    async with transport:
        client = AsyncConnectClient(
            base_url, transport=transport, interceptors=[Rewriter(), Recorder("inner", log)]
        )
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"p"))
        # The server echoed the rewritten request; the caller got the rewritten response.
        assert reply.payload == b"p+req+res"
        # The inner interceptor saw the rewritten request and the original response.
        assert [v.payload for n, e, v in log if e in ("request", "response")] == [
            b"p+req",
            b"p+req",
        ]
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(outcome=outcome("not_found", "gone")))
        assert info.value.code is Code.FAILED_PRECONDITION
        assert info.value.message == "rewritten: gone"


class Failing(Interceptor):
    """Raises ``RuntimeError`` from the hook named ``where``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def intercept(self, call: CallInfo) -> CallHooks | None:
        if self.where == "intercept":
            raise RuntimeError("broken intercept")
        return FailingHooks(self.where)


class FailingHooks(CallHooks):
    def __init__(self, where: str) -> None:
        self.where = where

    def on_request(self, message: Any) -> Any:
        if self.where == "request":
            raise RuntimeError("broken request hook")
        return message

    def on_response_headers(self, headers: Headers) -> None:
        if self.where == "headers":
            raise RuntimeError("broken headers hook")

    def on_response(self, message: Any) -> Any:
        if self.where == "response":
            raise RuntimeError("broken response hook")
        return message


@pytest.mark.parametrize("where", ["intercept", "request", "headers", "response"])
async def test_failing_interceptor_is_a_typed_error(
    test_server: Any, mode: str, where: str
) -> None:
    log: list[Event] = []
    base_url, transport = make_transport(test_server, mode)
    async with transport:
        client = AsyncConnectClient(
            base_url,
            transport=transport,
            interceptors=[Recorder("outer", log), Failing(where), Recorder("inner", log)],
        )
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest())
        assert info.value.code is Code.UNKNOWN and not info.value.remote
        assert isinstance(info.value.__cause__, RuntimeError)
        assert "Failing" in info.value.message
        assert end_of(log, "outer")[0] is info.value
        with pytest.raises(ConnectError) as stream_info:
            async with client.server_stream(STREAM, pb.StreamRequest(count=3)) as call:
                async for _ in call:
                    pass
        assert stream_info.value.code is Code.UNKNOWN
        assert isinstance(stream_info.value.__cause__, RuntimeError)
        # The client still works: nothing leaked (the stream of the failed call ended).
        healthy = AsyncConnectClient(base_url, transport=transport)
        assert (await healthy.unary(ECHO, pb.EchoRequest(payload=b"ok"))).payload == b"ok"


class HeadersOnly(Interceptor):
    """Edits headers when a call starts and has no per-call hooks."""

    def intercept(self, call: CallInfo) -> CallHooks | None:
        call.request_headers.add("x-only", "1")
        return None


async def test_nothing_runs_per_message_without_hooks(test_server: Any) -> None:
    from connect_python.runtime_async import AsyncServerStreamCall

    base_url, transport = make_transport(test_server, "h2c")
    async with transport:
        for interceptors in ([], [HeadersOnly()]):
            client = AsyncConnectClient(base_url, transport=transport, interceptors=interceptors)
            call = client.server_stream(STREAM, pb.StreamRequest(count=2))
            # The plain call object: no hook code between the caller and the messages.
            assert type(call) is AsyncServerStreamCall
            async with call:
                assert len([m async for m in call]) == 2
        seen = seen_headers(await client.unary(ECHO, pb.EchoRequest()))
        assert seen["x-only"] == ["1"]
        hooked = AsyncConnectClient(base_url, transport=transport, interceptors=[Recorder("r", [])])
        assert type(hooked.server_stream(STREAM, pb.StreamRequest())) is not AsyncServerStreamCall


class Deny(Interceptor):
    """Refuses calls without a token with its own ``ConnectError``."""

    def intercept(self, call: CallInfo) -> CallHooks | None:
        if "authorization" not in call.request_headers:
            raise ConnectError(Code.UNAUTHENTICATED, "no token")
        return None


async def test_an_interceptor_may_refuse_a_call(test_server: Any) -> None:
    log: list[Event] = []
    base_url, transport = make_transport(test_server, "h2c")
    async with transport:
        client = AsyncConnectClient(
            base_url, transport=transport, interceptors=[Recorder("outer", log), Deny()]
        )
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest())
        assert info.value.code is Code.UNAUTHENTICATED and info.value.message == "no token"
        assert end_of(log, "outer")[0] is info.value
        reply = await client.unary(ECHO, pb.EchoRequest(), headers={"authorization": "t"})
        assert seen_headers(reply)["authorization"] == ["t"]
