"""The sans-IO Connect protocol object, streams: bytes in, events out, no I/O."""

from __future__ import annotations

import gzip
import json

import pytest
from _support.connect_calls import (
    BASE,
    BIDI,
    CLIENT,
    SERVER,
    S,
    end_stream,
    env,
    feed,
    msg,
    protocol,
    raw,
    stream_call,
    values,
)

from connect_python import (
    Code,
    ConnectError,
    Headers,
)
from connect_python.protocol import FAULT_FLAG, MESSAGE_BATCH
from connect_python.protocol.connect import ConnectCall
from connect_python.protocol.envelope import FLAG_COMPRESSED, FLAG_END_STREAM

# -- streams --------------------------------------------------------------------------


def test_server_stream_messages_and_trailers() -> None:
    call = stream_call()
    chunk = env(msg("a")) + env(msg("b")) + env(msg("")) + env(msg("c"))
    assert values(feed(call, chunk)) == ["a", "b", "", "c"]
    assert not call.ended
    assert feed(call, end_stream({"metadata": {"x-t": ["1", "2"]}})) == []
    assert call.ended
    assert feed(call, b"") == []
    end = call.response_end()
    assert end.error is None and end.message is None
    assert end.trailers.get_all("x-t") == ["1", "2"]
    assert call.response_trailers is end.trailers


def test_stream_message_split_over_chunks() -> None:
    call = stream_call()
    data = env(msg("first")) + env(msg("second" * 50)) + end_stream({})
    got: list[str] = []
    for i in range(len(data)):
        got += values(feed(call, data[i : i + 1]))
    assert got == ["first", "second" * 50]
    assert call.response_end().error is None


def test_stream_json_codec() -> None:
    call = stream_call(ctype="application/connect+json", codec="json")
    assert values(feed(call, env(b'"j"') + end_stream({}))) == ["j"]
    assert call.response_end().error is None


def test_stream_compressed_messages_and_end_stream() -> None:
    call = protocol().call(SERVER)
    call.request_head(message=S())
    call.response_head(
        200,
        raw({"content-type": "application/connect+proto", "connect-content-encoding": "gzip"}),
    )
    end = gzip.compress(json.dumps({"metadata": {"x-z": ["z"]}}).encode())
    data = (
        env(gzip.compress(msg("zip")), FLAG_COMPRESSED)
        + env(msg("plain"))
        + env(end, FLAG_END_STREAM | FLAG_COMPRESSED)
    )
    assert values(feed(call, data)) == ["zip", "plain"]
    assert call.response_end().trailers["x-z"] == "z"


def test_stream_end_with_error() -> None:
    call = stream_call()
    error_json = {
        "code": "resource_exhausted",
        "message": "slow down",
        "details": [{"type": "google.protobuf.StringValue", "value": "CgJoaQ"}],
    }
    data = env(msg("a")) + end_stream({"error": error_json, "metadata": {"x-t": ["t"]}})
    assert values(feed(call, data)) == ["a"]
    end = call.response_end()
    error = end.error
    assert error is not None and error.remote
    assert (error.code, error.message) == (Code.RESOURCE_EXHAUSTED, "slow down")
    assert [d.unpack(S) for d in error.details] == [S(value="hi")]
    assert error.metadata["x-t"] == "t"
    assert error.metadata["content-type"] == "application/connect+proto"
    assert end.trailers["x-t"] == "t"


def test_messages_come_in_bounded_batches_and_decode_one_at_a_time() -> None:
    call = stream_call()
    call.response_data(b"".join(env(msg(str(i))) for i in range(5)) + end_stream({}))
    first = call.messages(2)
    assert [call.decode(*m).value for m in first] == ["0", "1"]
    assert not call.ended
    rest = call.messages(10)
    assert [call.decode(*m).value for m in rest] == ["2", "3", "4"]
    assert call.ended and call.messages() == []
    assert call.response_end().error is None


def test_error_status_is_read_from_the_body() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    assert not call.error_in_body
    call.response_head(500, raw({"content-type": "application/json"}))
    assert call.error_in_body and call.messages() == []
    call.response_data(b'{"code": "internal", "message": "boom"}')
    error = call.response_end().error
    assert error is not None and (error.code, error.message) == (Code.INTERNAL, "boom")
    assert not call.error_in_body and call.ended
    ok = stream_call()
    assert not ok.error_in_body


def test_stream_missing_end_stream() -> None:
    call = stream_call()
    assert values(feed(call, env(msg("a")))) == ["a"]
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.code is Code.INTERNAL
    assert info.value.message == "protocol error: stream ended without an end-stream message"


def test_stream_ends_inside_a_message() -> None:
    call = stream_call()
    call.response_data(env(msg("abc"))[:-1])
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.message == "protocol error: stream ended inside a message"


def _raises(call: ConnectCall[S, S], data: bytes, code: Code, message: str) -> ConnectError:
    with pytest.raises(ConnectError) as info:
        feed(call, data)
    assert (info.value.code, info.value.message) == (code, message)
    return info.value


