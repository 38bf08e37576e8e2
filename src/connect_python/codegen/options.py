"""The plugin's options: ``--connect-python_opt=key=value,key=value``.

=========================  ===================================================
``clients=both``           ``async``, ``sync`` or ``both`` (default): which
                           client classes each module holds.
``messages=google``        The message runtime: ``google`` (default; Google's
                           ``protobuf``, ``_pb2`` modules from protoc's
                           ``python_out``) or ``protobuf-py`` (Buf's
                           ``protobuf-py``, ``_pb`` modules from
                           ``protoc-gen-py``, imported relatively as that
                           generator's own modules import each other).
``import_prefix=PKG``      Import the message modules from under the package
                           ``PKG`` (``from PKG.foo.v1 import foo_pb2``). The
                           well-known types (``google/protobuf/*.proto``) are
                           left alone: they come with the runtime package.
``M<file.proto>=MODULE``   Import the message module of ``file.proto`` as
                           ``MODULE`` (full dotted name, ``..._pb2`` or
                           ``..._pb`` included); wins over ``import_prefix``.
                           Repeatable.
``line_length=88``         The line length the output is laid out for (match
                           your formatter's; at least 60).
``deprecation=warn``       ``warn`` (default): deprecated services and methods
                           call ``warnings.warn(..., DeprecationWarning)``;
                           ``decorator``: they are decorated with
                           ``typing_extensions.deprecated``, which warns at run
                           time and lets type checkers flag their use (needs
                           the ``typing_extensions`` package).
=========================  ===================================================

Anything else is an error reported to protoc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeVar

__all__ = ["OptionError", "Options", "parse_options"]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_KNOWN = (
    "clients",
    "messages",
    "import_prefix",
    "M<file.proto>",
    "line_length",
    "deprecation",
)

_Clients = Literal["both", "async", "sync"]
_Deprecation = Literal["warn", "decorator"]
_Messages = Literal["google", "protobuf-py"]
# The accepted values, in the order the error message names them.
_CLIENTS: tuple[_Clients, ...] = ("async", "sync", "both")
_DEPRECATIONS: tuple[_Deprecation, ...] = ("warn", "decorator")
_MESSAGES: tuple[_Messages, ...] = ("google", "protobuf-py")
_Choice = TypeVar("_Choice", bound=str)


class OptionError(ValueError):
    """A ``--connect-python_opt`` value the plugin does not accept."""


@dataclass(frozen=True)
class Options:
    """Parsed plugin options (see the module docstring)."""

    clients: _Clients = "both"
    import_prefix: str = ""
    module_map: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    line_length: int = 88
    deprecation: _Deprecation = "warn"
    messages: _Messages = "google"

    @property
    def emit_async(self) -> bool:
        return self.clients in ("both", "async")

    @property
    def emit_sync(self) -> bool:
        return self.clients in ("both", "sync")


def _module_name(value: str, what: str) -> str:
    if not _DOTTED.match(value):
        raise OptionError(f"{what}: {value!r} is not a dotted Python module name")
    return value


def _choice(key: str, value: str, choices: tuple[_Choice, ...]) -> _Choice:
    for choice in choices:
        if value == choice:
            return choice
    expected = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
    raise OptionError(f"{key}={value!r}: expected {expected}")


def parse_options(parameter: str) -> Options:
    """Parse protoc's comma-separated parameter string."""
    seen: set[str] = set()
    clients: _Clients = "both"
    deprecation: _Deprecation = "warn"
    messages: _Messages = "google"
    prefix = ""
    line_length = 88
    module_map: dict[str, str] = {}
    for raw in parameter.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise OptionError(f"option {key!r} needs a value ({key}=...)")
        if key.startswith("M") and key.endswith(".proto") and len(key) > len("M.proto"):
            proto = key[1:]
            if proto in module_map:
                raise OptionError(f"option M{proto} is given twice")
            module_map[proto] = _module_name(value, f"M{proto}")
            continue
        if key in seen:
            raise OptionError(f"option {key!r} is given twice")
        seen.add(key)
        if key == "clients":
            clients = _choice(key, value, _CLIENTS)
        elif key == "messages":
            messages = _choice(key, value, _MESSAGES)
        elif key == "import_prefix":
            prefix = _module_name(value, "import_prefix") if value else ""
        elif key == "line_length":
            if not value.isdigit() or not 60 <= int(value) <= 1000:
                raise OptionError(f"line_length={value!r}: expected a number from 60 to 1000")
            line_length = int(value)
        elif key == "deprecation":
            deprecation = _choice(key, value, _DEPRECATIONS)
        else:
            raise OptionError(f"unknown option {key!r} (known: {', '.join(_KNOWN)})")
    return Options(
        clients=clients,
        import_prefix=prefix,
        module_map=MappingProxyType(module_map),
        line_length=line_length,
        deprecation=deprecation,
        messages=messages,
    )
