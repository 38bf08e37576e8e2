"""A raw HTTP/1.1 test server on loopback, for behaviour connect-go can't show.

Each connection runs in its own thread and follows the scenario named by the
request's ``x-scenario`` header:

- ``stream_forever``: a server stream of ``StreamResponse`` messages, one every
  2 ms, until the client goes away; the server notes when it saw that.
- ``early_401``: reads only the request head, answers 401 with a Connect JSON
  error, and closes the connection without reading the upload.
- ``half_duplex_chat``: reads the whole (chunked) request, then answers each
  ``ChatRequest`` with a ``ChatResponse`` (bidi as a half-duplex HTTP/1.1
  server such as an ASGI one does it).
- ``upload``: reads the whole (chunked) request, then answers with one
  ``UploadResponse`` (messages and chunk bytes of its ``UploadRequest``
  messages), as a Connect client stream.
- ``deadline_answer``: reads the request, waits until :attr:`answer_at`
  (``time.monotonic()``), then answers with a Connect ``deadline_exceeded``
  error, as a server timing out the announced deadline does.

Imported by the async tests and their sync twins (``from runtime.h1server``).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable

from connectpy.testing.v1 import testing_pb2 as pb

__all__ = ["H1TestServer"]


def envelope(flags: int, payload: bytes) -> bytes:
    return bytes([flags]) + len(payload).to_bytes(4, "big") + payload


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Request:
    def __init__(self, head: bytes, rest: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, _ = lines[0].split(" ", 2)
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
        self.rest = rest


class H1TestServer:
    """The server: ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.stopping = False
        #: Set by ``stream_forever`` once the client closed (or reset) the connection.
        self.client_gone = threading.Event()
        #: Messages ``stream_forever`` sent.
        self.sent = 0
        self.accepted = 0
        #: Chunks of the last chunked request body read.
        self.chunks = 0
        #: When ``deadline_answer`` answers (a ``time.monotonic()`` value).
        self.answer_at = 0.0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def __enter__(self) -> H1TestServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.stopping = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=2)

    def _accept(self) -> None:
        while not self.stopping:
            try:
                readable, _, _ = select.select([self._listener], [], [], 0.05)
                if not readable:
                    continue
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            with self._lock:
                self._conns.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- plumbing ---------------------------------------------------------------

    def _read_head(self, sock: socket.socket) -> _Request | None:
        data = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in data:
            if time.monotonic() > deadline or self.stopping:
                return None
            readable, _, _ = select.select([sock], [], [], 0.05)
            if not readable:
                continue
            got = sock.recv(65536)
            if not got:
                return None
            data += got
        head, _, rest = data.partition(b"\r\n\r\n")
        return _Request(head, rest)

    def _read_body(self, sock: socket.socket, request: _Request) -> bytes:
        data = request.rest
        length = request.headers.get("content-length")
        deadline = time.monotonic() + 10

        def more() -> bool:
            nonlocal data
            if time.monotonic() > deadline:
                raise TimeoutError("request body")
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                got = sock.recv(65536)
                if not got:
                    raise EOFError("request body")
                data += got
            return True

        if length is not None:
            while len(data) < int(length):
                more()
            return data[: int(length)]
        body = b""
        chunks = 0
        while True:
            while b"\r\n" not in data:
                more()
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line, 16)
            while len(data) < size + 2:
                more()
            body += data[:size]
            data = data[size + 2 :]
            if size == 0:
                self.chunks = chunks
                return body
            chunks += 1

    def _serve(self, sock: socket.socket) -> None:
        try:
            while not self.stopping:
                request = self._read_head(sock)
                if request is None:
                    return
                scenario = request.headers.get("x-scenario", "")
                handler: Callable[[socket.socket, _Request], bool] = getattr(self, "_" + scenario)
                if not handler(sock, request):
                    return
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    # -- scenarios ----------------------------------------------------------------

    def _stream_forever(self, sock: socket.socket, request: _Request) -> bool:
        self._read_body(sock, request)
        sock.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/connect+proto\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        index = 0
        deadline = time.monotonic() + 30
        try:
            while not self.stopping and time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0.002)
                if readable and not sock.recv(65536):
                    break  # EOF: the client closed the connection
                message = pb.StreamResponse(index=index, payload=b"x" * 16)
                sock.sendall(chunk(envelope(0, message.SerializeToString())))
                index += 1
                self.sent = index
        except OSError:
            pass  # reset by the client
        else:
            if self.stopping or time.monotonic() >= deadline:
                return False
        self.client_gone.set()
        return False

    def _early_401(self, sock: socket.socket, request: _Request) -> bool:
        body = json.dumps({"code": "unauthenticated", "message": "token expired"}).encode()
        sock.sendall(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        # Closing with the upload unread makes the kernel reset the connection.
        return False

    def _deadline_answer(self, sock: socket.socket, request: _Request) -> bool:
        self._read_body(sock, request)
        delay = self.answer_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = json.dumps({"code": "deadline_exceeded", "message": "server timed out"}).encode()
        sock.sendall(
            b"HTTP/1.1 504 Gateway Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        return True

    def _upload(self, sock: socket.socket, request: _Request) -> bool:
        body = self._read_body(sock, request)
        pos = messages = size = 0
        while pos + 5 <= len(body):
            length = int.from_bytes(body[pos + 1 : pos + 5], "big")
            size += len(pb.UploadRequest.FromString(body[pos + 5 : pos + 5 + length]).chunk)
            pos += 5 + length
            messages += 1
        reply = pb.UploadResponse(messages=messages, bytes=size)
        out = chunk(envelope(0, reply.SerializeToString())) + chunk(envelope(2, b"{}"))
        sock.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/connect+proto\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + out + b"0\r\n\r\n"
        )
        return True

    def _half_duplex_chat(self, sock: socket.socket, request: _Request) -> bool:
        body = self._read_body(sock, request)
        out = b""
        pos = 0
        index = 0
        while pos + 5 <= len(body):
            size = int.from_bytes(body[pos + 1 : pos + 5], "big")
            message = pb.ChatRequest.FromString(body[pos + 5 : pos + 5 + size])
            pos += 5 + size
            reply = pb.ChatResponse(text="re: " + message.text, index=index)
            out += chunk(envelope(0, reply.SerializeToString()))
            index += 1
        out += chunk(envelope(2, b"{}")) + b"0\r\n\r\n"
        sock.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/connect+proto\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + out
        )
        return True
