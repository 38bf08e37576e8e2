"""``--connect-python_opt`` parsing, table-driven."""

from __future__ import annotations

import pytest

from connect_python.codegen.options import OptionError, Options, parse_options


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        ("", Options()),
        (" , ,", Options()),
        ("clients=async", Options(clients="async")),
        ("clients=sync", Options(clients="sync")),
        ("clients=both", Options(clients="both")),
        ("import_prefix=myapp.gen", Options(import_prefix="myapp.gen")),
        ("import_prefix=", Options()),
        ("line_length=100", Options(line_length=100)),
        ("deprecation=decorator", Options(deprecation="decorator")),
        ("deprecation=warn", Options(deprecation="warn")),
    ],
)
def test_valid(parameter: str, expected: Options) -> None:
    assert parse_options(parameter) == expected


def test_module_map_and_combination() -> None:
    options = parse_options(
        "Ma/b.proto=x.b_pb2, clients=sync,Mc-d.proto=y.z.c_d_pb2,import_prefix=gen"
    )
    assert dict(options.module_map) == {"a/b.proto": "x.b_pb2", "c-d.proto": "y.z.c_d_pb2"}
    assert options.clients == "sync" and options.import_prefix == "gen"
    assert not options.emit_async and options.emit_sync


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ("frobnicate=1", "unknown option 'frobnicate'"),
        ("clients", "option 'clients' needs a value"),
        ("clients=neither", "clients='neither': expected 'async', 'sync' or 'both'"),
        ("clients=async,clients=sync", "option 'clients' is given twice"),
        ("import_prefix=my-app", "import_prefix: 'my-app' is not a dotted Python module name"),
        ("import_prefix=a..b", "is not a dotted Python module name"),
        ("line_length=abc", "line_length='abc': expected a number from 60 to 1000"),
        ("line_length=20", "expected a number from 60 to 1000"),
        ("deprecation=loud", "deprecation='loud': expected 'warn' or 'decorator'"),
        ("Ma.proto=1bad", "Ma.proto: '1bad' is not a dotted Python module name"),
        ("Ma.proto=x_pb2,Ma.proto=y_pb2", "option Ma.proto is given twice"),
        ("M.proto=x", "unknown option 'M.proto'"),
    ],
)
def test_invalid(parameter: str, message: str) -> None:
    with pytest.raises(OptionError, match=None) as info:
        parse_options(parameter)
    assert message in str(info.value)
