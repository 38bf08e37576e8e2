"""The client under test for the Connect conformance runner (client mode).

The runner (``connectconformance --mode client -- python client.py --mode M``)
writes size-prefixed ``ClientCompatRequest`` messages to our stdin and reads
size-prefixed ``ClientCompatResponse`` messages from our stdout (a 4-byte
big-endian length, then the binary message). Requests run concurrently and are
answered in any order; stdout carries nothing but frames (logs go to stderr).

``--mode asyncio`` and ``--mode trio`` drive the generated
``AsyncConformanceServiceClient`` on that anyio backend; ``--mode sync`` drives
the generated ``ConformanceServiceClient`` on worker threads and cancels calls
from another thread.

Calls go through a connection pool (transport) shared by every test with the
same HTTP version and TLS certificate, as an application would share one.
"""

from __future__ import annotations

import argparse
import math
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The generated code for the suite's protos lives in _gen/ (see setup.sh). It must
# come first: its ``connectrpc`` package shadows the official ``connectrpc``
# distribution, which may be installed in the same environment.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_gen"))

import anyio
import httpcore
from connectrpc.conformance.v1 import (
    client_compat_pb2,
    config_pb2,
    service_connect,
    service_pb2,
)
from google.protobuf import any_pb2
from google.protobuf.message import Message

from connect_python import ConnectError, Headers
from connect_python._io import shim_sync as sync_shim
from connect_python.runtime_async import AsyncTransport
from connect_python.runtime_async import ResponseMetadata as AsyncResponseMetadata
from connect_python.runtime_sync import ResponseMetadata, Transport

ClientCompatRequest = client_compat_pb2.ClientCompatRequest
ClientCompatResponse = client_compat_pb2.ClientCompatResponse
AsyncClient = service_connect.AsyncConformanceServiceClient
SyncClient = service_connect.ConformanceServiceClient

SERVICE = service_connect.CONFORMANCE_SERVICE_NAME
MAX_FRAME = 16 * 1024 * 1024
UNARY_METHODS = ("Unary", "IdempotentUnary", "Unimplemented")

_REQUEST_TYPES: dict[str, type[Message]] = {
    "Unary": service_pb2.UnaryRequest,
    "IdempotentUnary": service_pb2.IdempotentUnaryRequest,
    "ServerStream": service_pb2.ServerStreamRequest,
    "ClientStream": service_pb2.ClientStreamRequest,
    "BidiStream": service_pb2.BidiStreamRequest,
    "Unimplemented": service_pb2.UnimplementedRequest,
}

_COMPRESSIONS = {
    config_pb2.COMPRESSION_UNSPECIFIED: None,
    config_pb2.COMPRESSION_IDENTITY: None,
    config_pb2.COMPRESSION_GZIP: "gzip",
    config_pb2.COMPRESSION_BR: "br",
    config_pb2.COMPRESSION_ZSTD: "zstd",
}


def log(*parts: object) -> None:
    print("conformance client:", *parts, file=sys.stderr, flush=True)


class ClientSetupError(Exception):
    """The RPC could not even be attempted (reported as ``ClientErrorResult``)."""


# -- what a test asks for, and what it saw ------------------------------------------


