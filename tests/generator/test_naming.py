"""Table-driven tests of every naming rule (connect_python.codegen.naming)."""

from __future__ import annotations

import builtins
import keyword

import pytest

from connect_python.codegen import naming
from connect_python.codegen.unasync import RULES, transform_source


@pytest.mark.parametrize(
    ("proto", "python"),
    [
        ("Say", "say"),
        ("ListDir", "list_dir"),
        ("GetHTTPResponse", "get_http_response"),
        ("HTTPGet", "http_get"),
        ("IOError", "io_error"),
        ("getURLs", "get_ur_ls"),
        ("fooBar", "foo_bar"),
        ("V2Get", "v2_get"),
        ("GetV2", "get_v2"),
        ("Get2Things", "get2_things"),
        ("already_snake", "already_snake"),
        ("Foo_Bar", "foo_bar"),
        ("FOO", "foo"),
        ("_Client", "_client"),
        ("__init__", "_init__"),
        ("___Triple", "_triple"),
        ("a__b", "a__b"),
        ("X", "x"),
    ],
)
def test_snake_case(proto: str, python: str) -> None:
    assert naming.snake_case(proto) == python


@pytest.mark.parametrize(
    ("proto", "python"),
    [
        ("TestService", "TEST_SERVICE"),
        ("Process", "PROCESS"),
        ("_Foo", "FOO"),
        ("HTTPGet", "HTTP_GET"),
    ],
)
def test_upper_snake_case(proto: str, python: str) -> None:
    assert naming.upper_snake_case(proto) == python


@pytest.mark.parametrize(
    ("name", "reserved", "escaped"),
    [
        ("say", (), "say"),
        # keywords
        ("class", (), "class_"),
        ("import", (), "import_"),
        ("async", (), "async_"),
        ("none", (), "none"),  # not a keyword in lower case
        # soft keywords
        ("match", (), "match_"),
        ("case", (), "case_"),
        ("type", (), "type_"),
        ("_", (), "__"),
        # builtins (they would shadow annotations such as `float` in the class body)
        ("list", (), "list_"),
        ("float", (), "float_"),
        ("print", (), "print_"),
        ("id", (), "id_"),
        # the client's own attributes, in both flavours
        ("aclose", (), "aclose_"),
        ("close", (), "close_"),
        ("_client", (), "_client_"),
        # names the unasync transform would rewrite
        ("runtime_async", (), "runtime_async_"),
        ("handle_async_request", (), "handle_async_request_"),
        ("runtime_sync", (), "runtime_sync_"),
        # module-level names of the generated module
        ("greet_pb2", ("greet_pb2",), "greet_pb2_"),
        ("deprecated", ("deprecated",), "deprecated_"),
        # escaping again when the escaped name is taken too
        ("list", ("list_",), "list__"),
    ],
)
def test_escape(name: str, reserved: tuple[str, ...], escaped: str) -> None:
    assert naming.escape(name, reserved) == escaped


def test_tables_cover_this_python() -> None:
    """The fixed tables include everything the running interpreter calls a keyword
    or a lower-case builtin (they are fixed so output does not vary by version)."""
    assert set(keyword.kwlist) <= naming.KEYWORDS
    assert set(keyword.softkwlist) <= naming.SOFT_KEYWORDS
    lower = {n for n in dir(builtins) if n.islower() and not n.startswith("_")}
    assert lower <= naming.BUILTINS


@pytest.mark.parametrize("name", sorted(naming.BUILTINS | naming.KEYWORDS | naming.SOFT_KEYWORDS))
def test_escaped_names_survive_unasync(name: str) -> None:
    escaped = naming.escape(naming.snake_case(name))
    assert escaped.isidentifier() and not keyword.iskeyword(escaped)
    assert not naming.changed_by_unasync(escaped)
    source = f"class C:\n    def {escaped}(self) -> None: ...\n"
    assert transform_source(source) == source


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_unasync_rule_is_escaped(rule: str) -> None:
    assert naming.changed_by_unasync(rule)
    assert naming.escape(rule) != rule


