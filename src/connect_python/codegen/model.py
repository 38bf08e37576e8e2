"""The generator's model, built once from a whole ``CodeGeneratorRequest``.

One symbol table covers every message of every ``proto_file`` (nested types
included), so a method's input and output resolve to the message module that
defines them wherever they live: the ``_pb2`` module of Google's ``protobuf``
or, with ``messages=protobuf-py``, the ``_pb`` module of ``protoc-gen-py``
(:mod:`.naming_pb`). Everything the templates need is decided here
(names, imports and their order, docstring text); the templates only loop and
branch. All classes are frozen dataclasses; descriptors are read, never changed.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from connect_python.codegen import naming, naming_pb
from connect_python.codegen.options import Options
from connect_python.codegen.order import Natural, ruff_order
from connect_python.codegen.text import comment_lines

__all__ = [
    "MAXIMUM_EDITION",
    "MINIMUM_EDITION",
    "FileModel",
    "Import",
    "Method",
    "Model",
    "ModelError",
    "Pb2Module",
    "Service",
    "Symbol",
    "TypeRef",
    "build_model",
    "symbol_table",
]

StreamKind = Literal["UNARY", "CLIENT_STREAM", "SERVER_STREAM", "BIDI_STREAM"]
Idempotency = Literal["UNKNOWN", "NO_SIDE_EFFECTS", "IDEMPOTENT"]
Section = Literal["stdlib", "thirdparty", "firstparty", "localfolder"]

_IDEMPOTENCY: Mapping[int, Idempotency] = {
    descriptor_pb2.MethodOptions.IDEMPOTENCY_UNKNOWN: "UNKNOWN",
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS: "NO_SIDE_EFFECTS",
    descriptor_pb2.MethodOptions.IDEMPOTENT: "IDEMPOTENT",
}
_WKT_DIR = "google/protobuf/"
#: The editions this plugin declares to protoc (proto2 and proto3 count as editions).
MINIMUM_EDITION = descriptor_pb2.EDITION_PROTO2
MAXIMUM_EDITION = descriptor_pb2.EDITION_2024
# FileDescriptorProto.service = 6, ServiceDescriptorProto.method = 2.
_SERVICE_FIELD = 6
_METHOD_FIELD = 2

_EDITIONS = frozenset(descriptor_pb2.Edition.values())

#: Module-level names of a generated module that never go to a service (the
#: class bodies refer to them, so no method may shadow them either).
FIXED_MODULE_NAMES: frozenset[str] = frozenset(
    {
        "annotations", "AsyncIterable", "Iterable", "Mapping", "TypeVar", "CancelToken",
        "IdempotencyLevel", "MethodInfo", "StreamType", "runtime_async", "runtime_sync",
        "deprecated", "_T", "_Headers", "_AsyncRequests", "_Requests", "_AsyncRequestsOrNone",
        "_RequestsOrNone", "_AsyncMetadata", "_Metadata", "__all__", "connect_python", "google",
        "typing_extensions", "collections", "typing", "MessageRuntime",
    }
)  # fmt: skip


class ModelError(Exception):
    """The request describes something the generator cannot turn into Python."""


@dataclass(frozen=True)
class Symbol:
    """A message type: the file that defines it and its path inside that file."""

    full_name: str  # "pkg.Outer.Inner", no leading dot
    proto_file: str
    path: tuple[str, ...]  # ("Outer", "Inner")


@dataclass(frozen=True)
class Pb2Module:
    """A message module the generated code imports, and the name it is bound to."""

    module: str  # "connectpy.testing.v1.testing_pb2"; relative: "..common.v1.common_pb"
    alias: str

    @property
    def parent(self) -> str:
        """What ``from`` names: ``connectpy.testing.v1``, ``..common.v1`` or ``.``."""
        rest = self.module.lstrip(".")
        return self.module[: len(self.module) - len(rest)] + rest.rpartition(".")[0]

    @property
    def basename(self) -> str:
        return self.module.rpartition(".")[2]


@dataclass(frozen=True)
class TypeRef:
    """A message type as a Python expression: ``testing_pb2.EchoRequest``."""

    symbol: Symbol
    module: Pb2Module
    path: tuple[str, ...]  # the Python class names, outermost first

    @property
    def expr(self) -> str:
        return ".".join((self.module.alias, *self.path))


@dataclass(frozen=True)
class Method:
    """One RPC of a service, with its Python names."""

    proto_name: str
    path: str  # "/pkg.Service/Method"
    python_name: str  # snake_case attribute of the client classes
    constant: str  # module-level MethodInfo constant
    input: TypeRef
    output: TypeRef
    kind: StreamKind
    idempotency: Idempotency
    deprecated: bool
    doc: tuple[str, ...]  # proto comment lines (possibly empty)

    @property
    def get_allowed(self) -> bool:
        return self.kind == "UNARY" and self.idempotency == "NO_SIDE_EFFECTS"

    @property
    def docstring(self) -> tuple[str, ...]:
        """The proto comment (or a summary), then what the call shape means."""
        kind = {
            "UNARY": f"Unary call of ``{self.path}``.",
            "SERVER_STREAM": (
                f"Server stream of ``{self.path}``: iterate the returned call for the "
                "responses; closing it early cancels the call."
            ),
            "CLIENT_STREAM": (
                f"Client stream of ``{self.path}``: sends every message of ``requests``, "
                "then returns the single response."
            ),
            "BIDI_STREAM": (
                f"Bidirectional stream of ``{self.path}``: requests come from "
                "``requests`` or from ``send()`` and ``close_send()`` on the returned "
                "call; iterate the call for the responses."
            ),
        }[self.kind]
        lines = [*self.doc, ""] if self.doc else []
        lines.append(kind)
        if self.get_allowed:
            lines += ["", "The method has no side effects: ``use_get=True`` sends it as a GET."]
        if self.deprecated:
            lines += ["", "Deprecated: the method is marked ``deprecated`` in its proto file."]
        return tuple(lines)


@dataclass(frozen=True)
class Service:
    """A service and the names of its constants and client classes."""

    proto_name: str
    full_name: str
    name_constant: str
    async_class: str
    sync_class: str
    methods: tuple[Method, ...]
    deprecated: bool
    doc: tuple[str, ...]

    @property
    def docstring(self) -> tuple[str, ...]:
        """The proto comment (or a summary) of the service."""
        lines = [*self.doc, ""] if self.doc else []
        lines.append(
            f"Client of the ``{self.full_name}`` service. Create one with the server's "
            "base URL and the client options of ``__init__`` (inherited from the runtime)."
        )
        if self.deprecated:
            lines += ["", "Deprecated: the service is marked ``deprecated`` in its proto file."]
        return tuple(lines)


@dataclass(frozen=True)
class Import:
    """One import statement: ``import module [as alias]`` or ``from module import ...``
    (the names in the order they are written)."""

    section: Section
    module: str
    names: tuple[tuple[str, str | None], ...] = ()  # empty: a plain ``import``
    alias: str | None = None  # for a plain ``import``


@dataclass(frozen=True)
class FileModel:
    """One generated ``_connect.py`` module."""

    proto_file: str
    package: str
    output_path: str
    syntax: str  # "proto2", "proto3" or "editions"
    pb2_modules: tuple[Pb2Module, ...]
    services: tuple[Service, ...]
    imports: tuple[Import, ...]  # every statement, in the order they are written
    options: Options

    @property
    def methods(self) -> tuple[Method, ...]:
        return tuple(m for s in self.services for m in s.methods)

    @property
    def uses_request_streams(self) -> bool:
        return any(m.kind in ("CLIENT_STREAM", "BIDI_STREAM") for m in self.methods)

    @property
    def uses_metadata(self) -> bool:
        """Whether a method takes ``metadata=`` (unary and client-stream calls)."""
        return any(m.kind in ("UNARY", "CLIENT_STREAM") for m in self.methods)

    @property
    def uses_optional_requests(self) -> bool:
        return any(m.kind == "BIDI_STREAM" for m in self.methods)

    @property
    def import_sections(self) -> tuple[tuple[Import, ...], ...]:
        """:attr:`imports` cut into the sections a blank line separates."""
        sections: list[list[Import]] = []
        for imp in self.imports:
            if not sections or sections[-1][0].section != imp.section:
                sections.append([])
            sections[-1].append(imp)
        return tuple(tuple(section) for section in sections)

    @property
    def exports(self) -> tuple[str, ...]:
        """``__all__``: constants and the emitted client classes."""
        names: list[str] = []
        for svc in self.services:
            names.append(svc.name_constant)
            names.extend(m.constant for m in svc.methods)
            if self.options.emit_async:
                names.append(svc.async_class)
            if self.options.emit_sync:
                names.append(svc.sync_class)
        return tuple(sorted(names, key=lambda n: ruff_order(n, fold_case=False)))


@dataclass(frozen=True)
class Model:
    """Everything to generate for one request."""

    files: tuple[FileModel, ...]
    symbols: Mapping[str, Symbol]


# -- order ------------------------------------------------------------------------


def _order_imports(imports: Iterable[Import]) -> tuple[Import, ...]:
    """The statements as ruff's isort writes them: sections in order; in each,
    plain ``import`` statements, then ``from`` statements, each by module; the
    names from one module in one statement, except that every aliased name
    has its own (ordered by its name)."""
    out: list[Import] = []
    for section in _SECTIONS:
        mine = [i for i in imports if i.section == section]
        plain = sorted(
            (i for i in mine if not i.names),
            key=lambda i: (
                *ruff_order(i.module, typed=False),
                i.alias is not None,
                Natural(i.alias or ""),
            ),
        )
        merged: dict[str, set[tuple[str, str | None]]] = {}
        for imp in mine:
            if imp.names:
                merged.setdefault(imp.module, set()).update(imp.names)
        statements: list[Import] = []
        for module, names in merged.items():
            bare = tuple(sorted((n for n in names if n[1] is None), key=_name_order))
            if bare:
                statements.append(Import(section, module, bare))
            statements += [Import(section, module, (n,)) for n in names if n[1] is not None]
        statements.sort(key=lambda i: (*_module_key(i.module), _name_order(i.names[0])))
        out += plain + statements
    return tuple(out)


def _name_order(name: tuple[str, str | None]) -> tuple[object, ...]:
    return (*ruff_order(name[0]), name[1] is not None, Natural(name[1] or ""))


def symbol_table(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> dict[str, Symbol]:
    """Every message of every file by full name (``pkg.Outer.Inner``)."""
    table: dict[str, Symbol] = {}

    def add(
        messages: Iterable[descriptor_pb2.DescriptorProto],
        scope: str,
        path: tuple[str, ...],
        file: str,
    ) -> None:
        for msg in messages:
            full = f"{scope}.{msg.name}" if scope else msg.name
            table[full] = Symbol(full, file, (*path, msg.name))
            add(msg.nested_type, full, (*path, msg.name), file)

    for fd in files:
        add(fd.message_type, fd.package, (), fd.name)
    return table


def _syntax(fd: descriptor_pb2.FileDescriptorProto) -> str:
    if fd.syntax == "editions":
        return "editions"
    return "proto3" if fd.syntax == "proto3" else "proto2"


def _pb_module_name(
    proto_file: str, importer: str, generated: frozenset[str], options: Options
) -> tuple[str, str]:
    """protobuf-py: ``(module as imported, its path from the output root)`` for
    the ``_pb`` module of ``proto_file``, imported by the module of ``importer``."""
    mapped = options.module_map.get(proto_file)
    if mapped:
        return mapped, mapped
    parts = naming_pb.module_parts(proto_file)
    if naming_pb.is_wkt(proto_file) and proto_file not in generated:
        module = ".".join((naming_pb.WKT_PACKAGE, *parts))
        return module, module
    logical = ".".join(parts)
    if options.import_prefix:
        module = f"{options.import_prefix}.{logical}"
        return module, module
    source, name = naming_pb.relative_import(naming_pb.module_parts(importer, "_connect"), parts)
    return (source + name if source.endswith(".") else f"{source}.{name}"), logical


def _pb2_module_name(proto_file: str, options: Options) -> str:
    module = options.module_map.get(proto_file) or naming.pb2_module(proto_file)
    mapped = proto_file in options.module_map
    if options.import_prefix and not mapped and not proto_file.startswith(_WKT_DIR):
        module = f"{options.import_prefix}.{module}"
    for part in module.split("."):
        if not part.isidentifier() or keyword.iskeyword(part):
            why = "a Python keyword" if keyword.iskeyword(part) else "not a Python identifier"
            raise ModelError(
                f"{proto_file}: its _pb2 module would be imported as {module!r}, but "
                f"{part!r} is {why}; map it with --connect-python_opt=M{proto_file}=<module>"
            )
    return module


def _python_path(symbol: Symbol, what: str) -> None:
    for part in symbol.path:
        if keyword.iskeyword(part):
            raise ModelError(
                f"{what}: message type {symbol.full_name!r} cannot be named in Python code "
                f"({part!r} is a Python keyword)"
            )


def _comments(fd: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    out: dict[tuple[int, ...], str] = {}
    for loc in fd.source_code_info.location:
        text = loc.leading_comments or loc.trailing_comments
        if text:
            out[tuple(loc.path)] = text
    return out


def _kind(method: descriptor_pb2.MethodDescriptorProto) -> StreamKind:
    if method.client_streaming and method.server_streaming:
        return "BIDI_STREAM"
    if method.client_streaming:
        return "CLIENT_STREAM"
    if method.server_streaming:
        return "SERVER_STREAM"
    return "UNARY"


_SECTIONS: tuple[Section, ...] = ("stdlib", "thirdparty", "firstparty", "localfolder")


def _section(module: str, options: Options) -> Section:
    if module.startswith("."):
        return "localfolder"
    top = module.split(".")[0]
    runtime = "protobuf" if options.messages == "protobuf-py" else "google"
    return "thirdparty" if top == runtime else "firstparty"


def _module_key(module: str) -> tuple[object, ...]:
    """ruff's order of ``from`` modules: relative ones furthest first (more
    dots), ``from . import`` before ``from .x import``."""
    rest = module.lstrip(".")
    return (len(rest) - len(module), *ruff_order(rest, typed=False))


def _imports(
    fd: descriptor_pb2.FileDescriptorProto,
    pb2_modules: Sequence[Pb2Module],
    services: Sequence[Service],
    options: Options,
) -> tuple[Import, ...]:
    methods = [m for s in services for m in s.methods]
    kinds = {m.kind for m in methods}
    streams_in = bool(kinds & {"CLIENT_STREAM", "BIDI_STREAM"})
    deprecated = any(s.deprecated for s in services) or any(m.deprecated for m in methods)
    out: list[Import] = []
    abc = ["Iterable", "Mapping"] if methods else []
    if streams_in and options.emit_async:
        abc.append("AsyncIterable")
    if abc:
        out.append(Import("stdlib", "collections.abc", tuple((n, None) for n in abc)))
    if streams_in:
        out.append(Import("stdlib", "typing", (("TypeVar", None),)))
    core = ["CancelToken", "IdempotencyLevel", "MethodInfo", "StreamType"] if methods else []
    if methods and options.messages == "protobuf-py":
        core.append("MessageRuntime")
    if options.emit_async:
        core.append("runtime_async")
    if options.emit_sync:
        core.append("runtime_sync")
    out.append(Import("thirdparty", "connect_python", tuple((n, None) for n in core)))
    if deprecated and options.deprecation == "decorator":
        out.append(Import("thirdparty", "typing_extensions", (("deprecated", None),)))
    for mod in pb2_modules:
        parent, base = mod.parent, mod.basename
        alias = None if mod.alias == base else mod.alias
        if parent:
            out.append(Import(_section(mod.module, options), parent, ((base, alias),)))
        else:
            out.append(Import(_section(mod.module, options), base, (), alias))
    return _order_imports(out)


def _build_file(
    fd: descriptor_pb2.FileDescriptorProto,
    symbols: Mapping[str, Symbol],
    options: Options,
    generated: frozenset[str],
) -> FileModel:
    pb = options.messages == "protobuf-py"
    if _syntax(fd) == "editions" and fd.edition > MAXIMUM_EDITION:
        edition = descriptor_pb2.Edition.Name(fd.edition) if fd.edition in _EDITIONS else fd.edition
        raise ModelError(
            f"{fd.name}: edition {edition} is newer than this plugin supports "
            f"(up to {descriptor_pb2.Edition.Name(MAXIMUM_EDITION)})"
        )
    comments = _comments(fd)
    # 1. Every message type the services use, resolved through the symbol table.
    needed: dict[str, Symbol] = {}
    for svc in fd.service:
        for m in svc.method:
            for type_name in (m.input_type, m.output_type):
                symbol = symbols.get(type_name.lstrip("."))
                if symbol is None:
                    raise ModelError(
                        f"{fd.name}: {svc.name}.{m.name} uses {type_name!r}, "
                        "which no file in the request defines"
                    )
                if not pb:  # protoc-gen-py escapes the names instead
                    _python_path(symbol, f"{fd.name}: {svc.name}.{m.name}")
                needed[symbol.full_name] = symbol
    # 2. The message modules to import and the names they are bound to (an
    # ambiguous one by its path from the root, which a relative module lacks).
    logical: dict[str, str] = {}
    module_of_file: dict[str, str] = {}
    for s in needed.values():
        if pb:
            module, logical_name = _pb_module_name(s.proto_file, fd.name, generated, options)
        else:
            module = logical_name = _pb2_module_name(s.proto_file, options)
        module_of_file[s.proto_file] = module
        logical[module] = logical_name
    modules = sorted(set(module_of_file.values()))
    basenames: dict[str, int] = {}
    for module in modules:
        base = module.rpartition(".")[2]
        basenames[base] = basenames.get(base, 0) + 1
    table = naming.NameTable(
        FIXED_MODULE_NAMES | naming.BUILTINS | naming.KEYWORDS | naming.SOFT_KEYWORDS
    )
    pb2_by_module: dict[str, Pb2Module] = {}
    for module in modules:
        base = module.rpartition(".")[2]
        wanted = naming.pb2_alias(logical[module], qualified=basenames[base] > 1 or base in table)
        pb2_by_module[module] = Pb2Module(module, table.claim(wanted))
    # 3. Client classes first (the main API keeps the plainest names), then constants.
    class_pairs = [table.claim_pair(naming.class_base(svc.name)) for svc in fd.service]
    constants: list[tuple[str, list[str]]] = []
    for svc in fd.service:
        name_constant = table.claim(naming.service_constant(svc.name))
        constants.append(
            (
                name_constant,
                [table.claim(naming.method_constant(svc.name, m.name)) for m in svc.method],
            )
        )
    module_names = frozenset(
        FIXED_MODULE_NAMES
        | {p.alias for p in pb2_by_module.values()}
        | {c for pair in class_pairs for c in pair}
        | {c for name, ms in constants for c in (name, *ms)}
    )
    # 4. Methods: snake_case, escaped, unique within their class.
    services: list[Service] = []
    for si, svc in enumerate(fd.service):
        full_name = f"{fd.package}.{svc.name}" if fd.package else svc.name
        methods_table = naming.NameTable()
        methods: list[Method] = []
        for mi, m in enumerate(svc.method):
            name = methods_table.claim(naming.escape(naming.snake_case(m.name), module_names))
            if naming.changed_by_unasync(name):  # pragma: no cover - escape() rules it out
                raise ModelError(f"{fd.name}: internal naming error for {m.name!r}")
            refs = []
            for type_name in (m.input_type, m.output_type):
                symbol = symbols[type_name.lstrip(".")]
                path = tuple(map(naming_pb.class_name, symbol.path)) if pb else symbol.path
                refs.append(TypeRef(symbol, pb2_by_module[module_of_file[symbol.proto_file]], path))
            methods.append(
                Method(
                    proto_name=m.name,
                    path=f"/{full_name}/{m.name}",
                    python_name=name,
                    constant=constants[si][1][mi],
                    input=refs[0],
                    output=refs[1],
                    kind=_kind(m),
                    idempotency=_IDEMPOTENCY.get(m.options.idempotency_level, "UNKNOWN"),
                    deprecated=m.options.deprecated,
                    doc=tuple(
                        comment_lines(comments.get((_SERVICE_FIELD, si, _METHOD_FIELD, mi), ""))
                    ),
                )
            )
        async_class, sync_class = class_pairs[si]
        services.append(
            Service(
                proto_name=svc.name,
                full_name=full_name,
                name_constant=constants[si][0],
                async_class=async_class,
                sync_class=sync_class,
                methods=tuple(methods),
                deprecated=svc.options.deprecated,
                doc=tuple(comment_lines(comments.get((_SERVICE_FIELD, si), ""))),
            )
        )
    pb2_modules = tuple(pb2_by_module[m] for m in modules)
    return FileModel(
        proto_file=fd.name,
        package=fd.package,
        output_path=(naming_pb.connect_path if pb else naming.connect_path)(fd.name),
        syntax=_syntax(fd),
        pb2_modules=pb2_modules,
        services=tuple(services),
        imports=_imports(fd, pb2_modules, services, options),
        options=options,
    )


def build_model(request: plugin_pb2.CodeGeneratorRequest, options: Options) -> Model:
    """The model of every file to generate that declares at least one service."""
    symbols = symbol_table(request.proto_file)
    by_name = {fd.name: fd for fd in request.proto_file}
    files: list[FileModel] = []
    generated = frozenset(request.file_to_generate)
    for name in request.file_to_generate:
        fd = by_name.get(name)
        if fd is None:
            raise ModelError(f"{name}: asked to generate a file the request does not contain")
        if fd.service:
            files.append(_build_file(fd, symbols, options, generated))
    return Model(tuple(files), symbols)
