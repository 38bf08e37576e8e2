# unasync: skip -- sans-IO checks of the HTTP/2 state, nothing flavour-specific.
"""Our HTTP/2 client state frame by frame, against an ``h2`` server in memory.

Every frame type, the stream states the client reaches, flow control (zero
windows, overflow, SETTINGS changes mid-stream, credit by consumption), HPACK
(dynamic table, size updates), CONTINUATION, padding, unknown frames and
settings, and the peer's protocol violations (GOAWAY with the error code, a
typed ``ConnectError`` for every stream).
"""

from __future__ import annotations

import hpack
import pytest
from h2.settings import SettingCodes

from connect_python import Code
from connect_python._http import frames as fr
from connect_python._http.h2_state import H2State
from transport.h2peer import (
    CANCEL,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    HEADERS,
    OK_HEADERS,
    PROTOCOL_ERROR,
    STREAM_CLOSED,
    Peer,
    assert_protocol_failure,
    completed,
    raw_frame,
)

# -- connection start -----------------------------------------------------------------


def test_preface_settings_and_connection_window() -> None:
    peer = Peer(H2State(stream_window=1 << 20, connection_window=1 << 24, max_frame_size=32768))
    remote = peer.server.remote_settings
    assert remote.initial_window_size == 1 << 20
    assert remote.max_frame_size == 32768
    assert remote.enable_push == 0
    assert remote.max_header_list_size == 65536
    # The connection window was opened up front.
    assert peer.server.outbound_flow_control_window == 1 << 24
    assert [f.type for f in peer.frames[:3]] == ["SETTINGS", "WINDOW_UPDATE", "SETTINGS"]
    assert peer.client.settings_received
    # The server's SETTINGS were acknowledged, and ours by the server.
    assert peer.sent("SETTINGS")[-1].flags == fr.ACK
    assert peer.client.signs_of_life == 1


def test_one_stream_before_the_servers_settings_then_its_limit() -> None:
    client = H2State()
    assert client.max_streams == 1
    peer = Peer(client, settings={SettingCodes.MAX_CONCURRENT_STREAMS: 2})
    assert client.max_streams == 2
    peer.open(end_stream=False)
    peer.open(end_stream=False)
    assert not client.can_open()
    assert client.usable


def test_http1_answer_to_the_preface() -> None:
    client = H2State()
    client.data_to_send()
    assert client.receive_data(b"HTTP/1.1 400 Bad Request\r\n\r\n") is None
    assert client.error is not None
    assert "HTTP/1.x" in client.error.message


# -- a whole exchange -----------------------------------------------------------------


def test_unary_exchange_with_trailers_and_no_reset() -> None:
    peer = Peer()
    client = peer.client
    stream = peer.open(end_stream=False)
    (request,) = [e for e in peer.events if type(e).__name__ == "RequestReceived"]
    assert request.headers[:4] == HEADERS[:4]
    client.send_data(stream, b"request", end_stream=True)
    peer.pump()
    peer.respond(stream)
    assert stream.status == 200
    assert stream.headers == OK_HEADERS
    peer.server.send_data(stream.stream_id, b"response")
    peer.server.send_headers(stream.stream_id, [(b"grpc-status", b"0")], end_stream=True)
    peer.pump()
    assert stream.ended and stream.closed and completed(stream)
    assert client.consume(stream) == b"response"
    assert stream.trailers == [(b"grpc-status", b"0")]
    assert client.streams == {}
    client.reset(stream)  # closing a completed stream sends nothing
    peer.pump()
    assert peer.sent("RST_STREAM") == []


def test_informational_response_is_skipped() -> None:
    peer = Peer()
    stream = peer.open()
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS, stream.stream_id, b"\x08\x03103"))
    assert stream.headers is None and stream.error is None
    peer.respond(stream, end=True)
    assert stream.status == 200 and completed(stream)


def test_response_ended_while_the_request_is_open_is_finished_not_reset() -> None:
    peer = Peer()
    stream = peer.open(end_stream=False)
    peer.respond(stream, end=True)
    assert stream.ended and not stream.closed
    peer.client.reset(stream)
    peer.pump()
    assert peer.sent("RST_STREAM") == []
    assert peer.sent("DATA", stream.stream_id)[-1].flags & fr.END_STREAM


def test_abandoned_stream_gets_exactly_one_cancel() -> None:
    peer = Peer()
    client = peer.client
    stream = peer.open()
    peer.respond(stream)
    client.abandoned.append(stream.stream_id)
    client.reset_abandoned()
    client.reset(stream)
    peer.server.send_data(stream.stream_id, b"late")
    peer.pump()
    assert [(f.stream_id, f.value) for f in peer.sent("RST_STREAM")] == [(stream.stream_id, CANCEL)]
    assert stream.reset_sent and stream.done


