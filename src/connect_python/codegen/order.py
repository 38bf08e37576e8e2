"""The order of names in generated code: the one ruff checks, decided once.

ruff's isort (rules I, default settings) orders import statements by module
and the names of one statement by member type, then case-folded, then as
written; RUF022 orders ``__all__`` by member type, then as written. Every
comparison of text is "natural" (runs of digits compare as numbers: ``v2``
before ``v10``), with the algorithm of the natord crate that ruff uses.
:func:`ruff_order` gives the sort key for both; the model sorts with it and
the templates print in that order.
"""

from __future__ import annotations

import functools

__all__ = ["Natural", "ruff_order"]

_DIGITS = "0123456789"


def _natural_compare(a: str, b: str) -> int:
    """natord's ``compare``: -1, 0 or 1."""
    i = j = 0
    while True:
        ca = a[i] if i < len(a) else ""
        cb = b[j] if j < len(b) else ""
        if ca and cb and ca in _DIGITS and cb in _DIGITS:
            ra = a[i : len(a) - len(a[i:].lstrip(_DIGITS))]
            rb = b[j : len(b) - len(b[j:].lstrip(_DIGITS))]
            if ca == "0" or cb == "0":
                # Leading zeros: the runs compare digit by digit, a prefix first.
                order = (ra > rb) - (ra < rb)
            else:
                # Otherwise the longer run is the larger number.
                order = (len(ra) > len(rb)) - (len(ra) < len(rb)) or (ra > rb) - (ra < rb)
            if order:
                return order
        if not ca and not cb:
            return 0
        if ca != cb:
            return -1 if ca < cb else 1
        i += 1
        j += 1


@functools.total_ordering
class Natural:
    """A string that sorts in natural order."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Natural) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __lt__(self, other: Natural) -> bool:
        return _natural_compare(self.text, other.text) < 0


def _member_type(name: str) -> int:
    """ruff's member types: 0 CONSTANT (more than one character, no lower case
    letter), 1 Class (an upper-case first letter), 2 anything else."""
    if len(name) > 1 and name.isupper():
        return 0
    return 1 if name[:1].isupper() else 2


def ruff_order(name: str, *, typed: bool = True, fold_case: bool = True) -> tuple[object, ...]:
    """The sort key of a name (``typed``: after its member type; ``fold_case``:
    case-folded first, as written to break ties)."""
    key: tuple[object, ...] = (_member_type(name),) if typed else ()
    if fold_case:
        key += (Natural(name.lower()),)
    return (*key, Natural(name))
