from __future__ import annotations

import zlib

import pytest
from google.protobuf import descriptor_pb2, struct_pb2, wrappers_pb2

from connect_python import (
    BrotliCompression,
    Code,
    ConnectError,
    GzipCompression,
    JSONCodec,
    ProtoCodec,
    ZstdCompression,
)
from connect_python.protocol.compression import compression_for_name


def test_proto_codec_roundtrip_and_garbage() -> None:
    codec = ProtoCodec()
    msg = wrappers_pb2.StringValue(value="hi")
    assert codec.decode(codec.encode(msg), wrappers_pb2.StringValue) == msg
    with pytest.raises(ConnectError) as info:
        codec.decode(b"\xff\xff\xff", wrappers_pb2.StringValue)
    assert info.value.code is Code.INTERNAL


def test_json_codec_unknown_fields() -> None:
    data = b'{"a": "x"}'
    assert JSONCodec().decode(data, struct_pb2.Struct)["a"] == "x"
    # A field the (older) schema does not know: ignored by default, rejected when strict.
    newer = b'{"name": "a.proto", "addedLater": true}'
    assert JSONCodec().decode(newer, descriptor_pb2.FileDescriptorProto).name == "a.proto"
    with pytest.raises(ConnectError) as info:
        JSONCodec(ignore_unknown_fields=False).decode(newer, descriptor_pb2.FileDescriptorProto)
    assert info.value.code is Code.INTERNAL
    with pytest.raises(ConnectError):
        JSONCodec().decode(b"{not json", wrappers_pb2.Int32Value)


@pytest.mark.parametrize("factory", [GzipCompression, BrotliCompression, ZstdCompression])
def test_compression_roundtrip_and_bounds(factory: type) -> None:
    comp = factory()
    data = b"abc" * 10_000
    packed = comp.compress(data)
    assert comp.decompress(packed, None) == data
    assert comp.decompress(packed, len(data)) == data
    with pytest.raises(ConnectError) as info:
        comp.decompress(packed, 1000)
    assert info.value.code is Code.RESOURCE_EXHAUSTED
    with pytest.raises(ConnectError) as info:
        comp.decompress(b"definitely not compressed", None)
    assert info.value.code is Code.INTERNAL


def test_gzip_bomb_is_bounded() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed = bomb.compress(b"\0" * (50 * 1024 * 1024)) + bomb.flush()
    with pytest.raises(ConnectError) as info:
        GzipCompression().decompress(packed, 1024 * 1024)
    assert info.value.code is Code.RESOURCE_EXHAUSTED


def test_compression_lookup() -> None:
    assert compression_for_name("gzip") is not None
    assert compression_for_name("lz4") is None
