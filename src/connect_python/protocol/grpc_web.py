"""The gRPC-Web protocol (HTTP/1.1 or HTTP/2): :class:`GrpcWebProtocol`, :class:`GrpcWebCall`.

gRPC-Web is gRPC (:mod:`.grpc`) with three differences on the wire:

- the content type is ``application/grpc-web+<codec>`` and no ``te`` header
  is sent (HTTP/1.1 has no trailers to ask for);
- the trailers travel at the end of the body, as a frame whose flags have
  bit 7 set (``0x80``; ``0x81`` when the frame is compressed), holding an
  HTTP/1-style header block (``name: value`` lines, CRLF-separated, names
  in any case);
- nothing may follow that frame. HTTP trailers play no part.

Trailers-only responses (the status in the head, an empty body) and the
status rules are gRPC's.
"""

from __future__ import annotations

import re
from typing import ClassVar, TypeVar

from .._code import Code
from .._errors import ConnectError
from .._headers import Headers
from .._method import Message, MethodInfo
from . import RawHeaders
from .compression import Compression
from .envelope import FLAG_COMPRESSED
from .grpc import GrpcCall, GrpcProtocol

__all__ = ["FLAG_TRAILERS", "GrpcWebCall", "GrpcWebProtocol", "encode_trailers", "parse_trailers"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

#: The flag of the frame that holds the trailers.
FLAG_TRAILERS = 0x80

_LINE = re.compile(r"\r?\n")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00\r\n]")


def parse_trailers(block: bytes) -> Headers:
    """The trailers in a trailers frame's payload (an HTTP/1 header block; the
    final line break may be missing). Raises ``ConnectError(INTERNAL)`` for a
    line that is not ``name: value``."""
    trailers = Headers()
    for line in _LINE.split(block.decode("latin-1")):
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise ConnectError(
                Code.INTERNAL, f"protocol error: invalid gRPC-Web trailers line {shown!r}"
            )
        trailers.add(name, value.strip(" \t"))
    return trailers


def encode_trailers(trailers: Headers) -> bytes:
    """``trailers`` as a trailers frame's payload (lower-case names, CRLF after each)."""
    return "".join(f"{name}: {value}\r\n" for name, value in trailers.multi_items()).encode(
        "latin-1"
    )


class GrpcWebProtocol(GrpcProtocol):
    """The gRPC-Web protocol as configured for one client (options as for gRPC)."""

    __slots__ = ()

    name: ClassVar[str] = "grpc-web"
    content_type: ClassVar[str] = "application/grpc-web"
    requires_http2: ClassVar[bool] = False

    def call(
        self, method: MethodInfo[Req, Res], *, send_compression: str | None = None
    ) -> GrpcWebCall[Req, Res]:
        """The protocol state of one call of ``method`` (see :meth:`GrpcProtocol.call`)."""
        made = super().call(method, send_compression=send_compression)
        assert isinstance(made, GrpcWebCall)
        return made

    def _make_call(
        self, method: MethodInfo[Req, Res], compression: Compression | None
    ) -> GrpcWebCall[Req, Res]:
        return GrpcWebCall(self, method, compression)

    def _protocol_lines(self) -> list[tuple[bytes, bytes]]:
        return [(b"content-type", f"{self.content_type}+{self.codec.name}".encode())]


class GrpcWebCall(GrpcCall[Req, Res]):
    """The gRPC-Web protocol state of one call: :class:`~.grpc.GrpcCall` with
    the trailers read from the body's last frame."""

    __slots__ = ()

    known_flags: ClassVar[int] = FLAG_COMPRESSED | FLAG_TRAILERS

    def _trailers_frame(self, flags: int, payload: bytes) -> None:
        self._trailers_seen(parse_trailers(self._decompressed(flags, payload)))

    def _end_trailers(self, raw_trailers: RawHeaders) -> Headers | None:
        return self._body_trailers
