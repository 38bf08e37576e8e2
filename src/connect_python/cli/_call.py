"""Running one call for the command line: requests from JSON, responses to
JSON lines, errors to stderr and the exit status (the sync client: a
command-line call needs no event loop)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from google.protobuf import json_format

from .._code import Code
from .._errors import ConnectError, error_to_json
from .._headers import Headers
from .._method import MethodInfo, StreamType
from ..runtime_sync import ConnectClient, ResponseMetadata, Transport
from ._schema import SchemaError, find_method, load_schema
from ._status import EXIT_USAGE

__all__ = ["run"]


class _InputError(Exception):
    """A request that is not valid JSON for its message type."""


class Progress:
    """A progress line on stderr, redrawn at most every quarter second."""

    __slots__ = ("_count", "_drawn", "_last", "_out", "_size", "_start")

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._count = 0
        self._size = 0
        self._start = self._last = time.monotonic()
        self._drawn = False

    def tick(self, size: int) -> None:
        self._count += 1
        self._size += size
        now = time.monotonic()
        if now - self._last >= 0.25:
            self._last = now
            elapsed = now - self._start
            rate = self._count / elapsed if elapsed else 0.0
            self._out.write(
                f"\r\x1b[K{self._count} messages, {_human(self._size)}, "
                f"{rate:,.0f} msg/s, {elapsed:.1f} s"
            )
            self._out.flush()
            self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self._out.write("\r\x1b[K")
            self._out.flush()


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _headers(lines: list[str]) -> Headers:
    headers = Headers()
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _InputError(f"a header is 'Name: value', got {line!r}")
        headers.add(name.strip(), value.strip())
    return headers


def _read_data(data: str | None) -> str | None:
    if data is None or not data.startswith("@"):
        return data
    if data == "@-":
        return sys.stdin.read()
    try:
        return Path(data[1:]).read_text(encoding="utf-8")
    except OSError as exc:
        raise _InputError(f"cannot read {data[1:]}: {exc}") from None


def _parse(text: str, method: MethodInfo[Any, Any], where: str) -> Any:
    try:
        return json_format.Parse(text, method.input())
    except json_format.ParseError as exc:
        raise _InputError(f"{where}: not a {method.input.DESCRIPTOR.full_name}: {exc}") from None


def _lines(data: str | None, method: MethodInfo[Any, Any]) -> Iterator[Any]:
    """Request messages of a client or bidi stream, one JSON value per line,
    each parsed (and then sent) as soon as it is read."""
    source = sys.stdin if data is None else data.splitlines()
    for number, line in enumerate(source, start=1):
        if line.strip():
            yield _parse(line, method, f"request line {number}")


def _dump(message: Any) -> str:
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"))


def _show(headers: Headers, prefix: str) -> None:
    for name, value in headers.multi_items():
        sys.stderr.write(f"{prefix} {name}: {value}\n")


def _fail(error: ConnectError) -> int:
    report = error_to_json(error)
    if error.http_status is not None:
        report["http_status"] = error.http_status
    sys.stderr.write(json.dumps(report) + "\n")
    return error.code.number


def _client(args: argparse.Namespace, transport: Transport) -> ConnectClient:
    options: dict[str, Any] = {}
    if args.protocol != "connect":
        options["protocol"] = args.protocol
    try:
        return ConnectClient(
            args.url,
            transport=transport,
            codec=args.codec,
            timeout=args.timeout,
            headers=_headers(args.header),
            **options,
        )
    except TypeError:
        # A runtime without the protocol keyword speaks only Connect.
        raise _InputError(f"--protocol {args.protocol} is not available") from None
    except ValueError as exc:
        raise _InputError(str(exc)) from None


def _call(args: argparse.Namespace, method: MethodInfo[Any, Any]) -> int:
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    tracker = Progress(sys.stderr) if progress else None
    data = _read_data(args.data)
    transport = Transport(
        http1=not args.http2,
        h2c=args.http2 or args.h2c,
        ca_certs=args.cacert,
        verify=not args.insecure,
    )
    stream = method.stream_type
    with transport, _client(args, transport) as client:
        if stream in (StreamType.UNARY, StreamType.CLIENT_STREAM):
            metadata = ResponseMetadata()
            try:
                if stream is StreamType.UNARY:
                    request = _parse(data if data is not None else "{}", method, "request")
                    response = client.unary(method, request, metadata=metadata)
                else:
                    response = client.client_stream(method, _lines(data, method), metadata=metadata)
            finally:
                if args.verbose:
                    _show(metadata.headers, "<")
                    _show(metadata.trailers, "<<")
            print(_dump(response), flush=True)
            return 0
        if stream is StreamType.SERVER_STREAM:
            request = _parse(data if data is not None else "{}", method, "request")
            call: Any = client.server_stream(method, request)
        else:
            call = client.bidi_stream(method, _lines(data, method))
        try:
            with call:
                if args.verbose:
                    _show(call.response_headers, "<")
                for response in call:
                    line = _dump(response)
                    print(line, flush=True)
                    if tracker is not None:
                        tracker.tick(len(line))
        finally:
            if tracker is not None:
                tracker.clear()
            if args.verbose:
                _show(call.response_trailers, "<<")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``call``; returns the exit status."""
    try:
        pool = load_schema(args.proto, args.import_path, args.schema)
        method = find_method(pool, args.method)
        return _call(args, method)
    except (SchemaError, _InputError) as exc:
        sys.stderr.write(f"connect-python: {exc}\n")
        return EXIT_USAGE
    except ConnectError as exc:
        return _fail(exc)
    except BrokenPipeError:
        # The reader of our output went away (`| head`): not an error of the call.
        return Code.CANCELED.number
