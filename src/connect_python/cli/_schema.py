"""The command-line caller's schema: methods and message classes from
``.proto`` files (compiled in-process by ``grpcio-tools``, no ``protoc`` on
the PATH needed) or from descriptor sets (``protoc -o``, ``buf build -o``).
"""

from __future__ import annotations

import importlib.resources
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .._method import MethodInfo, StreamType

__all__ = ["SchemaError", "find_method", "load_schema"]


class SchemaError(Exception):
    """The schema could not be loaded, or has no such method."""


def _compile(
    protos: Sequence[str], import_paths: Sequence[str]
) -> descriptor_pb2.FileDescriptorSet:
    try:
        from grpc_tools import protoc  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SchemaError(
            f"compiling .proto files needs grpcio-tools ({exc}); install it with: "
            "pip install 'connect-python-client[cli]', or pass a descriptor set"
        ) from None
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    # Without -I, each file's own directory is its import path.
    roots = list(import_paths) or sorted({str(Path(p).parent) for p in protos})
    with tempfile.TemporaryDirectory(prefix="connect-python-") as tmp:
        out = Path(tmp) / "schema.binpb"
        args = [
            "grpc_tools.protoc",
            *(f"-I{root}" for root in roots),
            f"-I{well_known}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            *(p if import_paths else str(Path(p).name) for p in protos),
        ]
        if protoc.main(args) != 0:
            raise SchemaError(f"protoc could not compile {' '.join(protos)} (see above)")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def load_schema(
    protos: Sequence[str], import_paths: Sequence[str], descriptor_sets: Sequence[str]
) -> descriptor_pool.DescriptorPool:
    """A descriptor pool holding every file of the schema."""
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for path in descriptor_sets:
        try:
            data = Path(path).read_bytes()
            fds = descriptor_pb2.FileDescriptorSet.FromString(data)
        except (OSError, ValueError) as exc:
            raise SchemaError(f"cannot read descriptor set {path}: {exc}") from None
        files.update((f.name, f) for f in fds.file)
    if protos:
        files.update((f.name, f) for f in _compile(protos, import_paths).file)
    if not files:
        raise SchemaError("no schema: give .proto files (--proto) or a descriptor set (--schema)")
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    # A file goes in after its imports (a descriptor set need not be ordered).
    while len(added) < len(files):
        ready = [f for name, f in files.items() if name not in added and set(f.dependency) <= added]
        if not ready:
            missing = sorted({d for f in files.values() for d in f.dependency} - set(files))
            raise SchemaError(f"the schema misses imported files: {', '.join(missing)}")
        for f in ready:
            pool.Add(f)
            added.add(f.name)
    return pool


def find_method(pool: descriptor_pool.DescriptorPool, name: str) -> MethodInfo[Any, Any]:
    """The method called ``pkg.Service/Method`` (a leading ``/`` is allowed)."""
    service_name, _, method_name = name.lstrip("/").partition("/")
    if not method_name:
        raise SchemaError(f"expected pkg.Service/Method, got {name!r}")
    try:
        service = pool.FindServiceByName(service_name)
    except KeyError:
        raise SchemaError(f"no service {service_name!r} in the schema") from None
    method = service.methods_by_name.get(method_name)
    if method is None:
        known = ", ".join(sorted(service.methods_by_name))
        raise SchemaError(f"{service_name} has no method {method_name!r} (it has {known})")
    if method.client_streaming:
        stream = StreamType.BIDI_STREAM if method.server_streaming else StreamType.CLIENT_STREAM
    else:
        stream = StreamType.SERVER_STREAM if method.server_streaming else StreamType.UNARY
    return MethodInfo(
        service=service.full_name,
        name=method.name,
        input=message_factory.GetMessageClass(method.input_type),
        output=message_factory.GetMessageClass(method.output_type),
        stream_type=stream,
    )
