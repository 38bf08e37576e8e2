# unasync: skip -- sans-IO checks of the HTTP/2 state, nothing flavour-specific.
"""Our HTTP/2 client state against an ``h2`` server in memory: header blocks.

HPACK (dynamic table, size updates both ways, blocks of forgotten streams),
CONTINUATION, padding, priority, unknown frames and settings. The rest of the
frame-by-frame checks are in ``test_h2_client.py``.
"""

from __future__ import annotations

import hpack
import pytest
from h2.settings import SettingCodes
from hyperframe.frame import HeadersFrame

from connect_python._http import frames as fr
from connect_python._http.h2_state import H2State
from transport.h2peer import (
    COMPRESSION_ERROR,
    HEADERS,
    OK_HEADERS,
    PROTOCOL_ERROR,
    Peer,
    assert_protocol_failure,
    completed,
    raw_frame,
)

# -- HPACK --------------------------------------------------------------------------------


def test_dynamic_table_and_memoized_blocks_follow_table_changes() -> None:
    peer = Peer()
    encoder = hpack.Encoder()
    first = peer.open()
    block = encoder.encode([(b":status", b"200"), (b"x-a", b"1")])  # inserts x-a: 1
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, first.stream_id, block))
    assert first.headers == [(b":status", b"200"), (b"x-a", b"1")]
    reference = bytes([0x88, 0x80 | 62])  # :status 200, dynamic entry 62
    for value in (b"1", b"1"):
        stream = peer.open()
        peer.inject(
            raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, reference)
        )
        assert stream.headers == [(b":status", b"200"), (b"x-a", value)]
    stream = peer.open()
    block = encoder.encode([(b":status", b"200"), (b"x-b", b"2")])  # now entry 62 is x-b: 2
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, block))
    stream = peer.open()
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, reference))
    assert stream.headers == [(b":status", b"200"), (b"x-b", b"2")]


def test_memoized_blocks_follow_an_eviction_by_size_update() -> None:
    peer = Peer()
    stream = peer.open()
    block = hpack.Encoder().encode([(b":status", b"200"), (b"x-a", b"1")])  # inserts x-a: 1
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, block))
    reference = bytes([0x88, 0x80 | 62])  # :status 200, dynamic entry 62
    for _ in range(2):  # decoded, then from the memo
        stream = peer.open()
        peer.inject(
            raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, reference)
        )
        assert stream.headers == [(b":status", b"200"), (b"x-a", b"1")]
    stream = peer.open()
    evicting = b"\x20\x3f\xe1\x1f\x88"  # size 0 (the table empties), 4096; :status 200
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, evicting))
    assert stream.status == 200 and peer.client.error is None
    stream = peer.open()
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, reference))
    assert_protocol_failure(peer, COMPRESSION_ERROR)  # entry 62 is gone


def test_dynamic_table_size_updates_from_the_server() -> None:
    peer = Peer()
    stream = peer.open()
    # Size update to 0, then to 4096 (the default this client allows).
    block = b"\x20\x3f\xe1\x1f\x88"
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, block))
    assert stream.status == 200 and peer.client.error is None
    stream = peer.open()
    too_big = b"\x3f\xe2\x1f\x88"  # 4097: more than SETTINGS_HEADER_TABLE_SIZE
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, too_big))
    assert_protocol_failure(peer, COMPRESSION_ERROR)


def test_table_size_setting_from_the_server_is_announced_in_the_next_block() -> None:
    peer = Peer()
    client = peer.client
    peer.server.update_settings({SettingCodes.HEADER_TABLE_SIZE: 0})
    peer.pump()
    blocks = []
    for _ in range(2):
        client.open_stream(HEADERS, end_stream=True)
        out = client.data_to_send()
        assert out[3] == fr.HEADERS
        blocks.append(out[9:])
        peer.events += peer.server.receive_data(out)
        peer.pump()
    # A size update to 0 starts the first block after the change only.
    assert blocks[0] == b"\x20" + blocks[1]
    requests = [e for e in peer.events if type(e).__name__ == "RequestReceived"]
    assert [r.headers[:4] for r in requests] == [HEADERS[:4]] * 2


def test_undecodable_header_block() -> None:
    peer = Peer()
    stream = peer.open()
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS, stream.stream_id, b"\xff\xff\xff\xff\x7f"))
    assert_protocol_failure(peer, COMPRESSION_ERROR)


def test_header_blocks_of_forgotten_streams_still_update_the_table() -> None:
    peer = Peer()
    client = peer.client
    stream = peer.open()
    client.reset(stream)
    peer.pump()
    encoder = hpack.Encoder()
    block = encoder.encode([(b":status", b"200"), (b"x-late", b"yes")])
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS, stream.stream_id, block))
    stream = peer.open()
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS, stream.stream_id, bytes([0x88, 0xBE])))
    assert stream.headers == [(b":status", b"200"), (b"x-late", b"yes")]