@pytest.mark.parametrize(
    ("service", "base"),
    [
        ("Greeter", "GreeterClient"),
        ("greeter", "GreeterClient"),
        ("_private", "PrivateClient"),
        ("AsyncNames", "AsyncNamesClient"),
        ("___", "ServiceClient"),
    ],
)
def test_class_base(service: str, base: str) -> None:
    assert naming.class_base(service) == base
    # Async + base is what the unasync transform maps back to base.
    async_name = "Async" + base
    assert transform_source(f"{async_name}\n") == f"{base}\n"


def test_name_table_claims_in_order() -> None:
    table = naming.NameTable({"taken"})
    assert [table.claim(n) for n in ("a", "a", "a", "taken", "a_2")] == [
        "a",
        "a_2",
        "a_3",
        "taken_2",
        "a_2_2",
    ]
    assert "a_3" in table


def test_name_table_claims_class_pairs() -> None:
    table = naming.NameTable()
    assert table.claim_pair("NamesClient") == ("AsyncNamesClient", "NamesClient")
    # A service called AsyncNames would want (AsyncAsyncNamesClient, AsyncNamesClient):
    # the sync name is taken by the async class of Names.
    assert table.claim_pair("AsyncNamesClient") == ("AsyncAsyncNames2Client", "AsyncNames2Client")
    assert table.claim_pair("NamesClient") == ("AsyncNames3Client", "Names3Client")


@pytest.mark.parametrize(
    ("proto", "module", "connect"),
    [
        ("foo.proto", "foo_pb2", "foo_connect.py"),
        ("a/b/foo.proto", "a.b.foo_pb2", "a/b/foo_connect.py"),
        ("my-service.proto", "my_service_pb2", "my_service_connect.py"),
        # protoc turns dots left in the file name into package levels
        (
            "dotted/my-service.v1.proto",
            "dotted.my_service.v1_pb2",
            "dotted/my_service/v1_connect.py",
        ),
        ("a-b/c-d.proto", "a_b.c_d_pb2", "a_b/c_d_connect.py"),
        (
            "google/protobuf/empty.proto",
            "google.protobuf.empty_pb2",
            "google/protobuf/empty_connect.py",
        ),
    ],
)
def test_module_names(proto: str, module: str, connect: str) -> None:
    assert naming.pb2_module(proto) == module
    assert naming.connect_path(proto) == connect


@pytest.mark.parametrize(
    ("service", "method", "name_constant", "method_constant"),
    [
        ("TestService", "Echo", "TEST_SERVICE_NAME", "TEST_SERVICE_ECHO"),
        ("Process", "StreamInput", "PROCESS_NAME", "PROCESS_STREAM_INPUT"),
        ("lowercase", "ping", "LOWERCASE_NAME", "LOWERCASE_PING"),
        ("_", "X", "SERVICE_NAME", "SERVICE_X"),
    ],
)
def test_constants(service: str, method: str, name_constant: str, method_constant: str) -> None:
    assert naming.service_constant(service) == name_constant
    assert naming.method_constant(service, method) == method_constant


@pytest.mark.parametrize(
    ("module", "qualified", "alias"),
    [
        ("greet.v1.greet_pb2", False, "greet_pb2"),
        ("clash.a.types_pb2", True, "clash_a_types_pb2"),
        ("no_package_pb2", False, "no_package_pb2"),
        ("no_package_pb2", True, "no_package_pb2"),
        ("order.Zed.x_pb2", True, "order_zed_x_pb2"),  # N812: lower case stays lower case
        ("order.mix.Alpha_pb2", True, "order_mix_Alpha_pb2"),
    ],
)
def test_pb2_alias(module: str, qualified: bool, alias: str) -> None:
    assert naming.pb2_alias(module, qualified=qualified) == alias
