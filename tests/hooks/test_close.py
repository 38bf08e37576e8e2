"""Closing a stream reaches every interceptor and sends exactly one RST_STREAM.

Frame-level, with three interceptors installed: the ``h2`` test server of
tests/transport logs every frame the client sends. After each abandonment a
plain call runs on the same connection: it must succeed, and since frames
arrive in order, every frame sent before it is in the log when it returns.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _support.methods import CHAT, ECHO, STREAM, UPLOAD, pb
from transport.h2server import CANCEL, H2TestServer

from connect_python import Code, ConnectError
from connect_python.interceptors import CallHooks, CallInfo, Interceptor
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

from .helpers import Event, Recorder, end_of

NAMES = ("a", "b", "c")
INFINITE = pb.StreamRequest()


def scenario(tag: str, name: str = "stream", **params: int) -> dict[str, str]:
    """Headers choosing what the test server does for one request."""
    headers = {"x-tag": tag, "x-scenario": name}
    for key, value in params.items():
        headers["x-" + key.replace("_", "-")] = str(value)
    return headers


class Client:
    """A client with three recording interceptors, and a plain one for follow-ups."""

    def __init__(self, transport: AsyncTransport, url: str, *extra: Interceptor) -> None:
        self.log: list[Event] = []
        chain: list[Interceptor] = [Recorder(name, self.log) for name in NAMES]
        chain[1:1] = extra
        self.hooked = AsyncConnectClient(url, transport=transport, interceptors=chain)
        self.plain = AsyncConnectClient(url, transport=transport)

    def ends(self) -> list[Code | None]:
        """The code each of the three interceptors saw at the end (each exactly once)."""
        codes = []
        for name in NAMES:
            error, _ = end_of(self.log, name)
            codes.append(None if error is None else error.code)
        return codes


@pytest.fixture
async def client(h2_server: H2TestServer) -> AsyncIterator[Client]:
    async with AsyncTransport(h2c=True) as transport:
        yield Client(transport, h2_server.url)


async def assert_one_cancel(client: Client, server: H2TestServer, tag: str) -> None:
    """Exactly one RST_STREAM(CANCEL) on the tagged stream; the connection still works."""
    reply = await client.plain.unary(
        ECHO, pb.EchoRequest(payload=b"after"), headers=scenario(tag + "-after", "unary")
    )
    assert reply.payload == b"after"
    assert server.resets(tag + "-after") == []
    assert server.resets(tag) == [CANCEL]
    assert len(server.connections) == 1


async def test_completed_stream_sends_no_reset(client: Client, h2_server: H2TestServer) -> None:
    headers = scenario("done", count=3)
    async with client.hooked.server_stream(STREAM, INFINITE, headers=headers) as call:
        assert [m.index async for m in call] == [0, 1, 2]
    await client.plain.unary(ECHO, pb.EchoRequest(), headers=scenario("done-after", "unary"))
    assert h2_server.resets("done") == []
    assert client.ends() == [None, None, None]


async def test_break_out_of_async_with(client: Client, h2_server: H2TestServer) -> None:
    headers = scenario("brk", count=-1)
    async with client.hooked.server_stream(STREAM, INFINITE, headers=headers) as call:
        async for message in call:
            if message.index == 2:
                break
    await assert_one_cancel(client, h2_server, "brk")
    assert client.ends() == [Code.CANCELED] * 3


async def test_aclose(client: Client, h2_server: H2TestServer) -> None:
    call = client.hooked.server_stream(STREAM, INFINITE, headers=scenario("acl", count=-1))
    assert (await call.receive()) is not None
    await call.aclose()
    await call.aclose()
    await assert_one_cancel(client, h2_server, "acl")
    assert client.ends() == [Code.CANCELED] * 3


async def test_deadline(client: Client, h2_server: H2TestServer) -> None:
    headers = scenario("ddl", count=2, delay_ms=30000)
    with pytest.raises(ConnectError) as info:
        async with client.hooked.server_stream(
            STREAM, INFINITE, headers=headers, timeout=0.3
        ) as call:
            async for _ in call:
                pass
    assert info.value.code is Code.DEADLINE_EXCEEDED
    await assert_one_cancel(client, h2_server, "ddl")
    assert client.ends() == [Code.DEADLINE_EXCEEDED] * 3


async def test_explicit_cancel(client: Client, h2_server: H2TestServer) -> None:
    headers = scenario("cnl", count=-1)
    async with client.hooked.server_stream(STREAM, INFINITE, headers=headers) as call:
        await call.receive()
        call.cancel()
        with pytest.raises(ConnectError) as info:
            await call.receive()
        assert info.value.code is Code.CANCELED
    await assert_one_cancel(client, h2_server, "cnl")
    assert client.ends() == [Code.CANCELED] * 3


async def test_garbage_collected_call(client: Client, h2_server: H2TestServer) -> None:
    call = client.hooked.server_stream(STREAM, INFINITE, headers=scenario("gc", count=-1))
    assert (await call.receive()) is not None
    del call
    gc.collect()
    await assert_one_cancel(client, h2_server, "gc")
    assert client.ends() == [Code.CANCELED] * 3


async def test_break_without_async_with(client: Client, h2_server: H2TestServer) -> None:
    headers = scenario("loop", count=-1)
    async for message in client.hooked.server_stream(STREAM, INFINITE, headers=headers):
        if message.index == 1:
            break
    gc.collect()
    await assert_one_cancel(client, h2_server, "loop")
    assert client.ends() == [Code.CANCELED] * 3


async def test_error_in_the_callers_code(client: Client, h2_server: H2TestServer) -> None:
    headers = scenario("exc", count=-1)
    with pytest.raises(ValueError, match="user code"):
        async with client.hooked.server_stream(STREAM, INFINITE, headers=headers) as call:
            await call.receive()
            raise ValueError("user code failed")
    await assert_one_cancel(client, h2_server, "exc")
    assert client.ends() == [Code.CANCELED] * 3


class FailOnSecond(Interceptor):
    """Its ``on_response`` raises on the second message."""

    def intercept(self, call: CallInfo) -> CallHooks | None:
        return FailOnSecondHooks()


class FailOnSecondHooks(CallHooks):
    def __init__(self) -> None:
        self.seen = 0

    def on_response(self, message: Any) -> Any:
        self.seen += 1
        if self.seen == 2:
            raise KeyError("second")
        return message


async def test_failing_interceptor_resets_the_stream(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = Client(transport, h2_server.url, FailOnSecond())
        headers = scenario("hookfail", count=-1)
        got = []
        with pytest.raises(ConnectError) as info:
            async with client.hooked.server_stream(STREAM, INFINITE, headers=headers) as call:
                async for message in call:
                    got.append(message.index)
        assert got == [0]
        assert info.value.code is Code.UNKNOWN
        assert isinstance(info.value.__cause__, KeyError)
        await assert_one_cancel(client, h2_server, "hookfail")
        # The interceptors outside the failing one see its error; the inner one too.
        assert client.ends() == [Code.UNKNOWN] * 3


async def test_abandoned_bidi_stream(client: Client, h2_server: H2TestServer) -> None:
    async with client.hooked.bidi_stream(CHAT, headers=scenario("bidi", "chat")) as call:
        await call.send(pb.ChatRequest(text="hello"))
        reply = await call.receive()
        assert reply is not None and reply.text == "hello"
    await assert_one_cancel(client, h2_server, "bidi")
    assert client.ends() == [Code.CANCELED] * 3


async def test_many_abandoned_streams(client: Client, h2_server: H2TestServer) -> None:
    for n in range(10):
        headers = scenario(f"m{n}", count=-1, size=1000)
        async with client.hooked.server_stream(STREAM, INFINITE, headers=headers) as call:
            await call.receive()
    await client.plain.unary(ECHO, pb.EchoRequest(), headers=scenario("many-after", "unary"))
    for n in range(10):
        assert h2_server.resets(f"m{n}") == [CANCEL]
    ends = [value[0].code for name, event, value in client.log if event == "end"]
    assert ends == [Code.CANCELED] * 30


class FailOnThirdRequest(Interceptor):
    """Its ``on_request`` raises on the third request message."""

    def intercept(self, call: CallInfo) -> CallHooks | None:
        return FailOnThirdRequestHooks()


class FailOnThirdRequestHooks(CallHooks):
    def __init__(self) -> None:
        self.seen = 0

    def on_request(self, message: Any) -> Any:
        self.seen += 1
        if self.seen == 3:
            raise KeyError("third")
        return message


async def test_failing_request_hook_in_a_client_stream(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = Client(transport, h2_server.url, FailOnThirdRequest())

        async def chunks() -> AsyncIterator[pb.UploadRequest]:
            for _ in range(5):
                yield pb.UploadRequest(chunk=b"x")

        with pytest.raises(ConnectError) as info:
            await client.hooked.client_stream(
                UPLOAD, chunks(), headers=scenario("upfail", "upload")
            )
        assert info.value.code is Code.UNKNOWN
        assert isinstance(info.value.__cause__, KeyError)
        await assert_one_cancel(client, h2_server, "upfail")
        assert client.ends() == [Code.UNKNOWN] * 3


async def test_failing_request_hook_in_a_bidi_iterable(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = Client(transport, h2_server.url, FailOnThirdRequest())

        async def texts() -> AsyncIterator[pb.ChatRequest]:
            for n in range(5):
                yield pb.ChatRequest(text=str(n))

        replies = []
        with pytest.raises(ConnectError) as info:
            async with client.hooked.bidi_stream(
                CHAT, texts(), headers=scenario("bidifail", "chat")
            ) as call:
                async for reply in call:
                    replies.append(reply.text)
        assert info.value.code is Code.UNKNOWN
        assert isinstance(info.value.__cause__, KeyError)
        assert len(replies) <= 2
        await assert_one_cancel(client, h2_server, "bidifail")
        assert client.ends() == [Code.UNKNOWN] * 3
