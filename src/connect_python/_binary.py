"""Binary metadata: header and trailer values whose names end in ``-bin``.

Connect, gRPC and gRPC-Web carry arbitrary bytes in such headers as base64:
peers send it unpadded (gRPC's rule; connect-go's ``EncodeBinaryHeader``) and
some send it padded; both decode. A value that is not base64 is an error of
its own type (a ``ValueError``), never a silent empty or partial result.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["BinaryHeaderError", "decode_binary_header", "encode_binary_header"]


class BinaryHeaderError(ValueError):
    """A ``-bin`` header or trailer value that is not base64.

    ``name`` is the header's name when known, ``value`` the text received.
    """

    def __init__(self, value: str, name: str | None = None) -> None:
        where = f"header {name!r}: " if name else ""
        super().__init__(f"{where}not a base64 binary header value: {value[:40]!r}")
        self.name = name
        self.value = value


def encode_binary_header(data: bytes) -> str:
    """The value of a ``-bin`` header holding ``data`` (unpadded base64)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def decode_binary_header(value: str, name: str | None = None) -> bytes:
    """The bytes of one ``-bin`` header value: standard base64, padded or not
    (the URL-safe alphabet too; spaces around it are ignored). Raises
    :class:`BinaryHeaderError` for anything else (``name`` goes into it)."""
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BinaryHeaderError(value, name) from exc
