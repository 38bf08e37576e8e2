"""Sync-only: a thread's socket waits share one poll set and one wake fd.

The set is kept from one wait to the next; these check that it follows the
thread from socket to socket and direction to direction, that a wake-up left
over from an earlier call changes nothing, that a connection's interrupt and
a call's cancel both end a wait through the same wake fd, and that a wait
inside a wait (a signal handler's) and a forked child get wake-ups of their own.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import httpcore
import pytest
from _support.concurrency.shim_sync import CallScope

from connect_python import Code, ConnectError
from connect_python._io import sync_waits
from connect_python._io.sync_net import SocketStream
from connect_python._io.sync_waits import (
    READABLE,
    READY,
    TIMEOUT,
    WRITABLE,
    Interrupted,
    wait_socket,
)


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    for _ in range(2):
        a, b = socket.socketpair()
        a.setblocking(False)
        made.append((a, b))
    try:
        yield made
    finally:
        for a, b in made:
            a.close()
            b.close()


def test_the_poll_set_follows_the_socket_and_direction(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    (a, a_peer), (b, _) = pairs
    a_peer.send(b"x")  # a stays readable throughout
    assert wait_socket(a, READABLE, time.monotonic() + 1) == READY
    # b has no input: a wait for it must not answer for a.
    start = time.monotonic()
    assert wait_socket(b, READABLE, start + 0.1) == TIMEOUT
    assert time.monotonic() - start >= 0.09
    assert wait_socket(b, WRITABLE, time.monotonic() + 1) == READY
    assert wait_socket(b, READABLE, time.monotonic() + 0.05) == TIMEOUT
    assert wait_socket(a, READABLE, time.monotonic() + 1) == READY


def test_a_closed_socket_is_an_error_not_a_wait(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    (a, _), _ = pairs
    stream = SocketStream(a)
    stream.close()
    start = time.monotonic()
    with pytest.raises(httpcore.ReadError):
        stream.read(10, timeout=1)
    assert time.monotonic() - start < 0.5


def test_interrupt_ends_a_read_before_or_while_it_waits(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    (a, peer), _ = pairs
    stream = SocketStream(a)
    stream.interrupt()
    with pytest.raises(InterruptedError):
        stream.read(10, timeout=5)
    # The interrupt is used up: the next read waits for input.
    peer.send(b"abc")
    assert stream.read(10, timeout=5) == b"abc"

    errors: list[BaseException] = []
    ended: list[float] = []

    def read() -> None:
        try:
            stream.read(10, timeout=5)
        except BaseException as exc:
            errors.append(exc)
        ended.append(time.monotonic())

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.1)
    interrupted_at = time.monotonic()
    stream.interrupt()
    thread.join(5)
    assert isinstance(errors[0], InterruptedError), errors
    assert ended[0] - interrupted_at < 0.1


def test_a_cancel_of_an_earlier_call_does_not_end_a_later_wait(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    (a, _), _ = pairs
    stream = SocketStream(a)
    earlier = CallScope(time.monotonic() + 0.02)
    with pytest.raises(ConnectError), earlier.step():
        stream.read(10)
    # The thread's wake fd is written by the earlier call's cancel, which
    # this call's wait drains and goes on.
    later = CallScope(time.monotonic() + 0.3)
    threading.Timer(0.05, earlier.cancel).start()
    start = time.monotonic()
    with pytest.raises(ConnectError) as info, later.step():
        stream.read(10)
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert time.monotonic() - start >= 0.25


def test_a_cancel_ends_an_interruptible_read_in_another_thread(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    (a, _), _ = pairs
    stream = SocketStream(a)
    scope = CallScope(None)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with scope.step():
                stream.read(10)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.1)
    scope.cancel()
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(errors[0], ConnectError) and errors[0].code is Code.CANCELED, errors


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_a_wait_inside_a_wait(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    (a, a_peer), (b, _) = pairs
    a_peer.send(b"x")
    inner: list[int] = []

    def handler(signum: int, frame: object) -> None:
        inner.append(wait_socket(a, READABLE, time.monotonic() + 1))

    # The handler runs in this (the main) thread, in the middle of its poll.
    previous = signal.signal(signal.SIGUSR1, handler)
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        start = time.monotonic()
        assert wait_socket(b, READABLE, start + 0.3) == TIMEOUT
        assert time.monotonic() - start >= 0.29
    finally:
        timer.join()
        signal.signal(signal.SIGUSR1, previous)
    assert inner == [READY]
    # The outer wait's socket is set again for the next wait.
    assert wait_socket(b, READABLE, time.monotonic() + 0.05) == TIMEOUT


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_wake_fd_of_its_own(
    pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    (a, a_peer), _ = pairs
    a_peer.send(b"x")
    assert wait_socket(a, READABLE, time.monotonic() + 1) == READY
    parent_waker = sync_waits.thread_state.waker
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            scope = CallScope(time.monotonic() + 0.05)
            with scope.step():
                try:
                    wait_socket(a_peer, READABLE, None)
                except Interrupted:
                    waker = sync_waits.thread_state.waker
                    code = 0 if waker is not None and waker is not parent_waker else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_steps_of_two_scopes_nest(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    (a, _), _ = pairs
    stream = SocketStream(a)
    outer = CallScope(None)
    inner = CallScope(None)
    with pytest.raises(ConnectError) as info, outer.step():
        assert sync_waits.current_scope() is outer
        with inner.step():
            assert sync_waits.current_scope() is inner
            with inner.step():  # a step of the current scope is free
                assert sync_waits.current_scope() is inner
            assert sync_waits.current_scope() is inner
            with outer.step():
                assert sync_waits.current_scope() is outer
            assert sync_waits.current_scope() is inner
            # The outer scope's interruption passes the inner step.
            outer.cancel()
            raise Interrupted(outer)
    assert info.value.code is Code.CANCELED
    assert sync_waits.current_scope() is None

    # The inner scope's cancel ends the inner step only.
    outer = CallScope(time.monotonic() + 5)
    threading.Timer(0.05, inner.cancel).start()
    with outer.step():
        with pytest.raises(ConnectError) as info, inner.step():
            stream.read(10)
        assert info.value.code is Code.CANCELED
        assert sync_waits.current_scope() is outer
    assert sync_waits.current_scope() is None
