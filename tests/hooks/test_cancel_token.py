"""A caller's ``CancelToken`` reaches the streaming calls of a client with
interceptors, and of one with only an HTTP status map (whose calls are the
plain objects, prepared on the intercepted path): a token cancelled before
the call ends it with ``CANCELED``, and the client carries on."""

from __future__ import annotations

from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb
from runtime.helpers import CHAT, ECHO, STREAM, UPLOAD

from connect_python import CancelToken, Code, ConnectError
from connect_python.interceptors import LoggingInterceptor
from connect_python.runtime_async import AsyncConnectClient

from .conftest import make_transport

HOOKS: dict[str, dict[str, Any]] = {
    "interceptor": {"interceptors": [LoggingInterceptor()]},
    "status-map": {"http_status_codes": {404: Code.NOT_FOUND}},
}


@pytest.mark.parametrize("hooks", sorted(HOOKS))
async def test_a_cancelled_token_ends_every_streaming_call(
    test_server: Any, mode: str, hooks: str
) -> None:
    base_url, transport = make_transport(test_server, mode)
    token = CancelToken()
    token.cancel()
    async with (
        transport,
        AsyncConnectClient(base_url, transport=transport, **HOOKS[hooks]) as client,
    ):
        with pytest.raises(ConnectError) as info:
            async for _ in client.server_stream(STREAM, pb.StreamRequest(count=3), cancel=token):
                pass
        assert info.value.code is Code.CANCELED
        with pytest.raises(ConnectError) as info:
            await client.client_stream(UPLOAD, [pb.UploadRequest(chunk=b"x")], cancel=token)
        assert info.value.code is Code.CANCELED
        if mode != "h1":  # the server takes bidi calls over HTTP/2 only
            with pytest.raises(ConnectError) as info:
                async with client.bidi_stream(
                    CHAT, [pb.ChatRequest(text="a")], cancel=token
                ) as call:
                    async for _ in call:
                        pass
            assert info.value.code is Code.CANCELED
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"after"))
        assert reply.payload == b"after"
