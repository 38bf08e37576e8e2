"""The conformance client's "cancel N ms after close-send" timer on a busy event loop.

``Client Cancellation/…/cancel-after-close-send`` cancels 5 ms after the
request ends; the server answers 200 ms later. On a loaded machine the event
loop of ``client.py`` was busy past both, and the timer's task and the
response were then taken in the same scheduling round, in either order: now
and then the response won and the case failed ("expecting 2 response messages
but instead got 3", "expecting 0 response messages but instead got 1"). These
tests block the loop (``time.sleep``) over the cancel time while the Go test
server's answer arrives, the same situation made certain, and run the client's
own reading code (``runner_async._read``) on a real full-duplex call.

Async only: the sync client's timer is a thread, which a busy caller does not
hold back (only a starved process does, and there the same check applies).
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from _support import server_mode_for
from _support.methods import CHAT, pb
from test_conformance import HERE, runner  # noqa: F401  (the fixture that sets the suite up)

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("runner")]

#: Longer than the cancel delay plus the server's answer on a loaded machine.
BUSY = 0.3


@pytest.fixture
def runner_async() -> ModuleType:
    """The conformance client's runner (it needs the suite's generated code)."""
    generated = str(HERE / "_gen")
    if generated not in sys.path:
        sys.path.insert(0, generated)
    import runner_async

    return runner_async


@pytest.fixture
async def client(test_server: Any) -> AsyncIterator[AsyncConnectClient]:
    base_url, kwargs = server_mode_for("h2c", test_server)
    async with AsyncTransport(**kwargs) as transport:
        yield AsyncConnectClient(base_url, transport=transport, timeout=20)


def _plan() -> Any:
    """What ``_read`` asks of a case: no cancel after N responses."""
    return SimpleNamespace(cancel_after_responses=None)


async def test_a_late_timer_still_cancels_before_the_end(
    client: AsyncConnectClient, runner_async: ModuleType
) -> None:
    """The full-duplex case: replies read, close-send, cancel 5 ms later; the
    server ends the stream meanwhile. The cancel came first: CANCELED."""
    token = CancelToken()
    out = runner_async.Outcome()
    async with client.bidi_stream(CHAT, cancel=token) as call:
        await call.send(pb.ChatRequest(text="a"))
        assert await call.receive() is not None
        timer = runner_async._Timer(token, 0.005)
        await call.close_send()
        time.sleep(BUSY)  # the loop is busy past the cancel; the end arrives
        with pytest.raises(ConnectError) as info:
            await runner_async._read(call, _plan(), out, timer)
        timer.stop()
    assert info.value.code is Code.CANCELED
    assert out.payloads == []


async def test_a_late_timer_still_cancels_before_a_message(
    client: AsyncConnectClient, runner_async: ModuleType
) -> None:
    """A message the server sent after the cancel time is not taken first."""
    token = CancelToken()
    out = runner_async.Outcome()
    async with client.bidi_stream(CHAT, cancel=token) as call:
        timer = runner_async._Timer(token, 0.005)
        await call.send(pb.ChatRequest(text="a"))
        time.sleep(BUSY)  # the loop is busy past the cancel; the reply arrives
        with pytest.raises(ConnectError) as info:
            await runner_async._read(call, _plan(), out, timer)
        timer.stop()
    assert info.value.code is Code.CANCELED
    assert out.payloads == []


async def test_an_early_message_is_kept(
    client: AsyncConnectClient, runner_async: ModuleType
) -> None:
    """Before the cancel time the call reads on as usual."""
    token = CancelToken()
    out = runner_async.Outcome()
    async with client.bidi_stream(CHAT, cancel=token) as call:
        timer = runner_async._Timer(token, 60)
        await call.send(pb.ChatRequest(text="a"))
        await call.close_send()
        await runner_async._read(call, _plan(), out, timer)
        timer.stop()
    assert len(out.payloads) == 1 and not token.cancelled
