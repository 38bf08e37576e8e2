"""The floor for a pure-Python transport: httpcore's own connection pool posting
the same bytes, with no RPC layer.

Requests are serialized once up front; responses are split into envelopes with
a minimal loop and parsed with ``ParseFromString`` (any client must decode
what it receives). No header validation, no error handling, no deadlines, no
call objects. httpcore's pool allows 10 connections by default; it gets 100
here, like this project's transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import struct
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
)
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore

from ._common import Recorder, Unsupported

SERVICE = "connectbench.v1.BenchService"
_unpack = struct.Struct(">BI").unpack_from
_OUTPUT = {"ProcessOutput": "ProcessEvent", "ReadFile": "FileChunk", "Watch": "WatchEvent"}


def _envelope(data: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(data)) + data


class _Base:
    api = "raw httpcore pool, no RPC layer"
    why_low_level = None

    def __init__(self, url: str, flavour: str, gen_dir: Path) -> None:
        self.pb = importlib.import_module("connectbench.v1.bench_pb2")
        parts = urlsplit(url)
        self.url = url
        host = f"{parts.hostname}:{parts.port}".encode()
        self.http2 = flavour == "h2c"
        self.unary_headers = [
            (b"host", host),
            (b"content-type", b"application/proto"),
            (b"connect-protocol-version", b"1"),
        ]
        self.stream_headers = [
            (b"host", host),
            (b"content-type", b"application/connect+proto"),
            (b"connect-protocol-version", b"1"),
        ]
        self.upload_headers = [*self.stream_headers, (b"transfer-encoding", b"chunked")]

    def _url(self, name: str) -> str:
        return f"{self.url}/{SERVICE}/{name}"


def _split(buffer: bytearray, out_type: Any, sink: list[Any]) -> tuple[bool, int]:
    """Parse complete envelopes at the start of ``buffer``; (ended, consumed)."""
    pos = 0
    size = len(buffer)
    parse = out_type.FromString
    while size - pos >= 5:
        flags, length = _unpack(buffer, pos)
        end = pos + 5 + length
        if end > size:
            break
        if flags & 2:
            return True, end
        sink.append(parse(bytes(buffer[pos + 5 : end])))
        pos = end
    return False, pos


class AsyncRaw(_Base):
    def __init__(self, url: str, flavour: str, gen_dir: Path) -> None:
        super().__init__(url, flavour, gen_dir)
        self.pool = httpcore.AsyncConnectionPool(
            http1=not self.http2, http2=self.http2, max_connections=100
        )
        echo_url = self._url("Echo")
        headers = self.unary_headers
        pool = self.pool
        output = self.pb.EchoResponse

        async def echo(request: Any) -> Any:
            response = await pool.request(
                "POST", echo_url, headers=headers, content=request.SerializeToString()
            )
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            return output.FromString(response.content)

        self.echo: Callable[[Any], Awaitable[Any]] = echo

    @contextlib.asynccontextmanager
    async def server_stream(self, name: str, request: Any) -> AsyncIterator[Any]:
        out_type = getattr(self.pb, _OUTPUT[name])
        body = _envelope(request.SerializeToString())
        async with self.pool.stream(
            "POST", self._url(name), headers=self.stream_headers, content=body
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")

            async def messages() -> AsyncGenerator[Any, None]:
                buffer = bytearray()
                batch: list[Any] = []
                async for chunk in response.aiter_stream():
                    buffer += chunk
                    ended, used = _split(buffer, out_type, batch)
                    del buffer[:used]
                    for message in batch:
                        yield message
                    batch.clear()
                    if ended:
                        return
                raise RuntimeError("stream ended without an end-stream message")

            stream = messages()
            try:
                yield stream
            finally:
                await stream.aclose()

    async def send_input(self, requests: AsyncIterator[Any]) -> Any:
        async def body() -> AsyncIterator[bytes]:
            async for message in requests:
                yield _envelope(message.SerializeToString())

        response = await self.pool.request(
            "POST", self._url("SendInput"), headers=self.upload_headers, content=body()
        )
        messages: list[Any] = []
        _split(bytearray(response.content), self.pb.InputSummary, messages)
        return messages[0]

    async def bidi_pingpong(self, request: Any, rec: Recorder, count: int) -> None:
        raise Unsupported("httpcore sends the whole request body before reading the response")

    async def gather(self, workers: list[Callable[[], Coroutine[Any, Any, None]]]) -> None:
        async with asyncio.TaskGroup() as tg:
            for worker in workers:
                tg.create_task(worker())

    async def warmup(self) -> None:
        await self.echo(self.pb.EchoRequest(payload=b"warm"))

    async def aclose(self) -> None:
        await self.pool.aclose()


class SyncRaw(_Base):
    def __init__(self, url: str, flavour: str, gen_dir: Path) -> None:
        super().__init__(url, flavour, gen_dir)
        self.pool = httpcore.ConnectionPool(
            http1=not self.http2, http2=self.http2, max_connections=100
        )
        echo_url = self._url("Echo")
        headers = self.unary_headers
        pool = self.pool
        output = self.pb.EchoResponse

        def echo(request: Any) -> Any:
            response = pool.request(
                "POST", echo_url, headers=headers, content=request.SerializeToString()
            )
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            return output.FromString(response.content)

        self.echo: Callable[[Any], Any] = echo

    @contextlib.contextmanager
    def server_stream(self, name: str, request: Any) -> Iterator[Any]:
        out_type = getattr(self.pb, _OUTPUT[name])
        body = _envelope(request.SerializeToString())
        with self.pool.stream(
            "POST", self._url(name), headers=self.stream_headers, content=body
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")

            def messages() -> Generator[Any, None, None]:
                buffer = bytearray()
                batch: list[Any] = []
                for chunk in response.iter_stream():
                    buffer += chunk
                    ended, used = _split(buffer, out_type, batch)
                    del buffer[:used]
                    yield from batch
                    batch.clear()
                    if ended:
                        return
                raise RuntimeError("stream ended without an end-stream message")

            stream = messages()
            try:
                yield stream
            finally:
                stream.close()

    def send_input(self, requests: Iterable[Any]) -> Any:
        def body() -> Iterator[bytes]:
            for message in requests:
                yield _envelope(message.SerializeToString())

        response = self.pool.request(
            "POST", self._url("SendInput"), headers=self.upload_headers, content=body()
        )
        messages: list[Any] = []
        _split(bytearray(response.content), self.pb.InputSummary, messages)
        return messages[0]

    def bidi_pingpong(self, request: Any, rec: Recorder, count: int) -> None:
        raise Unsupported("httpcore sends the whole request body before reading the response")

    def warmup(self) -> None:
        self.echo(self.pb.EchoRequest(payload=b"warm"))

    def close(self) -> None:
        self.pool.close()
