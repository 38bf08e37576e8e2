"""Opening a tunnel through a proxy over a connection to it (the
handshakes' bytes: ``connect_python._io.proxy``)."""

from __future__ import annotations

from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._io.errors import TRANSPORT_ERRORS
from connect_python._io.netutil import connect_reason
from connect_python._io.proxy import (
    MAX_CONNECT_HEAD,
    Proxy,
    connect_request,
    connect_response,
    socks5_auth,
    socks5_auth_reply,
    socks5_connect,
    socks5_greeting,
    socks5_method,
    socks5_reply,
    socks5_reply_size,
)

__all__ = ["open_tunnel"]


async def open_tunnel(net: Any, proxy: Proxy, host: str, port: int, timeout: float | None) -> None:
    """Through ``net``, a connection to ``proxy`` (TLS already on for an
    ``https://`` proxy), open a tunnel to ``host:port``; afterwards ``net``
    carries the bytes of that connection. Failures raise
    ``ConnectError(UNAVAILABLE)`` naming the proxy (never its password)."""
    try:
        if proxy.is_socks:
            await net.write(socks5_greeting(proxy), timeout)
            if socks5_method(proxy, await _read_exactly(net, 2, proxy, timeout)):
                await net.write(socks5_auth(proxy), timeout)
                socks5_auth_reply(proxy, await _read_exactly(net, 2, proxy, timeout))
            await net.write(socks5_connect(host, port), timeout)
            head = await _read_exactly(net, 5, proxy, timeout)
            socks5_reply(proxy, head, f"{host}:{port}")
            await _read_exactly(net, socks5_reply_size(head) - 5, proxy, timeout)
            return
        await net.write(connect_request(proxy, host, port), timeout)
        head = b""
        while (end := head.find(b"\r\n\r\n")) < 0:
            if len(head) > MAX_CONNECT_HEAD:
                raise _failed(proxy, "response head to CONNECT too long")
            chunk = await net.read(4096, timeout)
            if not chunk:
                raise _failed(proxy, "closed the connection during CONNECT")
            head += chunk
        connect_response(proxy, head[: end + 4])
        if end + 4 != len(head):
            # Nobody speaks first through a new tunnel (HTTP and TLS clients
            # do): bytes after the head cannot be handed on.
            raise _failed(proxy, "sent data before the tunnel was used")
    except TRANSPORT_ERRORS as exc:
        raise _failed(proxy, connect_reason(exc, timeout)) from exc


async def _read_exactly(net: Any, size: int, proxy: Proxy, timeout: float | None) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await net.read(size - len(data), timeout)
        if not chunk:
            raise _failed(proxy, "closed the connection during the SOCKS5 handshake")
        data += chunk
    return data


def _failed(proxy: Proxy, why: str) -> ConnectError:
    return ConnectError(Code.UNAVAILABLE, f"proxy {proxy}: {why}")
