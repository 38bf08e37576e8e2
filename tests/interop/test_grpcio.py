"""The generated client with ``protocol="grpc"`` against a grpcio server, and with
``protocol="grpc-web"`` against the connect-go test server.

grpcio is the gRPC project's own implementation: these tests show the client
speaks gRPC as gRPC servers do, not only as connect-go does. The async client
runs on asyncio and trio; tests/twins.py makes the sync twin of this file.
"""

from __future__ import annotations

import base64
from types import ModuleType

import pytest
from _support import ServerMode, pattern
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncTransport, ResponseMetadata


def _outcome(code: str = "", message: str = "", **fields: object) -> pb.Outcome:
    return pb.Outcome(error_code=code, error_message=message, **fields)  # type: ignore[arg-type]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


async def test_unary_with_metadata(grpcio_url: str, testing_connect: ModuleType) -> None:
    async with (
        AsyncTransport(h2c=True) as transport,
        testing_connect.AsyncTestServiceClient(
            grpcio_url, transport=transport, protocol="grpc", headers={"x-default": "d"}
        ) as client,
    ):
        meta = ResponseMetadata()
        header_bin, trailer_bin = _b64(bytes([0, 1])), _b64(bytes([255]))
        outcome = _outcome(
            response_headers=["x-h: 1", f"x-h-bin: {header_bin}"],
            response_trailers=["x-t: 2", f"x-t-bin: {trailer_bin}"],
        )
        response = await client.echo(
            pb.EchoRequest(payload=b"hello", outcome=outcome),
            headers={"x-call": "c", "x-data-bin": b"\x00\xfe"},
            metadata=meta,
        )
        assert response.payload == b"hello"
        seen = dict(entry.split(": ", 1) for entry in response.request_headers)
        assert seen["x-default"] == "d"
        assert seen["x-call"] == "c"
        assert _unb64(seen["x-data-bin"]) == b"\x00\xfe"
        assert seen["user-agent"].startswith("grpc-python-connect/")
        assert meta.headers["x-h"] == "1"
        assert meta.headers.get_bin("x-h-bin") == b"\x00\x01"
        assert meta.trailers["x-t"] == "2"
        assert meta.trailers.get_bin("x-t-bin") == b"\xff"
        assert meta.http_status == 200
        big = await client.echo(pb.EchoRequest(response_size=100_000))
        assert big.payload == pattern(100_000)


async def test_streams(grpcio_url: str, testing_connect: ModuleType) -> None:
    async with (
        AsyncTransport(h2c=True) as transport,
        testing_connect.AsyncTestServiceClient(
            grpcio_url, transport=transport, protocol="grpc", send_compression="gzip"
        ) as client,
    ):
        request = pb.StreamRequest(
            count=5, size=10, outcome=_outcome(response_trailers=["x-end: y", "x-end-bin: AAEC"])
        )
        async with client.stream(request) as call:
            got = [(m.index, m.payload) async for m in call]
        assert got == [(i, pattern(10)) for i in range(5)]
        assert call.response_trailers["x-end"] == "y"
        assert call.response_trailers.get_bin("x-end-bin") == b"\x00\x01\x02"

        chunks = [pb.UploadRequest(chunk=b"ab" * 1000) for _ in range(10)]
        total = await client.upload(chunks)
        assert (total.messages, total.bytes) == (10, 20_000)

        async with client.chat() as bidi:
            # Full duplex: each reply is read before the next request is sent.
            for text in ("a", "b", "c"):
                await bidi.send(pb.ChatRequest(text=text))
                reply = await bidi.receive()
                assert reply is not None and (reply.text, reply.index) == (text, "abc".index(text))
            await bidi.close_send()
            assert await bidi.receive() is None


