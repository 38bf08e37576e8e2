"""An HPACK encoder for request headers that never uses the dynamic table (sans-IO).

``h2`` encodes header blocks with ``hpack.Encoder``, whose per-field work
(dynamic table look-ups and insertions, Huffman coding) is a large part of
what a small call costs. Request headers repeat from call to call, so here
every field's encoding is computed once and cached: a header block becomes a
few dictionary look-ups. The price is a few dozen bytes more per request.
"""

from __future__ import annotations

from typing import Any

import hpack
from hpack.table import HeaderTable

__all__ = ["StatelessEncoder"]

#: Fields whose value must never be stored in any table along the way
#: (RFC 7541 §7.1.3): they are sent "never indexed".
_SENSITIVE = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
#: Distinct fields remembered; past this the cache starts over.
_FIELD_CACHE_SIZE = 2048

_STATIC_FIELDS: dict[tuple[bytes, bytes], int] = {}
_STATIC_NAMES: dict[bytes, int] = {}
for _index, _entry in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FIELDS.setdefault(_entry, _index)
    _STATIC_NAMES.setdefault(_entry[0], _index)


def _hpack_int(value: int, prefix_bits: int, flags: int) -> bytes:
    """An HPACK integer with an ``prefix_bits``-bit prefix (RFC 7541 §5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_string(data: bytes) -> bytes:
    """An HPACK string literal, without Huffman coding."""
    return _hpack_int(len(data), 7, 0) + data


class StatelessEncoder(hpack.Encoder):
    """An HPACK encoder that never uses the dynamic table.

    Every field is a static-table reference or a literal "without indexing"
    ("never indexed" for credentials), so a field's encoding never depends on
    what was sent before and is computed once and cached. Huffman coding is
    not used. A drop-in for ``h2``'s ``connection.encoder`` (a public
    attribute): ``h2`` calls :meth:`encode` and sets
    :attr:`header_table_size` when the peer changes its table size limit.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[bytes, bytes], bytes] = {}
        self._size_update = False

    @property
    def header_table_size(self) -> int:
        return 0

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        # The peer changed its limit: announce our (empty) table's size, 0.
        self._size_update = True

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        cache = self._cache
        parts = []
        if self._size_update:
            self._size_update = False
            parts.append(b"\x20")
        for name, value in headers:
            key = (name, value)
            field = cache.get(key)
            if field is None:
                field = self._field(name, value)
                if len(cache) >= _FIELD_CACHE_SIZE:
                    cache.clear()
                cache[key] = field
            parts.append(field)
        return b"".join(parts)

    @staticmethod
    def _field(name: bytes, value: bytes) -> bytes:
        index = _STATIC_FIELDS.get((name, value))
        if index is not None:
            return _hpack_int(index, 7, 0x80)
        flags = 0x10 if name in _SENSITIVE else 0x00
        index = _STATIC_NAMES.get(name)
        if index is not None:
            return _hpack_int(index, 4, flags) + _hpack_string(value)
        return bytes((flags,)) + _hpack_string(name) + _hpack_string(value)
