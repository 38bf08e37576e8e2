# unasync: skip -- sans-IO checks of the HTTP/2 frame codec, nothing flavour-specific.
"""The HTTP/2 frame reader and writers: against ``hyperframe`` (an independent
codec), at every split of the input, and fuzzed (random bytes never raise
anything but :class:`FrameError`; the client state never raises at all)."""

from __future__ import annotations

import os
import struct

import h2.config
import h2.connection
import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from hyperframe.frame import Frame as HFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_python import ConnectError
from connect_python._http import frames as fr
from connect_python._http.frames import FrameError, FrameReader
from connect_python._http.h2_receive import REPLIES_PER_READ
from connect_python._http.h2_state import H2State

#: ``H2_FUZZ_EXAMPLES`` runs more (or fewer) examples; nothing is stored between runs.
FUZZ = settings(
    max_examples=int(os.environ.get("H2_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _server_frames() -> bytes:
    data = DataFrame(1, data=b"payload", flags=["END_STREAM", "PADDED"])
    data.pad_length = 9
    headers = HeadersFrame(3, data=b"\x88\x40\x01a\x01b"[:3], flags=["PRIORITY"])
    headers.depends_on, headers.stream_weight = 1, 7
    continuation = ContinuationFrame(3, data=b"a\x01b", flags=["END_HEADERS"])
    settings_frame = SettingsFrame(0, settings={4: 1 << 20, 0x99: 7})
    goaway = GoAwayFrame(0, last_stream_id=3, error_code=2, additional_data=b"debug")
    frames: list[HFrame] = [
        settings_frame,
        SettingsFrame(0, flags=["ACK"]),
        PingFrame(0, opaque_data=b"abcdefgh", flags=["ACK"]),
        WindowUpdateFrame(0, window_increment=1000),
        WindowUpdateFrame(1, window_increment=5),
        data,
        headers,
        continuation,
        PriorityFrame(5, depends_on=1, stream_weight=3),
    ]
    after: list[HFrame] = [RstStreamFrame(1, error_code=8), goaway]
    # A frame of an unknown type (by hand: hyperframe writes no body for it).
    unknown = struct.pack(">BHBBL", 0, 7, 0x42, 0xFF, 5) + b"unknown"
    return (
        b"".join(f.serialize() for f in frames) + unknown + b"".join(f.serialize() for f in after)
    )


EXPECTED = [
    (fr.SETTINGS, 0, 0, struct.pack(">HLHL", 4, 1 << 20, 0x99, 7)),
    (fr.SETTINGS, fr.ACK, 0, b""),
    (fr.PING, fr.ACK, 0, b"abcdefgh"),
    (fr.WINDOW_UPDATE, 0, 0, (1000).to_bytes(4, "big")),
    (fr.WINDOW_UPDATE, 0, 1, (5).to_bytes(4, "big")),
    (fr.DATA, fr.END_STREAM | fr.PADDED, 1, b"payload"),
    (fr.HEADERS, fr.END_HEADERS, 3, b"\x88\x40\x01a\x01b"),
    (fr.PRIORITY, 0, 5, b"\0\0\0\1\3"),
    (fr.RST_STREAM, 0, 1, b"\0\0\0\x08"),
    (fr.GOAWAY, 0, 0, b"\0\0\0\3\0\0\0\2debug"),
]


def _simplify(frames: list[fr.Frame]) -> list[tuple[int, int, int, bytes]]:
    return [(kind, flags, sid, bytes(payload)) for kind, flags, sid, payload, _ in frames]


def test_reader_against_hyperframe_at_every_split() -> None:
    wire = _server_frames()
    assert _simplify(FrameReader().feed(wire)) == EXPECTED
    for cut in range(1, len(wire)):
        reader = FrameReader()
        frames = reader.feed(wire[:cut]) + reader.feed(wire[cut:])
        assert _simplify(frames) == EXPECTED, cut
    reader = FrameReader()
    frames = []
    for i in range(len(wire)):
        frames += reader.feed(wire[i : i + 1])
    assert _simplify(frames) == EXPECTED
    assert reader.unparsed == b""


def test_reader_takes_pieces_of_a_read_without_copying_them() -> None:
    # The HTTP/2 connection hands a read over in pieces (memoryviews of it).
    wire = _server_frames()
    view = memoryview(wire)
    for cut in range(1, len(wire)):
        reader = FrameReader()
        frames = reader.feed(view[:cut]) + reader.feed(view[cut:])
        assert _simplify(frames) == EXPECTED, cut
    (data,) = [f for f in FrameReader().feed(view) if f[0] == fr.DATA]
    payload = data[3]
    assert isinstance(payload, memoryview) and payload.obj is wire  # not copied
    # A mutable buffer is copied: changing it later changes no frame.
    buffer = bytearray(wire)
    frames = FrameReader().feed(memoryview(buffer))
    buffer[:] = bytes(len(buffer))
    assert _simplify(frames) == EXPECTED


@pytest.mark.parametrize("budget", [None, 2])
def test_data_frame_split_between_reads_comes_in_parts_without_copies(budget: int | None) -> None:
    # An unpadded DATA frame that goes on in the next read: each read's part
    # is a DATA frame of its own (a view of that read), END_STREAM on the last.
    payload = bytes(range(200)) * 5
    wire = (
        fr.encode_ping(b"abcdefgh")
        + fr.encode_data_head(1, len(payload), True)
        + payload
        + fr.encode_data_head(3, 0, True)
        + fr.encode_window_update(0, 7)
    )
    for cut in range(1, len(wire)):
        first, second = wire[:cut], wire[cut:]
        reader = FrameReader(frames_per_feed=budget)
        frames = []
        for read in (first, second):
            frames += reader.feed(read)
            while reader.more:
                frames += reader.resume()
        merged: list[tuple[int, int, int, bytes]] = []
        for kind, flags, sid, part, length in frames:
            assert len(part) == length
            if kind == fr.DATA and sid == 1:
                assert isinstance(part, memoryview) and part.obj in (first, second)
                if merged and merged[-1][:3] == (fr.DATA, 0, 1):
                    merged[-1] = (fr.DATA, flags, 1, merged[-1][3] + bytes(part))
                    continue
            merged.append((kind, flags, sid, bytes(part)))
        assert merged == [
            (fr.PING, 0, 0, b"abcdefgh"),
            (fr.DATA, fr.END_STREAM, 1, payload),
            (fr.DATA, fr.END_STREAM, 3, b""),
            (fr.WINDOW_UPDATE, 0, 0, (7).to_bytes(4, "big")),
        ], cut
        assert reader.unparsed == b""


def test_data_frame_flow_length_counts_padding() -> None:
    (frame,) = FrameReader().feed(DataFrame(1, data=b"abc", flags=["PADDED"]).serialize())
    assert bytes(frame[3]) == b"abc" and frame[4] == 4
    data = DataFrame(1, data=b"abc", flags=["PADDED"])
    data.pad_length = 10
    (frame,) = FrameReader().feed(data.serialize())
    assert bytes(frame[3]) == b"abc" and frame[4] == 14


def test_writers_against_hyperframe() -> None:
    def parse(data: bytes) -> HFrame:
        frame, length = HFrame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        return frame

    ping = parse(fr.encode_ping(b"12345678", ack=True))
    assert isinstance(ping, PingFrame) and ping.opaque_data == b"12345678"
    assert "ACK" in ping.flags
    update = parse(fr.encode_window_update(3, 12345))
    assert isinstance(update, WindowUpdateFrame) and update.window_increment == 12345
    reset = parse(fr.encode_rst_stream(5, 8))
    assert isinstance(reset, RstStreamFrame) and (reset.stream_id, reset.error_code) == (5, 8)
    goaway = parse(fr.encode_goaway(0, 1, b"bad"))
    assert isinstance(goaway, GoAwayFrame) and goaway.additional_data == b"bad"
    settings_frame = parse(fr.encode_settings([(3, 100), (4, 1 << 20)]))
    assert isinstance(settings_frame, SettingsFrame)
    assert settings_frame.settings == {3: 100, 4: 1 << 20}
    data = parse(fr.encode_data_head(7, 4, True) + b"body")
    assert isinstance(data, DataFrame) and data.data == b"body" and "END_STREAM" in data.flags
    block = hpack.Encoder().encode([(b"x-long", b"l" * 50000)])
    wire = fr.encode_headers(9, block, True, 16384)
    (headers,) = FrameReader(16384).feed(wire)
    assert headers[0] == fr.HEADERS and bytes(headers[3]) == block
    assert headers[1] & fr.END_STREAM


def test_frame_larger_than_advertised() -> None:
    reader = FrameReader(16384)
    head = struct.pack(">BHBBL", 0, 16385, fr.DATA, 0, 1)
    try:
        reader.feed(head)
    except FrameError as exc:
        assert exc.error_code == fr.ErrorCode.FRAME_SIZE_ERROR
    else:
        raise AssertionError("no FrameError")


def test_fault_carries_the_frames_before_it() -> None:
    wire = fr.encode_ping(b"abcdefgh") + struct.pack(">BHBBL", 0, 1, fr.DATA, 0, 0) + b"x"
    try:
        FrameReader().feed(wire)
    except FrameError as exc:
        assert exc.error_code == fr.ErrorCode.PROTOCOL_ERROR
        assert _simplify(exc.frames) == [(fr.PING, 0, 0, b"abcdefgh")]
    else:
        raise AssertionError("no FrameError")


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_fuzz_reader_raises_only_frame_errors(chunks: list[bytes]) -> None:
    reader = FrameReader()
    for chunk in chunks:
        try:
            frames = reader.feed(chunk)
        except FrameError as exc:
            assert isinstance(exc.error_code, int)
            return
        for kind, _flags, sid, payload, length in frames:
            assert 0 <= kind <= 9 and 0 <= sid < 2**31
            assert len(payload) <= length <= reader.max_frame_size


_frame_kinds = st.sampled_from([*range(10), 0x42])


@st.composite
def _frames(draw: st.DrawFn) -> bytes:
    kind = draw(_frame_kinds)
    flags = draw(st.integers(0, 255))
    sid = draw(st.sampled_from([0, 1, 2, 3, 5, 2**31 - 1]))
    if kind in (fr.RST_STREAM, fr.WINDOW_UPDATE, fr.PING, fr.PRIORITY, fr.GOAWAY):
        size = draw(st.sampled_from([4, 5, 8, 9, 3]))
        payload = draw(st.binary(min_size=size, max_size=size))
    elif kind == fr.SETTINGS:
        pairs = draw(st.lists(st.tuples(st.integers(0, 10), st.integers(0, 2**32 - 1)), max_size=4))
        payload = b"".join(struct.pack(">HL", i, v) for i, v in pairs)
    elif kind == fr.HEADERS and draw(st.booleans()):
        fields = draw(
            st.lists(
                st.tuples(st.sampled_from([b":status", b"x-a", b"te"]), st.binary(max_size=20))
            )
        )
        payload = hpack.Encoder().encode(fields)
    else:
        payload = draw(st.binary(max_size=64))
    return struct.pack(">BHBBL", 0, len(payload), kind, flags, sid) + payload


def _read_of(reader: FrameReader, data: bytes | bytearray) -> object:
    """What a fresh reader makes of one read: its frames (payloads as bytes), or its error."""
    try:
        return [(k, f, sid, bytes(p), n) for k, f, sid, p, n in reader.feed(data)]
    except FrameError as exc:
        return (exc.error_code, str(exc))


@FUZZ
@given(_frames(), st.sampled_from([0, 1, 4, 16384, 16385]), st.binary(max_size=3))
def test_a_read_of_one_frame_is_parsed_as_any_read(frame: bytes, grow: int, tail: bytes) -> None:
    # A read of bytes takes the one-DATA-frame shortcut when it can; a
    # bytearray (copied first) never does. Same frames, same errors. (grow:
    # declared lengths up to and past the frame size limit; tail: a read
    # longer than its one frame.)
    length = int.from_bytes(frame[:3], "big") + grow
    frame = length.to_bytes(3, "big") + frame[3:] + bytes(grow) + tail
    assert _read_of(FrameReader(16384), frame) == _read_of(FrameReader(16384), bytearray(frame))


@FUZZ
@given(st.lists(_frames(), max_size=12), st.integers(1, 64))
def test_fuzz_client_state_never_raises(frames: list[bytes], piece: int) -> None:
    client = H2State()
    client.data_to_send()
    stream = client.open_stream([(b":method", b"GET")], end_stream=False)
    client.open_stream([(b":method", b"GET")], end_stream=True)
    wire = fr.encode_settings([(3, 10)]) + b"".join(frames)
    for start in range(0, len(wire), piece):
        client.receive_data(wire[start : start + piece])
        client.consume(stream)
        out = client.data_to_send()
        if client.error is not None:
            break
    if client.error is not None:
        assert isinstance(client.error, ConnectError)
        assert stream.error is not None or stream.ended
        assert stream.closed
    else:
        assert out is not None


def _tiny_frame(length: int) -> bytes:
    return struct.pack(">BHBBL", 0, length, fr.DATA, 0, 1) + bytes(length)


def test_a_budget_cuts_a_read_after_every_few_frames_without_copies() -> None:
    frames = [_tiny_frame(n % 40) for n in range(8 * 3 + 5)]
    wire = b"".join(frames)
    reader = FrameReader(frames_per_feed=8)
    sizes = [len(reader.feed(wire))]
    while reader.more:
        got = reader.resume()
        assert all(isinstance(f[3], memoryview) and f[3].obj is wire for f in got if f[4])
        sizes.append(len(got))
    assert sizes == [8, 8, 8, 5]
    few = b"".join(frames[:8])
    assert len(reader.feed(few)) == 8 and not reader.more
    reader.feed(wire)
    assert reader.more
    reader.drop()
    assert not reader.more and reader.unparsed == b""


def test_a_budget_parses_reads_split_anywhere_as_one_read() -> None:
    wire = _server_frames()
    for cut in range(1, len(wire)):
        reader = FrameReader(frames_per_feed=2)
        got: list[fr.Frame] = []
        for read in (wire[:cut], wire[cut:]):
            part = reader.feed(read)
            assert len(part) <= 2
            got += part
            while reader.more:
                part = reader.resume()
                assert len(part) <= 2
                got += part
        assert _simplify(got) == EXPECTED, cut


def test_the_ping_flood_limit_counts_per_read_across_its_pieces() -> None:
    ping = fr.encode_ping(b"pingping")
    for per_read in (1200, 8):
        state = H2State(frames_per_piece=8)
        server = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        server.initiate_connection()
        server.receive_data(state.data_to_send())
        state.receive_data(server.data_to_send())
        assert state.settings_received and state.error is None
        for _ in range(1200 // per_read):
            state.receive_data(ping * per_read)
            while state.reader.more and state.error is None:
                state.receive_data(None)
        if per_read > REPLIES_PER_READ:
            assert state.error is not None and "flood" in state.error.message
        else:
            assert state.error is None