class Plan:
    """One test, decoded from a ``ClientCompatRequest``."""

    def __init__(self, req: Any) -> None:
        self.req = req
        if req.protocol not in (config_pb2.PROTOCOL_UNSPECIFIED, config_pb2.PROTOCOL_CONNECT):
            raise ClientSetupError(f"unsupported protocol {req.protocol}")
        if req.service and req.service != SERVICE:
            raise ClientSetupError(f"unknown service {req.service!r}")
        if req.method not in _REQUEST_TYPES:
            raise ClientSetupError(f"unknown method {req.method!r}")
        if req.HasField("client_tls_creds"):
            raise ClientSetupError("client certificates are not supported")
        self.method: str = req.method
        request_type = _REQUEST_TYPES[req.method]
        self.messages: list[Any] = []
        for packed in req.request_messages:
            message = request_type()
            if not packed.Unpack(message):
                raise ClientSetupError(
                    f"cannot unpack {packed.type_url} as {request_type.DESCRIPTOR.full_name}"
                )
            self.messages.append(message)
        # Every value of every header, each sent once.
        self.headers: list[tuple[str, str]] = [
            (h.name, value) for h in req.request_headers for value in h.value
        ]
        self.timeout: float | None = req.timeout_ms / 1000 if req.HasField("timeout_ms") else None
        self.delay = req.request_delay_ms / 1000
        self.use_get: bool = req.use_get_http_method
        tls = bool(req.server_tls_cert)
        self.base_url = f"{'https' if tls else 'http'}://{req.host}:{req.port}"
        self.ca_certs: str | None = req.server_tls_cert.decode() if tls else None
        if req.http_version == config_pb2.HTTP_VERSION_1:
            self.http2 = False
        elif req.http_version == config_pb2.HTTP_VERSION_2:
            self.http2 = True
        else:
            raise ClientSetupError(f"unsupported HTTP version {req.http_version}")
        if req.codec == config_pb2.CODEC_JSON:
            self.codec = "json"
        elif req.codec in (config_pb2.CODEC_PROTO, config_pb2.CODEC_UNSPECIFIED):
            self.codec = "proto"
        else:
            raise ClientSetupError(f"unsupported codec {req.codec}")
        if req.compression not in _COMPRESSIONS:
            raise ClientSetupError(f"unsupported compression {req.compression}")
        self.compression = _COMPRESSIONS[req.compression]
        timing = req.cancel.WhichOneof("cancel_timing") if req.HasField("cancel") else None
        self.cancel_before_close = timing == "before_close_send"
        self.cancel_after_close: float | None = None
        if timing == "after_close_send_ms":
            self.cancel_after_close = req.cancel.after_close_send_ms / 1000
        elif req.HasField("cancel") and timing is None:
            self.cancel_after_close = 0.0  # no timing: cancel right after close-send
        self.cancel_after_responses: int | None = (
            req.cancel.after_num_responses if timing == "after_num_responses" else None
        )
        self.full_duplex = req.stream_type == config_pb2.STREAM_TYPE_FULL_DUPLEX_BIDI_STREAM

    @property
    def pool_key(self) -> tuple[bool, str | None]:
        return self.http2, self.ca_certs

    def single(self) -> Any:
        if len(self.messages) != 1:
            raise ClientSetupError(f"{self.method} needs exactly one request message")
        return self.messages[0]

    def client_options(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "send_compression": self.compression,
            # The server checks the encoding of every request, however small.
            "compress_min_bytes": 0,
        }


def header_list(headers: Headers) -> list[Any]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers.multi_items():
        grouped.setdefault(name, []).append(value)
    return [service_pb2.Header(name=name, value=values) for name, values in grouped.items()]


class Outcome:
    """What a test observed; becomes a ``ClientResponseResult``."""

    def __init__(self) -> None:
        self.headers = Headers()
        self.trailers = Headers()
        self.payloads: list[Any] = []
        self.error: ConnectError | None = None
        # Cancelled by us where the runtime has no call object to cancel
        # (unary and client-stream calls): reported as CANCELED.
        self.canceled = False

    def add(self, message: Message) -> None:
        # An empty response message still counts as one (empty) payload.
        payload = getattr(message, "payload", None)
        self.payloads.append(payload if payload is not None else service_pb2.ConformancePayload())

    def fail(self, error: ConnectError) -> None:
        self.error = error

    def result(self) -> Any:
        headers, trailers = self.headers, self.trailers
        if self.error is not None and not headers and not trailers:
            # Unary and client-stream errors carry the response metadata on the
            # error; the runner accepts it in either list.
            headers = self.error.metadata
        res = client_compat_pb2.ClientResponseResult(
            response_headers=header_list(headers),
            response_trailers=header_list(trailers),
            payloads=self.payloads,
        )
        if self.error is not None:
            err = self.error
            res.error.code = getattr(config_pb2, "CODE_" + err.code.name)
            if err.message:
                res.error.message = err.message
            for detail in err.details:
                res.error.details.append(
                    any_pb2.Any(type_url=detail.any.type_url, value=detail.value)
                )
        elif self.canceled:
            res.error.code = config_pb2.CODE_CANCELED
            res.error.message = "canceled by the client"
        return res


