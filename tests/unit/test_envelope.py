from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_python import Code, ConnectError
from connect_python.protocol.envelope import (
    FLAG_COMPRESSED,
    FLAG_END_STREAM,
    EnvelopeDecoder,
    encode_envelope,
)


def test_roundtrip_many_in_one_chunk() -> None:
    data = b"".join(encode_envelope(0, bytes([i]) * i) for i in range(50))
    decoder = EnvelopeDecoder()
    decoder.feed(data)
    got = []
    while (env := decoder.next()) is not None:
        got.append(env)
    assert got == [(0, bytes([i]) * i) for i in range(50)]
    assert decoder.pending == 0


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7, 4096])
def test_split_at_every_boundary(step: int) -> None:
    envelopes = [(0, b"hello"), (FLAG_COMPRESSED, b""), (0, b"x" * 300), (FLAG_END_STREAM, b"{}")]
    data = b"".join(encode_envelope(f, p) for f, p in envelopes)
    decoder = EnvelopeDecoder()
    got = []
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step])
        while (env := decoder.next()) is not None:
            got.append(env)
    assert got == envelopes


def test_payload_shorter_than_header_split_after_header() -> None:
    decoder = EnvelopeDecoder()
    env = encode_envelope(FLAG_END_STREAM, b"{}")
    decoder.feed(env[:5])
    assert decoder.next() is None
    decoder.feed(env[5:])
    assert decoder.next() == (FLAG_END_STREAM, b"{}")


def test_declared_length_over_limit_rejected_before_buffering() -> None:
    decoder = EnvelopeDecoder(max_size=1024)
    # Only the 5-byte header has arrived: the limit check must not wait for the payload.
    decoder.feed(bytes([0, 0x40, 0, 0, 0]))
    with pytest.raises(ConnectError) as info:
        decoder.next()
    assert info.value.code is Code.RESOURCE_EXHAUSTED


def test_unknown_flags_are_protocol_errors() -> None:
    decoder = EnvelopeDecoder()
    decoder.feed(encode_envelope(0x80, b"x"))
    with pytest.raises(ConnectError) as info:
        decoder.next()
    assert info.value.code is Code.INTERNAL


def test_long_stream_is_linear() -> None:
    # 200k small messages fed one chunk at a time: must not copy the whole buffer per message.
    one = encode_envelope(0, b"y" * 16)
    decoder = EnvelopeDecoder()
    count = 0
    chunk = one * 1000
    for _ in range(200):
        decoder.feed(chunk)
        while decoder.next() is not None:
            count += 1
    assert count == 200_000
    assert len(decoder._buf) <= 2 * len(chunk) + 65536 * 2


def _split_of(decoder: EnvelopeDecoder, data: bytes, fed: bool) -> object:
    """The envelopes split off ``data`` (``fed``: handed over with feed()
    first, so it is split as kept input), or the error."""
    try:
        if fed:
            decoder.feed(data)
            data = b""
        return decoder.split(data, 100), decoder.final, decoder.stopped
    except ConnectError as exc:
        return exc.code, exc.message


@given(
    st.integers(0, 255),
    st.binary(max_size=12),
    st.integers(-2, 2),
    st.sampled_from([0, FLAG_END_STREAM]),
)
def test_a_chunk_of_one_envelope_is_split_as_any_chunk(
    flags: int, payload: bytes, skew: int, stop: int
) -> None:
    # A chunk holding exactly one envelope takes a shortcut; input kept from
    # before never does. Same envelopes, same stops, same errors. (skew: a
    # declared length off by a little; flags: known, unknown and stop flags.)
    size = max(0, len(payload) + skew)
    data = bytes([flags]) + size.to_bytes(4, "big") + payload
    results = [
        _split_of(EnvelopeDecoder(max_size=8, stop_flags=stop), data, fed) for fed in (False, True)
    ]
    assert results[0] == results[1]
