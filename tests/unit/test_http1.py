from __future__ import annotations

import pytest

from connect_python._http1 import (
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