def test_peer_reset_fails_the_stream_and_is_not_answered() -> None:
    peer = Peer()
    stream = peer.open()
    peer.server.reset_stream(stream.stream_id, 0xB)
    peer.pump()
    assert stream.error is not None and stream.error.code is Code.RESOURCE_EXHAUSTED
    assert stream.closed and peer.sent("RST_STREAM") == []
    assert peer.client.usable


def test_reset_no_error_after_a_complete_response_only_stops_the_request() -> None:
    peer = Peer()
    stream = peer.open(end_stream=False)
    peer.respond(stream, end=True)
    peer.inject(raw_frame(fr.RST_STREAM, 0, stream.stream_id, b"\0\0\0\0"))
    assert stream.error is None and stream.closed and stream.send_closed


def test_ping_and_its_ack_both_ways() -> None:
    peer = Peer()
    client = peer.client
    life = client.signs_of_life
    assert client.ping() == 1
    peer.pump()
    assert client.pings_acked == 1
    assert client.signs_of_life == life + 1
    peer.server.ping(b"12345678")
    peer.pump()
    (ack,) = [e for e in peer.events if type(e).__name__ == "PingAckReceived"]
    assert ack.ping_data == b"12345678"
    # The server's own PING is no sign that it serves.
    assert client.signs_of_life == life + 1


def test_graceful_goaway_lets_accepted_streams_finish() -> None:
    peer = Peer()
    client = peer.client
    first = peer.open()
    second = peer.open()
    peer.inject(raw_frame(fr.GOAWAY, 0, 0, first.stream_id.to_bytes(4, "big") + b"\0\0\0\0"))
    assert client.goaway and not client.can_open() and not client.usable
    assert second.refused and second.error is not None
    assert second.error.code is Code.UNAVAILABLE
    assert first.error is None
    peer.respond(first, end=True)
    assert completed(first)


def test_goaway_with_an_error_fails_every_stream() -> None:
    peer = Peer()
    stream = peer.open()
    peer.inject(raw_frame(fr.GOAWAY, 0, 0, b"\0\0\0\1" + b"\0\0\0\x0b" + b"calm down"))
    assert stream.error is not None and stream.error.code is Code.RESOURCE_EXHAUSTED
    assert peer.client.error is not None
    assert peer.sent("GOAWAY") == []  # the server's decision: nothing to answer


def test_frames_after_a_failure_are_ignored() -> None:
    peer = Peer()
    peer.inject(raw_frame(fr.DATA, 0, 0, b"x"))
    assert peer.inject(raw_frame(fr.PING, 0, 0, b"8 bytes!")) is None
    assert len(peer.sent("GOAWAY")) == 1 and peer.sent("PING") == []


# -- flow control -----------------------------------------------------------------------


def test_send_window_limits_and_window_updates() -> None:
    peer = Peer(settings={SettingCodes.INITIAL_WINDOW_SIZE: 100})
    client = peer.client
    stream = peer.open(end_stream=False)
    assert client.send_window(stream) == 100
    client.send_data(stream, b"x" * 100, end_stream=False)
    assert client.send_window(stream) == 0  # a zero window
    peer.pump()
    # h2 credits what it received once the application acknowledges it.
    peer.server.acknowledge_received_data(100, stream.stream_id)
    peer.pump()
    assert client.send_window(stream) == 100
    assert any(c is not None and stream in c for c in peer.changes)


def test_settings_change_mid_stream_moves_open_stream_windows() -> None:
    peer = Peer(settings={SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    client = peer.client
    stream = peer.open(end_stream=False)
    client.send_data(stream, b"x" * 600, end_stream=False)
    peer.pump()
    peer.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 500})
    peer.pump()
    assert stream.send_window == -100  # may go negative (RFC 9113 §6.9.2)
    assert client.send_window(stream) <= 0
    peer.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 2000})
    peer.pump()
    assert client.send_window(stream) == 1400
    # New streams start from the new value.
    assert client.send_window(peer.open(end_stream=False)) == 2000


def test_max_frame_size_bounds_data_and_splits_header_blocks() -> None:
    peer = Peer(settings={SettingCodes.MAX_FRAME_SIZE: 16384})
    client = peer.client
    peer.server.increment_flow_control_window(1 << 20)
    peer.pump()
    big = [*HEADERS, (b"x-big", b"v" * 40000)]
    stream = client.open_stream(big, end_stream=False)
    assert client.send_window(stream) == 16384
    peer.pump()
    (request,) = [e for e in peer.events if type(e).__name__ == "RequestReceived"]
    assert (b"x-big", b"v" * 40000) in request.headers
    assert [f.type for f in peer.frames[-3:]] == ["HEADERS", "CONTINUATION", "CONTINUATION"]


