"""A raw TCP server on 127.0.0.1 that answers every connection with canned bytes.

For tests of what the client does with answers no real server would give (or
that a server of another kind gives): malformed bodies, lenient numbers, an
HTTP/1.1 answer to the HTTP/2 preface. It runs in threads over plain sockets,
so it serves the async and the sync flavour alike.

Each connection: the request is read (``"h1"``: an HTTP/1.1 head and its body,
by ``Content-Length`` or chunked; ``"preface"``: the 24-byte HTTP/2 client
preface), then ``answer`` is sent. The server then ends its side of the
connection (with ``keep_open=True`` it does not) and reads and drops what
arrives until the client closes or the server is closed. Every wait is bounded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

__all__ = ["RawServer"]

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_WAIT = 0.2  # seconds per blocking socket call: loops re-check the closed flag
_LIFETIME = 30.0  # no connection is served longer than this


class RawServer:
    """Answers every connection with ``answer`` (bytes, or a function of the request)."""

    def __init__(
        self,
        answer: bytes | Callable[[bytes], bytes],
        *,
        read: str = "h1",
        keep_open: bool = False,
    ) -> None:
        self._answer = answer
        self._read = read
        self._keep_open = keep_open
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_WAIT)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def close(self) -> None:
        """Stop accepting, end every connection and wait for the threads."""
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        except OSError:
            pass
        self._accepter.join(5)
        for thread in list(self._threads):
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _recv(self, conn: socket.socket, buf: bytearray, deadline: float) -> bool:
        """Receive more into ``buf``; ``False`` at EOF, close or the lifetime's end."""
        while not self._closed.is_set() and time.monotonic() < deadline:
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return False
            if not data:
                return False
            buf += data
            return True
        return False

    def _read_request(self, conn: socket.socket, deadline: float) -> bytes | None:
        buf = bytearray()
        if self._read == "preface":
            while len(buf) < len(_PREFACE):
                if not self._recv(conn, buf, deadline):
                    return None
            return bytes(buf)
        while b"\r\n\r\n" not in buf:
            if not self._recv(conn, buf, deadline):
                return None
        head, _, body = bytes(buf).partition(b"\r\n\r\n")
        lower = head.lower()
        rest = bytearray(body)
        if b"transfer-encoding: chunked" in lower:
            while not rest.endswith(b"0\r\n\r\n"):
                if not self._recv(conn, rest, deadline):
                    return None
        else:
            length = 0
            for line in lower.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1].strip().decode("ascii"))
            while len(rest) < length:
                if not self._recv(conn, rest, deadline):
                    return None
        return head + b"\r\n\r\n" + bytes(rest)

    def _serve(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + _LIFETIME
        conn.settimeout(_WAIT)
        try:
            request = self._read_request(conn, deadline)
            if request is None:
                return
            self.requests.append(request)
            answer = self._answer(request) if callable(self._answer) else self._answer
            conn.sendall(answer)
            if not self._keep_open:
                # End our side, then take in what the client still sends until it
                # closes: closing with unread input would reset the connection
                # and might destroy the answer before the client read it.
                conn.shutdown(socket.SHUT_WR)
            sink = bytearray()
            while self._recv(conn, sink, deadline):
                sink.clear()
        except OSError:
            pass
        finally:
            conn.close()
