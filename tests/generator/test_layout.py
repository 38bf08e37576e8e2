"""Docstrings, the code layout and the order of names, checked against ruff itself."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connect_python.codegen.text import comment_lines, docstring, string_literal

from ._helpers import PROTOS, fixture_files, protoc, ruff_check, ruff_format_check


def _ruff(
    args: list[str], source: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        input=source,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def _formatted(source: str, line_length: int = 88) -> str:
    result = _ruff(
        [
            "format",
            "--isolated",
            "--line-length",
            str(line_length),
            "--stdin-filename",
            "x.py",
            "-",
        ],
        source,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("comment", "lines"),
    [
        (" Say hello.\n", ["Say hello."]),
        ("\n\n  Indented\n    more\n\n", ["Indented", "  more"]),
        (" a\n\n\n\n b\n", ["a", "", "b"]),
        (" trailing   \n", ["trailing"]),
        ("\tTabbed\n", ["Tabbed"]),
        ("", []),
    ],
)
def test_comment_lines(comment: str, lines: list[str]) -> None:
    assert comment_lines(comment) == lines


@pytest.mark.parametrize(
    "lines",
    [
        ["Short."],
        ["A line that is long enough to need wrapping once it is indented by eight spaces here."],
        ["First.", "", 'Second paragraph with a backslash \\ and quotes """ inside.'],
        ['Ends with a quote "'],
        ['"Starts with a quote'],
        ["x" * 120],
        [
            "Intro:",
            "",
            "    indented code line that is rather long and goes past the limit, yes it does",
        ],
        ["Unicode: na\u00efve caf\u00e9 \u2013 ok"],
    ],
)
@pytest.mark.parametrize("indent", [0, 4, 8])
def test_docstring_is_ruff_formatted_and_round_trips(lines: list[str], indent: int) -> None:
    literal = docstring(lines, indent, 88)
    pad = " " * indent
    body = f"{pad}{literal}\n"
    source = (
        body
        if indent == 0
        else f"class A:\n    def f(self) -> None:\n{body}"
        if indent == 8
        else f"class A:\n{body}"
    )
    assert _formatted(source) == source
    # The text survives as a string (wrapping only moves words between lines).
    value = eval(literal)
    assert value.split() == " ".join(lines).split()


def test_string_literal() -> None:
    for text in ['a "quoted" \\ name', "plain", "new\nline"]:
        assert eval(string_literal(text)) == text


# -- code layout: one layout that ruff keeps at any line length ---------------------


def _long_lines_are_one_token(report: str, root: Path, line_length: int) -> list[str]:
    """The lines of ``E501`` reports that are more than one over-long name or string
    with the fixed syntax around it (``class``, ``(``, ``: MethodInfo[``, quotes...):
    lines a formatter could have shortened."""
    bad = []
    for row in report.splitlines():
        if " E501 " not in row:
            continue
        path, lineno = row.split(":")[:2]
        line = (root / path).read_text().splitlines()[int(lineno) - 1]
        longest = max(re.findall(r'"[^"]*"|[\w.]+', line), key=len)
        if len(line) - len(longest) - (len(line) - len(line.lstrip())) > 16:
            bad.append(line)
    return bad


@pytest.mark.parametrize("line_length", [60, 88, 100, 1000])
def test_every_fixture_is_kept_by_ruff_at_every_line_length(
    line_length: int, plugin: Path, tmp_path: Path
) -> None:
    """``ruff format`` keeps every generated module as emitted at the line length it
    was generated for, and ``ruff check`` passes, except that a proto name too
    long for the line (the layout fixture's, at 60) is reported as such."""
    out = tmp_path / "out"
    files = fixture_files()
    pb2 = protoc(files, out, plugin=plugin, connect=False)
    assert pb2.returncode == 0, pb2.stderr
    gen = protoc(files, out, plugin=plugin, options=[f"line_length={line_length}"], python=False)
    assert gen.returncode == 0, gen.stderr
    modules = sorted(out.rglob("*_connect.py"))
    formatted = ruff_format_check(out, modules, line_length)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    checked = ruff_check(out, modules, line_length)
    reports = checked.stdout.splitlines()
    others = [r for r in reports if ":" in r and " E501 " not in r and "Found" not in r]
    assert not others, checked.stdout
    assert not _long_lines_are_one_token(checked.stdout, out, line_length)
    if line_length >= 88:
        assert checked.returncode == 0, checked.stdout


def test_order_fixture_needs_the_ruff_order(plugin: Path, tmp_path: Path) -> None:
    """The ``order`` fixture's import block and ``__all__`` are what ruff wants
    (rules I and RUF022), and no simpler rule gives them: plain string order,
    case-folded order or no folding at all would each differ somewhere."""
    files = tuple(
        p.relative_to(PROTOS).as_posix() for p in sorted((PROTOS / "order").rglob("*.proto"))
    )
    result = protoc(files, tmp_path, plugin=plugin)
    assert result.returncode == 0, result.stderr
    module = tmp_path / "order" / "order_connect.py"
    checked = _ruff(
        [
            "check",
            "--isolated",
            "--target-version",
            "py310",
            "--select",
            "I,RUF022",
            "--output-format",
            "concise",
            str(module),
        ],
        "",
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout
    tree = ast.parse(module.read_text())
    froms = [n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom)]
    pb2_modules = [m for m in froms if m.startswith("order")]
    assert pb2_modules != sorted(pb2_modules)  # natural: order.v2 before order.v10
    assert pb2_modules != sorted(pb2_modules, key=str.lower)
    (exports,) = (
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__"
    )
    names = ast.literal_eval(exports)
    assert names != sorted(names)  # natural: SVC2_NAME before SVC10_NAME
    constants = [n for n in names if n.isupper()]
    assert constants != sorted(constants, key=str.lower)  # as written: GETAWAY before GET_USER
