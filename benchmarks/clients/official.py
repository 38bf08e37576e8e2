"""The official ``connectrpc`` client (PyPI), through the clients its own plugin
``protoc-gen-connectrpc`` generated with ``protobuf=google`` (Google's
``_pb2`` messages, the same as ours).

Configured like ours for the same bytes on the wire: no request compression
(its default is gzip on every request) and identity only for responses. Its
transport is pyqwest (Rust): HTTP/1.1, or HTTP/2 with prior knowledge for h2c.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import queue
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from ._common import Recorder, Unsupported, perf_counter

_SNAKE = {"ProcessOutput": "process_output", "ReadFile": "read_file", "Watch": "watch"}
_FIRST_WAIT = 10.0


def _version(flavour: str) -> Any:
    from pyqwest import HTTPVersion

    return HTTPVersion.HTTP2 if flavour == "h2c" else HTTPVersion.HTTP1


class AsyncOfficial:
    api = "generated (protoc-gen-connectrpc, protobuf=google)"
    why_low_level = None

    def __init__(self, url: str, flavour: str, gen_dir: Path) -> None:
        from pyqwest import Client, HTTPTransport

        self.pb = importlib.import_module("connectbench.v1.bench_pb2")
        gen = importlib.import_module("connectbench.v1.bench_connect")
        self.transport = HTTPTransport(http_version=_version(flavour))
        self.http = Client(self.transport)
        self.client = gen.BenchServiceClient(
            url, http_client=self.http, send_compression=None, accept_compression=[]
        )
        self.echo: Callable[[Any], Awaitable[Any]] = self.client.echo

    @contextlib.asynccontextmanager
    async def server_stream(self, name: str, request: Any) -> AsyncIterator[Any]:
        stream = getattr(self.client, _SNAKE[name])(request)
        try:
            yield stream
        finally:
            await stream.aclose()

    async def send_input(self, requests: AsyncIterator[Any]) -> Any:
        return await self.client.send_input(requests)

    async def bidi_pingpong(self, request: Any, rec: Recorder, count: int) -> None:
        samples = rec.samples
        answered: asyncio.Queue[None] = asyncio.Queue()
        sent_at = [0.0]

        async def requests() -> AsyncIterator[Any]:
            for i in range(count):
                if i:
                    await answered.get()
                    if i % 256 == 0 and rec.out_of_time():
                        return
                sent_at[0] = perf_counter()
                yield request

        stream = self.client.echo_stream(requests())
        try:
            try:
                first = await asyncio.wait_for(anext(stream), _FIRST_WAIT)
            except TimeoutError as exc:
                raise Unsupported(
                    f"bidi ping-pong: no response to the first message within {_FIRST_WAIT:.0f} s"
                ) from exc
            samples.append(perf_counter() - sent_at[0])
            answered.put_nowait(None)
            expected = len(request.payload)
            if len(first.payload) != expected:
                raise AssertionError("bidi echo returned a wrong message")
            async for response in stream:
                samples.append(perf_counter() - sent_at[0])
                answered.put_nowait(None)
                if len(response.payload) != expected:
                    raise AssertionError("bidi echo returned a wrong message")
        finally:
            await stream.aclose()
        rec.ops = len(samples)

    async def gather(self, workers: list[Callable[[], Coroutine[Any, Any, None]]]) -> None:
        async with asyncio.TaskGroup() as tg:
            for worker in workers:
                tg.create_task(worker())

    async def warmup(self) -> None:
        await self.echo(self.pb.EchoRequest(payload=b"warm"))

    async def aclose(self) -> None:
        await self.client.close()
        await self.transport.aclose()


class SyncOfficial:
    api = "generated (protoc-gen-connectrpc, protobuf=google)"
    why_low_level = None

    def __init__(self, url: str, flavour: str, gen_dir: Path) -> None:
        from pyqwest import SyncClient, SyncHTTPTransport

        self.pb = importlib.import_module("connectbench.v1.bench_pb2")
        gen = importlib.import_module("connectbench.v1.bench_connect")
        self.transport = SyncHTTPTransport(http_version=_version(flavour))
        self.http = SyncClient(self.transport)
        self.client = gen.BenchServiceClientSync(
            url, http_client=self.http, send_compression=None, accept_compression=[]
        )
        self.echo: Callable[[Any], Any] = self.client.echo

    @contextlib.contextmanager
    def server_stream(self, name: str, request: Any) -> Iterator[Any]:
        stream = getattr(self.client, _SNAKE[name])(request)
        try:
            yield stream
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def send_input(self, requests: Iterator[Any]) -> Any:
        return self.client.send_input(requests)

    def bidi_pingpong(self, request: Any, rec: Recorder, count: int) -> None:
        samples = rec.samples
        answered: queue.SimpleQueue[None] = queue.SimpleQueue()
        sent_at = [0.0]
        stalled = [False]

        def requests() -> Iterator[Any]:
            for i in range(count):
                if i:
                    try:
                        answered.get(timeout=_FIRST_WAIT if i == 1 else 60.0)
                    except queue.Empty:
                        stalled[0] = True
                        return
                    if i % 256 == 0 and rec.out_of_time():
                        return
                sent_at[0] = perf_counter()
                yield request

        timeout_ms = int((max(rec.deadline - perf_counter(), 1.0) + 5.0) * 1000)
        stream = self.client.echo_stream(requests(), timeout_ms=timeout_ms)
        expected = len(request.payload)
        try:
            for response in stream:
                samples.append(perf_counter() - sent_at[0])
                answered.put(None)
                if len(response.payload) != expected:
                    raise AssertionError("bidi echo returned a wrong message")
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if stalled[0] and len(samples) <= 1:
            raise Unsupported("bidi ping-pong: responses are read only after the request ends")
        rec.ops = len(samples)

    def warmup(self) -> None:
        self.echo(self.pb.EchoRequest(payload=b"warm"))

    def close(self) -> None:
        self.client.close()
        self.transport.close()