def test_connection_window_overflow_is_a_connection_error() -> None:
    peer = Peer()
    peer.inject(raw_frame(fr.WINDOW_UPDATE, 0, 0, (0x7FFFFFFF).to_bytes(4, "big")))
    assert_protocol_failure(peer, FLOW_CONTROL_ERROR)


def test_stream_window_overflow_resets_only_that_stream() -> None:
    peer = Peer()
    stream = peer.open(end_stream=False)
    other = peer.open(end_stream=False)
    peer.inject(raw_frame(fr.WINDOW_UPDATE, 0, stream.stream_id, (0x7FFFFFFF).to_bytes(4, "big")))
    assert stream.error is not None and stream.closed
    assert [f.value for f in peer.sent("RST_STREAM", stream.stream_id)] == [FLOW_CONTROL_ERROR]
    assert peer.client.error is None and other.error is None


def test_settings_overflowing_a_stream_window() -> None:
    peer = Peer()
    stream = peer.open(end_stream=False)
    peer.inject(raw_frame(fr.WINDOW_UPDATE, 0, stream.stream_id, (0x7FFF0000).to_bytes(4, "big")))
    assert stream.error is None
    setting = SettingCodes.INITIAL_WINDOW_SIZE.to_bytes(2, "big") + (0x7FFF0000).to_bytes(4, "big")
    peer.inject(raw_frame(fr.SETTINGS, 0, 0, setting))
    assert_protocol_failure(peer, FLOW_CONTROL_ERROR)


@pytest.mark.parametrize("stream_level", [True, False])
def test_window_update_of_zero(stream_level: bool) -> None:
    peer = Peer()
    stream = peer.open(end_stream=False)
    sid = stream.stream_id if stream_level else 0
    peer.inject(raw_frame(fr.WINDOW_UPDATE, 0, sid, b"\0\0\0\0"))
    if stream_level:
        assert [f.value for f in peer.sent("RST_STREAM")] == [PROTOCOL_ERROR]
        assert stream.error is not None and peer.client.error is None
    else:
        assert_protocol_failure(peer, PROTOCOL_ERROR)


def test_credit_by_consumption_in_half_window_steps() -> None:
    client = H2State(stream_window=65536, connection_window=65536 * 8)
    peer = Peer(client)
    stream = peer.open()
    peer.respond(stream)
    peer.server.send_data(stream.stream_id, b"a" * 16384)
    peer.server.send_data(stream.stream_id, b"a" * 16384)
    peer.pump()
    assert peer.server.local_flow_control_window(stream.stream_id) == 65536 - 32768
    assert peer.sent("WINDOW_UPDATE", stream.stream_id) == []  # received, not consumed
    assert stream.buffered == 32768
    assert client.consume(stream) == b"a" * 32768
    peer.pump()
    assert [f.value for f in peer.sent("WINDOW_UPDATE", stream.stream_id)] == [32768]
    assert peer.server.local_flow_control_window(stream.stream_id) == 65536


def test_data_beyond_the_stream_window_is_a_flow_control_error() -> None:
    client = H2State(stream_window=65535)
    peer = Peer(client)
    stream = peer.open()
    peer.respond(stream)
    for _ in range(5):
        peer.inject(raw_frame(fr.DATA, 0, stream.stream_id, b"z" * 16000))
    assert_protocol_failure(peer, FLOW_CONTROL_ERROR)
    assert stream.error is client.error


def test_data_beyond_the_connection_window_is_a_flow_control_error() -> None:
    client = H2State(stream_window=65535, connection_window=65535)
    peer = Peer(client)
    streams = [peer.open() for _ in range(2)]
    for stream in streams:
        peer.respond(stream)
    for _ in range(3):
        for stream in streams:
            peer.inject(raw_frame(fr.DATA, 0, stream.stream_id, b"z" * 12000))
    assert_protocol_failure(peer, FLOW_CONTROL_ERROR)


def test_data_of_forgotten_streams_and_padding_credit_the_connection() -> None:
    client = H2State(stream_window=65535, connection_window=65535 * 2)
    peer = Peer(client)
    stream = peer.open()
    peer.respond(stream)
    peer.server.send_data(stream.stream_id, b"p" * 1000, pad_length=200)
    peer.pump()
    assert stream.buffered == 1000
    assert client.recv.pending == 201  # the padding (and its length byte)
    client.reset(stream)
    peer.server.send_data(stream.stream_id, b"q" * 30000)
    client.receive_data(peer.server.data_to_send())
    # Everything received counts as processed; nothing is stuck.
    assert client.recv.pending + client.recv.window == client.recv.maximum
    peer.pump()
    assert len(peer.sent("RST_STREAM")) == 1