def reached(plan: Plan, out: Outcome) -> bool:
    """Whether the test wants the call cancelled now (after N responses)."""
    wanted = plan.cancel_after_responses
    return wanted is not None and len(out.payloads) >= wanted


# -- async (asyncio and trio) ---------------------------------------------------------


class AsyncPools:
    """One transport per (HTTP version, server certificate), shared by tests."""

    def __init__(self) -> None:
        self._pools: dict[tuple[bool, str | None], AsyncTransport] = {}

    def get(self, plan: Plan) -> AsyncTransport:
        transport = self._pools.get(plan.pool_key)
        if transport is None:
            if plan.http2:
                # TLS: ALPN offers only h2; plaintext: h2c with prior knowledge.
                transport = AsyncTransport(
                    http1=False, http2=True, h2c=True, ca_certs=plan.ca_certs
                )
            else:
                transport = AsyncTransport(http1=True, http2=False, ca_certs=plan.ca_certs)
            self._pools[plan.pool_key] = transport
        return transport

    async def aclose(self) -> None:
        for transport in self._pools.values():
            await transport.aclose()


async def run_async(plan: Plan, pools: AsyncPools) -> Outcome:
    client = AsyncClient(plan.base_url, transport=pools.get(plan), **plan.client_options())
    out = Outcome()
    try:
        if plan.method in UNARY_METHODS:
            await _unary_async(client, plan, out)
        elif plan.method == "ServerStream":
            await _server_stream_async(client, plan, out)
        elif plan.method == "ClientStream":
            await _client_stream_async(client, plan, out)
        else:
            await _bidi_async(client, plan, out)
    except ConnectError as exc:
        out.fail(exc)
    return out


async def _unary_async(client: Any, plan: Plan, out: Outcome) -> None:
    meta = AsyncResponseMetadata()
    kw: dict[str, Any] = {"headers": plan.headers, "timeout": plan.timeout, "metadata": meta}
    request = plan.single()
    # A unary call has no call object: it is cancelled the anyio way, by an
    # enclosing cancel scope, here one whose deadline is the cancel time (the
    # request is complete as soon as the call starts).
    deadline = math.inf
    if plan.cancel_after_close is not None:
        deadline = anyio.current_time() + plan.cancel_after_close
    with anyio.CancelScope(deadline=deadline) as cs:
        try:
            if plan.method == "Unary":
                response = await client.unary(request, **kw)
            elif plan.method == "IdempotentUnary":
                response = await client.idempotent_unary(request, use_get=plan.use_get, **kw)
            else:
                response = await client.unimplemented(request, **kw)
            out.add(response)
        finally:
            out.headers, out.trailers = meta.headers, meta.trailers
    out.canceled = cs.cancelled_caught


async def _cancel_later(cancel: Callable[[], None], delay: float) -> None:
    await anyio.sleep(delay)
    cancel()


async def _read_async(call: Any, plan: Plan, out: Outcome) -> None:
    async for message in call:
        out.add(message)
        out.headers = call.response_headers
        if reached(plan, out):
            call.cancel()


async def _server_stream_async(client: Any, plan: Plan, out: Outcome) -> None:
    call = client.server_stream(plan.single(), headers=plan.headers, timeout=plan.timeout)
    async with anyio.create_task_group() as tg:
        if plan.cancel_after_close is not None:
            tg.start_soon(_cancel_later, call.cancel, plan.cancel_after_close)
        try:
            async with call:
                await _read_async(call, plan, out)
        except ConnectError as exc:
            out.fail(exc)
        finally:
            out.headers, out.trailers = call.response_headers, call.response_trailers
            tg.cancel_scope.cancel()


