"""A small HTTP/2 server on ``h2`` (h2c, or h2 over TLS), for frame-level tests
of our transport (and :class:`HypercornServer`, a real ``h2``-based server, for
limits it enforces).

It runs in threads over plain sockets on 127.0.0.1, so it serves the async and
the sync flavour alike. Every frame a client sends is logged (type, stream,
flags, error code / window increment), and the server's own view of the
connection (windows, streams, bytes sent) is inspectable.

What a request gets is chosen by its ``x-scenario`` header: the scripts are in
:mod:`transport.h2scenarios`, the client's frames are logged as in
:mod:`transport.h2frames`.


Faults of a whole connection: the first ``silent_connections`` connections
never send anything (not even SETTINGS) and read and drop what arrives; with
``read_chunk`` and ``read_pause`` every connection reads slowly (at most
``read_chunk`` bytes, then a pause), so a client's large writes block often
but keep making progress.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from transport.h2frames import CANCEL, Frame, FrameTap
from transport.h2scenarios import Scenarios, ScriptedStream

__all__ = [
    "CANCEL",
    "Frame",
    "H2TestServer",
    "ServerConnection",
    "make_certificate",
]


class ServerConnection(Scenarios):
    """The server's side of one client connection (runs in its own thread)."""

    def __init__(self, server: H2TestServer, sock: socket.socket, index: int) -> None:
        self.server = server
        self.index = index
        self.sock = sock
        self.lock = threading.Lock()
        self.frames: list[Frame] = []
        self.streams_opened = 0
        self.max_open = 0
        self.closed = False
        self.sent_by_stream: dict[int, int] = {}
        #: (stream id, request headers) of every request, in order.
        self.requests: list[tuple[int, dict[str, str]]] = []
        self._tap = FrameTap()
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        settings = h2.settings.SettingCodes
        initial: dict[Any, int] = {settings.MAX_FRAME_SIZE: 16384}
        if server.max_concurrent_streams is not None:
            initial[settings.MAX_CONCURRENT_STREAMS] = server.max_concurrent_streams
        if server.initial_window is not None:
            initial[settings.INITIAL_WINDOW_SIZE] = server.initial_window
        conn.local_settings = h2.settings.Settings(client=False, initial_values=initial)
        conn.initiate_connection()
        if server.initial_window is not None and server.initial_window > 65535:
            conn.increment_flow_control_window(server.initial_window - 65535)
        self.h2 = conn
        self.initial_window = 65535
        self._streams: dict[int, ScriptedStream] = {}
        self._close_when_idle = False
        self.extra_out = bytearray()
        self._bye: tuple[float, int] | None = None
        #: Set once the server stopped reading (``stall``, ``ping-flood``).
        self.stalled = False
        self._ping_flood = False
        self._flood_burst = 4096
        self._flood_delay = 0.0
        #: PING frames sent by ``ping-flood`` (whole frames only).
        self.pings_sent = 0
        #: Bytes read from the client so far.
        self.received = 0
        #: Set when the client's frames broke the protocol (h2 raised).
        self.protocol_error: h2.exceptions.ProtocolError | None = None
        #: The connection sends nothing at all (see ``silent_connections``).
        self.silent = index < server.silent_connections

    # -- inspection (any thread) ------------------------------------------------

    def frames_of(self, kind: str, stream_id: int | None = None) -> list[Frame]:
        with self.lock:
            return [
                f
                for f in self.frames
                if f.type == kind and (stream_id is None or f.stream_id == stream_id)
            ]

    @property
    def outbound_window(self) -> int:
        """What the client's connection receive window is, as the server sees it."""
        with self.lock:
            return int(self.h2.outbound_flow_control_window)

    @property
    def open_streams(self) -> int:
        with self.lock:
            return len(self._streams)

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        try:
            context = self.server.ssl_context
            if context is not None:
                self.sock.settimeout(5)
                self.sock = context.wrap_socket(self.sock, server_side=True)
                self.sock.settimeout(None)
        except (OSError, ssl.SSLError):
            _close_gracefully(self.sock)
            self.closed = True
            return
        sock = self.sock
        try:
            if self.silent:
                self._run_silent()
                return
            self._send()
            while not self.server.stopping and not self.closed:
                if self.stalled:
                    self._run_stalled()
                    return
                timeout = self._timeout()
                readable: Any = _pending(sock)
                if not readable:
                    readable, _, _ = select.select([sock], [], [], timeout)
                if readable:
                    try:
                        data = sock.recv(self.server.read_chunk or 1 << 20)
                    except OSError:
                        break
                    if not data:
                        break
                    self.received += len(data)
                    with self.lock:
                        self.frames.extend(self._tap.feed(data))
                        events = self.h2.receive_data(data)
                        for event in events:
                            self._on_event(event)
                with self.lock:
                    self._pump()
                    bye = self._bye
                    if bye is not None and time.monotonic() >= bye[0]:
                        self._bye = None
                        self._goaway(bye[1])
                        self._close_when_idle = True
                self._send()
                if self._close_when_idle and not self._streams:
                    break
                if readable and self.server.read_pause:
                    time.sleep(self.server.read_pause)
        except h2.exceptions.ProtocolError as exc:
            self.protocol_error = exc
        except OSError:
            pass
        finally:
            self.closed = True
            _close_gracefully(sock)

    def _run_silent(self) -> None:
        """Read and drop everything; send nothing."""
        sock = self.sock
        while not self.server.stopping:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    data = sock.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                with self.lock:
                    self.frames.extend(self._tap.feed(data))

    def _run_stalled(self) -> None:
        """Never read again (and flood PINGs, for ``ping-flood``)."""
        sock = self.sock
        sock.setblocking(False)
        ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"floodpng"
        burst = ping * self._flood_burst
        pending = b""
        wake = time.monotonic() + self._flood_delay
        while time.monotonic() < wake and not self.server.stopping:
            time.sleep(0.005)
        while not self.server.stopping:
            if self._ping_flood:
                try:
                    while True:
                        if not pending:
                            pending = burst
                        sent = sock.send(pending)
                        self.pings_sent += sent // len(ping)
                        pending = pending[sent:]
                        if self._flood_burst < 4096 and not pending:
                            break
                except BlockingIOError:
                    pass
                except OSError:
                    return
            time.sleep(0.002 if self._flood_burst < 4096 else 0.01)

    def _timeout(self) -> float:
        with self.lock:
            waits = [s.wake_at for s in self._streams.values() if s.wake_at]
        if not waits:
            return 0.05
        return max(0.0, min(min(waits) - time.monotonic(), 0.05))

    def _send(self) -> None:
        with self.lock:
            data = self.h2.data_to_send()
            if self.extra_out:
                data += bytes(self.extra_out)
                self.extra_out.clear()
        if data:
            self.sock.sendall(data)

    # -- events -----------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = {k: v for k, v in event.headers}
            stream = ScriptedStream(event.stream_id, headers)
            self.requests.append((event.stream_id, headers))
            self._streams[event.stream_id] = stream
            self.streams_opened += 1
            self.max_open = max(self.max_open, len(self._streams))
            self._start(stream)
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.body += event.data
                self._on_body(stream, event.data)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.request_ended = True
                self._on_request_end(stream)
        elif isinstance(event, h2.events.StreamReset):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None:
                stream.closed = True
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            change = event.changed_settings.get(h2.settings.SettingCodes.INITIAL_WINDOW_SIZE)
            if change is not None:
                self.initial_window = change.new_value