# -- stream states the client reaches ------------------------------------------------------


def test_data_before_response_headers() -> None:
    peer = Peer()
    stream = peer.open()
    peer.inject(raw_frame(fr.DATA, 0, stream.stream_id, b"early"))
    assert_protocol_failure(peer, PROTOCOL_ERROR)


def test_trailers_without_end_stream() -> None:
    peer = Peer()
    stream = peer.open()
    peer.respond(stream)
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS, stream.stream_id, b"\x88"))
    assert_protocol_failure(peer, PROTOCOL_ERROR)


def test_data_after_end_stream_on_a_half_closed_stream() -> None:
    peer = Peer()
    stream = peer.open(end_stream=False)
    peer.respond(stream, end=True)
    peer.inject(raw_frame(fr.DATA, 0, stream.stream_id, b"more"))
    assert [f.value for f in peer.sent("RST_STREAM")] == [STREAM_CLOSED]
    # The response was complete: it stays a success; the connection goes on.
    assert stream.error is None and peer.client.error is None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (raw_frame(fr.DATA, 0, 0, b"x"), PROTOCOL_ERROR),
        (raw_frame(fr.DATA, 0, 99, b"x"), PROTOCOL_ERROR),  # idle stream
        (raw_frame(fr.HEADERS, fr.END_HEADERS, 2, b"\x88"), PROTOCOL_ERROR),  # even id
        (raw_frame(fr.HEADERS, fr.END_HEADERS, 0, b"\x88"), PROTOCOL_ERROR),
        (raw_frame(fr.PUSH_PROMISE, fr.END_HEADERS, 1, b"\0\0\0\2\x88"), PROTOCOL_ERROR),
        (raw_frame(fr.RST_STREAM, 0, 0, b"\0\0\0\0"), PROTOCOL_ERROR),
        (raw_frame(fr.RST_STREAM, 0, 1, b"\0\0\0"), FRAME_SIZE_ERROR),
        (raw_frame(fr.RST_STREAM, 0, 51, b"\0\0\0\0"), PROTOCOL_ERROR),  # idle stream
        (raw_frame(fr.SETTINGS, 0, 0, b"\0\0\0"), FRAME_SIZE_ERROR),
        (raw_frame(fr.SETTINGS, fr.ACK, 0, b"\0\1\0\0\0\0"), FRAME_SIZE_ERROR),
        (raw_frame(fr.SETTINGS, 0, 1, b""), PROTOCOL_ERROR),
        (raw_frame(fr.SETTINGS, 0, 0, b"\0\5\0\0\0\1"), PROTOCOL_ERROR),  # frame size 1
        (raw_frame(fr.SETTINGS, 0, 0, b"\0\2\0\0\0\2"), PROTOCOL_ERROR),  # push 2
        (raw_frame(fr.SETTINGS, 0, 0, b"\0\4\x80\0\0\0"), FLOW_CONTROL_ERROR),
        (raw_frame(fr.PING, 0, 0, b"short"), FRAME_SIZE_ERROR),
        (raw_frame(fr.PING, 0, 1, b"8 bytes!"), PROTOCOL_ERROR),
        (raw_frame(fr.GOAWAY, 0, 0, b"\0\0\0"), FRAME_SIZE_ERROR),
        (raw_frame(fr.GOAWAY, 0, 1, b"\0" * 8), PROTOCOL_ERROR),
        (raw_frame(fr.WINDOW_UPDATE, 0, 0, b"\0\0\1"), FRAME_SIZE_ERROR),
        (raw_frame(fr.WINDOW_UPDATE, 0, 77, b"\0\0\0\1"), PROTOCOL_ERROR),  # idle stream
        (raw_frame(fr.PRIORITY, 0, 1, b"\0\0\0\0"), FRAME_SIZE_ERROR),
        (raw_frame(fr.PRIORITY, 0, 0, b"\0\0\0\0\0"), PROTOCOL_ERROR),
        (raw_frame(fr.DATA, 0, 1, b"x" * 70000), FRAME_SIZE_ERROR),
    ],
)
def test_peer_violations_fail_the_connection_with_goaway(frame: bytes, code: int) -> None:
    peer = Peer()
    stream = peer.open()
    peer.inject(frame)
    error = assert_protocol_failure(peer, code)
    assert stream.error is error
    assert not stream.done or stream.closed


