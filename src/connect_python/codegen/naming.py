"""Every name the generator invents, decided in one place.

Proto identifiers become Python names here: method names in ``snake_case``,
constants in ``UPPER_SNAKE_CASE``, client classes in ``CamelCase`` with the
``Async`` prefix the unasync transform drops. Names that would shadow or break
something (keywords, soft keywords, builtins, the client's own attributes,
names the unasync transform rewrites, other module-level names) get a trailing
underscore; names that still collide get a numeric suffix, in declaration
order. The tables are fixed here, not read from the running interpreter, so
the output does not depend on the Python version that runs the plugin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from connect_python.codegen.unasync import RULES

__all__ = [
    "BUILTINS",
    "CLIENT_ATTRIBUTES",
    "KEYWORDS",
    "SOFT_KEYWORDS",
    "UNASYNC_NAMES",
    "NameTable",
    "changed_by_unasync",
    "class_base",
    "connect_path",
    "escape",
    "method_constant",
    "pb2_alias",
    "pb2_module",
    "service_constant",
    "snake_case",
    "upper_snake_case",
]

#: Python keywords (3.10 to 3.14).
KEYWORDS: frozenset[str] = frozenset(
    {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break",
        "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
        "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
        "pass", "raise", "return", "try", "while", "with", "yield",
    }
)  # fmt: skip
#: Soft keywords (``type`` since 3.12).
SOFT_KEYWORDS: frozenset[str] = frozenset({"_", "case", "match", "type"})
#: Lower-case builtins of Python 3.10 to 3.14 (``snake_case`` names are lower case).
BUILTINS: frozenset[str] = frozenset(
    {
        "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "breakpoint",
        "bytearray", "bytes", "callable", "chr", "classmethod", "compile", "complex",
        "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate", "eval",
        "exec", "exit", "filter", "float", "format", "frozenset", "getattr", "globals",
        "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance",
        "issubclass", "iter", "len", "license", "list", "locals", "map", "max",
        "memoryview", "min", "next", "object", "oct", "open", "ord", "pow", "print",
        "property", "quit", "range", "repr", "reversed", "round", "set", "setattr",
        "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type",
        "vars", "zip",
    }
)  # fmt: skip
#: Attributes of a generated client class, in both flavours (those of the
#: runtime's ``AsyncServiceClient``/``ServiceClient`` base included).
CLIENT_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "_client", "_deprecated", "_warn_deprecated", "aclose", "close", "__init__",
        "__aenter__", "__aexit__", "__enter__", "__exit__",
    }
)  # fmt: skip

#: Identifiers the unasync transform rewrites or produces. Fixed here (plus
#: whatever the transform's table holds today), so that generated names do not
#: change when a rule is dropped from the runtime's table.
UNASYNC_NAMES: frozenset[str] = frozenset(
    {
        "aclose", "close", "__aenter__", "__enter__", "__aexit__", "__exit__",
        "__aiter__", "__iter__", "__anext__", "__next__", "StopAsyncIteration",
        "StopIteration", "_shim_async", "_shim_sync", "shim_async", "shim_sync",
        "handle_async_request",
        "handle_request", "AnyIOBackend", "SyncBackend", "runtime_async", "runtime_sync",
    }
)  # fmt: skip
_UNASYNC_TARGETS = UNASYNC_NAMES | frozenset(RULES) | frozenset(RULES.values())
_ASYNC_NAME = re.compile(r"^_*Async[A-Z]")
_WORD_BOUNDARY = re.compile(
    r"(?<=[a-z0-9])(?=[A-Z])"  # fooBar, foo2Bar
    r"|(?<=[A-Z])(?=[A-Z][a-z])"  # HTTPServer -> HTTP_Server
)


def snake_case(name: str) -> str:
    """``GetHTTPResponse`` -> ``get_http_response``; ``ListDir`` -> ``list_dir``.

    Underscores already in the name are kept and none are doubled; two or
    more leading underscores become one, so no name is mangled by the class.
    """
    out = _WORD_BOUNDARY.sub("_", name).lower()
    return re.sub(r"^_{2,}", "_", out)


def upper_snake_case(name: str) -> str:
    """``TestService`` -> ``TEST_SERVICE``."""
    return snake_case(name).upper().lstrip("_")


def class_base(service_name: str) -> str:
    """The client class name without the ``Async`` prefix: ``greeter`` -> ``GreeterClient``.

    Leading underscores are dropped and the first letter is upper-cased, so
    that ``Async`` + base is a name the unasync transform maps back to base.
    """
    stem = service_name.lstrip("_") or "Service"
    return stem[0].upper() + stem[1:] + "Client"


def service_constant(service_name: str) -> str:
    """The module constant holding a service's full name: ``Process`` -> ``PROCESS_NAME``."""
    return f"{upper_snake_case(service_name) or 'SERVICE'}_NAME"


