"""Errors a user can act on: the wrong request type, bad timeouts, bidi over
HTTP/1.1 used as full duplex; and a local deadline error keeps the server's
deadline error as its cause.

Runs on asyncio, trio and (as a generated twin) the sync runtime.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _support.concurrency.shim_async import current_time
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from runtime.h1server import H1TestServer

from .helpers import CHAT, ECHO, STREAM, UPLOAD

ECHO_TYPE = (
    "/connectpy.testing.v1.TestService/Echo: the request must be an EchoRequest message"
    " (connectpy.testing.v1.EchoRequest), not dict (build one with EchoRequest(**values))"
)


# -- the request must be the method's input message ------------------------------------


async def test_unary_request_of_the_wrong_type_is_a_type_error(
    client: AsyncConnectClient, transport: AsyncTransport
) -> None:
    with pytest.raises(TypeError) as info:
        await client.unary(ECHO, {"payload": b"x"})  # type: ignore[arg-type]
    assert str(info.value) == ECHO_TYPE
    with pytest.raises(TypeError) as info:
        await client.unary(ECHO, pb.StreamRequest(count=1))  # type: ignore[arg-type]
    assert str(info.value) == (
        "/connectpy.testing.v1.TestService/Echo: the request must be an EchoRequest message"
        " (connectpy.testing.v1.EchoRequest), not StreamRequest"
    )
    with pytest.raises(TypeError, match="EchoRequest message"):
        await client.unary(ECHO, None)  # type: ignore[arg-type]
    # Nothing was sent; the client works on.
    assert transport.num_connections == 0
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"ok"))
    assert response.payload == b"ok"


async def test_stream_requests_of_the_wrong_type_are_type_errors(
    client: AsyncConnectClient, mode: str
) -> None:
    with pytest.raises(TypeError) as info:
        client.server_stream(STREAM, pb.EchoRequest())  # type: ignore[arg-type]
    assert str(info.value) == (
        "/connectpy.testing.v1.TestService/Stream: the request must be a StreamRequest message"
        " (connectpy.testing.v1.StreamRequest), not EchoRequest"
    )
    upload_error = (
        "/connectpy.testing.v1.TestService/Upload: the request must be an UploadRequest"
        " message (connectpy.testing.v1.UploadRequest), not dict"
        " (build one with UploadRequest(**values))"
    )
    with pytest.raises(TypeError) as info:
        await client.client_stream(UPLOAD, [pb.UploadRequest(), {"chunk": b"x"}])  # type: ignore[list-item]
    assert str(info.value) == upload_error

    async def generated() -> AsyncIterator[Any]:
        yield pb.UploadRequest(chunk=b"a")
        yield {"chunk": b"x"}

    with pytest.raises(TypeError) as info:
        await client.client_stream(UPLOAD, generated())
    assert str(info.value) == upload_error
    chat_error = (
        "/connectpy.testing.v1.TestService/Chat: the request must be a ChatRequest message"
        " (connectpy.testing.v1.ChatRequest), not ChatResponse"
    )
    async with client.bidi_stream(CHAT) as call:
        with pytest.raises(TypeError) as info:
            await call.send(pb.ChatResponse(text="wrong"))  # type: ignore[arg-type]
        assert str(info.value) == chat_error
        if mode != "h1":  # connect-go serves bidi over HTTP/2 only
            # Nothing was sent: the call goes on.
            await call.send(pb.ChatRequest(text="right"))
            await call.close_send()
            replies = [reply.text async for reply in call]
            assert len(replies) == 1
    with pytest.raises(TypeError) as info:
        async with client.bidi_stream(CHAT, [pb.ChatResponse(text="wrong")]) as call:  # type: ignore[list-item]
            async for _ in call:
                pass
    assert str(info.value) == chat_error
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"ok"))
    assert response.payload == b"ok"


async def test_a_subclass_of_the_input_message_is_accepted(client: AsyncConnectClient) -> None:
    from google.protobuf.message import Message

    from connect_python import MethodInfo

    generic = MethodInfo(ECHO.service, ECHO.name, Message, pb.EchoResponse)
    response = await client.unary(generic, pb.EchoRequest(payload=b"sub"))
    assert response.payload == b"sub"


# -- timeouts ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan, -math.inf])
async def test_negative_or_nan_timeouts_are_rejected(
    client: AsyncConnectClient, base_url: str, bad: float
) -> None:
    text = f"timeout must be >= 0 seconds (None: no deadline), got {bad!r}"
    with pytest.raises(ValueError) as info:
        AsyncConnectClient(base_url, timeout=bad)
    assert str(info.value) == text
    with pytest.raises(ValueError) as info:
        await client.unary(ECHO, pb.EchoRequest(), timeout=bad)
    assert str(info.value) == text
    with pytest.raises(ValueError) as info:
        client.server_stream(STREAM, pb.StreamRequest(count=1), timeout=bad)
    assert str(info.value) == text
    with pytest.raises(ValueError) as info:
        await client.client_stream(UPLOAD, [pb.UploadRequest()], timeout=bad)
    assert str(info.value) == text
    with pytest.raises(ValueError) as info:
        client.bidi_stream(CHAT, timeout=bad)
    assert str(info.value) == text


async def test_zero_timeout_fails_at_once(client: AsyncConnectClient, base_url: str) -> None:
    started = current_time()
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), timeout=0)
    assert info.value.code is Code.DEADLINE_EXCEEDED
    with pytest.raises(ConnectError) as info:
        async for _ in client.server_stream(STREAM, pb.StreamRequest(count=3), timeout=0):
            pass
    assert info.value.code is Code.DEADLINE_EXCEEDED
    async with AsyncConnectClient(base_url, timeout=0) as zero:
        with pytest.raises(ConnectError) as info:
            await zero.unary(ECHO, pb.EchoRequest())
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert current_time() - started < 1.0
    # math.inf: no deadline for this call.
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"inf"), timeout=math.inf)
    assert response.payload == b"inf"


async def test_local_deadline_error_keeps_the_server_error_as_cause(
    h1_server: H1TestServer,
) -> None:
    # The server answers with its deadline error 1 ms before the call's own
    # deadline (as a server timing out the announced, rounded-down deadline
    # does): the caller sees its own DEADLINE_EXCEEDED, caused by the server's.
    timeout = 0.2
    headers = {"x-scenario": "deadline_answer"}
    async with AsyncConnectClient(h1_server.url, headers=headers) as client:
        server_first = 0
        for _ in range(10):
            h1_server.answer_at = time.monotonic() + timeout - 0.001
            with pytest.raises(ConnectError) as info:
                await client.unary(ECHO, pb.EchoRequest(), timeout=timeout)
            error = info.value
            assert error.code is Code.DEADLINE_EXCEEDED
            assert not error.remote
            cause = error.__cause__
            if isinstance(cause, ConnectError) and cause.remote:
                # (Under heavy load the local deadline may still come first.)
                assert (cause.code, cause.message) == (Code.DEADLINE_EXCEEDED, "server timed out")
                assert cause.http_status == 504
                server_first += 1
                if server_first == 2:
                    break
    assert server_first >= 1


# -- bidi over HTTP/1.1 is half duplex ---------------------------------------------------

HALF_DUPLEX = (
    "send after the response was read: this call runs over HTTP/1.1, which is half duplex"
    " (the request ends when the response is first read); full duplex needs HTTP/2:"
    " give the transport h2c=True for http:// URLs, or use an https:// server with HTTP/2"
)


async def test_bidi_send_after_reading_over_http1_says_full_duplex_needs_http2(
    h1_server: H1TestServer,
) -> None:
    # A half-duplex HTTP/1.1 server (as ASGI servers are): the request ends
    # when the response is first read, so a later send can't go out.
    headers = {"x-scenario": "half_duplex_chat"}
    async with AsyncConnectClient(h1_server.url, timeout=10, headers=headers) as client:
        async with client.bidi_stream(CHAT) as call:
            await call.send(pb.ChatRequest(text="one"))
            first = await call.receive()
            assert first is not None and first.text == "re: one"
            with pytest.raises(ConnectError) as info:
                await call.send(pb.ChatRequest(text="two"))
        assert info.value.code is Code.FAILED_PRECONDITION
        assert info.value.message == HALF_DUPLEX
        # close_send, then send: the plain misuse, named as such.
        async with client.bidi_stream(CHAT) as call:
            await call.send(pb.ChatRequest(text="one"))
            await call.close_send()
            with pytest.raises(ConnectError) as info:
                await call.send(pb.ChatRequest(text="two"))
            replies = [reply.text async for reply in call]
        assert info.value.message == "send after close_send"
        assert replies == ["re: one"]
