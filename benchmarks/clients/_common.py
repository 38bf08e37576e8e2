"""Workloads written once against a small adapter per client.

An adapter exposes the client's own API in the few shapes the workloads need;
the per-message loops iterate the client's own stream objects directly, so the
adapter adds no cost per message. Every workload fills a :class:`Recorder`.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Protocol

__all__ = [
    "AsyncAdapter",
    "Recorder",
    "SyncAdapter",
    "Unsupported",
    "run_async_workload",
    "run_sync_workload",
]

perf_counter = time.perf_counter
time_ns = time.time_ns
# How many operations pass between two checks of the run's time limit.
CHECK_EVERY = 256


class Unsupported(Exception):
    """The client cannot run this workload (yet); the message says why."""


class Recorder:
    """What one run measured: operations done and latency samples (seconds)."""

    __slots__ = ("deadline", "notes", "ops", "samples", "truncated")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.ops = 0
        # Doubles, not a list of floats (8 bytes a sample, not 32): the peak
        # RSS figure is the client's, and a client that completes 100,000
        # operations must not pay for more bookkeeping than one cut short.
        self.samples = array("d")
        self.truncated = False
        self.notes: list[str] = []

    def out_of_time(self) -> bool:
        if perf_counter() > self.deadline:
            self.truncated = True
            return True
        return False


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


class AsyncAdapter(Protocol):
    pb: Any

    async def echo(self, request: Any) -> Any: ...
    def server_stream(self, name: str, request: Any) -> Any:
        """An async context manager whose value is an async iterator of messages."""

    async def send_input(self, requests: AsyncIterator[Any]) -> Any: ...
    async def bidi_pingpong(self, request: Any, rec: Recorder, count: int) -> None: ...
    async def gather(self, workers: list[Callable[[], Coroutine[Any, Any, None]]]) -> None: ...


class SyncAdapter(Protocol):
    pb: Any

    def echo(self, request: Any) -> Any: ...
    def server_stream(self, name: str, request: Any) -> Any:
        """A context manager whose value is an iterator of messages."""

    def send_input(self, requests: Iterator[Any]) -> Any: ...
    def bidi_pingpong(self, request: Any, rec: Recorder, count: int) -> None: ...


def payload(size: int) -> bytes:
    return bytes((i * 7 + 1) & 0xFF for i in range(size))


def _stream_request(pb: Any, workload: str, params: dict[str, int]) -> tuple[str, Any]:
    if workload == "stream_small":
        return "ProcessOutput", pb.ProcessOutputRequest(
            count=params["count"], chunk_size=params["size"]
        )
    if workload == "stream_large":
        return "ReadFile", pb.ReadFileRequest(count=params["count"], chunk_size=params["size"])
    if workload == "watch":
        return "Watch", pb.WatchRequest(
            count=params["count"], interval_micros=params["interval_us"]
        )
    raise KeyError(workload)


def _stream_expected(workload: str, params: dict[str, int]) -> int:
    # ProcessOutput adds a start and an end event around the data events.
    return params["count"] + (2 if workload == "stream_small" else 0)


# -- async --------------------------------------------------------------------


async def run_async_workload(
    adapter: AsyncAdapter, workload: str, params: dict[str, int], rec: Recorder
) -> None:
    pb = adapter.pb
    if workload == "unary_seq":
        await _async_unary_seq(
            adapter, pb.EchoRequest(payload=payload(params["size"])), rec, params
        )
    elif workload == "unary_conc":
        await _async_unary_conc(
            adapter, pb.EchoRequest(payload=payload(params["size"])), rec, params
        )
    elif workload in ("stream_small", "stream_large"):
        name, request = _stream_request(pb, workload, params)
        await _async_stream(adapter, name, request, rec, _stream_expected(workload, params))
    elif workload == "watch":
        name, request = _stream_request(pb, workload, params)
        await _async_watch(adapter, name, request, rec, params["count"])
    elif workload == "client_stream":
        await _async_client_stream(adapter, pb, rec, params)
    elif workload == "bidi":
        request = pb.EchoRequest(payload=payload(params["size"]))
        await adapter.bidi_pingpong(request, rec, params["count"])
    else:
        raise KeyError(workload)


async def _async_unary_seq(
    adapter: AsyncAdapter, request: Any, rec: Recorder, params: dict[str, int]
) -> None:
    samples = rec.samples
    echo = adapter.echo
    size = params["size"]
    for i in range(params["count"]):
        start = perf_counter()
        response = await echo(request)
        samples.append(perf_counter() - start)
        if i % CHECK_EVERY == 0:
            expect(len(response.payload) == size, "echo returned a wrong payload")
            if rec.out_of_time():
                break
    rec.ops = len(samples)


async def _async_unary_conc(
    adapter: AsyncAdapter, request: Any, rec: Recorder, params: dict[str, int]
) -> None:
    samples = rec.samples
    echo = adapter.echo
    left = [params["count"]]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            start = perf_counter()
            await echo(request)
            samples.append(perf_counter() - start)
            if len(samples) % CHECK_EVERY == 0 and rec.out_of_time():
                left[0] = 0

    await adapter.gather([worker] * params["concurrency"])
    rec.ops = len(samples)


async def _async_stream(
    adapter: AsyncAdapter, name: str, request: Any, rec: Recorder, expected: int
) -> None:
    samples = rec.samples
    append = samples.append
    count = 0
    last = perf_counter()
    async with adapter.server_stream(name, request) as stream:
        async for _message in stream:
            now = perf_counter()
            append(now - last)
            last = now
            count += 1
            if count % 1024 == 0 and rec.out_of_time():
                break
    rec.ops = count
    if not rec.truncated:
        expect(count == expected, f"expected {expected} messages, got {count}")
    # The first sample is the time from the start of the call to the first
    # message, not a gap between messages.
    rec.notes.append(f"first message after {samples[0] * 1000:.2f} ms")
    del samples[0]


async def _async_watch(
    adapter: AsyncAdapter, name: str, request: Any, rec: Recorder, expected: int
) -> None:
    samples = rec.samples
    count = 0
    async with adapter.server_stream(name, request) as stream:
        async for message in stream:
            samples.append((time_ns() - message.sent_unix_nanos) / 1e9)
            count += 1
            if rec.out_of_time():
                break
    rec.ops = count
    if not rec.truncated:
        expect(count == expected, f"expected {expected} events, got {count}")


async def _async_client_stream(
    adapter: AsyncAdapter, pb: Any, rec: Recorder, params: dict[str, int]
) -> None:
    chunk = pb.InputChunk(data=payload(params["size"]))
    count = params["count"]
    sent = [0]

    async def requests() -> AsyncIterator[Any]:
        for i in range(count):
            if i % CHECK_EVERY == 0 and rec.out_of_time():
                return
            sent[0] += 1
            yield chunk

    start = perf_counter()
    summary = await adapter.send_input(requests())
    rec.samples.append(perf_counter() - start)
    expect(summary.messages == sent[0], f"server got {summary.messages} of {sent[0]} messages")
    rec.ops = sent[0]


# -- sync -------------------------------------------------------------------------


def run_sync_workload(
    adapter: SyncAdapter, workload: str, params: dict[str, int], rec: Recorder
) -> None:
    pb = adapter.pb
    if workload == "unary_seq":
        _sync_unary_seq(adapter, pb.EchoRequest(payload=payload(params["size"])), rec, params)
    elif workload in ("stream_small", "stream_large"):
        name, request = _stream_request(pb, workload, params)
        _sync_stream(adapter, name, request, rec, _stream_expected(workload, params))
    elif workload == "watch":
        name, request = _stream_request(pb, workload, params)
        _sync_watch(adapter, name, request, rec, params["count"])
    elif workload == "client_stream":
        _sync_client_stream(adapter, pb, rec, params)
    elif workload == "bidi":
        request = pb.EchoRequest(payload=payload(params["size"]))
        adapter.bidi_pingpong(request, rec, params["count"])
    else:
        raise KeyError(workload)


def _sync_unary_seq(
    adapter: SyncAdapter, request: Any, rec: Recorder, params: dict[str, int]
) -> None:
    samples = rec.samples
    echo = adapter.echo
    size = params["size"]
    for i in range(params["count"]):
        start = perf_counter()
        response = echo(request)
        samples.append(perf_counter() - start)
        if i % CHECK_EVERY == 0:
            expect(len(response.payload) == size, "echo returned a wrong payload")
            if rec.out_of_time():
                break
    rec.ops = len(samples)


def _sync_stream(
    adapter: SyncAdapter, name: str, request: Any, rec: Recorder, expected: int
) -> None:
    samples = rec.samples
    append = samples.append
    count = 0
    last = perf_counter()
    with adapter.server_stream(name, request) as stream:
        for _message in stream:
            now = perf_counter()
            append(now - last)
            last = now
            count += 1
            if count % 1024 == 0 and rec.out_of_time():
                break
    rec.ops = count
    if not rec.truncated:
        expect(count == expected, f"expected {expected} messages, got {count}")
    rec.notes.append(f"first message after {samples[0] * 1000:.2f} ms")
    del samples[0]


def _sync_watch(
    adapter: SyncAdapter, name: str, request: Any, rec: Recorder, expected: int
) -> None:
    samples = rec.samples
    count = 0
    with adapter.server_stream(name, request) as stream:
        for message in stream:
            samples.append((time_ns() - message.sent_unix_nanos) / 1e9)
            count += 1
            if rec.out_of_time():
                break
    rec.ops = count
    if not rec.truncated:
        expect(count == expected, f"expected {expected} events, got {count}")


def _sync_client_stream(
    adapter: SyncAdapter, pb: Any, rec: Recorder, params: dict[str, int]
) -> None:
    chunk = pb.InputChunk(data=payload(params["size"]))
    count = params["count"]
    sent = [0]

    def requests() -> Iterator[Any]:
        for i in range(count):
            if i % CHECK_EVERY == 0 and rec.out_of_time():
                return
            sent[0] += 1
            yield chunk

    start = perf_counter()
    summary = adapter.send_input(requests())
    rec.samples.append(perf_counter() - start)
    expect(summary.messages == sent[0], f"server got {summary.messages} of {sent[0]} messages")
    rec.ops = sent[0]
