# unasync: skip -- sans-IO parsers: nothing here differs between the flavours.
"""Fuzzing the parsers the client owns, with hypothesis.

Property, for every parser fed bytes from the peer: it ends (no hang: each
example has a deadline, each parsing loop a step bound), it raises only its
typed error (``ConnectError``; ``HTTP1Error`` for the HTTP/1.1 parser, which
the transport turns into one), and it keeps no more than it was given (limits
are checked before buffering). Valid input split anywhere parses the same.

The parsers are imported inside the tests through :func:`find`, which looks
in the modules each name lived in, so that rooms being rearranged don't break
collection. Cases the fuzzer found stay as ``@example`` lines (the corpus).

Examples per property: 150 in CI, 2,000 with ``RELIABILITY=release``.
"""

from __future__ import annotations

import gzip
import importlib
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connect_python import (
    BrotliCompression,
    Code,
    ConnectError,
    GzipCompression,
    Headers,
    ZstdCompression,
)
from reliability.accounting import mode

EXAMPLES = 2000 if mode() == "release" else 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,  # ms per example: a parser that loops or backtracks shows up here
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def find(name: str, *modules: str) -> Any:
    """``name`` from the first of ``modules`` that has it."""
    for module in modules:
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if found is not None:
            return found
    raise AssertionError(f"{name} is in none of {modules}: update the fuzz tests' find() lists")


def envelope_decoder() -> Any:
    return find("EnvelopeDecoder", "connect_python.protocol.envelope", "connect_python.protocol")


def encode_envelope(flags: int, payload: bytes) -> bytes:
    fn = find("encode_envelope", "connect_python.protocol.envelope", "connect_python.protocol")
    result: bytes = fn(flags, payload)
    return result


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


# -- envelopes --------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4096), st.lists(st.integers(0, 5000), max_size=8))
@example(b"\x00\xff\xff\xff\xff", [])  # a 4 GiB declaration: refused before buffering
@example(b"\x80\x00\x00\x00\x00", [])  # unknown flag bits
def test_envelope_decoder_on_any_bytes(data: bytes, cuts: list[int]) -> None:
    decoder = envelope_decoder()(max_size=1024)
    got = 0
    try:
        for part in splits(data, cuts):
            decoder.feed(part)
            for _ in range(len(data) + 1):
                frame = decoder.next()
                if frame is None:
                    break
                _, payload = frame
                assert len(payload) <= 1024
                got += 5 + len(payload)
    except ConnectError as exc:
        assert exc.code in (Code.INTERNAL, Code.RESOURCE_EXHAUSTED)
        return
    assert got + decoder.pending == len(data)


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from((0, 1, 2, 3)), st.binary(max_size=300)), max_size=10),
    st.lists(st.integers(0, 4000), max_size=10),
)
def test_envelopes_split_anywhere_parse_the_same(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    wire = b"".join(encode_envelope(f, p) for f, p in frames)
    decoder = envelope_decoder()(max_size=None)
    out = []
    for part in splits(wire, cuts):
        decoder.feed(part)
        while (frame := decoder.next()) is not None:
            out.append(frame)
    assert out == frames
    assert decoder.pending == 0


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from((0, 1, 2, 3)), st.binary(max_size=300)), max_size=10),
    st.lists(st.integers(0, 4000), max_size=10),
    st.integers(1, 4),
)
def test_envelopes_split_in_batches_parse_the_same(
    frames: list[tuple[int, bytes]], cuts: list[int], limit: int
) -> None:
    wire = b"".join(encode_envelope(f, p) for f, p in frames)
    decoder = envelope_decoder()(max_size=None, stop_flags=2)
    out: list[tuple[int, bytes]] = []
    for part in splits(wire, cuts):
        batch = decoder.split(part, limit)
        while True:
            assert len(batch) <= limit
            out.extend(batch)
            if decoder.final is not None:
                out.append(decoder.final)
                decoder.final = None
                decoder.stopped = False
            elif len(batch) < limit:
                break
            batch = decoder.split(b"", limit)
    assert out == frames
    assert decoder.pending == 0


