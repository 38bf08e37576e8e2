"""The project's unasync transform: async source in, sync source out.

Used by the build hook (runtime), the protoc plugin (generated clients) and the
tests (async tests -> sync twins). It works on tokens, so strings and comments
are rewritten with the same rules as code and ``await(x)`` becomes ``(x)``.

The transform fails loudly: on a rename rule that was never used (for
:func:`transform_tree`), on output that does not compile, and on any ``async``
or ``await`` left in the output. This module imports only the standard library,
so the build hook can load it from a source tree.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "CLIENT_RULES",
    "RULES",
    "RUNTIME_RULES",
    "UnasyncError",
    "transform_source",
    "transform_tree",
]

#: Exact identifier renames used by the runtime (every one must be used there).
RUNTIME_RULES: Mapping[str, str] = {
    "aclose": "close",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "StopAsyncIteration": "StopIteration",
    "shim_async": "shim_sync",
    "async_net": "sync_net",
    "AnyIOBackend": "SyncBackend",
}
#: Renames for code that imports the runtime: generated clients and tests.
CLIENT_RULES: Mapping[str, str] = {
    "runtime_async": "runtime_sync",
}
#: Every rule. ``AsyncFoo`` -> ``Foo`` is a pattern, not a table entry.
RULES: Mapping[str, str] = {**RUNTIME_RULES, **CLIENT_RULES}

_ASYNC_NAME = re.compile(r"^(_*)Async([A-Z]\w*)$")
_TEXT_WORD = re.compile(
    r"\b(_*)Async([A-Z]\w*)|\b("
    + "|".join(re.escape(k) for k in sorted(RULES, key=len, reverse=True))
    + r")\b"
)
_TEXT_KEYWORDS = re.compile(r"\basync (?=with|for|def)|\bawait ")


class UnasyncError(Exception):
    """The transform met input or produced output it cannot vouch for."""


def _rename(name: str, used: set[str]) -> str:
    new = RULES.get(name)
    if new is not None:
        used.add(name)
        return new
    m = _ASYNC_NAME.match(name)
    if m:
        return m.group(1) + m.group(2)
    return name


def _rewrite_text(text: str, used: set[str]) -> str:
    def word(m: re.Match[str]) -> str:
        if m.group(3):
            used.add(m.group(3))
            return RULES[m.group(3)]
        return m.group(1) + m.group(2)

    return _TEXT_WORD.sub(word, _TEXT_KEYWORDS.sub("", text))


def transform_source(
    source: str, *, filename: str = "<unasync>", used: set[str] | None = None
) -> str:
    """The sync twin of ``source``.

    ``used`` collects the names of the exact rules applied, for
    :func:`transform_tree`'s unused-rule check.
    """
    if used is None:
        used = set()
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # (row, start, end, text)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise UnasyncError(f"{filename}: cannot tokenize: {exc}") from exc
    for i, tok in enumerate(tokens):
        (srow, scol), (erow, ecol) = tok.start, tok.end
        if tok.type == tokenize.NAME:
            if tok.string in ("async", "await"):
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if tok.string == "async" and (
                    nxt is None or nxt.string not in ("def", "with", "for")
                ):
                    raise UnasyncError(f"{filename}:{srow}: stray 'async'")
                end = ecol
                if nxt is not None and nxt.start[0] == srow:
                    end = nxt.start[1]
                edits.append((srow, scol, end, ""))
                continue
            new = _rename(tok.string, used)
            if new != tok.string:
                edits.append((srow, scol, ecol, new))
        elif tok.type in (tokenize.STRING, tokenize.COMMENT) or tok.type == getattr(
            tokenize, "FSTRING_MIDDLE", -1
        ):
            new_text = _rewrite_text(tok.string, used)
            if new_text != tok.string:
                if srow == erow:
                    edits.append((srow, scol, ecol, new_text))
                else:
                    # A multi-line string: replace it whole, anchored on its first line.
                    edits.append((srow, scol, -erow * 100000 - ecol, new_text))
    # Apply edits from the end so earlier positions stay valid.
    out = list(lines)
    for row, start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        if end < 0:
            erow, ecol = divmod(-end, 100000)
            head = out[row - 1][:start]
            tail = out[erow - 1][ecol:]
            out[row - 1 : erow] = [head + text + tail]
            continue
        line = out[row - 1]
        out[row - 1] = line[:start] + text + line[end:]
    result = "".join(out)
    _check(result, filename)
    return result


def _check(result: str, filename: str) -> None:
    try:
        compile(result, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise UnasyncError(f"{filename}: transformed output does not compile: {exc}") from exc
    for tok in tokenize.generate_tokens(io.StringIO(result).readline):
        if tok.type == tokenize.NAME and tok.string in ("async", "await"):
            raise UnasyncError(f"{filename}:{tok.start[0]}: leftover {tok.string!r}")


def transform_tree(
    src: Path,
    dst: Path,
    *,
    required_rules: Iterable[str] = RUNTIME_RULES,
    header: str = "",
) -> list[Path]:
    """Transform every ``*.py`` under ``src`` into ``dst`` (which is replaced).

    Every rule in ``required_rules`` (by default :data:`RUNTIME_RULES`) must be
    used by at least one file, so a dead rule or a renamed API is noticed.
    """
    used: set[str] = set()
    written: list[Path] = []
    files = sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        raise UnasyncError(f"{src}: no Python files to transform")
    outputs: dict[Path, str] = {}
    for path in files:
        rel = path.relative_to(src)
        outputs[dst / rel] = header + transform_source(
            path.read_text(encoding="utf-8"), filename=str(path), used=used
        )
    required = set(required_rules)
    unused = required - used
    if unused:
        raise UnasyncError(f"unasync rules never used under {src}: {sorted(unused)}")
    _replace_dir(dst, outputs)
    written.extend(outputs)
    return written


def _replace_dir(dst: Path, outputs: Mapping[Path, str]) -> None:
    if dst.exists():
        for old in sorted(dst.rglob("*.py"), reverse=True):
            if old not in outputs:
                old.unlink()
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


_GENERATED_HEADER = (
    "# GENERATED from runtime_async/ by connect_python.codegen.unasync -- do not edit.\n"
)


def build_generated(root: Path) -> list[Path]:
    """Write the build-time packages of a source tree rooted at ``root``.

    ``runtime_async/`` is copied to ``src/connect_python/runtime_async``, its
    unasync twin goes to ``src/connect_python/runtime_sync`` and
    ``mako_templates/`` to ``src/connect_python/codegen/templates``. All three
    are gitignored build artifacts.
    """
    pkg = root / "src" / "connect_python"
    source = root / "runtime_async"
    copies: dict[Path, str] = {}
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        copies[pkg / "runtime_async" / path.relative_to(source)] = _GENERATED_HEADER + text
    _replace_dir(pkg / "runtime_async", copies)
    written = list(copies)
    written += transform_tree(source, pkg / "runtime_sync", header=_GENERATED_HEADER)
    templates = root / "mako_templates"
    out = pkg / "codegen" / "templates"
    if templates.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(templates.glob("*.mako")):
            target = out / path.name
            text = path.read_text(encoding="utf-8")
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


if __name__ == "__main__":  # pragma: no cover - used by hand: python -m ...unasync ROOT
    import sys

    for written_path in build_generated(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(written_path)
