"""A small case-insensitive multi-map for HTTP headers and trailers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, Union, overload

from ._binary import decode_binary_header

__all__ = ["Headers", "HeadersInput", "merge_headers"]

_T = TypeVar("_T")

HeadersInput = Union[Mapping[str, str], Iterable[tuple[str, str]], "Headers", None]


class Headers(Mapping[str, str]):
    """Header names are lower-cased; a name may carry several values.

    As a mapping it gives the first value of each name; :meth:`get_all` gives
    every value. Order of insertion is kept. Values are text as received:
    binary metadata (a name ending in ``-bin``) is base64, which
    :meth:`get_bin` and :meth:`get_all_bin` decode.
    """

    __slots__ = ("_items",)

    def __init__(self, items: HeadersInput = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is not None:
            self.extend(items)

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from raw ``(name, value)`` byte pairs as a transport gives them."""
        self = cls()
        self._items = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]
        return self

    def extend(self, items: HeadersInput) -> None:
        """Append every value of ``items``."""
        if items is None:
            return
        if isinstance(items, Headers):
            self._items.extend(items._items)
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self._items.append((name.lower(), value))

    def add(self, name: str, value: str) -> None:
        """Append one value."""
        self._items.append((name.lower(), value))

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` by ``value``."""
        name = name.lower()
        self._items = [item for item in self._items if item[0] != name]
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        """Drop every value of ``name``."""
        name = name.lower()
        self._items = [item for item in self._items if item[0] != name]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        name = name.lower()
        return [v for k, v in self._items if k == name]

    def get_bin(self, name: str) -> bytes | None:
        """The first value of binary metadata ``name`` (ending in ``-bin``),
        decoded from base64, or ``None`` when absent.

        Raises :class:`~connect_python.BinaryHeaderError` (a ``ValueError``)
        when the value is not base64, and ``ValueError`` when ``name`` does not
        end in ``-bin`` (only those values are base64 on the wire).
        """
        values = self.get_all_bin(name)
        return values[0] if values else None

    def get_all_bin(self, name: str) -> list[bytes]:
        """Every value of binary metadata ``name`` (ending in ``-bin``), decoded
        from base64, in order; a value a peer or proxy joined with commas
        counts as the values it joined. Raises like :meth:`get_bin`."""
        name = name.lower()
        if not name.endswith("-bin"):
            raise ValueError(
                f"{name!r} is not binary metadata: only names ending in -bin hold"
                " base64 values (read text values with get() / get_all())"
            )
        out: list[bytes] = []
        for k, v in self._items:
            if k == name:
                # No base64 text has a comma: a comma separates joined values.
                out.extend(decode_binary_header(part, name) for part in v.split(","))
        return out

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` pair, in order."""
        return list(self._items)

    def copy(self) -> Headers:
        """A shallow copy."""
        other = Headers()
        other._items = list(self._items)
        return other

    def __getitem__(self, name: str) -> str:
        name = name.lower()
        for k, v in self._items:
            if k == name:
                return v
        raise KeyError(name)

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, /, default: str | _T) -> str | _T: ...
    def get(self, name: str, /, default: object = None) -> object:
        """The first value of ``name``, or ``default`` (looked up without the
        ``KeyError`` that ``Mapping.get`` raises and catches for an absent name)."""
        name = name.lower()
        for k, v in self._items:
            if k == name:
                return v
        return default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        name = name.lower()
        return any(k == name for k, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for k, _ in self._items:
            seen.setdefault(k)
        return iter(seen)

    def __len__(self) -> int:
        return len({k for k, _ in self._items})

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self._items) == sorted(other._items)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def merge_headers(base: Headers, override: HeadersInput) -> Headers:
    """``base`` with every name present in ``override`` replaced by its values there."""
    if not override:
        return base
    extra = override if isinstance(override, Headers) else Headers(override)
    names = {k for k, _ in extra._items}
    merged = Headers()
    merged._items = [item for item in base._items if item[0] not in names]
    merged._items.extend(extra._items)
    return merged