async def _client_stream_async(client: Any, plan: Plan, out: Outcome) -> None:
    meta = AsyncResponseMetadata()
    closed = anyio.Event()
    cs = anyio.CancelScope()

    async def requests() -> AsyncIterator[Any]:
        for message in plan.messages:
            if plan.delay:
                await anyio.sleep(plan.delay)
            yield message
        if plan.cancel_before_close:
            # Cancel instead of closing the request stream.
            cs.cancel()
            await anyio.sleep_forever()
        closed.set()

    async def cancel_after_close(delay: float) -> None:
        await closed.wait()
        await anyio.sleep(delay)
        cs.cancel()

    async with anyio.create_task_group() as tg:
        if plan.cancel_after_close is not None:
            tg.start_soon(cancel_after_close, plan.cancel_after_close)
        # ``cs`` must exit while no enclosing scope is cancelled, or it hands its
        # cancellation on instead of catching it: cancel the helper task after.
        with cs:
            try:
                response = await client.client_stream(
                    requests(), headers=plan.headers, timeout=plan.timeout, metadata=meta
                )
                out.add(response)
            except ConnectError as exc:
                out.fail(exc)
            finally:
                out.headers, out.trailers = meta.headers, meta.trailers
        tg.cancel_scope.cancel()
    out.canceled = cs.cancelled_caught


async def _bidi_async(client: Any, plan: Plan, out: Outcome) -> None:
    call = client.bidi_stream(headers=plan.headers, timeout=plan.timeout)
    async with anyio.create_task_group() as tg:
        try:
            async with call:
                for message in plan.messages:
                    if plan.delay:
                        await anyio.sleep(plan.delay)
                    await call.send(message)
                    if plan.full_duplex:
                        response = await call.receive()
                        if response is None:
                            break
                        out.add(response)
                        out.headers = call.response_headers
                        if reached(plan, out):
                            call.cancel()
                if plan.cancel_before_close:
                    call.cancel()
                else:
                    # close_send() may also wait for the response headers, which
                    # a server can hold back until its first message: start the
                    # cancel timer as the request stream closes.
                    if plan.cancel_after_close is not None:
                        tg.start_soon(_cancel_later, call.cancel, plan.cancel_after_close)
                    await call.close_send()
                out.headers = call.response_headers
                await _read_async(call, plan, out)
        except ConnectError as exc:
            out.fail(exc)
        finally:
            out.headers, out.trailers = call.response_headers, call.response_trailers
            tg.cancel_scope.cancel()


