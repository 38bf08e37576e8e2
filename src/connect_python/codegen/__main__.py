"""``protoc-gen-connect-python``: reads a request on stdin, writes the response on stdout."""

from __future__ import annotations

import sys

__all__ = ["main"]

_USAGE = """\
protoc-gen-connect-python is a protoc plugin; run it through protoc or buf:

  protoc -I proto --python_out=gen --pyi_out=gen --connect-python_out=gen proto/foo/v1/foo.proto
  buf generate   (with `local: protoc-gen-connect-python` in buf.gen.yaml)
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m connect_python.codegen``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from connect_python import __version__

        sys.stdout.write(f"protoc-gen-connect-python {__version__}\n")
        return 0
    if args or sys.stdin.isatty():
        sys.stderr.write(_USAGE)
        return 2
    try:
        # Imported here so that a plain install (no codegen extra) gets a message,
        # not a traceback: the generator needs mako and a recent protobuf.
        from google.protobuf.message import DecodeError

        from connect_python.codegen.plugin import run
    except ImportError as exc:
        sys.stderr.write(
            f"protoc-gen-connect-python: the code generator needs the codegen extra ({exc}); "
            "install it with: pip install 'connect-python-client[codegen]'\n"
        )
        return 1
    data = sys.stdin.buffer.read()
    try:
        out = run(data)
    except DecodeError:
        sys.stderr.write("protoc-gen-connect-python: stdin is not a CodeGeneratorRequest\n")
        sys.stderr.write(_USAGE)
        return 1
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