@FUZZ
@given(st.binary(max_size=2048), st.lists(st.integers(0, 3000), max_size=8), st.integers(1, 3))
def test_envelope_split_on_any_bytes(data: bytes, cuts: list[int], limit: int) -> None:
    decoder = envelope_decoder()(max_size=512)
    got = 0
    try:
        for part in splits(data, cuts):
            batch = decoder.split(part, limit)
            while True:
                got += sum(5 + len(payload) for _, payload in batch)
                assert all(len(payload) <= 512 for _, payload in batch)
                if decoder.fault is not None:
                    raise decoder.fault
                if len(batch) < limit:
                    break
                batch = decoder.split(b"", limit)
    except ConnectError as exc:
        assert exc.code in (Code.INTERNAL, Code.RESOURCE_EXHAUSTED)
        return
    assert got + decoder.pending == len(data)


# -- error JSON, end-stream JSON ------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
codes = st.sampled_from([c.value for c in Code] + ["", "bogus", "OK", "canceled "])
error_objects = st.fixed_dictionaries(
    {},
    optional={
        "code": codes | json_values,
        "message": st.text(max_size=40) | json_values,
        "details": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "type": st.text(max_size=30) | json_values,
                    "value": st.text(alphabet="ABCDabcd0123+/=-_ \n", max_size=40) | json_values,
                    "debug": json_values,
                },
            )
            | json_values,
            max_size=3,
        )
        | json_values,
    },
)
bodies = (
    st.binary(max_size=300)
    | error_objects.map(lambda o: json.dumps(o).encode())
    | json_values.map(lambda o: json.dumps(o).encode())
    | st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)  # deep nesting
)


@FUZZ
@given(
    st.integers(100, 599),
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
    bodies,
)
@example(503, "application/json", b"[" * 100_000)
@example(
    400, "application/json", b'{"code": "internal", "details": [{"type": "\\ud800", "value": ""}]}'
)
def test_error_body_is_always_a_connect_error(status: int, ctype: str, body: bytes) -> None:
    parse_error_body = find("parse_error_body", "connect_python._errors")
    error = parse_error_body(status, ctype, body, Headers(), "POST http://x/s/m")
    assert isinstance(error, ConnectError)
    assert isinstance(error.code, Code)


@FUZZ
@given(
    bodies
    | st.fixed_dictionaries(
        {},
        optional={
            "error": error_objects | json_values,
            "metadata": st.dictionaries(
                st.text(max_size=12), st.lists(st.text(max_size=12), max_size=3) | json_values
            )
            | json_values,
        },
    ).map(lambda o: json.dumps(o).encode())
)
@example(b'{"metadata": {"a\\r\\nb": ["x"]}}')
@example(b'{"metadata": {"ok": ["a\\u0000b"]}}')
def test_end_stream_parses_or_raises_a_typed_error(payload: bytes) -> None:
    parse_end_stream = find(
        "parse_end_stream",
        "connect_python.protocol.connect_response",
        "connect_python.protocol.connect_wire",
        "connect_python.protocol.connect",
    )
    try:
        end = parse_end_stream(payload, Headers())
    except ConnectError as exc:
        assert exc.code is Code.INTERNAL
        return
    if end.error is not None:
        assert isinstance(end.error, ConnectError) and isinstance(end.error.code, Code)


# -- the HTTP/1.1 response parser -----------------------------------------------------------

GOOD_RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
]


def mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        if not out:
            break
        i = pos % len(out)
        if value < 256:
            out[i] = value
        elif value < 300:
            del out[i]
        else:
            out[i:i] = b"\r\n0x-+;: "[value % 9 : value % 9 + 1]
    return bytes(out)


h1_inputs = st.binary(max_size=600) | st.builds(
    mutate,
    st.sampled_from(GOOD_RESPONSES),
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 320)), max_size=6),
)


