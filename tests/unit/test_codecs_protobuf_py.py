"""The protobuf-py codecs (protocol/codec_protobuf_py.py), the choice of a named
codec by message runtime (protocol/options.py) and error details of both runtimes."""

from __future__ import annotations

import pytest
from google.protobuf import timestamp_pb2
from protobuf.wkt import Any, Duration, Struct, Timestamp
from protobuf.wkt.google.protobuf.source_context_pb import SourceContext

from connect_python import (
    Code,
    ConnectError,
    ErrorDetail,
    JSONCodec,
    MessageRuntime,
    ProtobufPyJSONCodec,
    ProtobufPyProtoCodec,
    ProtoCodec,
)
from connect_python.protocol.options import codec_for_name


def test_named_codecs_by_runtime() -> None:
    assert isinstance(codec_for_name("proto"), ProtoCodec)
    assert isinstance(codec_for_name("json"), JSONCodec)
    assert isinstance(codec_for_name("proto", MessageRuntime.PROTOBUF_PY), ProtobufPyProtoCodec)
    assert isinstance(codec_for_name("json", MessageRuntime.PROTOBUF_PY), ProtobufPyJSONCodec)
    with pytest.raises(ValueError, match="unknown codec"):
        codec_for_name("xml", MessageRuntime.PROTOBUF_PY)


def test_binary_roundtrip_and_bad_bytes() -> None:
    codec = ProtobufPyProtoCodec()
    data = codec.encode(Timestamp(seconds=5, nanos=7))
    assert data == timestamp_pb2.Timestamp(seconds=5, nanos=7).SerializeToString()
    assert codec.decode(data, Timestamp) == Timestamp(seconds=5, nanos=7)
    for bad in (b"\xff\xff", b"\x0a\x05ab"):
        with pytest.raises(ConnectError) as info:
            codec.decode(bad, Struct)
        assert info.value.code is Code.INTERNAL
        assert "failed to unmarshal Struct" in info.value.message


def test_json_unknown_fields_any_and_bad_json() -> None:
    codec = ProtobufPyJSONCodec()
    newer = b'{"fileName": "a.proto", "future": 1}'
    assert codec.decode(newer, SourceContext) == SourceContext(file_name="a.proto")
    strict = ProtobufPyJSONCodec(ignore_unknown_fields=False)
    with pytest.raises(ConnectError) as info:
        strict.decode(newer, SourceContext)
    assert info.value.code is Code.INTERNAL
    # An Any holding a well-known type resolves with the default registry.
    packed = Any.pack(Duration(seconds=1))
    assert codec.decode(codec.encode(packed), Any).unpack(Duration) == Duration(seconds=1)
    for bad in (b"{not json", b"\xff", b'"3"', b'"3 s"'):
        with pytest.raises(ConnectError) as info:
            codec.decode(bad, Duration)
        assert info.value.code is Code.INTERNAL


def test_error_detail_packs_and_unpacks_across_runtimes() -> None:
    detail = ErrorDetail.pack(Timestamp(seconds=9))
    assert detail.type_url == "type.googleapis.com/google.protobuf.Timestamp"
    assert detail.unpack(timestamp_pb2.Timestamp) == timestamp_pb2.Timestamp(seconds=9)
    assert detail.unpack(Duration) is None
    google = ErrorDetail.pack(timestamp_pb2.Timestamp(seconds=9))
    assert (google.type_url, google.value) == (detail.type_url, detail.value)
    assert google.unpack(Timestamp) == Timestamp(seconds=9)
    broken = ErrorDetail(Any(type_url=detail.type_url, value=b"\xff"))
    with pytest.raises(ConnectError) as info:
        broken.unpack(Timestamp)
    assert info.value.code is Code.INTERNAL
