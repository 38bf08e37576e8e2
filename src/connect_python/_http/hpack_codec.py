"""HPACK for the client (RFC 7541): a stateless encoder and a memoizing decoder.

:class:`HeaderEncoder` never uses the dynamic table. Every field is a
static-table reference or a literal "without indexing" ("never indexed" for
credentials), so a field's encoding never depends on what was sent before and
is computed once and cached, and so is a whole block: request headers repeat
from call to call, which makes encoding one a dictionary look-up; the price
is a few dozen bytes more per request on the wire. Huffman coding is not used.

:class:`HeaderDecoder` decodes with the ``hpack`` package and remembers the
result of each block that left the dynamic table as it was: servers send the
same block for every response of a kind, and while the table does not change
the same bytes decode to the same fields (a dictionary look-up instead of the
decoder's per-field work), and so does where its pseudo-header fields end.
Any failure is :class:`HPACKFailure`.
"""

from __future__ import annotations

from collections.abc import Iterable

import hpack
from hpack.table import HeaderTable

__all__ = ["HPACKFailure", "HeaderDecoder", "HeaderEncoder"]

RawHeaders = list[tuple[bytes, bytes]]


def _hpack_int(value: int, prefix_bits: int, flags: int) -> bytes:
    """An HPACK integer with a ``prefix_bits``-bit prefix (RFC 7541 §5.1)."""
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


_STATIC_FIELDS: dict[tuple[bytes, bytes], int] = {}
_STATIC_NAMES: dict[bytes, int] = {}
for _index, _entry in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FIELDS.setdefault(_entry, _index)
    _STATIC_NAMES.setdefault(_entry[0], _index)
_SENSITIVE = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
_FIELD_CACHE_SIZE = 2048
_BLOCK_MEMO_SIZE = 256


class HeaderEncoder:
    """Encodes header lists without the dynamic table (see the module doc)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[bytes, bytes], bytes] = {}
        self._blocks: dict[tuple[tuple[bytes, bytes], ...], bytes] = {}
        #: Whether the next block starts with a dynamic table size update.
        self.size_update = False

    def table_size_changed(self) -> None:
        """The peer changed SETTINGS_HEADER_TABLE_SIZE: announce our (empty)
        table's size, 0, at the start of the next block (RFC 7541 §4.2)."""
        self.size_update = True

    def encode(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
        """One header block."""
        fields = tuple(headers)
        blocks = self._blocks
        block = blocks.get(fields)
        if block is None:
            block = self._encode(fields)
            if len(blocks) >= _BLOCK_MEMO_SIZE:
                blocks.clear()
            blocks[fields] = block
        if self.size_update:
            self.size_update = False
            return b"\x20" + block
        return block

    def _encode(self, headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
        cache = self._cache
        parts = []
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


class HPACKFailure(Exception):
    """A header block could not be decoded (a COMPRESSION_ERROR)."""


_TABLE_MAXSIZE: property = HeaderTable.__dict__["maxsize"]


class _CountingTable(HeaderTable):
    """``hpack``'s table, counting its changes: entries change only by
    insertion (which may evict) and by a size change (which may evict)."""

    def __init__(self) -> None:
        self.changes = 0
        super().__init__()

    def add(self, name: bytes, value: bytes) -> None:
        self.changes += 1
        super().add(name, value)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, newmax: int) -> None:
        self.changes += 1
        _TABLE_MAXSIZE.__set__(self, newmax)


class HeaderDecoder:
    """Decodes header blocks; see the module doc.

    ``max_header_list_size`` is what this side advertised; ``max_table_size``
    its SETTINGS_HEADER_TABLE_SIZE.
    """

    def __init__(self, max_header_list_size: int = 65536, max_table_size: int = 4096) -> None:
        decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
        table = _CountingTable()
        decoder.header_table = table
        decoder.max_allowed_table_size = max_table_size
        self._decoder = decoder
        self._table = table
        self._memo: dict[bytes, tuple[RawHeaders, int]] = {}
        #: The table's change count the memo was made at.
        self._memo_version = table.changes

    def decode(self, block: bytes) -> tuple[RawHeaders, int]:
        """The fields of a header block (a new list: callers may keep it) and
        how many pseudo-header fields lead them (-1: one follows a regular
        field, which makes the block malformed)."""
        memo = self._memo
        table = self._table
        before = table.changes
        if before != self._memo_version:
            memo.clear()
            self._memo_version = before
        else:
            known = memo.get(block)
            if known is not None:
                return list(known[0]), known[1]
        try:
            fields = self._decoder.decode(block, raw=True)
        except Exception as exc:  # untrusted input: any failure is the peer's
            raise HPACKFailure(str(exc) or type(exc).__name__) from exc
        headers: RawHeaders = [(name, value) for name, value in fields]
        pseudo = _leading_pseudo(headers)
        if table.changes == before:
            if len(memo) >= _BLOCK_MEMO_SIZE:
                memo.clear()
            memo[block] = (headers, pseudo)
            return list(headers), pseudo
        return headers, pseudo


def _leading_pseudo(headers: RawHeaders) -> int:
    """How many pseudo-header fields (``:name``) lead ``headers``; -1 when
    one comes after a regular field (RFC 9113 §8.3)."""
    count = 0
    for index, (name, _) in enumerate(headers):
        if name[:1] == b":":
            if count != index:
                return -1
            count += 1
    return count