# -- malformed header blocks (RFC 9113 §8.3) --------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        [(b"content-type", b"application/proto")],  # no :status
        [(b"content-type", b"application/proto"), (b":status", b"200")],  # :status after a field
        [(b":status", b"200"), (b":path", b"/x")],  # a request's pseudo-header field
        [(b":status", b"20x")],  # not a status
    ],
    ids=["missing", "after-regular", "extra-pseudo", "invalid"],
)
def test_malformed_response_headers_fail_the_stream_only(fields: list[tuple[bytes, bytes]]) -> None:
    peer = Peer()
    stream = peer.open()
    block = hpack.Encoder().encode(fields)
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS, stream.stream_id, block))
    assert stream.headers is None and stream.closed
    assert stream.error is not None and "malformed response headers" in stream.error.message
    assert [f.value for f in peer.sent("RST_STREAM", stream.stream_id)] == [PROTOCOL_ERROR]
    assert peer.client.error is None  # the connection goes on
    other = peer.open()
    peer.respond(other, end=True)
    assert other.status == 200 and other.headers == OK_HEADERS


def test_pseudo_header_field_in_trailers_fails_the_stream() -> None:
    peer = Peer()
    stream = peer.open()
    peer.respond(stream)
    block = hpack.Encoder().encode([(b"grpc-status", b"0"), (b":status", b"200")])
    peer.inject(raw_frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, stream.stream_id, block))
    assert stream.error is not None and "trailers" in stream.error.message
    assert [f.value for f in peer.sent("RST_STREAM", stream.stream_id)] == [PROTOCOL_ERROR]
    assert peer.client.error is None


# -- CONTINUATION, padding, priority, unknown frames -----------------------------------------


def test_continuation_from_the_server() -> None:
    peer = Peer(H2State(max_frame_size=16384))
    stream = peer.open()
    trailer = [(b"x-huge", b"h" * 40000)]
    peer.respond(stream)
    peer.server.send_headers(stream.stream_id, trailer, end_stream=True)
    peer.pump()
    assert stream.trailers == trailer and completed(stream)


def test_continuation_interrupted_or_alone() -> None:
    peer = Peer()
    stream = peer.open()
    peer.inject(
        raw_frame(fr.HEADERS, 0, stream.stream_id, b"\x88") + raw_frame(fr.PING, 0, 0, b"12345678")
    )
    assert_protocol_failure(peer, PROTOCOL_ERROR)
    peer = Peer()
    peer.inject(raw_frame(fr.CONTINUATION, fr.END_HEADERS, 1, b"\x88"))
    assert_protocol_failure(peer, PROTOCOL_ERROR)


def test_split_header_block_on_raw_frames() -> None:
    peer = Peer()
    stream = peer.open()
    block = hpack.Encoder().encode([(b":status", b"200"), (b"x-split", b"s" * 100)])
    sid = stream.stream_id
    peer.inject(
        raw_frame(fr.HEADERS, fr.END_STREAM, sid, block[:10])
        + raw_frame(fr.CONTINUATION, 0, sid, block[10:50])
        + raw_frame(fr.CONTINUATION, fr.END_HEADERS, sid, block[50:])
    )
    assert stream.headers == [(b":status", b"200"), (b"x-split", b"s" * 100)]
    assert stream.ended


def test_padded_and_prioritized_headers() -> None:
    peer = Peer()
    stream = peer.open()
    frame = HeadersFrame(stream.stream_id)
    frame.data = hpack.Encoder().encode([(b":status", b"200")])
    frame.flags.add("END_HEADERS")
    frame.flags.add("PADDED")
    frame.flags.add("PRIORITY")
    frame.pad_length = 17
    frame.depends_on = 0
    frame.stream_weight = 15
    peer.inject(frame.serialize())
    assert stream.status == 200 and peer.client.error is None


@pytest.mark.parametrize("kind", [fr.DATA, fr.HEADERS])
def test_padding_longer_than_the_frame(kind: int) -> None:
    peer = Peer()
    stream = peer.open()
    if kind == fr.DATA:
        peer.respond(stream)
    peer.inject(raw_frame(kind, fr.PADDED | fr.END_HEADERS, stream.stream_id, b"\x05abc"))
    assert_protocol_failure(peer, PROTOCOL_ERROR)


def test_priority_unknown_frames_and_unknown_settings_are_ignored() -> None:
    peer = Peer()
    client = peer.client
    stream = peer.open()
    peer.inject(
        raw_frame(fr.PRIORITY, 0, stream.stream_id, b"\0\0\0\0\x10")
        + raw_frame(0x42, 0xFF, stream.stream_id, b"whatever")
        + raw_frame(0x42, 0, 0, b"")
        + raw_frame(fr.SETTINGS, 0, 0, b"\x00\x99\x00\x00\x00\x01")
    )
    assert client.error is None and stream.error is None
    assert peer.sent("SETTINGS")[-1].flags == fr.ACK
    peer.respond(stream, end=True)
    assert completed(stream)