def test_a_violation_keeps_what_completed_before_it_in_the_same_read() -> None:
    peer = Peer()
    done = peer.open()
    block = hpack.Encoder().encode(OK_HEADERS)
    peer.inject(
        raw_frame(fr.HEADERS, fr.END_HEADERS, done.stream_id, block)
        + raw_frame(fr.DATA, fr.END_STREAM, done.stream_id, b"ok")
        + raw_frame(fr.DATA, 0, 0, b"bad")
    )
    assert completed(done) and done.error is None
    assert peer.client.consume(done) == b"ok"
    assert_protocol_failure(peer, PROTOCOL_ERROR)


def test_ping_flood_in_one_read_fails_after_earlier_streams_complete() -> None:
    peer = Peer()
    done = peer.open()
    block = hpack.Encoder().encode(OK_HEADERS)
    flood = raw_frame(fr.PING, 0, 0, b"floodpng") * 1001
    peer.inject(
        raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, done.stream_id, block) + flood
    )
    assert completed(done)
    assert peer.client.error is not None and "flood" in peer.client.error.message
    assert len(peer.sent("PING")) == 1000


def test_many_pings_over_time_retire_the_connection() -> None:
    peer = Peer()
    for _ in range(11):
        peer.inject(raw_frame(fr.PING, 0, 0, b"floodpng") * 1000)
    assert peer.client.error is None and peer.client.retired


def test_stream_ids_are_odd_and_increasing() -> None:
    peer = Peer(settings={SettingCodes.MAX_CONCURRENT_STREAMS: 10})
    ids = [peer.open().stream_id for _ in range(4)]
    assert ids == [1, 3, 5, 7]
    assert peer.client.highest_stream_id == 7


# Every way a client stream goes from open to closed (RFC 9113 §5.1), and what
# the client writes on the way: END_STREAM either side first, a reset by either
# side in each half, a refusal (GOAWAY), a connection failure.
TRANSITIONS = [
    # (steps, final error code or None, RST_STREAM codes the client wrote)
    (["send_end", "recv_headers", "recv_end"], None, []),
    (["recv_headers", "recv_end", "send_end"], None, []),
    (["recv_headers", "recv_end", "close"], None, []),  # finished, not reset
    (["close"], None, [CANCEL]),  # open: abandoned
    (["send_end", "close"], None, [CANCEL]),  # half-closed (local): abandoned
    (["recv_headers", "close"], None, [CANCEL]),
    (["recv_reset"], Code.CANCELED, []),
    (["send_end", "recv_headers", "recv_reset"], Code.CANCELED, []),
    (["recv_headers", "recv_end", "recv_reset_no_error"], None, []),
    (["refused"], Code.UNAVAILABLE, []),
    (["send_end", "connection_lost"], Code.UNAVAILABLE, []),
]


@pytest.mark.parametrize(("steps", "code", "resets"), TRANSITIONS)
def test_stream_state_transitions(steps: list[str], code: Code | None, resets: list[int]) -> None:
    peer = Peer()
    client = peer.client
    stream = peer.open(end_stream=False)
    sid = stream.stream_id
    for step in steps:
        assert not stream.closed, step
        if step == "send_end":
            client.end_stream(stream)
            assert stream.send_closed
        elif step == "recv_headers":
            peer.respond(stream)
        elif step == "recv_end":
            peer.server.end_stream(sid)
            peer.pump()
            assert stream.ended
        elif step == "close":
            client.reset(stream)
        elif step == "recv_reset":
            peer.server.reset_stream(sid, CANCEL)
        elif step == "recv_reset_no_error":
            peer.inject(raw_frame(fr.RST_STREAM, 0, sid, b"\0\0\0\0"))
        elif step == "refused":
            peer.inject(raw_frame(fr.GOAWAY, 0, 0, b"\0\0\0\0\0\0\0\0"))
        elif step == "connection_lost":
            client.fail(client.connection_lost())
        peer.pump()
    assert stream.closed and sid not in client.streams
    assert stream.done
    if code is None:
        assert stream.error is None
    else:
        assert stream.error is not None and stream.error.code is code
    assert [f.value for f in peer.sent("RST_STREAM", sid)] == resets
    # A closed stream ignores what still arrives for it; the connection goes on
    # (unless it failed).
    if client.error is None and not client.goaway:
        peer.inject(
            raw_frame(fr.DATA, 0, sid, b"late") + raw_frame(fr.WINDOW_UPDATE, 0, sid, b"\0\0\0\1")
        )
        assert client.error is None
        assert [f.value for f in peer.sent("RST_STREAM", sid)] == resets
