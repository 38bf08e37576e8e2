# unasync: skip -- sans-IO checks of the HTTP/2 state, nothing flavour-specific.
"""The sans-IO HTTP/2 client state against an ``h2`` server in memory."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import hpack
import pytest

from connect_python import Code
from connect_python._http.h2_state import H2State, reset_error
from connect_python._http.hpack_codec import HeaderEncoder
from transport.h2server import _FrameTap

HEADERS = H2State.request_headers(
    b"POST",
    b"http",
    b"example:80",
    b"/svc/Method",
    [(b"content-type", b"application/proto"), (b"authorization", b"secret"), (b"host", b"x")],
)


def test_stateless_encoder_round_trips_and_announces_table_size() -> None:
    encoder = HeaderEncoder()
    decoder = hpack.Decoder()
    fields = [*HEADERS, (b"x-long", b"v" * 300)]
    first = encoder.encode(fields)
    assert decoder.decode(first, raw=True) == fields
    assert encoder.encode(fields) == first  # no dynamic table: same bytes every time
    encoder.table_size_changed()
    block = encoder.encode(fields)
    assert block[0] == 0x20  # dynamic table size update to 0
    assert decoder.decode(block, raw=True) == fields
    # Connection-specific headers never reach HTTP/2.
    assert (b"host", b"x") not in HEADERS


@pytest.mark.parametrize(
    ("h2_code", "code"),
    [(0, Code.INTERNAL), (7, Code.UNAVAILABLE), (8, Code.CANCELED), (11, Code.RESOURCE_EXHAUSTED)],
)
def test_reset_error_mapping(h2_code: int, code: Code) -> None:
    assert reset_error(h2_code).code is code


class _Peer:
    """An ``h2`` server in memory and a frame tap on what the client sends."""

    def __init__(self, client: H2State) -> None:
        self.client = client
        self.server = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.server.initiate_connection()
        self.tap = _FrameTap()
        self.frames: list[tuple[str, int, int]] = []
        self.pump()

    def pump(self) -> list[h2.events.Event]:
        events: list[h2.events.Event] = []
        for _ in range(4):
            out = self.client.data_to_send()
            if out:
                self.frames += [(f.type, f.stream_id, f.value) for f in self.tap.feed(out)]
                events += self.server.receive_data(out)
            back = self.server.data_to_send()
            if back:
                self.client.receive_data(back)
        return events


def test_reset_credits_buffered_and_late_data_without_a_second_reset() -> None:
    client = H2State(stream_window=65535, connection_window=65535 * 4)
    peer = _Peer(client)
    stream = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    sid = stream.stream_id
    peer.server.send_headers(sid, [(b":status", b"200")])
    peer.server.send_data(sid, b"a" * 60000)
    peer.pump()
    assert stream.buffered == 60000
    client.reset(stream)
    # Data the server sent before it saw the reset arrives late.
    late = peer.server.data_to_send()
    peer.server.send_data(sid, b"b" * 5000)
    client.receive_data(late + peer.server.data_to_send())
    peer.pump()
    resets = [f for f in peer.frames if f[0] == "RST_STREAM"]
    assert resets == [("RST_STREAM", sid, 8)]
    # Every byte received on the connection counts as processed: nothing is
    # stuck in the window (credits go out in half-window steps).
    window = client.recv
    assert window.pending == 65000
    assert window.window + window.pending == window.maximum
    # The connection still carries new streams.
    again = client.open_stream(HEADERS, end_stream=True)
    events = peer.pump()
    assert any(isinstance(e, h2.events.RequestReceived) for e in events)
    assert again.stream_id == sid + 2
