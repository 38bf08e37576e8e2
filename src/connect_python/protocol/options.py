"""What every protocol is configured with: a client's codec, compressions,
limits, default headers and base URL (:class:`ProtocolOptions`).

A protocol class subclasses :class:`ProtocolOptions` and adds its wire rules,
so every protocol takes the same keywords and resolves them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from .._code import Code
from .._errors import ConnectError
from .._headers import Headers, HeadersInput
from .._method import MessageRuntime, MethodInfo
from . import DEFAULT_READ_MAX_BYTES
from .codec import Codec, JSONCodec, ProtoCodec
from .codec_protobuf_py import ProtobufPyJSONCodec, ProtobufPyProtoCodec
from .compression import Compression, available_compressions, compression_for_name

__all__ = ["ProtocolOptions", "codec_for_name", "request_compression"]


def codec_for_name(name: str, messages: MessageRuntime = MessageRuntime.GOOGLE) -> Codec:
    """The built-in codec called ``name`` (``proto`` or ``json``) for messages of
    the runtime ``messages``; ``ValueError`` for another name."""
    if name == "proto":
        return ProtobufPyProtoCodec() if messages is MessageRuntime.PROTOBUF_PY else ProtoCodec()
    if name == "json":
        return ProtobufPyJSONCodec() if messages is MessageRuntime.PROTOBUF_PY else JSONCodec()
    raise ValueError(f"unknown codec {name!r} (expected 'proto' or 'json')")


def request_compression(name: str | None) -> Compression | None:
    """The compression an option names (``None`` or ``"identity"``: none);
    ``ValueError`` when it is not available."""
    if name is None or name == "identity":
        return None
    found = compression_for_name(name)
    if found is None:
        raise ValueError(f"compression {name!r} is not available")
    return found


class ProtocolOptions:
    """A client's protocol options, resolved once.

    ``codec`` is ``"proto"``, ``"json"`` or a :class:`~connect_python.Codec`;
    ``send_compression`` names the compression of requests (``None`` or
    ``"identity"``: none), applied to messages of at least
    ``compress_min_bytes``; ``accept_compression`` the encodings advertised for
    responses (``None``: every one available; the send compression is always
    among them); ``read_max_bytes`` the largest response message accepted;
    ``headers`` are sent with every call; ``user_agent`` replaces the default
    ``User-Agent`` (a ``user-agent`` in ``headers`` wins); ``base_url`` gives
    the path prefix of every request and names the request in error messages.
    An unavailable compression raises ``ValueError``.
    """

    __slots__ = (
        "_codecs",
        "_targets",
        "accept",
        "base_url",
        "codec",
        "compress_min_bytes",
        "default_headers",
        "prefix",
        "read_max_bytes",
        "send_compression",
    )

    #: Whether the protocol needs HTTP/2 (gRPC: its status travels in HTTP/2
    #: trailers); a client refuses an HTTP/1.1 exchange for it.
    requires_http2: ClassVar[bool] = False

    def __init__(
        self,
        *,
        codec: str | Codec = "proto",
        send_compression: str | None = None,
        accept_compression: Sequence[str] | None = None,
        compress_min_bytes: int = 1024,
        read_max_bytes: int | None = DEFAULT_READ_MAX_BYTES,
        headers: HeadersInput = None,
        user_agent: str | None = None,
        base_url: str = "",
    ) -> None:
        self.codec: Codec = codec if not isinstance(codec, str) else codec_for_name(codec)
        #: A named codec's implementation for each message runtime (a given
        #: Codec serves every method as it is).
        self._codecs: dict[MessageRuntime, Codec] = {
            runtime: self.codec if not isinstance(codec, str) else codec_for_name(codec, runtime)
            for runtime in MessageRuntime
        }
        self.send_compression = request_compression(send_compression)
        offered = (
            available_compressions()
            if accept_compression is None
            else [request_compression(name) or _no_identity(name) for name in accept_compression]
        )
        #: The accepted response compressions by name, in the order advertised.
        self.accept: dict[str, Compression] = {comp.name: comp for comp in offered}
        if self.send_compression is not None:
            self.accept.setdefault(self.send_compression.name, self.send_compression)
        self.compress_min_bytes = compress_min_bytes
        self.read_max_bytes = read_max_bytes
        defaults = Headers(headers)
        if user_agent is not None and "user-agent" not in defaults:
            defaults = Headers([("user-agent", user_agent), *defaults.multi_items()])
        self.default_headers = defaults
        self.base_url = base_url
        self.prefix = urlsplit(base_url).path.rstrip("/") if base_url else ""
        self._targets: dict[str, bytes] = {}
        self._configured()

    def _configured(self) -> None:
        """Called once the options are set: a protocol derives (and checks) what
        it needs from them here."""

    def codec_for(self, method: MethodInfo[Any, Any]) -> Codec:
        """The codec of ``method``'s messages: the client's codec, in the
        implementation of the method's message runtime (looked up once per call)."""
        return self._codecs[method.messages]

    def call_compression(self, name: str | None) -> Compression | None:
        """A call's request compression: the client's (``name`` is ``None``) or
        the one ``name`` gives (``"identity"``: none)."""
        return self.send_compression if name is None else request_compression(name)

    def target(self, path: str) -> bytes:
        """The request target of the method at ``path`` (``/pkg.Service/Method``)."""
        found = self._targets.get(path)
        if found is None:
            found = self._targets[path] = (self.prefix + path).encode()
        return found

    def accepted(self, name: str) -> Compression:
        """The response compression ``name``, if accepted; else ``ConnectError(INTERNAL)``."""
        found = self.accept.get(name)
        if found is None:
            listed = ", ".join(self.accept) or "identity only"
            raise ConnectError(
                Code.INTERNAL, f"unknown compression {name!r}: accepted encodings are {listed}"
            )
        return found

    def label(self, path: str) -> str:
        """``POST <base URL><path>``: a request as error messages name it (empty
        without a base URL)."""
        return f"POST {self.base_url.rstrip('/')}{path}" if self.base_url else ""


def _no_identity(name: str) -> Compression:
    raise ValueError(f"accept_compression: {name!r} is not a compression to advertise")