AFTER_END = "protocol error: data after the end-stream message"


def test_data_after_end_stream() -> None:
    _raises(stream_call(), end_stream({}) + env(msg("late")), Code.INTERNAL, AFTER_END)
    call = stream_call()
    assert feed(call, end_stream({})) == []
    error = _raises(call, b"\x00", Code.INTERNAL, AFTER_END)
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value is error


def test_fault_after_good_messages_waits_for_them() -> None:
    call = stream_call()
    data = env(msg("a")) + env(msg("b")) + end_stream({}) + b"junk"
    *good, last = call.messages(MESSAGE_BATCH, data)
    assert [call.decode(*m) for m in good] == [S(value="a"), S(value="b")]
    assert not call.ended
    assert last[0] == FAULT_FLAG
    with pytest.raises(ConnectError) as info:
        call.decode(*last)
    assert info.value.message == AFTER_END
    with pytest.raises(ConnectError) as again:
        call.messages()
    assert again.value is info.value
    with pytest.raises(ConnectError) as again:
        call.response_data(b"")
    assert again.value is info.value


def test_malformed_message_after_good_ones() -> None:
    call = stream_call()
    call.response_data(env(msg("a")) + env(b"\xff\xff"))
    first, second = call.messages()
    assert call.decode(*first) == S(value="a")
    with pytest.raises(ConnectError) as info:
        call.decode(*second)
    assert info.value.code is Code.INTERNAL
    assert info.value.message.startswith("failed to unmarshal StringValue")


@pytest.mark.parametrize("encoding", [None, "identity"])
def test_compressed_flag_without_encoding(encoding: str | None) -> None:
    head = {"content-type": "application/connect+proto"}
    if encoding:
        head["connect-content-encoding"] = encoding
    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(200, raw(head))
    _raises(
        call,
        env(gzip.compress(msg("a")), FLAG_COMPRESSED),
        Code.INTERNAL,
        "protocol error: compressed message without connect-content-encoding",
    )
    call = stream_call()
    _raises(
        call,
        env(b"{}", FLAG_END_STREAM | FLAG_COMPRESSED),
        Code.INTERNAL,
        "protocol error: compressed end-stream without encoding",
    )


def test_unknown_stream_encoding() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    with pytest.raises(ConnectError) as info:
        call.response_head(
            200,
            raw({"content-type": "application/connect+proto", "connect-content-encoding": "lz4"}),
        )
    assert info.value.code is Code.INTERNAL
    assert info.value.message == "unknown compression 'lz4': accepted encodings are gzip"


def test_declared_length_over_the_limit_before_buffering() -> None:
    call = stream_call(read_max_bytes=16)
    # Only the prefix arrived: the declared length alone is refused.
    _raises(
        call,
        bytes([0, 0, 0, 4, 0]),
        Code.RESOURCE_EXHAUSTED,
        "message size 1024 is larger than configured max 16",
    )


def test_decompressed_message_over_the_limit() -> None:
    call = protocol(read_max_bytes=64).call(SERVER)
    call.request_head()
    call.response_head(
        200,
        raw({"content-type": "application/connect+proto", "connect-content-encoding": "gzip"}),
    )
    _raises(
        call,
        env(gzip.compress(msg("x" * 200)), FLAG_COMPRESSED),
        Code.RESOURCE_EXHAUSTED,
        "decompressed message is larger than configured max 64",
    )


def test_bad_envelope_flags() -> None:
    _raises(
        stream_call(), env(b"", 0x80), Code.INTERNAL, "protocol error: invalid envelope flags 0x80"
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "protocol error: invalid end-stream message: "),
        (b"[]", "protocol error: end-stream message is not an object"),
        (b'{"metadata": {"x": "1"}}', "protocol error: invalid end-stream metadata 'x'"),
    ],
)
def test_malformed_end_stream(payload: bytes, message: str) -> None:
    call = stream_call()
    with pytest.raises(ConnectError) as info:
        feed(call, env(payload, FLAG_END_STREAM))
    assert info.value.code is Code.INTERNAL and info.value.message.startswith(message)
    assert info.value.metadata["content-type"] == "application/connect+proto"


@pytest.mark.parametrize(
    ("ctype", "code"),
    [
        ("application/connect+json", Code.INTERNAL),
        ("application/proto", Code.UNKNOWN),
        ("text/html", Code.UNKNOWN),
    ],
)
def test_stream_unexpected_content_type(ctype: str, code: Code) -> None:
    call = protocol().call(SERVER)
    call.request_head()
    with pytest.raises(ConnectError) as info:
        call.response_head(200, raw({"content-type": ctype}))
    assert info.value.code is code
    assert "(expected application/connect+proto)" in info.value.message
    with pytest.raises(ConnectError):
        call.response_data(b"")


def test_stream_error_status_with_connect_error_body() -> None:
    call = protocol().call(BIDI)
    call.request_head()
    call.response_head(429, raw({"content-type": "application/json"}))
    body = b'{"code": "aborted", "message": "try again"}'
    assert feed(call, body[:5]) == []
    assert feed(call, body[5:]) == []
    end = call.response_end()
    error = end.error
    assert error is not None
    assert (error.code, error.message, error.http_status) == (Code.ABORTED, "try again", 429)
    assert end.trailers == Headers() and call.ended


