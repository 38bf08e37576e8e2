# unasync: skip -- sans-IO checks of the HTTP/2 state, nothing flavour-specific.
"""The sans-IO HTTP/2 client state against an ``h2`` server in memory."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from hyperframe.frame import GoAwayFrame

from connect_python import Code
from connect_python._http.h2_errors import reset_error
from connect_python._http.h2_receive import REPLIES_PER_READ
from connect_python._http.h2_state import H2State
from connect_python._http.hpack_codec import HeaderEncoder
from transport.h2frames import FrameTap

HEADERS = H2State().request_headers(
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
        self.tap = FrameTap()
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


def _settled() -> tuple[H2State, _Peer]:
    """A client whose connection preface and SETTINGS were exchanged."""
    client = H2State()
    peer = _Peer(client)
    assert client.settings_received
    return client, peer


def test_graceful_goaway_lets_accepted_streams_finish() -> None:
    client, peer = _settled()
    first = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    # The server now allows more streams; a second one is opened.
    second = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    goaway = GoAwayFrame(0)
    goaway.last_stream_id = first.stream_id
    client.receive_data(goaway.serialize())  # GOAWAY NO_ERROR, the server goes on
    assert client.goaway and client.error is None
    assert second.error is not None and second.error.code is Code.UNAVAILABLE and second.refused
    assert first.error is None and not first.done
    peer.server.send_headers(first.stream_id, [(b":status", b"200")])
    peer.server.send_data(first.stream_id, b"ok", end_stream=True)
    peer.pump()
    assert first.ended and first.error is None and client.consume(first) == b"ok"


def test_goaway_with_an_error_fails_the_connection() -> None:
    client, peer = _settled()
    stream = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    peer.server.close_connection(error_code=11)  # ENHANCE_YOUR_CALM
    peer.pump()
    assert client.error is not None and client.error.code is Code.RESOURCE_EXHAUSTED
    assert stream.error is client.error


def test_a_ping_flood_in_one_read_fails_the_connection_and_drops_the_rest() -> None:
    client, peer = _settled()
    stream = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    peer.server.send_headers(stream.stream_id, [(b":status", b"200")])
    peer.server.send_data(stream.stream_id, b"done", end_stream=True)
    head = peer.server.data_to_send()
    for i in range(REPLIES_PER_READ + 500):
        peer.server.ping(i.to_bytes(8, "big"))
    flood = peer.server.data_to_send()
    changed = client.receive_data(head + flood)
    assert changed is None  # everything woken: the connection failed
    assert client.error is not None and client.error.code is Code.UNAVAILABLE
    assert "flood" in client.error.message
    # The stream that completed before the flood keeps its result.
    assert stream.ended and stream.error is None and client.consume(stream) == b"done"
    # Handling stopped at the limit: the rest was dropped (nothing is kept
    # for later), and only the PINGs before it were answered.
    assert client.reader.unparsed == b""
    acks = [f for f in peer.tap.feed(client.data_to_send()) if f.type == "PING"]
    assert len(acks) == REPLIES_PER_READ


def test_unsent_output_goes_back_to_the_front() -> None:
    client, _ = _settled()
    client.ping()
    client.ping()
    size = client.output_size()
    assert size == 2 * 17 and client.has_output()
    data = client.data_to_send()
    assert client.output_size() == 0 and not client.has_output()
    client.unsend(data[5:])  # a write that sent only 5 bytes
    assert client.output_size() == size - 5
    client.ping()
    assert client.data_to_send()[: size - 5] == data[5:]


def test_an_http1_answer_to_the_preface_names_its_status_line() -> None:
    client = H2State()
    client.data_to_send()
    # Too short to judge: kept unparsed (and quoted, once there is enough).
    assert client.receive_data(b"HTT") is not None
    assert client.reader.unparsed == b"HTT" and client.error is None
    assert client.receive_data(b"P/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") is None
    assert client.error is not None and client.error.code is Code.UNAVAILABLE
    assert "answered HTTP/2 with HTTP/1.x ('HTTP/1.1 400 Bad Request')" in client.error.message
    assert "h2c=False" in client.error.message


def test_a_server_that_closes_before_its_settings() -> None:
    client = H2State()
    client.data_to_send()
    client.receive_data(b"\x00\x00")
    error = client.connection_lost()
    assert error.code is Code.UNAVAILABLE
    assert "closed the connection before its HTTP/2 settings arrived" in error.message


def test_a_ping_is_welcome_only_after_the_peer_sent_headers_or_data() -> None:
    # A gRPC server counts a PING with no HEADERS or DATA sent since the last
    # one as a strike against its ping policy (grpc-go closes the connection
    # after a few): the client's probe asks ping_is_welcome first.
    client, peer = _settled()
    assert client.ping_is_welcome()  # the first PING
    client.ping()
    peer.pump()
    assert client.pings_acked == 1
    assert not client.ping_is_welcome()  # SETTINGS and PING ACKs don't count
    stream = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    assert not client.ping_is_welcome()
    peer.server.send_headers(stream.stream_id, [(b":status", b"200")])
    peer.pump()
    assert client.ping_is_welcome()
    client.ping()
    peer.pump()
    assert not client.ping_is_welcome()
    peer.server.send_data(stream.stream_id, b"x", end_stream=True)
    peer.pump()
    assert client.ping_is_welcome()


def test_a_reset_sends_the_liveness_probe_once_until_its_ack() -> None:
    # A stream reset while the server's answer is still coming leaves no call
    # waiting on the connection: the probe's ACK is what tells the next call
    # whether the connection still lives (R6 in tests/reliability/RESULTS.md).
    client, peer = _settled()
    streams = [client.open_stream(HEADERS, end_stream=True) for _ in range(3)]
    peer.pump()
    for stream in streams:
        peer.server.send_headers(stream.stream_id, [(b":status", b"200")])
    peer.pump()
    sent = len(peer.frames)
    client.reset(streams[0])
    client.reset(streams[1])
    assert client.probe_pending()
    # The server has not answered yet: one probe on its way at a time.
    peer.pump()
    assert [f[0] for f in peer.frames[sent:]] == ["RST_STREAM", "PING", "RST_STREAM"]
    assert not client.probe_pending()  # the pump delivered the ACK
    # Nothing came from the server on a stream since that PING: another would
    # be a strike under a gRPC server's ping policy, so this reset sends none.
    sent = len(peer.frames)
    client.reset(streams[2])
    peer.pump()
    assert [f[0] for f in peer.frames[sent:]] == ["RST_STREAM"]
    # A completed stream is not reset and sends no probe.
    done = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    peer.server.send_headers(done.stream_id, [(b":status", b"200")])
    peer.server.send_data(done.stream_id, b"", end_stream=True)
    peer.pump()
    pings = client.pings_sent
    client.reset(done)
    assert client.pings_sent == pings and not client.has_output()


def test_consume_hands_large_chunks_out_one_by_one_and_joins_small_ones() -> None:
    # Large DATA comes out frame by frame (a read's worth joined into one
    # object made glibc return and re-fault heap pages read after read);
    # smaller ones are joined up to 96 KiB, credited as they are taken.
    client, peer = _settled()
    stream = client.open_stream(HEADERS, end_stream=True)
    peer.pump()
    sid = stream.stream_id
    peer.server.update_settings({h2.settings.SettingCodes.MAX_FRAME_SIZE: 65536})
    peer.pump()
    peer.server.send_headers(sid, [(b":status", b"200")])
    peer.server.send_data(sid, b"a" * 60000)
    peer.server.send_data(sid, b"b" * 50000)
    for _ in range(20):
        peer.server.send_data(sid, b"c" * 1000)
    peer.server.send_data(sid, b"", end_stream=True)
    client.receive_data(peer.server.data_to_send())
    assert stream.buffered == 130000 and stream.ended
    assert client.consume(stream) == b"a" * 60000
    assert stream.buffered == 70000
    assert client.consume(stream) == b"b" * 50000 + b"c" * 20000
    assert stream.buffered == 0 and client.consume(stream) == b""
    assert client.recv.pending == 130000  # every byte credited as it was consumed
