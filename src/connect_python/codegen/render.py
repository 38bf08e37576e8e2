"""Model -> Python source: Mako templates, then the unasync transform.

For each module the async client classes are rendered from
``connect_clients.py.mako``; their sync twins are that text passed through
:func:`connect_python.codegen.unasync.transform_source`; the module template
puts header, imports, constants and both sets of classes together.

Two details keep the transform honest:

* Message types and proto-derived text (comments, names in strings) are
  rendered as opaque placeholders and substituted only after the transform,
  so a message called ``AsyncThing`` or a comment saying "await" reaches the
  sync class unchanged.
* ``Async...`` names are longer than their sync twins, so a line that had to
  be wrapped in the async class may fit in the sync one. After substitution a
  small layout pass wraps the few line shapes the templates can make too long
  exactly as ``ruff format`` does, for the configured line length.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from mako.lookup import TemplateLookup  # type: ignore[import-untyped]

from connect_python.codegen.model import FileModel, Import, TypeRef
from connect_python.codegen.text import docstring, string_literal
from connect_python.codegen.unasync import UnasyncError, transform_source

__all__ = [
    "TEMPLATE_NAMES",
    "Placeholders",
    "relayout",
    "render_file",
    "render_imports",
    "template_dir",
]

TEMPLATE_NAMES = ("connect_module.py.mako", "connect_clients.py.mako")
_PLACEHOLDER = re.compile(r'"__cpystr_(\d+)__"|__cpyref_(\d+)__')


def template_dir() -> Path:
    """Where the templates are read from.

    In a source tree (or an editable install) the repository's
    ``mako_templates/`` is the truth and is used directly, so an edited
    template takes effect without a rebuild; an installed wheel carries the
    copy the build hook put in ``connect_python/codegen/templates/``.
    """
    here = Path(__file__).resolve()
    source = here.parents[3] / "mako_templates"
    packaged = Path(str(resources.files("connect_python.codegen") / "templates"))
    for candidate in (source, packaged):
        if all((candidate / name).is_file() for name in TEMPLATE_NAMES):
            return candidate
    raise FileNotFoundError(
        f"connect-python templates not found in {source} or {packaged}; "
        "reinstall the package (or run `python src/connect_python/codegen/unasync.py .`)"
    )


@functools.lru_cache(maxsize=4)
def _templates(directory: Path) -> TemplateLookup:
    return TemplateLookup(
        directories=[str(directory)], strict_undefined=True, input_encoding="utf-8"
    )


class Placeholders:
    """Stand-ins for text the unasync transform must not touch.

    ``ref`` gives a name token for a message type, ``doc`` and ``string`` a
    string literal token; :meth:`substitute` puts the real text back.
    """

    def __init__(self, line_length: int) -> None:
        self.line_length = line_length
        self._values: list[str] = []

    def _add(self, value: str) -> int:
        self._values.append(value)
        return len(self._values) - 1

    def ref(self, ref: TypeRef) -> str:
        return f"__cpyref_{self._add(ref.expr)}__"

    def doc(self, lines: Sequence[str], indent: int) -> str:
        return f'"__cpystr_{self._add(docstring(lines, indent, self.line_length))}__"'

    def string(self, text: str) -> str:
        return f'"__cpystr_{self._add(string_literal(text))}__"'

    def substitute(self, source: str) -> str:
        def put(m: re.Match[str]) -> str:
            return self._values[int(m.group(1) or m.group(2))]

        return _PLACEHOLDER.sub(put, source)


# -- imports ---------------------------------------------------------------------

_SECTIONS = ("stdlib", "thirdparty", "firstparty")


def _name_key(name: tuple[str, str | None]) -> tuple[int, str, str]:
    # isort's order-by-type: CONSTANTS, Classes, then everything else.
    n = name[0]
    kind = 0 if n.isupper() and len(n) > 1 else 1 if n[:1].isupper() else 2
    return kind, n.lower(), name[1] or ""


def render_imports(imports: Sequence[Import], line_length: int) -> str:
    """The import block as ``ruff check --select I`` and ``ruff format`` want it.

    Sections (stdlib, third party, first party) are separated by a blank line;
    in each, plain ``import`` statements come first, then ``from`` imports,
    ordered by module; names from one module are merged unless aliased.
    """
    blocks: list[str] = []
    for section in _SECTIONS:
        plain = sorted(
            (i for i in imports if i.section == section and not i.names),
            key=lambda i: (i.module.lower(), i.alias or ""),
        )
        merged: dict[str, set[tuple[str, str | None]]] = {}
        for imp in imports:
            if imp.section == section and imp.names:
                merged.setdefault(imp.module, set()).update(imp.names)
        lines = [f"import {i.module}" + (f" as {i.alias}" if i.alias else "") for i in plain]
        for module in sorted(merged, key=lambda m: (m.lower(), m)):
            names = sorted(merged[module], key=_name_key)
            bare = [n for n in names if n[1] is None]
            aliased = [n for n in names if n[1] is not None]
            groups = ([bare] if bare else []) + [[n] for n in aliased]
            # One statement per alias; statements of one module ordered by their first name.
            for group in sorted(groups, key=lambda g: _name_key(g[0])):
                lines.append(_from_import(module, group, line_length))
        if lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _from_import(module: str, names: Sequence[tuple[str, str | None]], line_length: int) -> str:
    parts = [n if a is None else f"{n} as {a}" for n, a in names]
    line = f"from {module} import {', '.join(parts)}"
    if len(line) <= line_length:
        return line
    body = "".join(f"    {p},\n" for p in parts)
    return f"from {module} import (\n{body})"


# -- layout ------------------------------------------------------------------------

_RETURN = re.compile(r"^(?P<i> *)\) -> (?P<head>[\w.]+)\[(?P<args>.+)\]:$")
_PARAM = re.compile(
    r"^(?P<i> *)(?P<name>\w+): (?P<head>[\w.]+)\[(?P<args>[^\[\]]+)\](?P<none> \| None = None)?,$"
)
_CALL_ONE = re.compile(r'^(?P<i> *)(?P<head>@?[\w.]+)\((?P<arg>"(?:[^"\\]|\\.)*"|[\w.]+)\)$')
_SELF_ONLY = re.compile(r"^(?P<i> *)(?P<def>(?:async )?def \w+)\(self\) -> (?P<ret>[\w.]+):$")
_ASSIGN_STR = re.compile(r'^(?P<i> *)(?P<head>\w+) = (?P<arg>"(?:[^"\\]|\\.)*")$')


def _split_args(args: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in args:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def _bracket_body(indent: str, args: str, line_length: int) -> str:
    inner = indent + "    "
    if len(inner) + len(args) <= line_length or len(_split_args(args)) == 1:
        return f"{inner}{args}\n"
    return "".join(f"{inner}{a},\n" for a in _split_args(args))


def _relayout_line(line: str, line_length: int) -> str:
    if len(line) <= line_length:
        return line
    if m := _RETURN.match(line):
        i = m["i"]
        return f"{i}) -> {m['head']}[\n{_bracket_body(i, m['args'], line_length)}{i}]:"
    if m := _PARAM.match(line):
        i, head = m["i"], f"{m['i']}{m['name']}: {m['head']}"
        if m["none"]:
            first = f"{head}[{m['args']}]"
            if len(first) > line_length:
                first = f"{head}[\n{_bracket_body(i, m['args'], line_length)}{i}]"
            return f"{first}\n{i}| None = None,"
        return f"{head}[\n{_bracket_body(i, m['args'], line_length)}{i}],"
    if m := _SELF_ONLY.match(line):
        i = m["i"]
        return f"{i}{m['def']}(\n{i}    self,\n{i}) -> {m['ret']}:"
    if m := _CALL_ONE.match(line):
        i = m["i"]
        return f"{i}{m['head']}(\n{i}    {m['arg']}\n{i})"
    if m := _ASSIGN_STR.match(line):
        i = m["i"]
        if len(i) + 4 + len(m["arg"]) <= line_length:
            return f"{i}{m['head']} = (\n{i}    {m['arg']}\n{i})"
    return line


def relayout(source: str, line_length: int) -> str:
    """Wrap over-long lines of the shapes the templates produce, as ruff would."""
    return "\n".join(_relayout_line(line, line_length) for line in source.split("\n"))


# -- modules -----------------------------------------------------------------------


def _module_doc(file: FileModel) -> list[str]:
    return [
        f"Connect clients for ``{file.proto_file}``.",
        "",
        "Generated by protoc-gen-connect-python from the services of that file.",
    ]


def render_file(file: FileModel, *, templates_in: Path | None = None) -> str:
    """The complete ``_connect.py`` source for one file (templates from
    ``templates_in``, by default :func:`template_dir`)."""
    options = file.options
    ph = Placeholders(options.line_length)
    templates = _templates(templates_in or template_dir())
    async_clients: str = templates.get_template("connect_clients.py.mako").render(
        file=file, ph=ph, decorate=options.deprecation == "decorator"
    )
    clients = ""
    if options.emit_async:
        clients += async_clients
    if options.emit_sync:
        used: set[str] = set()
        clients += transform_source(
            async_clients, filename=f"{file.output_path} (sync clients)", used=used
        )
        if "runtime_async" not in used:  # pragma: no cover - a template bug
            raise UnasyncError(f"{file.output_path}: the sync clients still use runtime_async")
    source: str = templates.get_template("connect_module.py.mako").render(
        file=file,
        ph=ph,
        module_doc=_module_doc(file),
        imports=render_imports(file.imports, options.line_length),
        clients=clients,
    )
    source = relayout(ph.substitute(source), options.line_length)
    compile(source, file.output_path, "exec", dont_inherit=True)
    return source