def test_stream_error_status_with_html() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(503, raw({"content-type": "text/html"}))
    call.response_data(b"<html><body>maintenance</body></html>")
    error = call.response_end().error
    assert error is not None and error.code is Code.UNAVAILABLE
    assert error.message.startswith(f"POST {BASE}/pkg.v1.Svc/Do: HTTP 503 Service Unavailable")
    assert "maintenance" in error.message


def test_stream_error_status_long_or_broken_body() -> None:
    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(502, raw({"content-type": "text/plain"}))
    call.response_data(b"x" * 65536)
    with pytest.raises(ConnectError) as info:
        call.response_data(b"x")
    assert info.value.code is Code.UNAVAILABLE and info.value.http_body is None

    call = protocol().call(SERVER)
    call.request_head()
    call.response_head(401, raw({}))
    call.response_data(b'{"code": "unauth')
    lost = ConnectError(Code.UNAVAILABLE, "connection reset")
    error = call.response_failed(lost)
    assert error.code is Code.UNAUTHENTICATED and error.http_status == 401


def test_stream_error_status_with_empty_body() -> None:
    call = protocol().call(CLIENT)
    call.request_head()
    call.response_head(503, raw({}))
    error = call.response_end().error
    assert error is not None and error.code is Code.UNAVAILABLE and error.http_status == 503
    assert error.message == (
        f"POST {BASE}/pkg.v1.Svc/Do: HTTP 503 Service Unavailable, not a Connect response"
        " (no content-type): empty body"
    )


def test_response_failed_keeps_its_own_error() -> None:
    call = stream_call()
    with pytest.raises(ConnectError) as info:
        feed(call, env(b"", 0x40))
    assert call.response_failed(info.value) is info.value


def test_response_failed_passes_a_transport_error_on() -> None:
    call = stream_call()
    lost = ConnectError(Code.UNAVAILABLE, "connection reset")
    assert call.response_failed(lost) is lost
    with pytest.raises(ConnectError) as info:
        call.response_data(b"")
    assert info.value is lost


# -- client streams: exactly one response message ----------------------------------------


def test_client_stream_one_response() -> None:
    call = stream_call(CLIENT)
    assert values(feed(call, env(msg("only")) + end_stream({}))) == ["only"]
    assert call.response_end().error is None


def test_client_stream_zero_responses() -> None:
    call = stream_call(CLIENT)
    assert feed(call, end_stream({"metadata": {"x-t": ["1"]}})) == []
    with pytest.raises(ConnectError) as info:
        call.response_end()
    assert info.value.code is Code.UNIMPLEMENTED
    assert info.value.message == "protocol error: client stream got no response message"
    assert call.response_trailers["x-t"] == "1"


def test_client_stream_zero_responses_with_an_error() -> None:
    call = stream_call(CLIENT)
    assert feed(call, end_stream({"error": {"code": "out_of_range", "message": "oops"}})) == []
    error = call.response_end().error
    assert error is not None and error.code is Code.OUT_OF_RANGE


TWO = "protocol error: client stream got more than one response message"


def test_client_stream_two_responses_in_one_chunk() -> None:
    call = stream_call(CLIENT)
    data = env(msg("a")) + env(msg("b")) + end_stream({"error": {"code": "out_of_range"}})
    first, last = call.messages(MESSAGE_BATCH, data)
    assert call.decode(*first) == S(value="a")
    with pytest.raises(ConnectError) as info:
        call.decode(*last)
    assert (info.value.code, info.value.message) == (Code.UNIMPLEMENTED, TWO)
    with pytest.raises(ConnectError) as again:
        call.messages()
    assert again.value is info.value


def test_client_stream_two_responses_in_two_chunks() -> None:
    call = stream_call(CLIENT)
    assert values(feed(call, env(msg("a")))) == ["a"]
    _raises(call, env(msg("b")), Code.UNIMPLEMENTED, TWO)


def test_bidi_stream_full_exchange() -> None:
    call = protocol().call(BIDI)
    head = call.request_head(2.0, headers={"x-req": "1"})
    assert head.body is None
    sent = [call.encode_request(S(value=str(i))) for i in range(3)]
    assert sent == [env(msg(str(i))) for i in range(3)]
    call.response_head(200, raw({"content-type": "application/connect+proto"}))
    assert values(feed(call, env(msg("0")))) == ["0"]
    assert values(feed(call, env(msg("1")) + env(msg("2"))[:3])) == ["1"]
    assert values(feed(call, env(msg("2"))[3:] + end_stream({}))) == ["2"]
    assert call.response_end().error is None


def test_misuse_is_a_runtime_error() -> None:
    call = protocol().call(SERVER)
    with pytest.raises(RuntimeError):
        call.response_data(b"x")
    with pytest.raises(RuntimeError):
        call.response_end()
