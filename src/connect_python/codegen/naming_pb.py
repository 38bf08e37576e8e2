"""Where ``protoc-gen-py`` (Buf's ``protobuf-py``) puts a message, and its name.

With ``messages=protobuf-py`` the generated module imports the ``_pb`` modules
``protoc-gen-py`` writes, so it must name them exactly as that generator does:

- a ``.proto`` file's module: every path component with characters other
  than letters, digits and ``_`` replaced by ``_``, a leading digit prefixed
  with ``_``, a Python keyword given a trailing ``_``, a leading ``_`` (or
  ``pb_``) prefixed with ``pb_``, and a component ending in ``_pb`` given a
  trailing ``_``; the last component then gets ``_pb``
  (``dotted/my-service.v1.proto`` -> ``dotted/my_service_v1_pb.py``);
- the well-known types (``google/protobuf/*.proto``) come with the runtime,
  under ``protobuf.wkt`` (``protobuf.wkt.google.protobuf.empty_pb``);
- generated modules import each other relatively, so the output tree can live
  under any package: this plugin's modules do the same, unless
  ``import_prefix`` or an ``M`` option gives an absolute module;
- a message class: each nesting level a Python class, the name escaped like a
  module component but against more reserved words (the builtin types, the
  message methods) and with an ``ext_`` prefix guarded by ``pb_``.

These rules are the ones of ``protoc-gen-py`` 0.7 without its
``escape_module_with_hash`` option.
"""

from __future__ import annotations

import re

__all__ = [
    "WKT_PACKAGE",
    "class_name",
    "connect_path",
    "is_wkt",
    "module_parts",
    "relative_import",
]

#: Where the runtime keeps the modules of the well-known types.
WKT_PACKAGE = "protobuf.wkt"
_WKT_DIR = "google/protobuf/"

_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_KEYWORDS = frozenset(
    {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break",
        "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
        "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
        "pass", "raise", "return", "try", "while", "with", "yield",
    }
)  # fmt: skip
_CLASS_RESERVED = _KEYWORDS | frozenset(
    {
        "int", "str", "bytes", "float", "bool", "list", "dict",
        "has_field", "clear_field", "to_binary", "to_json", "from_binary", "from_json",
        "desc", "self",
    }
)  # fmt: skip


def _escape(name: str, reserved: frozenset[str]) -> str:
    if name.rstrip("_") in reserved:
        name += "_"
    if name.startswith(("_", "pb_")):
        name = "pb_" + name
    return name


def _component(part: str) -> str:
    part = _INVALID.sub("_", part)
    if part[:1].isdigit():
        part = "_" + part
    part = _escape(part, _KEYWORDS)
    return part + "_" if part.rstrip("_").endswith("_pb") else part


def module_parts(proto_path: str, suffix: str = "_pb") -> tuple[str, ...]:
    """The dotted path, from the output root, of the module ``protoc-gen-py``
    writes for ``proto_path`` (with ``suffix`` on the last part)."""
    stem = proto_path.removesuffix(".proto")
    parts = [_component(p) for p in stem.split("/")]
    parts[-1] += suffix
    return tuple(parts)


def is_wkt(proto_path: str) -> bool:
    """Whether the runtime brings the file's module (a well-known type)."""
    return proto_path.startswith(_WKT_DIR)


def connect_path(proto_path: str) -> str:
    """The file this plugin writes for a ``.proto`` file, next to its ``_pb.py``."""
    return "/".join(module_parts(proto_path, "_connect")) + ".py"


def relative_import(importer: tuple[str, ...], target: tuple[str, ...]) -> tuple[str, str]:
    """``(from_part, name)`` so that ``from <from_part> import <name>`` in the
    module ``importer`` imports the module ``target`` (both paths from the
    output root): ``("..common.v1", "common_pb")``."""
    package, target_package = importer[:-1], target[:-1]
    shared = 0
    while shared < min(len(package), len(target_package)):
        if package[shared] != target_package[shared]:
            break
        shared += 1
    dots = "." * (len(package) - shared + 1)
    return dots + ".".join(target_package[shared:]), target[-1]


def class_name(name: str) -> str:
    """The Python class ``protoc-gen-py`` makes for a message called ``name``."""
    escaped = _escape(name, _CLASS_RESERVED)
    return "pb_" + escaped if escaped.startswith("ext_") else escaped
