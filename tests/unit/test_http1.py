from __future__ import annotations

import pytest

from connect_python._http.h1 import (
    LAST_CHUNK,
    EndOfBody,
    HTTP1Error,
    Response,
    ResponseParser,
    encode_chunk,
    encode_request_head,
)


def events(parser: ResponseParser, data: bytes, step: int) -> list[object]:
    out: list[object] = []
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        while (event := parser.next_event()) is not None:
            out.append(event)
            if isinstance(event, EndOfBody):
                return out
    return out


def collapse(evts: list[object]) -> tuple[int, list[tuple[bytes, bytes]], bytes, object]:
    head = evts[0]
    assert isinstance(head, Response)
    body = b"".join(e for e in evts if isinstance(e, bytes))
    end = evts[-1]
    assert isinstance(end, EndOfBody)
    return head.status, head.headers, body, end.trailers


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/connect+proto\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nGrpc-Status: 0\r\nX-T: a\r\n\r\n"
)
LENGTH = b"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nX-A:  spaced  \r\n\r\nabc"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_chunked_with_trailers_any_split(step: int) -> None:
    parser = ResponseParser()
    status, headers, body, trailers = collapse(events(parser, CHUNKED, step))
    assert status == 200
    assert headers[0] == (b"content-type", b"application/connect+proto")
    assert body == b"hello world"
    assert trailers == [(b"grpc-status", b"0"), (b"x-t", b"a")]
    assert parser.done and parser.reusable


@pytest.mark.parametrize("step", [1, 4, 1000])
def test_content_length_and_informational(step: int) -> None:
    parser = ResponseParser()
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH
    status, headers, body, trailers = collapse(events(parser, data, step))
    assert status == 404
    assert (b"x-a", b"spaced") in headers
    assert body == b"abc"
    assert trailers == []


def test_two_responses_in_a_row_on_one_parser() -> None:
    parser = ResponseParser()
    parser.feed(LENGTH + LENGTH)
    first = []
    while not isinstance(event := parser.next_event(), EndOfBody):
        first.append(event)
    assert parser.pending == len(LENGTH)
    parser.start()
    assert isinstance(parser.next_event(), Response)


def test_until_close_and_connection_close() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart")
    assert isinstance(parser.next_event(), Response)
    assert parser.next_event() == b"part"
    assert parser.next_event() is None
    parser.feed_eof()
    assert isinstance(parser.next_event(), EndOfBody)
    assert not parser.reusable


def test_no_body_statuses() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert isinstance(parser.next_event(), Response)
    assert isinstance(parser.next_event(), EndOfBody)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX",
    ],
)
def test_malformed_responses(data: bytes) -> None:
    parser = ResponseParser()
    parser.feed(data)
    with pytest.raises(HTTP1Error):
        while parser.next_event() is not None:
            pass


def test_truncated_body_is_an_error_at_eof() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert isinstance(parser.next_event(), Response)
    assert parser.next_event() == b"abc"
    parser.feed_eof()
    with pytest.raises(HTTP1Error):
        parser.next_event()


def test_oversized_head_is_rejected_without_growing() -> None:
    parser = ResponseParser(max_head=1024)
    parser.feed(b"HTTP/1.1 200 OK\r\n" + b"x-a: " + b"b" * 2000)
    with pytest.raises(HTTP1Error):
        parser.next_event()


def test_request_encoding() -> None:
    head = encode_request_head(b"POST", b"/a/B", [(b"host", b"h:1"), (b"x", b"y")])
    assert head == b"POST /a/B HTTP/1.1\r\nhost: h:1\r\nx: y\r\n\r\n"
    with pytest.raises(ValueError):
        encode_request_head(b"GET", b"/", [(b"x", b"evil\r\ninjected: 1")])
    assert encode_chunk(b"abc") == b"3\r\nabc\r\n"
    assert encode_chunk(b"") == b""
    assert LAST_CHUNK == b"0\r\n\r\n"