async def test_errors_with_details(grpcio_url: str, testing_connect: ModuleType) -> None:
    async with (
        AsyncTransport(h2c=True) as transport,
        testing_connect.AsyncTestServiceClient(
            grpcio_url, transport=transport, protocol="grpc"
        ) as client,
    ):
        failing = _outcome(
            "not_found",
            "no such file: 100% sure",
            detail_text="why",
            response_trailers=["x-t: 2", "x-t-bin: AA"],
        )
        with pytest.raises(ConnectError) as info:
            await client.echo(pb.EchoRequest(outcome=failing))
        err = info.value
        assert (err.code, err.message, err.remote) == (
            Code.NOT_FOUND,
            "no such file: 100% sure",
            True,
        )
        (detail,) = err.details
        unpacked = detail.unpack(pb.EchoResponse)
        assert unpacked is not None and unpacked.payload == b"why"
        assert err.metadata["x-t"] == "2"
        assert err.metadata.get_bin("x-t-bin") == b"\x00"
        assert "grpc-status-details-bin" not in err.metadata

        received = []
        with pytest.raises(ConnectError) as info:
            request = pb.StreamRequest(
                count=3, size=1, outcome=_outcome("resource_exhausted", "quota")
            )
            async with client.stream(request) as call:
                async for message in call:
                    received.append(message.index)
        assert received == [0, 1, 2]
        assert (info.value.code, info.value.message) == (Code.RESOURCE_EXHAUSTED, "quota")

        with pytest.raises(ConnectError) as info:
            await client.upload([pb.UploadRequest(outcome=_outcome("aborted", "u"))])
        assert (info.value.code, info.value.message) == (Code.ABORTED, "u")

        replies = []
        with pytest.raises(ConnectError) as info:
            async with client.chat(
                [pb.ChatRequest(text="x", outcome=_outcome("unavailable", "c"))]
            ) as chat:
                async for reply in chat:
                    replies.append(reply.text)
        assert (info.value.code, info.value.message) == (Code.UNAVAILABLE, "c")
        assert replies == ["x"]

        with pytest.raises(ValueError, match="reserved"):
            await client.echo(pb.EchoRequest(), headers={"grpc-timeout": "1S"})
        # The connection is still fine for the next call.
        assert (await client.echo(pb.EchoRequest(payload=b"ok"))).payload == b"ok"


async def test_deadlines(grpcio_url: str, testing_connect: ModuleType) -> None:
    async with (
        AsyncTransport(h2c=True) as transport,
        testing_connect.AsyncTestServiceClient(
            grpcio_url, transport=transport, protocol="grpc"
        ) as client,
    ):
        with pytest.raises(ConnectError) as info:
            await client.echo(pb.EchoRequest(outcome=_outcome(delay_ms=3000)), timeout=0.3)
        assert info.value.code is Code.DEADLINE_EXCEEDED
        request = pb.StreamRequest(count=50, size=1, outcome=_outcome(delay_ms=100))
        got = 0
        with pytest.raises(ConnectError) as info:
            async with client.stream(request, timeout=0.35) as call:
                async for _ in call:
                    got += 1
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert 1 <= got <= 4
        # grpcio read the announced deadline (grpc-timeout).
        response = await client.echo(pb.EchoRequest(), timeout=5)
        seen = dict(entry.split(": ", 1) for entry in response.request_headers)
        assert 4 < float(seen["x-time-remaining"]) <= 5


async def test_grpc_web_against_connect_go(
    server_mode: ServerMode, testing_connect: ModuleType
) -> None:
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        testing_connect.AsyncTestServiceClient(
            base_url, transport=transport, protocol="grpc-web"
        ) as client,
    ):
        response = await client.echo(pb.EchoRequest(payload=b"web"), headers={"x-call": "w"})
        assert response.payload == b"web"
        assert response.http_proto == server_mode.http_proto
        assert "content-type: application/grpc-web+proto" in response.request_headers
        async with client.stream(pb.StreamRequest(count=3, size=4)) as call:
            assert [m.index async for m in call] == [0, 1, 2]
        total = await client.upload([pb.UploadRequest(chunk=b"z") for _ in range(4)])
        assert (total.messages, total.bytes) == (4, 4)
        with pytest.raises(ConnectError) as info:
            await client.echo(
                pb.EchoRequest(outcome=_outcome("permission_denied", "no", detail_text="d"))
            )
        assert (info.value.code, info.value.message) == (Code.PERMISSION_DENIED, "no")
        assert len(info.value.details) == 1
        if server_mode.name != "h1":  # connect-go takes bidi calls over HTTP/2 only
            async with client.chat() as bidi:
                await bidi.send(pb.ChatRequest(text="hi"))
                reply = await bidi.receive()
                assert reply is not None and reply.text == "hi"
                await bidi.close_send()
                assert await bidi.receive() is None
