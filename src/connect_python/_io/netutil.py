"""Small socket helpers shared by both flavours, and the error of a failed dial."""

from __future__ import annotations

import errno
import os
import select
import socket

import httpcore

from .._code import Code
from .._errors import ConnectError

__all__ = ["connect_error", "connect_reason", "socket_is_readable", "uds_error"]


def socket_is_readable(sock: socket.socket | None) -> bool:
    """Whether ``sock`` has data or EOF waiting (an idle connection the peer
    closed), checked without blocking. ``None`` or a closed socket counts as
    readable, so the connection is dropped."""
    if sock is None:
        return True
    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


def recv_nowait(sock: socket.socket, max_bytes: int) -> bytes | None:
    """Up to ``max_bytes`` from a non-blocking socket (``b""``: end of
    stream), or ``None`` when nothing is there yet; a socket error is
    httpcore's ``ReadError``."""
    try:
        return sock.recv(max_bytes)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause of ``exc`` (the first of a group's)."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        group = getattr(exc, "exceptions", None)  # an exception group
        if isinstance(group, (tuple, list)) and group and isinstance(group[0], BaseException):
            exc = group[0]
            continue
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _is_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (TimeoutError, httpcore.ConnectTimeout)):
            return True
        current = current.__cause__ or current.__context__
    return False


def connect_reason(exc: BaseException, timeout: float | None = None) -> str:
    """Why a connection could not be opened, in words both flavours share."""
    if _is_timeout(exc):
        return "timed out" if timeout is None else f"timed out after {timeout:g} s"
    root = _root_cause(exc)
    if isinstance(root, socket.gaierror):
        detail = root.strerror or str(root)
        return f"cannot resolve the host name ({detail})"
    if isinstance(root, OSError) and root.errno:
        if root.errno == errno.ECONNREFUSED:
            return "connection refused"
        text = os.strerror(root.errno)
        return text[:1].lower() + text[1:]
    return str(root) or type(root).__name__


def connect_error(
    host: str, port: int, exc: BaseException, timeout: float | None = None, what: str = ""
) -> ConnectError:
    """``ConnectError(UNAVAILABLE)`` for a failed dial of ``host:port``
    (``timeout``: the connect timeout that applied, if any; ``what``: a word
    before the address, such as ``"proxy "``)."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    error = ConnectError(
        Code.UNAVAILABLE, f"cannot connect to {what}{target}: {connect_reason(exc, timeout)}"
    )
    error.__cause__ = exc
    return error


def uds_error(path: str, exc: BaseException, timeout: float | None = None) -> ConnectError:
    """``ConnectError(UNAVAILABLE)`` for a failed dial of the Unix socket ``path``."""
    error = ConnectError(
        Code.UNAVAILABLE,
        f"cannot connect to unix socket {path}: {connect_reason(exc, timeout)}",
    )
    error.__cause__ = exc
    return error
