# unasync: skip -- fairness between tasks of one event loop.
"""Draining a fast stream leaves room for the other tasks of the event loop.

Messages that were received already are handed out without I/O; the call
still gives the event loop a turn every fraction of a millisecond. While a
task drains a fast stream, a 1 ms ticker task keeps at least 80 % of the
ticks it gets on an idle loop, and a cancel scope lands within 5 ms.

Over HTTP/1.1 and h2c. The stream first gets ahead of its consumer (the
server's output piles up for a moment), so every read the client does is a
large one: on HTTP/2 up to 256 KiB, thousands of tiny DATA frames (~3-8 µs
each in the ``h2`` library), which the connection must not parse in one go.

The suite may share the machine with other work, and time the operating
system gives to other processes is no fault of the event loop's tasks: the
ticker's expectation counts only the time this thread was on a CPU, and the
cancel scope's figure is the CPU time the thread used from the last message
before the deadline until the scope was left (an upper bound of the time it
ran without a scheduling point after the deadline). A measurement during
which the stream hardly flowed (the thread was kept off the CPU) shows
nothing and is taken again, a few times at most.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python.runtime_async import AsyncConnectClient

from .conftest import make_transport
from .helpers import STREAM

#: Long enough to still be draining when the scopes below fire.
FAST = pb.StreamRequest(count=1_000_000, size=8)
WINDOW = 0.4
TICK = 0.001
#: How long the stream runs ahead of its consumer before the measurement.
BACKLOG = 0.1


@pytest.fixture(autouse=True)
def _frozen_heap() -> Iterator[None]:
    """The objects the test process holds already (pytest's, the modules')
    stay out of garbage collection meanwhile: a full collection of them takes
    tens of milliseconds without a scheduling point, which is no doing of the
    client's (new objects are still collected)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _ticker(duration: float) -> int:
    ticks = 0
    end = anyio.current_time() + duration
    while anyio.current_time() < end:
        await anyio.sleep(TICK)
        ticks += 1
    return ticks


@pytest.mark.parametrize("codec", ["proto", "json"])
@pytest.mark.parametrize("mode", ["h1", "h2c"])
async def test_a_ticker_keeps_its_ticks_while_a_fast_stream_drains(
    test_server: Any, mode: str, codec: str
) -> None:
    base_url, transport = make_transport(test_server, mode)
    async with transport, AsyncConnectClient(base_url, transport=transport, codec=codec) as client:
        # The ticker's rate with nothing else running (a 1 ms sleep takes a
        # little longer than 1 ms).
        wall, cpu = time.perf_counter(), time.thread_time()
        idle = await _ticker(WINDOW)
        idle_rate = idle / (time.perf_counter() - wall)
        assert time.thread_time() - cpu < WINDOW / 2  # the loop was idle
        received = 0
        loaded = 0
        on_cpu = 0.0
        during = 0

        async def drain() -> None:
            nonlocal received
            async with client.server_stream(STREAM, FAST) as call:
                async for _ in call:
                    received += 1
                    if received == 100:
                        await anyio.sleep(BACKLOG)

        async def tick() -> None:
            nonlocal loaded, on_cpu, during
            # Start once the stream flows, so the window is all draining.
            while received < 200:
                await anyio.sleep(TICK)
            first = received
            wall, cpu = time.perf_counter(), time.thread_time()
            loaded = await _ticker(WINDOW)
            on_cpu = min(time.thread_time() - cpu, time.perf_counter() - wall)
            during = received - first
            tg.cancel_scope.cancel()

        for _ in range(3):
            # Again if the stream hardly flowed meanwhile (a busy machine kept
            # this process off the CPU): such a window shows nothing.
            received = 0
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(drain)
                    tg.start_soon(tick)
            if during > 500:
                break
    expected = idle_rate * on_cpu
    assert during > 500  # the stream was really draining meanwhile
    assert loaded >= 0.8 * expected, (
        f"{loaded} ticks while draining {during} messages, {expected:.0f} expected"
        f" ({idle} idle in {WINDOW} s, {on_cpu * 1000:.0f} ms on a CPU)"
    )


@pytest.mark.parametrize("codec", ["proto", "json"])
@pytest.mark.parametrize("mode", ["h1", "h2c"])
async def test_a_cancel_scope_lands_within_5_ms_while_a_fast_stream_drains(
    test_server: Any, mode: str, codec: str
) -> None:
    base_url, transport = make_transport(test_server, mode)
    late_cpu: list[float] = []
    late_wall: list[float] = []
    async with transport, AsyncConnectClient(base_url, transport=transport, codec=codec) as client:
        # Five runs in which the stream was still flowing when the scope fired
        # (a run the operating system kept off the CPU for most of the scope,
        # on a busy machine, shows nothing and is run again).
        for _ in range(15):
            if len(late_cpu) == 5:
                break
            received = 0
            with anyio.fail_after(30):
                async with client.server_stream(STREAM, FAST) as call:
                    # Let the stream flow first, then drain under a short scope.
                    async for _ in call:
                        received += 1
                        if received == 100:
                            break
                    await anyio.sleep(BACKLOG)
                    with anyio.move_on_after(0.1) as scope:
                        deadline = time.perf_counter() + (scope.deadline - anyio.current_time())
                        last_cpu = time.thread_time()
                        async for _ in call:
                            received += 1
                            if time.perf_counter() < deadline:
                                last_cpu = time.thread_time()
                    cpu, wall = time.thread_time() - last_cpu, time.perf_counter() - deadline
            assert scope.cancelled_caught
            if received > 200:  # still streaming when the scope fired
                late_cpu.append(cpu)
                late_wall.append(wall)
    assert len(late_cpu) == 5, "the stream hardly flowed under the scope"
    assert max(late_cpu) <= 0.005, (
        [f"{late * 1000:.1f} ms CPU" for late in late_cpu],
        [f"{late * 1000:.1f} ms" for late in late_wall],
    )
