"""connect-python: Connect RPC clients for Python, async-first, with sync twins.

The runtimes live in :mod:`connect_python.runtime_async` (asyncio and trio) and
:mod:`connect_python.runtime_sync` (threads); this module holds what both share.
"""

from __future__ import annotations

from ._binary import BinaryHeaderError, decode_binary_header, encode_binary_header
from ._cancel import CancelToken
from ._code import Code
from ._errors import ConnectError, ErrorDetail
from ._headers import Headers
from ._method import IdempotencyLevel, MessageRuntime, MethodInfo, StreamType
from ._retry import RetryPolicy
from ._version import __version__ as __version__
from .protocol.codec import Codec, JSONCodec, ProtoCodec
from .protocol.codec_protobuf_py import ProtobufPyJSONCodec, ProtobufPyProtoCodec
from .protocol.compression import (
    BrotliCompression,
    Compression,
    GzipCompression,
    ZstdCompression,
)

__all__ = [
    "BinaryHeaderError",
    "BrotliCompression",
    "CancelToken",
    "Code",
    "Codec",
    "Compression",
    "ConnectError",
    "ErrorDetail",
    "GzipCompression",
    "Headers",
    "IdempotencyLevel",
    "JSONCodec",
    "MessageRuntime",
    "MethodInfo",
    "ProtoCodec",
    "ProtobufPyJSONCodec",
    "ProtobufPyProtoCodec",
    "RetryPolicy",
    "StreamType",
    "ZstdCompression",
    "decode_binary_header",
    "encode_binary_header",
]