def _parse_all(data: bytes) -> list[object]:
    parser = ResponseParser()
    parser.feed(data)
    parser.feed_eof()
    out: list[object] = []
    while True:
        event = parser.next_event()
        out.append(event)
        if isinstance(event, EndOfBody):
            return out


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "size",
    [
        b"0x5",  # int(..., 16) takes a 0x prefix
        b"0X5",
        b"+5",
        b"-5",
        b" 5",
        b"5_0",  # int() takes digit-group underscores
        b"\xd9\xa5",  # a non-ASCII digit
        b"1" + b"0" * 16,  # 17 hex digits
        b"",
        b"5 5",
        b";ext=1",
        b"g",
    ],
)
def test_chunk_size_must_be_hex_digits(size: bytes) -> None:
    data = CHUNKED_HEAD + size + b"\r\nhello\r\n0\r\n\r\n"
    with pytest.raises(HTTP1Error, match="invalid chunk size"):
        _parse_all(data)


@pytest.mark.parametrize("size", [b"5", b"05", b"5;ext=1", b"5 ;ext", b"5\t", b"0000000000000005"])
def test_chunk_size_forms_the_spec_allows(size: bytes) -> None:
    events = _parse_all(CHUNKED_HEAD + size + b"\r\nhello\r\n0\r\n\r\n")
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"hello"


def test_chunk_size_in_upper_case_hex() -> None:
    events = _parse_all(CHUNKED_HEAD + b"A\r\n0123456789\r\n0\r\n\r\n")
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"0123456789"


@pytest.mark.parametrize(
    "value",
    [
        b"0_03",  # int() takes digit-group underscores
        b"+3",
        b"-1",
        b"0x3",
        b"3 3",
        b"3.0",
        b"\xd9\xa3",  # ARABIC-INDIC DIGIT THREE in UTF-8
        b"1" + b"0" * 18,  # 19 digits
        b"",
        b"3, 3",
    ],
)
def test_content_length_must_be_digits(value: bytes) -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nabc"
    with pytest.raises(HTTP1Error, match="content-length"):
        _parse_all(data)


def test_content_length_with_surrounding_whitespace_is_valid() -> None:
    events = _parse_all(b"HTTP/1.1 200 OK\r\nContent-Length: \t3 \r\n\r\nabc")
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"abc"


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 +20 OK",
        b"HTTP/1.1 2_0 OK",
        b"HTTP/1.1 099 Early",
        b"HTTP/1.1 000 Zero",
        b"HTTP/1.1 101 Switching Protocols",  # never asked for
        b"HTTP/1.1 \xd9\xa2\xd9\xa0\xd9\xa0 OK",
        b"HTTP/1.2 200 OK",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1\t200 OK",
        b"http/1.1 200 OK",
    ],
)
def test_invalid_status_lines(line: bytes) -> None:
    with pytest.raises(HTTP1Error):
        _parse_all(line + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "line",
    [b"HTTP/1.1 200", b"HTTP/1.1 200 ", b"HTTP/1.0 503 Busy now", b"HTTP/1.1 800 status code 800"],
)
def test_status_lines_without_or_with_reason(line: bytes) -> None:
    events = _parse_all(line + b"\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(events[0], Response)
    assert events[0].status == int(line[9:12])


@pytest.mark.parametrize(
    "field",
    [b"X-A: one\ntwo", b"X-A: one\rtwo", b"X-A: one\x00two", b"X-A\n: one"],
)
def test_header_values_with_bare_cr_lf_or_nul_are_rejected(field: bytes) -> None:
    with pytest.raises(HTTP1Error, match="CR, LF or NUL"):
        _parse_all(b"HTTP/1.1 200 OK\r\n" + field + b"\r\nContent-Length: 0\r\n\r\n")


def test_http2_frames_instead_of_a_status_line_fail_at_once() -> None:
    # What a gRPC server (HTTP/2 only) sends an HTTP/1.1 request: its SETTINGS frame,
    # with no line end; the parser says so without waiting for more.
    settings = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x00\x40\x00\x00"
    parser = ResponseParser()
    parser.feed(settings)
    with pytest.raises(HTTP1Error, match=r"HTTP/2 frames.*h2c=True"):
        parser.next_event()


def test_garbage_instead_of_a_status_line_fails_at_once() -> None:
    parser = ResponseParser()
    parser.feed(b"SSH-2.0-OpenSSH_9.6")
    with pytest.raises(HTTP1Error, match=r"not HTTP/1\.x"):
        parser.next_event()


def test_a_partial_status_line_waits_for_more() -> None:
    parser = ResponseParser()
    parser.feed(b"HTT")
    assert parser.next_event() is None
    parser.feed(b"P/1.1 204 No Content\r\n\r\n")
    assert isinstance(parser.next_event(), Response)