async def handle_async(data: bytes, pools: AsyncPools) -> Any:
    req = ClientCompatRequest.FromString(data)
    response = ClientCompatResponse(test_name=req.test_name)
    try:
        out = await run_async(Plan(req), pools)
    except Exception as exc:
        log(f"{req.test_name}: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        response.error.message = f"{type(exc).__name__}: {exc}"
    else:
        response.response.CopyFrom(out.result())
    return response


async def serve_async(parallel: int) -> None:
    write_lock = threading.Lock()
    limiter = anyio.CapacityLimiter(parallel)
    stdin = sys.stdin.buffer
    pools = AsyncPools()

    async def one(data: bytes) -> None:
        async with limiter:
            response = await handle_async(data, pools)
        write_frame(response, write_lock)

    try:
        async with anyio.create_task_group() as tg:
            while True:
                data = await anyio.to_thread.run_sync(read_frame, stdin)
                if data is None:
                    break
                tg.start_soon(one, data)
    finally:
        with anyio.CancelScope(shield=True):
            await pools.aclose()


# -- sync -----------------------------------------------------------------------------------


class AbortableBackend(httpcore.NetworkBackend):
    """The sync runtime's network backend, plus a way to cut its connections.

    Unary and client-stream calls have no call object to cancel, so a sync test
    cancels them from another thread by shutting their sockets down, which
    wakes a read or write blocked on them.
    """

    def __init__(self) -> None:
        self._inner = sync_shim.SyncBackend()
        self._lock = threading.Lock()
        self._streams: list[httpcore.NetworkStream] = []
        self.aborted = False

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(*args, **kwargs)
        with self._lock:
            self._streams.append(stream)
            aborted = self.aborted
        if aborted:
            _shutdown(stream)
        return stream

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            streams = list(self._streams)
        for stream in streams:
            _shutdown(stream)


def _shutdown(stream: httpcore.NetworkStream) -> None:
    sock = stream.get_extra_info("socket")
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class SyncPools:
    """One transport per (HTTP version, server certificate), shared by tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[tuple[bool, str | None], Transport] = {}

    @staticmethod
    def _make(plan: Plan, **kw: Any) -> Transport:
        if plan.http2:
            return Transport(http1=False, http2=True, h2c=True, **kw)
        return Transport(http1=True, http2=False, **kw)

    def get(self, plan: Plan) -> Transport:
        with self._lock:
            transport = self._pools.get(plan.pool_key)
            if transport is None:
                transport = self._make(plan, ca_certs=plan.ca_certs)
                self._pools[plan.pool_key] = transport
            return transport

    def private(self, plan: Plan, backend: AbortableBackend) -> Transport:
        """A transport of its own, for a call cancelled by cutting its socket."""
        return self._make(plan, ssl_context=self.get(plan).ssl_context, network_backend=backend)

    def close(self) -> None:
        for transport in self._pools.values():
            transport.close()


class Timer:
    """Run ``action`` on another thread after ``delay`` seconds, unless stopped."""

    def __init__(self, delay: float, action: Callable[[], None]) -> None:
        self._timer = threading.Timer(delay, action)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()


def run_sync(plan: Plan, pools: SyncPools) -> Outcome:
    out = Outcome()
    backend: AbortableBackend | None = None
    if plan.method in (*UNARY_METHODS, "ClientStream") and (
        plan.cancel_before_close or plan.cancel_after_close is not None
    ):
        backend = AbortableBackend()
        transport = pools.private(plan, backend)
    else:
        transport = pools.get(plan)
    client = SyncClient(plan.base_url, transport=transport, **plan.client_options())
    try:
        if plan.method in UNARY_METHODS:
            _unary_sync(client, plan, out, backend)
        elif plan.method == "ServerStream":
            _server_stream_sync(client, plan, out)
        elif plan.method == "ClientStream":
            _client_stream_sync(client, plan, out, backend)
        else:
            _bidi_sync(client, plan, out)
    except ConnectError as exc:
        if backend is not None and backend.aborted and not exc.remote:
            out.canceled = True  # the failure of the connection we cut
        else:
            out.fail(exc)
    finally:
        if backend is not None:
            transport.close()
    return out


def _unary_sync(client: Any, plan: Plan, out: Outcome, backend: AbortableBackend | None) -> None:
    meta = ResponseMetadata()
    kw: dict[str, Any] = {"headers": plan.headers, "timeout": plan.timeout, "metadata": meta}
    request = plan.single()
    timer = None
    if backend is not None and plan.cancel_after_close is not None:
        timer = Timer(plan.cancel_after_close, backend.abort)
    try:
        if plan.method == "Unary":
            response = client.unary(request, **kw)
        elif plan.method == "IdempotentUnary":
            response = client.idempotent_unary(request, use_get=plan.use_get, **kw)
        else:
            response = client.unimplemented(request, **kw)
        out.add(response)
    finally:
        out.headers, out.trailers = meta.headers, meta.trailers
        if timer is not None:
            timer.stop()


def _read_sync(call: Any, plan: Plan, out: Outcome) -> None:
    for message in call:
        out.add(message)
        out.headers = call.response_headers
        if reached(plan, out):
            call.cancel()


def _server_stream_sync(client: Any, plan: Plan, out: Outcome) -> None:
    call = client.server_stream(plan.single(), headers=plan.headers, timeout=plan.timeout)
    timer = None
    if plan.cancel_after_close is not None:
        timer = Timer(plan.cancel_after_close, call.cancel)
    try:
        with call:
            _read_sync(call, plan, out)
    finally:
        out.headers, out.trailers = call.response_headers, call.response_trailers
        if timer is not None:
            timer.stop()


def _client_stream_sync(
    client: Any, plan: Plan, out: Outcome, backend: AbortableBackend | None
) -> None:
    meta = ResponseMetadata()
    timers: list[Timer] = []

    def requests() -> Iterator[Any]:
        for message in plan.messages:
            if plan.delay:
                time.sleep(plan.delay)
            yield message
        if backend is not None:
            if plan.cancel_before_close:
                backend.abort()  # cancel instead of closing the request stream
            elif plan.cancel_after_close is not None:
                timers.append(Timer(plan.cancel_after_close, backend.abort))

    try:
        out.add(
            client.client_stream(
                requests(), headers=plan.headers, timeout=plan.timeout, metadata=meta
            )
        )
    finally:
        out.headers, out.trailers = meta.headers, meta.trailers
        for timer in timers:
            timer.stop()


def _bidi_sync(client: Any, plan: Plan, out: Outcome) -> None:
    call = client.bidi_stream(headers=plan.headers, timeout=plan.timeout)
    timer = None
    try:
        with call:
            for message in plan.messages:
                if plan.delay:
                    time.sleep(plan.delay)
                call.send(message)
                if plan.full_duplex:
                    response = call.receive()
                    if response is None:
                        break
                    out.add(response)
                    out.headers = call.response_headers
                    if reached(plan, out):
                        call.cancel()
            if plan.cancel_before_close:
                call.cancel()
            else:
                if plan.cancel_after_close is not None:
                    timer = Timer(plan.cancel_after_close, call.cancel)
                call.close_send()
            out.headers = call.response_headers
            _read_sync(call, plan, out)
    finally:
        out.headers, out.trailers = call.response_headers, call.response_trailers
        if timer is not None:
            timer.stop()


def handle_sync(data: bytes, pools: SyncPools) -> Any:
    req = ClientCompatRequest.FromString(data)
    response = ClientCompatResponse(test_name=req.test_name)
    try:
        out = run_sync(Plan(req), pools)
    except Exception as exc:
        log(f"{req.test_name}: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        response.error.message = f"{type(exc).__name__}: {exc}"
    else:
        response.response.CopyFrom(out.result())
    return response


def serve_sync(parallel: int) -> None:
    write_lock = threading.Lock()
    stdin = sys.stdin.buffer
    pools = SyncPools()

    def one(data: bytes) -> None:
        write_frame(handle_sync(data, pools), write_lock)

    try:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="test") as executor:
            while True:
                data = read_frame(stdin)
                if data is None:
                    break
                executor.submit(one, data)
    finally:
        pools.close()


# -- framing --------------------------------------------------------------------------------


def read_exact(stream: Any, size: int) -> bytes | None:
    """``size`` bytes, or ``None`` at a clean end of input."""
    parts: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            if parts:
                raise EOFError("stdin ended inside a frame")
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(stream: Any) -> bytes | None:
    """The next frame's body, or ``None`` at end of input."""
    prefix = read_exact(stream, 4)
    if prefix is None:
        return None
    (size,) = struct.unpack(">I", prefix)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is too large")
    if not size:
        return b""
    data = read_exact(stream, size)
    if data is None:
        raise EOFError("stdin ended inside a frame")
    return data


def write_frame(message: Any, lock: threading.Lock) -> None:
    """One response frame: prefix and body in one locked write, then a flush."""
    body = message.SerializeToString()
    out = sys.stdout.buffer
    with lock:
        out.write(struct.pack(">I", len(body)) + body)
        out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="Connect conformance client (client mode)")
    parser.add_argument("--mode", choices=["asyncio", "trio", "sync"], required=True)
    parser.add_argument("--parallel", type=int, default=16, help="tests run at once")
    args = parser.parse_args()
    if args.mode == "sync":
        serve_sync(args.parallel)
    else:
        anyio.run(serve_async, args.parallel, backend=args.mode)


if __name__ == "__main__":
    main()
