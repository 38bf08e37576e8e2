"""Docstrings, import blocks and long-line layout, checked against ruff itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connect_python.codegen.model import Import
from connect_python.codegen.render import relayout, render_imports
from connect_python.codegen.text import comment_lines, docstring, string_literal


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


LONG = "layout_pb2.ARatherLongRequestMessageNameForLayoutTesting"
MID = "layout_pb2.ARatherLongResponseMessageForLayout"


@pytest.mark.parametrize(
    "line",
    [
        f"    ) -> runtime_async.AsyncServerStreamCall[{MID}]:",
        f"    ) -> runtime_async.AsyncServerStreamCall[{LONG}]:",
        f"    ) -> runtime_async.AsyncBidiStreamCall[{LONG}, {MID}]:",
        f"    ) -> runtime_async.AsyncBidiStreamCall[{MID}, layout_pb2.X1234567890123]:",
        f"        requests: _AsyncRequests[{LONG}],",
        f"        requests: _AsyncRequests[{LONG}] | None = None,",
        f"        requests: _AsyncRequests[{MID}] | None = None,",
        "    async def __aenter__(self) -> AsyncServiceWithAVeryLongNameSoTheLineMustWrapClient:",
        '    @deprecated("/layout.v1.LayoutService/RetiredMethodWithALongNameXYZ is deprecated")',
        "        _warn_deprecated(LAYOUT_SERVICE_RETIRED_METHOD_WITH_A_RATHER_LONG_NAME.path)",
        'SOME_SERVICE_WITH_A_VERY_LONG_NAME_NAME = "layout.v1.SomeServiceWithAVeryLongNameThere"',
    ],
)
@pytest.mark.parametrize("line_length", [80, 88, 100])
def test_relayout_matches_ruff(line: str, line_length: int) -> None:
    indent = len(line) - len(line.lstrip())
    if line.lstrip().startswith(")"):
        head = "class A:\n    def f(\n        self,\n"
        source = head + relayout(line, line_length) + "\n        pass\n"
    elif line.lstrip().startswith("requests"):
        head = "class A:\n    def f(\n        self,\n"
        source = head + relayout(line, line_length) + "\n    ) -> None:\n        pass\n"
    elif line.lstrip().startswith(("async def", "@")):
        tail = "        pass\n" if "def" in line else "    def f(self) -> None:\n        pass\n"
        source = "class A:\n" + relayout(line, line_length) + "\n" + tail
    elif indent == 8:
        source = "class A:\n    def f(self) -> None:\n" + relayout(line, line_length) + "\n"
    else:
        source = relayout(line, line_length) + "\n"
    assert _formatted(source, line_length) == source


def test_render_imports_is_isort_clean(tmp_path: Path) -> None:
    # First-party modules, as protoc would have written them (namespace packages).
    for module in (
        "solo_pb2",
        "greet/v1/greet_pb2",
        "greet/v1/types_pb2",
        "greet/v1/a_pb2",
        "greet/averyveryveryverylongpackagename/v1/subpackage/deeper/and_deeper/something_pb2",
        "clash/a/types_pb2",
        "clash/b/types_pb2",
    ):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{module}.py").write_text("")
    imports = [
        Import("stdlib", "warnings"),
        Import(
            "stdlib", "collections.abc", (("Sequence", None), ("Iterable", None), ("Mapping", None))
        ),
        Import("stdlib", "typing", (("TypeVar", None),)),
        Import(
            "thirdparty",
            "connect_python",
            (("runtime_sync", None), ("Codec", None), ("MethodInfo", None)),
        ),
        Import(
            "thirdparty",
            "connect_python",
            (("IdempotencyLevel", None), ("StreamType", None), ("runtime_async", None)),
        ),
        Import("thirdparty", "google.protobuf", (("timestamp_pb2", None), ("empty_pb2", None))),
        Import("thirdparty", "typing_extensions", (("deprecated", None),)),
        Import("firstparty", "solo_pb2"),
        Import("firstparty", "greet.v1", (("greet_pb2", None),)),
        Import("firstparty", "greet.v1", (("messages_pb2", None),)),
        Import("firstparty", "greet.v1", (("types_pb2", "greet_v1_types_pb2"),)),
        Import("firstparty", "greet.v1", (("a_pb2", "greet_v1_a_pb2"),)),
        Import("firstparty", "clash.b", (("types_pb2", "clash_b_types_pb2"),)),
        Import("firstparty", "clash.a", (("types_pb2", "clash_a_types_pb2"),)),
        Import(
            "firstparty",
            "greet.averyveryveryverylongpackagename.v1.subpackage.deeper.and_deeper",
            (("something_pb2", None),),
        ),
    ]
    block = render_imports(imports, 88)
    names = [
        alias or name if imp.names else imp.alias or imp.module
        for imp in imports
        for name, alias in (imp.names or (("", None),))
    ]
    exports = ", ".join(repr(n) for n in names)
    source = f"from __future__ import annotations\n\n{block}\n\n__all__ = [{exports}]\n"
    source = _formatted(source)
    result = _ruff(
        [
            "check",
            "--isolated",
            "--select",
            "I,F401",
            "--stdin-filename",
            str(tmp_path / "m.py"),
            "-",
        ],
        source,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + "\n" + source
    assert _formatted(source) == source
    assert (
        "from greet.averyveryveryverylongpackagename.v1.subpackage.deeper.and_deeper import (\n"
        "    something_pb2,\n)" in block
    )