def method_constant(service_name: str, method_name: str) -> str:
    """The ``MethodInfo`` constant of a method: ``Process.Start`` -> ``PROCESS_START``."""
    return f"{upper_snake_case(service_name) or 'SERVICE'}_{upper_snake_case(method_name)}"


def pb2_alias(module: str, *, qualified: bool = False) -> str:
    """The name a ``_pb2`` module is imported as: its own name (``greet_pb2``), or,
    when that is ambiguous or taken, its dotted path joined by ``_``
    (``clash_a_types_pb2``), lower-cased if its own name is (pep8-naming's N812:
    a lower-case module is not imported under a name with capitals)."""
    base = module.rpartition(".")[2]
    if not qualified:
        return base
    alias = module.replace(".", "_")
    return alias.lower() if base == base.lower() else alias


def changed_by_unasync(name: str) -> bool:
    """Whether the unasync transform would rewrite (or produce) this identifier."""
    return name in _UNASYNC_TARGETS or bool(_ASYNC_NAME.match(name))


def escape(name: str, reserved: Iterable[str] = ()) -> str:
    """``name`` with a trailing underscore if it is a keyword, a soft keyword, a
    builtin, a client attribute, touched by the unasync transform, or in
    ``reserved``; repeated until it is none of those."""
    taken = frozenset(reserved)
    while (
        name in KEYWORDS
        or name in SOFT_KEYWORDS
        or name in BUILTINS
        or name in CLIENT_ATTRIBUTES
        or name in taken
        or changed_by_unasync(name)
    ):
        name += "_"
    return name


class NameTable:
    """Hands out unique names in one namespace, in the order they are asked for.

    A name already taken gets ``_2``, ``_3``... (``Foo`` style names get
    ``2``, ``3``...: see :meth:`claim_pair`).
    """

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken: set[str] = set(reserved)

    def __contains__(self, name: object) -> bool:
        return name in self._taken

    def claim(self, name: str) -> str:
        """``name``, or ``name_2``, ``name_3``... whichever is free first; then taken."""
        candidate, n = name, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{name}_{n}"
        self._taken.add(candidate)
        return candidate

    def claim_pair(self, base: str) -> tuple[str, str]:
        """``(Async<base>, <base>)`` for a client class base such as ``FooClient``.

        When either is taken, a number goes before the ``Client`` suffix
        (``Foo2Client``) so that the pair still maps by dropping ``Async``.
        """
        stem, suffix = (base[: -len("Client")], "Client") if base.endswith("Client") else (base, "")
        n = 1
        while True:
            sync = f"{stem}{n if n > 1 else ''}{suffix}"
            pair = (f"Async{sync}", sync)
            if not (set(pair) & self._taken):
                self._taken.update(pair)
                return pair
            n += 1


def pb2_module(proto_path: str) -> str:
    """The module protoc's Python generator writes for a ``.proto`` file.

    protoc's rule: drop ``.proto``, replace ``-`` by ``_`` and ``/`` by ``.``,
    add ``_pb2``. Dots left in the file name therefore become package levels:
    ``a/my-file.v1.proto`` -> ``a.my_file.v1_pb2`` (written to ``a/my_file/v1_pb2.py``).
    """
    stem = proto_path[: -len(".proto")] if proto_path.endswith(".proto") else proto_path
    return stem.replace("-", "_").replace("/", ".") + "_pb2"


def connect_path(proto_path: str) -> str:
    """The file this plugin writes for a ``.proto`` file, next to its ``_pb2.py``."""
    module = pb2_module(proto_path)[: -len("_pb2")] + "_connect"
    return module.replace(".", "/") + ".py"