class H2TestServer:
    """The server: ``url`` is ``http://127.0.0.1:<port>`` (h2c, prior knowledge).

    ``max_concurrent_streams`` is advertised (and enforced by ``h2``: a client
    that opens more streams gets a connection error). ``initial_window`` is the
    flow-control window the server grants each stream and the connection;
    ``rcvbuf`` the size of its sockets' receive buffers. The first
    ``silent_connections`` connections never send a byte. ``read_chunk`` and
    ``read_pause`` make every connection read slowly (see the module doc).
    With ``certificate`` (paths of a certificate and its key, see
    :func:`make_certificate`) it serves h2 over TLS (``url`` is https).
    """

    def __init__(
        self,
        *,
        max_concurrent_streams: int | None = None,
        initial_window: int | None = None,
        rcvbuf: int | None = None,
        silent_connections: int = 0,
        read_chunk: int | None = None,
        read_pause: float = 0.0,
        certificate: tuple[str, str] | None = None,
    ) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.read_chunk = read_chunk
        self.read_pause = read_pause
        self.ssl_context: ssl.SSLContext | None = None
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            context.set_alpn_protocols(["h2"])
            self.ssl_context = context
        self.initial_window = initial_window
        self.silent_connections = silent_connections
        self.stopping = False
        #: Streams of the ``hold`` scenario seen so far (on every connection).
        self.held = 0
        self.connections: list[ServerConnection] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf is not None:
            # Set before listen(): accepted sockets inherit it (and the TCP
            # window scale is chosen from it).
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        scheme = "http" if certificate is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self.stopping:
            try:
                readable, _, _ = select.select([self._listener], [], [], 0.05)
                if not readable:
                    continue
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                conn = ServerConnection(self, sock, len(self.connections))
                self.connections.append(conn)
            thread = threading.Thread(target=conn.run, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def connection(self) -> ServerConnection:
        """The only connection (asserts there is exactly one)."""
        with self._lock:
            assert len(self.connections) == 1, f"{len(self.connections)} connections"
            return self.connections[0]

    def stream_id(self, tag: str) -> int:
        """The stream id of the request sent with header ``x-tag: <tag>``."""
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            with conn.lock:
                for sid, headers in conn.requests:
                    if headers.get("x-tag") == tag:
                        return sid
        raise KeyError(tag)

    def resets(self, tag: str) -> list[int]:
        """Error codes of every RST_STREAM the client sent on the tagged stream."""
        return [f.value for f in self.frames("RST_STREAM", self.stream_id(tag))]

    def frames(self, kind: str, stream_id: int | None = None) -> list[Frame]:
        """Frames of ``kind`` from every connection."""
        with self._lock:
            conns = list(self.connections)
        found: list[Frame] = []
        for conn in conns:
            found.extend(conn.frames_of(kind, stream_id))
        return found

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until it holds (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    def close(self) -> None:
        self.stopping = True
        try:
            self._listener.close()
        except OSError:
            pass
        for thread in self._threads:
            thread.join(timeout=2)


def _pending(sock: socket.socket) -> bool:
    """Whether a TLS socket holds decrypted input (``select`` does not see it)."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def make_certificate(directory: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (with the ``openssl`` command):
    the paths of the certificate (also the CA to trust) and of its key."""
    cert = os.path.join(directory, "h2server-cert.pem")
    key = os.path.join(directory, "h2server-key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def _close_gracefully(sock: socket.socket) -> None:
    """Close without a TCP reset: stop sending, drain briefly, then close."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable and not sock.recv(1 << 16):
                break
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
