"""Proto comments to docstrings, laid out the way ``ruff format`` leaves them.

A docstring is written for a given indentation and line length: lines longer
than the limit are wrapped at spaces (a single overlong word stays whole),
trailing space is dropped, the common indentation is removed, and backslashes
and quotes are escaped so the text survives as a string literal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

__all__ = ["comment_lines", "docstring", "string_literal", "wrap_lines"]


def comment_lines(comment: str) -> list[str]:
    """The lines of a proto comment, dedented, without blank lines at either end."""
    lines = [line.rstrip() for line in comment.expandtabs(4).splitlines()]
    lines = textwrap.dedent("\n".join(lines)).split("\n")
    while lines and not lines[0].strip():
        del lines[0]
    while lines and not lines[-1].strip():
        del lines[-1]
    # Collapse runs of blank lines to one.
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return out


def wrap_lines(lines: Sequence[str], width: int, first_width: int | None = None) -> list[str]:
    """Wrap each line longer than ``width`` at spaces, keeping its indentation."""
    out: list[str] = []
    for line in lines:
        limit = first_width if (first_width is not None and not out) else width
        if len(line) <= limit:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        wrapper = textwrap.TextWrapper(
            width=max(limit, len(indent) + 20),
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        pieces = wrapper.wrap(line.strip())
        if first_width is not None and not out and len(pieces) > 1:
            # Only the first piece had the narrower limit; rewrap the rest wider.
            rest = " ".join(p.strip() for p in pieces[1:])
            wrapper.width = max(width, len(indent) + 20)
            pieces = pieces[:1] + wrapper.wrap(rest)
        out.extend(pieces)
    return out


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    if text.startswith('"'):
        text = '\\"' + text[1:]
    return text


def docstring(lines: Sequence[str], indent: int, line_length: int) -> str:
    """A docstring literal for code indented by ``indent`` spaces (the first
    line is not indented: it goes where the placeholder was)."""
    pad = " " * indent
    text = [_escape(line) for line in lines] or [""]
    # Indentation as ruff (and inspect.cleandoc) see it: the first line starts
    # at the quotes, the common indentation of the others is removed.
    text[0] = text[0].lstrip()
    rest = [line for line in text[1:] if line.strip()]
    if rest:
        common = min(len(line) - len(line.lstrip()) for line in rest)
        text[1:] = [line[common:] if line.strip() else "" for line in text[1:]]
    if len(text) == 1 and indent + 6 + len(text[0]) <= line_length:
        return f'"""{text[0]}"""'
    wrapped = wrap_lines(text, line_length - indent, line_length - indent - 3)
    if len(wrapped) == 1:
        # ruff keeps the closing quotes of a one-line docstring on its line:
        # split the line so they fit, or (one long word) leave it on one line.
        wrapped = wrap_lines(text, line_length - indent, line_length - indent - 6)
        if len(wrapped) == 1:
            return f'"""{wrapped[0]}"""'
    body = "\n".join((pad + line) if line else "" for line in wrapped[1:])
    return f'"""{wrapped[0]}\n{body}\n{pad}"""' if body else f'"""{wrapped[0]}\n{pad}"""'


def string_literal(text: str) -> str:
    """A double-quoted Python string literal for ``text``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
