"""Proxies (sans-IO): which proxy a connection goes through, and the bytes of
the handshakes that open a tunnel through it.

- HTTP proxies (``http://`` and ``https://``, the latter reached over TLS):
  ``CONNECT host:port`` with optional basic authentication; any 2xx opens
  the tunnel.
- SOCKS5 (``socks5://``, ``socks5h://``): no authentication or
  username/password (RFC 1929); the target's name is sent to the proxy,
  which resolves it (remote DNS), for both schemes.

Every connection of a transport with a proxy goes through a tunnel, for
``http://`` and ``https://`` origins alike (then TLS and ALPN inside it, or
h2c or HTTP/1.1 in the clear). With ``trust_env``, the proxy comes from the
environment: ``HTTPS_PROXY`` (``https://`` origins) or ``HTTP_PROXY``
(``http://``), else ``ALL_PROXY`` (upper or lower case), except for hosts
that ``NO_PROXY`` lists (``*``, names, ``.suffix`` or ``suffix`` domains).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .._code import Code
from .._errors import ConnectError

__all__ = [
    "Proxy",
    "connect_request",
    "connect_response",
    "proxy_for",
    "socks5_auth",
    "socks5_auth_reply",
    "socks5_connect",
    "socks5_greeting",
    "socks5_method",
    "socks5_reply_size",
    "socks5_reply",
]

_SCHEMES = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class Proxy:
    """A proxy: ``scheme`` is ``http``, ``https``, ``socks5`` or ``socks5h``."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """A proxy from its URL (``socks5://user:secret@host:1080``)."""
        parts = urlsplit(url if "://" in url else "http://" + url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES or not parts.hostname:
            raise ValueError(
                f"proxy must be an http://, https://, socks5:// or socks5h:// URL, got {url!r}"
            )
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(scheme, parts.hostname, parts.port or _SCHEMES[scheme], username, password)

    @property
    def is_socks(self) -> bool:
        return self.scheme.startswith("socks5")

    def __str__(self) -> str:  # never shows the password
        return f"{self.scheme}://{self.host}:{self.port}"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name.lower()) or environ.get(name.upper()) or None


def _bypassed(host: str, no_proxy: str) -> bool:
    host = host.lower().rstrip(".")
    for entry in no_proxy.replace(" ", "").split(","):
        entry = entry.lower().rstrip(".")
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.split(":", 1)[0] if entry.count(":") == 1 else entry
        suffix = entry.lstrip(".")
        if host == suffix or host.endswith("." + suffix):
            return True
    return False


def proxy_for(
    scheme: str,
    host: str,
    proxy: Proxy | None,
    trust_env: bool,
    environ: Mapping[str, str] | None = None,
) -> Proxy | None:
    """The proxy of a connection to ``scheme://host``: the transport's, else
    (with ``trust_env``) the environment's; ``None``: a direct connection."""
    if proxy is not None:
        return proxy
    if not trust_env:
        return None
    env = os.environ if environ is None else environ
    url = _env(env, "https_proxy" if scheme == "https" else "http_proxy") or _env(env, "all_proxy")
    if url is None:
        return None
    no_proxy = _env(env, "no_proxy")
    if no_proxy is not None and _bypassed(host, no_proxy):
        return None
    return Proxy.parse(url)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _failed(proxy: Proxy, why: str) -> ConnectError:
    return ConnectError(Code.UNAVAILABLE, f"proxy {proxy}: {why}")


# -- HTTP CONNECT -------------------------------------------------------------------


def connect_request(proxy: Proxy, host: str, port: int) -> bytes:
    """The ``CONNECT`` request that opens a tunnel to ``host:port``."""
    target = _authority(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.username is not None:
        token = f"{proxy.username}:{proxy.password or ''}".encode()
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(token).decode("ascii"))
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


#: The longest response head to a CONNECT accepted.
MAX_CONNECT_HEAD = 16 * 1024


def connect_response(proxy: Proxy, head: bytes) -> None:
    """Check the response head (up to its blank line) to a ``CONNECT``;
    raises ``ConnectError(UNAVAILABLE)`` unless it opened the tunnel."""
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _failed(proxy, f"not an HTTP response to CONNECT: {status_line[:80]!r}")
    status = int(parts[1])
    if not 200 <= status < 300:
        reason = parts[2] if len(parts) > 2 else ""
        hint = " (check the proxy's credentials)" if status == 407 else ""
        raise _failed(proxy, f"CONNECT refused: {status} {reason}".rstrip() + hint)


# -- SOCKS5 -------------------------------------------------------------------------


def socks5_greeting(proxy: Proxy) -> bytes:
    """The methods offered: username/password when there are credentials, else none."""
    return b"\x05\x01\x02" if proxy.username is not None else b"\x05\x01\x00"


def socks5_method(proxy: Proxy, reply: bytes) -> bool:
    """Check the method the proxy chose (2 bytes); whether it asks for credentials."""
    if len(reply) != 2 or reply[0] != 5:
        raise _failed(proxy, "not a SOCKS5 server")
    if reply[1] == 0xFF:
        raise _failed(proxy, "no acceptable SOCKS5 authentication method")
    return reply[1] == 2


def socks5_auth(proxy: Proxy) -> bytes:
    """The username/password sub-negotiation (RFC 1929)."""
    user = (proxy.username or "").encode()
    secret = (proxy.password or "").encode()
    if len(user) > 255 or len(secret) > 255:
        raise ValueError("SOCKS5 username and password are at most 255 bytes")
    return bytes([1, len(user)]) + user + bytes([len(secret)]) + secret


def socks5_auth_reply(proxy: Proxy, reply: bytes) -> None:
    if len(reply) != 2 or reply[1] != 0:
        raise _failed(proxy, "SOCKS5 authentication failed (check the proxy's credentials)")


def socks5_connect(host: str, port: int) -> bytes:
    """The CONNECT command; a name goes to the proxy as is (it resolves it)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        target = b"\x03" + bytes([len(name)]) + name
    else:
        target = (b"\x01" if address.version == 4 else b"\x04") + address.packed
    return b"\x05\x01\x00" + target + struct.pack(">H", port)


_SOCKS5_ERRORS = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


def socks5_reply_size(head: bytes) -> int:
    """The size of the whole CONNECT reply, from its first 5 bytes."""
    kind = head[3]
    if kind == 1:
        return 4 + 4 + 2
    if kind == 4:
        return 4 + 16 + 2
    if kind == 3:
        return 4 + 1 + head[4] + 2
    return 0


def socks5_reply(proxy: Proxy, head: bytes, target: str) -> None:
    """Check the reply to CONNECT (its first 5 bytes)."""
    if len(head) < 5 or head[0] != 5:
        raise _failed(proxy, "not a SOCKS5 reply")
    if head[1] != 0:
        why = _SOCKS5_ERRORS.get(head[1], f"error {head[1]}")
        raise _failed(proxy, f"cannot reach {target}: {why}")
    if not socks5_reply_size(head):
        raise _failed(proxy, "SOCKS5 reply with an unknown address type")
