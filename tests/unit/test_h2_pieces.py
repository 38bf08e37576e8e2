"""InputPieces: network reads cut into pieces of a few HTTP/2 frames."""

from __future__ import annotations

import random

import h2.config
import h2.connection
import pytest

from connect_python._http.h2_pieces import FRAMES_PER_PIECE, InputPieces
from connect_python._http.h2_state import H2State


def _frame(length: int) -> bytes:
    return length.to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01" + bytes(length)


def _pieces(pieces: InputPieces, data: bytes) -> list[bytes]:
    out: list[bytes] = []
    pieces.feed(data)
    for _ in range(len(data) + 1):
        out.append(bytes(pieces.next()))
        if not pieces.pending:
            return out
    raise AssertionError("pieces never ran out")


def test_a_read_of_few_frames_is_one_piece() -> None:
    pieces = InputPieces()
    data = b"".join(_frame(n) for n in range(FRAMES_PER_PIECE))
    assert _pieces(pieces, data) == [data]


def test_a_read_of_many_frames_is_cut_after_every_few_frames() -> None:
    pieces = InputPieces()
    frames = [_frame(n % 40) for n in range(FRAMES_PER_PIECE * 3 + 5)]
    out = _pieces(pieces, b"".join(frames))
    sizes = [FRAMES_PER_PIECE] * 3 + [5]
    expected = []
    for i, count in enumerate(sizes):
        start = i * FRAMES_PER_PIECE
        expected.append(b"".join(frames[start : start + count]))
    assert out == expected


def test_cuts_follow_the_frames_across_reads_split_anywhere() -> None:
    rng = random.Random(7)
    for _ in range(200):
        lengths = [rng.choice((0, 1, 5, 40, 300, 16_384)) for _ in range(rng.randrange(1, 400))]
        frames = [_frame(n) for n in lengths]
        stream = b"".join(frames)
        starts = set()
        pos = 0
        for frame in frames:
            starts.add(pos)
            pos += len(frame)
        # Reads end anywhere, inside headers (after 1 or 2 length bytes) too.
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randrange(0, 30))))
        pieces = InputPieces()
        offset = 0
        parsed = []
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            for piece in _pieces(pieces, stream[start:end]):
                parsed.append(piece)
                if offset + len(piece) < end:
                    # Cut inside a read: at a frame boundary, after at most
                    # FRAMES_PER_PIECE frames started.
                    assert offset + len(piece) in starts
                    assert len(starts & set(range(offset, offset + len(piece)))) <= FRAMES_PER_PIECE
                offset += len(piece)
        assert b"".join(parsed) == stream


def test_clear_drops_what_is_left() -> None:
    pieces = InputPieces()
    pieces.feed(_frame(0) * (FRAMES_PER_PIECE * 2))
    pieces.next()
    assert pieces.pending
    pieces.clear()
    assert not pieces.pending


@pytest.mark.parametrize("reads", [1, "each piece"])
def test_the_ping_flood_limit_counts_per_read_across_its_pieces(reads: object) -> None:
    state = H2State()
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    server.initiate_connection()
    server.receive_data(state.data_to_send())
    state.receive_data(server.data_to_send())
    assert state.settings_received and state.error is None
    ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"pingping"
    pieces = InputPieces()
    pieces.feed(ping * 1200)  # more than one read may carry
    new_read = True
    while pieces.pending and state.error is None:
        state.receive_data(pieces.next(), new_read)
        new_read = reads != 1
    if reads == 1:
        assert state.error is not None and "flood" in state.error.message
    else:
        assert state.error is None
