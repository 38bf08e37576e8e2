"""Bad input ends in a clear message and a failing protoc/buf, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ._helpers import BAD_PROTOS, BIN, buf_generate, connect_tree, protoc

GREET = ("greet/v1/greet.proto",)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("frobnicate=1",), "unknown option 'frobnicate'"),
        (("clients",), "option 'clients' needs a value"),
        (("clients=neither",), "clients='neither': expected 'async', 'sync' or 'both'"),
        (("line_length=12",), "line_length='12': expected a number from 60 to 1000"),
        (
            ("import_prefix=not-a-module",),
            "import_prefix: 'not-a-module' is not a dotted Python module name",
        ),
    ],
)
def test_bad_options_fail_protoc(
    options: tuple[str, ...], message: str, plugin: Path, tmp_path: Path
) -> None:
    result = protoc(GREET, tmp_path, plugin=plugin, options=options, python=False)
    assert result.returncode != 0
    assert f"protoc-gen-connect-python: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert connect_tree(tmp_path) == {}


def test_bad_option_fails_buf(tmp_path: Path) -> None:
    result = buf_generate(GREET, tmp_path / "out", tmp_path / "work", options=("frobnicate=1",))
    assert result.returncode != 0
    assert "unknown option 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("proto", "message"),
    [
        (
            "import/thing.proto",
            "import/thing.proto: its _pb2 module would be imported as 'import.thing_pb2', but "
            "'import' is a Python keyword; map it with "
            "--connect-python_opt=Mimport/thing.proto=<module>",
        ),
        (
            "keyword_message.proto",
            "keyword_message.proto: KeywordService.Skip: message type 'kw.pass' cannot be "
            "named in Python code ('pass' is a Python keyword)",
        ),
    ],
)
def test_unsupported_input_fails_protoc(
    proto: str, message: str, plugin: Path, tmp_path: Path
) -> None:
    result = protoc([proto], tmp_path, plugin=plugin, include=BAD_PROTOS, python=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_module_map_fixes_a_keyword_path(plugin: Path, tmp_path: Path) -> None:
    result = protoc(
        ["import/thing.proto"],
        tmp_path,
        plugin=plugin,
        include=BAD_PROTOS,
        python=False,
        options=("Mimport/thing.proto=things.thing_pb2",),
    )
    assert result.returncode == 0, result.stderr
    assert (
        "from things import (\n    thing_pb2,\n)"
        in connect_tree(tmp_path)["import/thing_connect.py"]
    )


def test_edition_newer_than_declared_is_refused(plugin: Path, tmp_path: Path) -> None:
    proto = tmp_path / "protos" / "future.proto"
    proto.parent.mkdir()
    proto.write_text('edition = "2026";\npackage f;\nmessage M {}\n')
    result = protoc(
        ["future.proto"], tmp_path / "out", plugin=plugin, include=proto.parent, python=False
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def _run_plugin(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "connect_python.codegen"],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_garbage_on_stdin() -> None:
    result = _run_plugin(b"\xff\xff\xff not a request")
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"stdin is not a CodeGeneratorRequest" in result.stderr
    assert b"Traceback" not in result.stderr


def test_console_script_is_installed_and_works(tmp_path: Path) -> None:
    script = BIN / "protoc-gen-connect-python"
    assert script.is_file(), f"{script} missing: install the package (pip install -e .)"
    result = protoc(GREET, tmp_path, plugin=script, python=False)
    assert result.returncode == 0, result.stderr
    assert "greet/v1/greet_connect.py" in connect_tree(tmp_path)


def test_version_and_usage() -> None:
    from connect_python import __version__

    version = subprocess.run(
        [sys.executable, "-m", "connect_python.codegen", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (version.returncode, version.stdout) == (0, f"protoc-gen-connect-python {__version__}\n")
    usage = subprocess.run(
        [sys.executable, "-m", "connect_python.codegen", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert usage.returncode == 2
    assert "is a protoc plugin" in usage.stderr
