"""Compression of messages: gzip built in, br and zstd when their packages exist.

Decompression is always bounded: output beyond ``max_size`` raises
``RESOURCE_EXHAUSTED`` without being produced in full.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable
from typing import Protocol

from .._code import Code
from .._errors import ConnectError

__all__ = [
    "BrotliCompression",
    "Compression",
    "GzipCompression",
    "ZstdCompression",
    "available_compressions",
    "compression_for_name",
]


class Compression(Protocol):
    """A content coding: ``name`` as sent in ``*-Encoding`` headers."""

    @property
    def name(self) -> str: ...

    def compress(self, data: bytes) -> bytes: ...

    def decompress(self, data: bytes, max_size: int | None) -> bytes: ...


def _too_big(max_size: int) -> ConnectError:
    return ConnectError(
        Code.RESOURCE_EXHAUSTED,
        f"decompressed message is larger than configured max {max_size}",
    )


def _bad(name: str, exc: Exception) -> ConnectError:
    err = ConnectError(Code.INTERNAL, f"failed to decompress {name} data: {exc}")
    err.__cause__ = exc
    return err


class GzipCompression:
    """``gzip`` (RFC 1952)."""

    name = "gzip"

    def __init__(self, level: int = 6) -> None:
        self.level = level

    def compress(self, data: bytes) -> bytes:
        """Compress ``data``."""
        c = zlib.compressobj(self.level, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()

    def decompress(self, data: bytes, max_size: int | None) -> bytes:
        """Decompress ``data``, producing at most ``max_size`` bytes."""
        d = zlib.decompressobj(31)
        try:
            if max_size is None:
                out = d.decompress(data)
            else:
                out = d.decompress(data, max_size + 1)
                if len(out) > max_size:
                    raise _too_big(max_size)
            out += d.flush()
        except zlib.error as exc:
            raise _bad(self.name, exc) from exc
        if max_size is not None and len(out) > max_size:
            raise _too_big(max_size)
        if not d.eof:
            raise ConnectError(Code.INTERNAL, "failed to decompress gzip data: truncated")
        return out


class BrotliCompression:
    """``br`` (needs the ``brotli`` package)."""

    name = "br"

    def __init__(self, quality: int = 4) -> None:
        import brotli

        self._brotli = brotli
        self.quality = quality

    def compress(self, data: bytes) -> bytes:
        """Compress ``data``."""
        return bytes(self._brotli.compress(data, quality=self.quality))

    def decompress(self, data: bytes, max_size: int | None) -> bytes:
        """Decompress ``data``, producing at most ``max_size`` bytes."""
        d = self._brotli.Decompressor()
        try:
            if max_size is None:
                out = bytes(d.process(data))
            else:
                out = bytes(d.process(data, output_buffer_limit=max_size + 1))
                if len(out) > max_size:
                    raise _too_big(max_size)
        except self._brotli.error as exc:
            raise _bad(self.name, exc) from exc
        if not d.is_finished():
            if max_size is not None and not d.can_accept_more_data():
                raise _too_big(max_size)
            raise ConnectError(Code.INTERNAL, "failed to decompress br data: truncated")
        return out


class ZstdCompression:
    """``zstd`` (needs the ``zstandard`` package)."""

    name = "zstd"

    def __init__(self, level: int = 3) -> None:
        import zstandard

        self._zstd = zstandard
        self.level = level
        # A ZstdCompressor must not be used by two threads at once, and this
        # object is shared (compression_for_name caches it): one per thread.
        self._local = threading.local()

    def compress(self, data: bytes) -> bytes:
        """Compress ``data``."""
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = self._zstd.ZstdCompressor(level=self.level)
        return bytes(compressor.compress(data))

    def decompress(self, data: bytes, max_size: int | None) -> bytes:
        """Decompress ``data``, producing at most ``max_size`` bytes."""
        d = self._zstd.ZstdDecompressor().decompressobj()
        limit = max_size + 1 if max_size is not None else -1
        try:
            out = bytearray()
            chunk = memoryview(data)
            step = 1 << 16
            for start in range(0, len(chunk), step):
                out += d.decompress(chunk[start : start + step])
                if max_size is not None and len(out) >= limit:
                    raise _too_big(max_size)
        except self._zstd.ZstdError as exc:
            raise _bad(self.name, exc) from exc
        if not d.eof:
            raise ConnectError(Code.INTERNAL, "failed to decompress zstd data: truncated")
        return bytes(out)


_FACTORIES: dict[str, type[GzipCompression | BrotliCompression | ZstdCompression]] = {
    "gzip": GzipCompression,
    "br": BrotliCompression,
    "zstd": ZstdCompression,
}
_CACHE: dict[str, Compression] = {}


def compression_for_name(name: str) -> Compression | None:
    """The built-in compression called ``name``, or ``None`` if unavailable."""
    cached = _CACHE.get(name)
    if cached is not None:
        return cached
    factory = _FACTORIES.get(name)
    if factory is None:
        return None
    try:
        made: Compression = factory()
    except ImportError:
        return None
    _CACHE[name] = made
    return made


def available_compressions(names: Iterable[str] = ("gzip", "br", "zstd")) -> list[Compression]:
    """The built-in compressions among ``names`` whose packages are installed."""
    found = []
    for name in names:
        comp = compression_for_name(name)
        if comp is not None:
            found.append(comp)
    return found
