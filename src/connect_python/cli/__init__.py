"""The command-line caller: ``python -m connect_python call URL pkg.Service/Method``
(also installed as the ``connect-python`` command).

JSON in, JSON lines out: a unary or server-stream request is one JSON object
(``-d``, ``-d @file``, ``-d @-`` for stdin); client- and bidi-stream requests
are JSON lines (from ``-d`` or, by default, stdin, sent as they are read).
Responses are printed one per line as they arrive. The exit status is the
error's code number (``not_found`` is 5, ``unavailable`` 14), 0 on success,
64 for a usage or schema problem, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._status import EXIT_USAGE

__all__ = ["EXIT_USAGE", "main"]

_EPILOG = """\
exit status: 0 on success; the error's code number (1 canceled ... 16 unauthenticated)
when the call failed; 64 for a usage, schema or input problem; 130 when interrupted.

examples:
  connect-python call http://localhost:8080 acme.v1.Users/Get -d '{"id": 1}' \\
      --proto acme/v1/users.proto -I proto
  tail -f events.jsonl | connect-python call --h2c http://localhost:8080 \\
      acme.v1.Events/Upload --schema schema.binpb
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Call Connect RPC methods from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    call = commands.add_parser(
        "call",
        help="call a method",
        description="Call a method; print the responses as JSON lines.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("url", help="the server's base URL (http:// or https://)")
    call.add_argument("method", help="pkg.Service/Method")
    schema = call.add_argument_group("schema")
    schema.add_argument(
        "--proto", action="append", default=[], metavar="FILE", help=".proto file (repeatable)"
    )
    schema.add_argument(
        "-I",
        "--import-path",
        action="append",
        default=[],
        metavar="DIR",
        help="import path of the .proto files (repeatable; default: each file's directory)",
    )
    schema.add_argument(
        "--schema",
        action="append",
        default=[],
        metavar="FILE",
        help="binary FileDescriptorSet (protoc -o / buf build -o; repeatable)",
    )
    call.add_argument(
        "-d",
        "--data",
        metavar="JSON",
        help="the request as JSON, @FILE or @- (stdin); client and bidi streams read "
        "JSON lines, from stdin when -d is not given",
    )
    call.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="request header (repeatable)",
    )
    call.add_argument(
        "--protocol",
        default="connect",
        choices=("connect", "grpc", "grpc-web"),
        help="RPC protocol",
    )
    call.add_argument("--codec", default="proto", choices=("proto", "json"), help="wire codec")
    version = call.add_mutually_exclusive_group()
    version.add_argument(
        "--http2", action="store_true", help="HTTP/2 only (h2 over TLS, h2c on http://)"
    )
    version.add_argument(
        "--h2c", action="store_true", help="HTTP/2 with prior knowledge on http:// URLs"
    )
    call.add_argument("--timeout", type=float, metavar="SECONDS", help="deadline of the call")
    call.add_argument("--cacert", metavar="PEM", help="CA certificate to trust (a PEM file)")
    call.add_argument(
        "-k", "--insecure", action="store_true", help="don't verify the server's certificate"
    )
    call.add_argument(
        "-v", "--verbose", action="store_true", help="print response headers and trailers"
    )
    call.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress line on stderr for streams (default: when stderr is a terminal)",
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "connect-python") -> int:
    """Run the command line; returns the exit status."""
    args = _parser(prog).parse_args(argv)
    from ._call import run

    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
