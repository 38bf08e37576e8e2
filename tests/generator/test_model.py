"""The model: one symbol table over the whole request, names and imports decided once."""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from connect_python.codegen.model import FileModel, build_model, symbol_table
from connect_python.codegen.options import parse_options
from connect_python.codegen.plugin import generate

from ._helpers import BAD_PROTOS, request_for

GREET = "greet/v1/greet.proto"


def _file(request: plugin_pb2.CodeGeneratorRequest, parameter: str = "") -> FileModel:
    model = build_model(request, parse_options(parameter))
    assert len(model.files) == 1
    return model.files[0]


def test_symbol_table_covers_every_file_and_nested_type() -> None:
    request = request_for([GREET])
    table = symbol_table(request.proto_file)
    deeper = table["greet.v1.Outer.Inner.Deeper"]
    assert (deeper.proto_file, deeper.path) == (GREET, ("Outer", "Inner", "Deeper"))
    assert table["common.v1.Page.Cursor"].proto_file == "common/v1/common.proto"
    assert table["greet.v1.SayRequest"].proto_file == "greet/v1/messages.proto"
    assert table["google.protobuf.Timestamp"].proto_file == "google/protobuf/timestamp.proto"


def test_types_resolve_to_their_own_pb2_modules() -> None:
    file = _file(request_for([GREET]))
    refs = {m.proto_name: (m.input.expr, m.output.expr) for m in file.services[0].methods}
    assert refs["Say"] == ("messages_pb2.SayRequest", "messages_pb2.SayResponse")  # split package
    assert refs["Touch"] == ("empty_pb2.Empty", "timestamp_pb2.Timestamp")  # well-known types
    assert refs["Collect"] == ("common_pb2.Page", "common_pb2.Paged")  # other package
    assert refs["Converse"] == ("greet_pb2.Outer.Inner", "greet_pb2.Outer.Inner.Deeper")  # nested
    assert refs["NoComment"] == ("common_pb2.Page.Cursor", "empty_pb2.Empty")
    assert [p.module for p in file.pb2_modules] == [
        "common.v1.common_pb2",
        "google.protobuf.empty_pb2",
        "google.protobuf.timestamp_pb2",
        "greet.v1.greet_pb2",
        "greet.v1.messages_pb2",
    ]


def test_call_shapes_options_and_comments() -> None:
    file = _file(request_for([GREET]))
    greet, empty, legacy = file.services
    methods = {m.proto_name: m for m in greet.methods}
    assert {
        n: m.kind for n, m in methods.items() if n in ("Say", "Count", "Collect", "Converse")
    } == {
        "Say": "UNARY",
        "Count": "SERVER_STREAM",
        "Collect": "CLIENT_STREAM",
        "Converse": "BIDI_STREAM",
    }
    assert methods["Lookup"].idempotency == "NO_SIDE_EFFECTS" and methods["Lookup"].get_allowed
    assert methods["Touch"].idempotency == "IDEMPOTENT" and not methods["Touch"].get_allowed
    assert methods["OldSay"].deprecated and not methods["Say"].deprecated
    assert methods["Say"].doc == ("Say hello. The reply repeats the name.",)
    assert methods["NoComment"].doc == ()
    assert methods["Say"].path == "/greet.v1.GreetService/Say"
    assert greet.doc[0] == "Greets people." and greet.doc[1] == ""
    assert empty.methods == () and empty.full_name == "greet.v1.EmptyService"
    assert legacy.deprecated and not greet.deprecated
    assert (greet.async_class, greet.sync_class) == (
        "AsyncGreetServiceClient",
        "GreetServiceClient",
    )
    assert greet.name_constant == "GREET_SERVICE_NAME"
    assert methods["NoComment"].constant == "GREET_SERVICE_NO_COMMENT"


def test_files_without_services_are_skipped() -> None:
    model = build_model(request_for(["greet/v1/messages.proto", GREET]), parse_options(""))
    assert [f.proto_file for f in model.files] == [GREET]


def test_no_package_and_file_name_rules() -> None:
    file = _file(request_for(["no_package.proto"]))
    assert file.package == "" and file.services[0].full_name == "Pinger"
    assert file.services[0].methods[0].path == "/Pinger/Ping"
    assert file.output_path == "no_package_connect.py"
    assert file.pb2_modules[-1].module == "no_package_pb2"
    dotted = _file(request_for(["dotted/my-service.v1.proto"]))
    assert dotted.output_path == "dotted/my_service/v1_connect.py"
    assert dotted.pb2_modules[0].module == "dotted.my_service.v1_pb2"
    assert dotted.pb2_modules[0].alias == "v1_pb2"


def test_same_module_basename_gets_qualified_aliases() -> None:
    file = _file(request_for(["clash/bridge.proto"]))
    assert [(p.module, p.alias) for p in file.pb2_modules] == [
        ("clash.a.types_pb2", "clash_a_types_pb2"),
        ("clash.b.types_pb2", "clash_b_types_pb2"),
    ]