@FUZZ
@given(h1_inputs, st.lists(st.integers(0, 700), max_size=6), st.booleans())
@example(
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", [], True
)
@example(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", [], True)
@example(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", [], True)
def test_http1_parser_ends_with_events_or_its_typed_error(
    data: bytes, cuts: list[int], eof: bool
) -> None:
    parser_cls = find("ResponseParser", "connect_python._http.h1")
    error_cls = find("HTTP1Error", "connect_python._http.h1")
    parser = parser_cls(max_head=512)
    parser.start()
    body = 0
    try:
        parts = splits(data, cuts)
        for i, part in enumerate(parts):
            parser.feed(part)
            if eof and i == len(parts) - 1:
                parser.feed_eof()
            for _ in range(len(data) + 10):
                event = parser.next_event()
                if event is None:  # NEED_DATA
                    break
                if isinstance(event, bytes):
                    body += len(event)
                if parser.done:
                    break
            if parser.done:
                break
    except error_cls:
        return
    assert body <= len(data)


# -- compressed payloads --------------------------------------------------------------------


def _compressions() -> list[Any]:
    found: list[Any] = [GzipCompression()]
    for cls in (BrotliCompression, ZstdCompression):
        try:
            found.append(cls())
        except Exception:  # the optional package is missing
            continue
    return found


@FUZZ
@given(st.integers(0, 2), st.binary(max_size=2000) | st.binary(max_size=200).map(gzip.compress))
@example(0, gzip.compress(b"\0" * 5_000_000))  # a bomb: refused at the limit
def test_decompression_stays_within_the_limit(which: int, data: bytes) -> None:
    compressions = _compressions()
    compression = compressions[which % len(compressions)]
    try:
        out = compression.decompress(data, 64 * 1024)
    except ConnectError as exc:
        assert exc.code in (Code.INTERNAL, Code.RESOURCE_EXHAUSTED)
        return
    assert len(out) <= 64 * 1024


@FUZZ
@given(st.integers(0, 2), st.binary(max_size=5000))
def test_compression_round_trips(which: int, data: bytes) -> None:
    compressions = _compressions()
    compression = compressions[which % len(compressions)]
    assert compression.decompress(compression.compress(data), len(data)) == data


# -- HPACK -------------------------------------------------------------------------------

_header_lists = st.lists(
    st.tuples(
        st.sampled_from([b"content-type", b"grpc-status", b"x-a", b"x-b", b":status"])
        | st.binary(min_size=1, max_size=20),
        # Values seen before make the encoder refer to its dynamic table.
        st.sampled_from([b"", b"0", b"application/proto", b"gzip"]) | st.binary(max_size=60),
    ),
    max_size=6,
)


@st.composite
def _header_blocks(draw: st.DrawFn) -> list[bytes]:
    """Blocks a peer's encoder made (so the dynamic table is used), some sent
    again or with a byte changed: repeats reach the decoder's memo of blocks."""
    import hpack

    encoder = hpack.Encoder()
    made = [encoder.encode(h) for h in draw(st.lists(_header_lists, min_size=1, max_size=6))]
    out = []
    for _ in range(draw(st.integers(1, 10))):
        block = bytearray(made[draw(st.integers(0, len(made) - 1))])
        if block and draw(st.booleans()):
            block[draw(st.integers(0, len(block) - 1))] ^= draw(st.integers(1, 255))
        out.append(bytes(block))
    return out


@FUZZ
@given(_header_blocks())
def test_hpack_decoder_agrees_with_a_fresh_decoder_or_fails_typed(blocks: list[bytes]) -> None:
    # The client's decoder remembers decoded blocks (a repeated block is not
    # decoded again while the dynamic table is unchanged): it must answer what
    # a decoder without that memo answers, and fail only with its typed error.
    import hpack

    decoder_cls = find("HeaderDecoder", "connect_python._http.hpack_codec")
    failure = find("HPACKFailure", "connect_python._http.hpack_codec")
    ours = decoder_cls(max_header_list_size=4096)
    reference = hpack.Decoder(max_header_list_size=4096)
    reference.max_allowed_table_size = 4096
    for block in blocks:
        try:
            expected = [tuple(f) for f in reference.decode(block, raw=True)]
        except Exception:
            expected = None
        try:
            fields, pseudo = ours.decode(block)
            got = [tuple(f) for f in fields]
        except failure:
            assert expected is None, f"refused a block a fresh decoder takes: {block!r}"
            return  # a connection error: the connection (and its table) is gone
        assert got == expected, block
        lead = next((i for i, (n, _) in enumerate(got) if n[:1] != b":"), len(got))
        mixed = any(n[:1] == b":" for n, _ in got[lead:])
        assert pseudo == (-1 if mixed else lead), block
        assert sum(len(n) + len(v) for n, v in got) <= 4096 + 32 * len(got)
