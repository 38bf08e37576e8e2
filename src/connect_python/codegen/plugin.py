"""The plugin protocol: ``CodeGeneratorRequest`` bytes in, ``CodeGeneratorResponse`` out.

Every problem the user can cause (an unknown option, a type that cannot be
named in Python, ...) becomes ``CodeGeneratorResponse.error``: protoc and buf
print it and exit non-zero. A bug in the generator is reported the same way,
as one line, never as a traceback on protoc's terminal.
"""

from __future__ import annotations

from google.protobuf.compiler import plugin_pb2

from connect_python.codegen.model import MAXIMUM_EDITION, MINIMUM_EDITION, ModelError, build_model
from connect_python.codegen.options import OptionError, parse_options
from connect_python.codegen.render import render_file
from connect_python.codegen.unasync import UnasyncError

__all__ = ["MAXIMUM_EDITION", "MINIMUM_EDITION", "SUPPORTED_FEATURES", "generate"]

_Feature = plugin_pb2.CodeGeneratorResponse.Feature
#: proto3 ``optional`` and editions: neither changes a service, so both are fine.
SUPPORTED_FEATURES = _Feature.FEATURE_PROTO3_OPTIONAL | _Feature.FEATURE_SUPPORTS_EDITIONS


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Generate every ``_connect.py`` module for ``request``."""
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=SUPPORTED_FEATURES,
        minimum_edition=MINIMUM_EDITION,
        maximum_edition=MAXIMUM_EDITION,
    )
    try:
        options = parse_options(request.parameter)
        model = build_model(request, options)
        for file in model.files:
            response.file.add(name=file.output_path, content=render_file(file))
    except (OptionError, ModelError) as exc:
        del response.file[:]
        response.error = f"protoc-gen-connect-python: {exc}"
    except UnasyncError as exc:  # pragma: no cover - would be a generator bug
        del response.file[:]
        response.error = f"protoc-gen-connect-python: internal error in the sync transform: {exc}"
    except Exception as exc:  # pragma: no cover - would be a generator bug
        del response.file[:]
        response.error = (
            f"protoc-gen-connect-python: internal error ({type(exc).__name__}: {exc}); "
            "please report it with the .proto files that caused it"
        )
    return response


def run(data: bytes) -> bytes:
    """One plugin invocation on serialized bytes (raises ``DecodeError`` on garbage)."""
    request = plugin_pb2.CodeGeneratorRequest.FromString(data)
    return generate(request).SerializeToString()