def test_import_prefix_and_module_map() -> None:
    request = request_for([GREET])
    file = _file(request, "import_prefix=app.gen,Mcommon/v1/common.proto=shared.common_pb2")
    assert [p.module for p in file.pb2_modules] == [
        "app.gen.greet.v1.greet_pb2",
        "app.gen.greet.v1.messages_pb2",
        "google.protobuf.empty_pb2",  # well-known types are never prefixed
        "google.protobuf.timestamp_pb2",
        "shared.common_pb2",
    ]


@pytest.mark.parametrize(
    ("clients", "present", "absent"),
    [
        ("both", {"runtime_async", "runtime_sync", "AsyncIterable"}, set()),
        ("async", {"runtime_async", "AsyncIterable"}, {"runtime_sync"}),
        ("sync", {"runtime_sync"}, {"runtime_async", "AsyncIterable"}),
    ],
)
def test_imports_follow_what_is_emitted(clients: str, present: set[str], absent: set[str]) -> None:
    file = _file(request_for([GREET]), f"clients={clients}")
    names = {n for imp in file.imports for n, _ in imp.names} | {i.module for i in file.imports}
    assert present <= names and not (absent & names)


def test_model_is_frozen() -> None:
    file = _file(request_for([GREET]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        file.services[0].methods[0].python_name = "x"  # type: ignore[misc]


def test_naming_fixture_names() -> None:
    file = _file(request_for(["naming/v1/naming.proto"]))
    names = {s.proto_name: s for s in file.services}
    methods = {m.proto_name: m.python_name for m in names["Names"].methods}
    assert methods == {
        "class": "class_",
        "Import": "import_",
        "None": "none",
        "Match": "match_",
        "Case": "case_",
        "Type": "type_",
        "List": "list_",
        "Print": "print_",
        "Float": "float_",
        "Close": "close_",
        "Aclose": "aclose_",
        "RuntimeAsync": "runtime_async_",
        "HandleAsyncRequest": "handle_async_request_",
        "GetFoo": "get_foo",
        "get_foo": "get_foo_2",
        "GETFoo": "get_foo_3",
        "Naming": "naming",
        "NamingPb2": "naming_pb2_",  # the module's own import alias
        "_Client": "_client_",
        "HTTPGet": "http_get",
        "Transform": "transform",
        "Nested": "nested",
    }
    assert (names["lowercase"].async_class, names["lowercase"].sync_class) == (
        "AsyncLowercaseClient",
        "LowercaseClient",
    )
    assert (names["AsyncNames"].async_class, names["AsyncNames"].sync_class) == (
        "AsyncAsyncNames2Client",
        "AsyncNames2Client",
    )
    foo = [m.constant for m in names["Foo"].methods]
    assert (names["Foo"].name_constant, foo) == ("FOO_NAME", ["FOO_BAR_BAZ", "FOO_NAME_2"])
    assert [m.constant for m in names["FooBar"].methods] == ["FOO_BAR_BAZ_2"]


def _error(request: plugin_pb2.CodeGeneratorRequest) -> str:
    response = generate(request)
    assert not response.file
    return response.error


def test_response_declares_features_and_editions() -> None:
    response = generate(request_for([GREET]))
    assert response.error == ""
    features = plugin_pb2.CodeGeneratorResponse
    assert response.supported_features & features.FEATURE_PROTO3_OPTIONAL
    assert response.supported_features & features.FEATURE_SUPPORTS_EDITIONS
    assert response.minimum_edition == descriptor_pb2.EDITION_PROTO2
    assert response.maximum_edition == descriptor_pb2.EDITION_2024
    assert [f.name for f in response.file] == ["greet/v1/greet_connect.py"]


def test_error_unknown_type() -> None:
    request = request_for([GREET])
    kept = [f for f in request.proto_file if f.name != "common/v1/common.proto"]
    del request.proto_file[:]
    request.proto_file.extend(kept)
    assert "uses '.common.v1.Page', which no file in the request defines" in _error(request)


def test_error_file_not_in_request() -> None:
    request = request_for([GREET])
    request.file_to_generate.append("missing.proto")
    assert "missing.proto: asked to generate a file the request does not contain" in _error(request)


def test_error_edition_too_new() -> None:
    request = request_for(["editions/ed2023.proto"])
    fd = next(f for f in request.proto_file if f.name == "editions/ed2023.proto")
    fd.edition = descriptor_pb2.EDITION_2026 if hasattr(descriptor_pb2, "EDITION_2026") else 1100
    error = _error(request)
    assert "editions/ed2023.proto: edition" in error
    assert "is newer than this plugin supports (up to EDITION_2024)" in error


def test_error_keyword_message_and_path() -> None:
    request = request_for(["keyword_message.proto"], include=BAD_PROTOS)
    assert "message type 'kw.pass' cannot be named in Python code" in _error(request)
    request = request_for(["import/thing.proto"], include=BAD_PROTOS)
    error = _error(request)
    assert "'import' is a Python keyword" in error
    assert "--connect-python_opt=Mimport/thing.proto=<module>" in error


def test_error_bad_option_is_one_line() -> None:
    error = _error(request_for([GREET], parameter="clients=all"))
    assert error == ("protoc-gen-connect-python: clients='all': expected 'async', 'sync' or 'both'")
