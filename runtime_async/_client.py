"""``AsyncConnectClient``: the low-level call API used by generated clients."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from google.protobuf.message import Message

from connect_python._cancel import CancelToken
from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._headers import Headers, HeadersInput, merge_headers
from connect_python._http.request import Request
from connect_python._io.shim_async import CallScope, current_deadline, current_time
from connect_python._method import IdempotencyLevel, MethodInfo
from connect_python.protocol.codec import Codec, codec_for_name
from connect_python.protocol.compression import (
    Compression,
    available_compressions,
    compression_for_name,
)
from connect_python.protocol.connect_wire import (
    RequestTemplate,
    check_unary_response,
    encode_timeout,
    get_query,
    request_label,
    split_unary_trailers,
    unary_content_type_error,
    unary_error,
)
from connect_python.protocol.envelope import FLAG_COMPRESSED, encode_envelope

from ._calls import AsyncBidiStreamCall, AsyncServerStreamCall, AsyncStreamCall
from ._exchange import AsyncExchange, await_scope_deadline, read_all, send_body
from ._transport import AsyncTransport

__all__ = ["AsyncConnectClient", "ResponseMetadata"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)
RequestStream = AsyncIterable[Req] | Iterable[Req]

DEFAULT_READ_MAX_BYTES = 4 * 1024 * 1024
_BATCH_BYTES = 64 * 1024


def _check_timeout(timeout: float | None) -> None:
    """Raise ``ValueError`` for a negative or NaN timeout."""
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds (None: no deadline), got {timeout!r}")


def _check_request(method: MethodInfo[Req, Res], message: object) -> None:
    """Raise ``TypeError`` unless ``message`` is a ``method.input`` message."""
    expected = method.input
    if isinstance(message, expected):
        return
    name = expected.__name__
    full_name = getattr(getattr(expected, "DESCRIPTOR", None), "full_name", name)
    hint = f" (build one with {name}(**values))" if isinstance(message, dict) else ""
    article = "an" if name[:1] in "AEIOU" else "a"
    raise TypeError(
        f"{method.path}: the request must be {article} {name} message ({full_name}),"
        f" not {type(message).__name__}{hint}"
    )


class ResponseMetadata:
    """Receives the response headers and trailers of a unary call.

    Pass one as ``metadata=`` to a unary or client-streaming call; it is filled
    whether the call succeeds or fails.
    """

    __slots__ = ("headers", "http_status", "trailers")

    def __init__(self) -> None:
        self.headers = Headers()
        self.trailers = Headers()
        self.http_status: int | None = None


class _CallSetup:
    """Everything a call needs that is decided before it sends anything."""

    __slots__ = (
        "body",
        "deadline",
        "headers",
        "method",
        "outer",
        "response_compression",
        "target",
        "verb",
    )

    def __init__(
        self,
        method: MethodInfo[Message, Message],
        verb: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterable[bytes] | None,
        deadline: float | None,
        outer: float | None,
    ) -> None:
        self.method = method
        self.verb = verb
        self.target = target
        self.headers = headers
        self.body = body
        self.deadline = deadline
        #: The enclosing cancel scope's deadline, when it is the one announced.
        self.outer = outer
        self.response_compression: Compression | None = None


def _raw(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.multi_items()]


class AsyncConnectClient:
    """A Connect client for one base URL.

    ``codec`` is ``"proto"`` (default), ``"json"`` or a :class:`Codec`;
    ``timeout`` the default deadline of each call in seconds (``None``: none;
    ``0`` fails every call at once with ``DEADLINE_EXCEEDED``; negative or NaN
    raises ``ValueError``);
    ``headers`` are sent with every call (per-call headers with the same name
    win); ``send_compression`` names the compression of requests (``gzip``,
    ``br``, ``zstd``), applied to messages of at least ``compress_min_bytes``;
    ``accept_compression`` the encodings advertised for responses;
    ``read_max_bytes`` the largest response message accepted. A ``transport``
    (connection pool) may be shared by many clients; without one the client
    makes its own and closes it with :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: AsyncTransport | None = None,
        codec: str | Codec = "proto",
        timeout: float | None = None,
        headers: HeadersInput = None,
        send_compression: str | None = None,
        accept_compression: Sequence[str] | None = None,
        compress_min_bytes: int = 1024,
        read_max_bytes: int | None = DEFAULT_READ_MAX_BYTES,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
        _check_timeout(timeout)
        self.base_url = base_url
        self._scheme = parts.scheme.encode()
        self._host = parts.hostname.encode("idna")
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._owns_transport = transport is None
        self.transport = transport if transport is not None else AsyncTransport()
        self.codec: Codec = codec_for_name(codec) if isinstance(codec, str) else codec
        self.timeout = timeout
        send = None
        if send_compression is not None and send_compression != "identity":
            send = compression_for_name(send_compression)
            if send is None:
                raise ValueError(f"compression {send_compression!r} is not available")
        accept: list[Compression]
        if accept_compression is None:
            accept = available_compressions()
        else:
            accept = []
            for name in accept_compression:
                comp = compression_for_name(name)
                if comp is None:
                    raise ValueError(f"compression {name!r} is not available")
                accept.append(comp)
        self.read_max_bytes = read_max_bytes
        self.template = RequestTemplate(
            self.codec, Headers(headers), send, accept, compress_min_bytes
        )
        self._unary_raw = _raw(self.template.unary)
        self._stream_raw = _raw(self.template.stream)
        self._get_raw = _raw(self.template.get)
        self._targets: dict[str, bytes] = {}

    # -- plumbing ---------------------------------------------------------------

    def _target(self, path: str) -> bytes:
        target = self._targets.get(path)
        if target is None:
            target = self._targets[path] = (self._prefix + path).encode()
        return target

    def _deadline(self, timeout: float | None) -> tuple[float | None, float | None, float | None]:
        """(own deadline, time left to announce, the enclosing scope's deadline if
        that is the one announced) for a call."""
        if timeout is None:
            timeout = self.timeout
        elif not timeout >= 0:
            _check_timeout(timeout)
        now = current_time()
        own = None if timeout is None or timeout == math.inf else now + timeout
        outer = current_deadline()
        if outer is not None and (own is None or outer < own):
            return own, outer - now, outer
        return own, (None if own is None else own - now), None

    def _headers(
        self, base: list[tuple[bytes, bytes]], headers: HeadersInput, left: float | None
    ) -> list[tuple[bytes, bytes]]:
        if headers:
            merged = merge_headers(Headers.from_raw(base), headers)
            raw = _raw(merged)
        else:
            raw = list(base)
        if left is not None:
            raw.append((b"connect-timeout-ms", encode_timeout(left).encode()))
        return raw

    async def _open(
        self, setup: _CallSetup, body: bytes | AsyncIterable[bytes], scope: CallScope
    ) -> AsyncExchange:
        request = Request(
            setup.verb, self._scheme, self._host, self._port, setup.target, setup.headers
        )
        if isinstance(body, bytes):
            return await self.transport.open_exchange(request._replace(body=body), scope)
        with scope.step():
            exchange = await self.transport.open_exchange(request, scope)
            try:
                await send_body(exchange, body, scope)
                await exchange.receive_response(scope)
            except BaseException:
                await exchange.aclose()
                raise
        return exchange

    async def _open_exchange(self, setup: _CallSetup, scope: CallScope) -> AsyncExchange:
        """Send a streaming request's headers; its body follows piece by piece."""
        return await self.transport.open_exchange(
            Request(setup.verb, self._scheme, self._host, self._port, setup.target, setup.headers),
            scope,
        )

    def _send_compression(self, name: str | None) -> Compression | None:
        """The compression of one call's requests: ``None`` means the client's."""
        if name is None:
            return self.template.send_compression
        if name == "identity":
            return None
        comp = compression_for_name(name)
        if comp is None:
            raise ValueError(f"compression {name!r} is not available")
        return comp

    def _encode_message(
        self, method: MethodInfo[Req, Res], message: Message, comp: Compression | None = None
    ) -> bytes:
        """One request message as an envelope, compressed (with ``comp``) when worthwhile."""
        if type(message) is not method.input:
            _check_request(method, message)
        data = self.codec.encode(message)
        if comp is not None and len(data) >= self.template.compress_min_bytes:
            return encode_envelope(FLAG_COMPRESSED, comp.compress(data))
        return encode_envelope(0, data)

    # -- unary ----------------------------------------------------------------------

    async def unary(
        self,
        method: MethodInfo[Req, Res],
        request: Req,
        *,
        headers: HeadersInput = None,
        timeout: float | None = None,
        use_get: bool = False,
        metadata: ResponseMetadata | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
    ) -> Res:
        """Call a unary method and return its response message.

        ``use_get=True`` sends a Connect GET (only for methods marked
        ``NO_SIDE_EFFECTS``). ``timeout=None`` uses the client's default;
        ``math.inf`` disables it for this call; ``0`` fails at once with
        ``DEADLINE_EXCEEDED``; a negative or NaN timeout raises ``ValueError``.
        ``send_compression`` overrides the client's request compression
        (``"identity"``: none).
        """
        own, left, outer = self._deadline(timeout)
        template = self.template
        if type(request) is not method.input:
            _check_request(method, request)
        data = self.codec.encode(request)
        comp = (
            template.send_compression
            if send_compression is None
            else self._send_compression(send_compression)
        )
        if comp is not None and len(data) < template.compress_min_bytes:
            comp = None
        if comp is not None:
            data = comp.compress(data)
        if use_get:
            if method.idempotency_level is not IdempotencyLevel.NO_SIDE_EFFECTS:
                raise ValueError(f"{method.path} is not marked NO_SIDE_EFFECTS: GET is not allowed")
            query = get_query(self.codec, data, comp)
            target = self._target(method.path) + b"?" + query.encode()
            raw = self._headers(self._get_raw, headers, left)
            verb, body = b"GET", b""
        else:
            raw = self._headers(self._unary_raw, headers, left)
            if comp is not None:
                raw.append((b"content-encoding", comp.name.encode()))
            target = self._target(method.path)
            verb, body = b"POST", data
        # One step covers the whole exchange (no cancel scope at all without a deadline).
        scope = CallScope(own, cancellable=cancel is not None)
        if cancel is not None:
            cancel.attach(scope)
        try:
            with scope.step():
                response = await self.transport.open_exchange(
                    Request(verb, self._scheme, self._host, self._port, target, raw, body), scope
                )
                try:
                    payload = await read_all(response, scope, self.read_max_bytes)
                finally:
                    await response.aclose()
        finally:
            scope.close()
            if cancel is not None:
                cancel.detach(scope)
        try:
            return self._unary_result(method, response, payload, metadata, verb)
        except ConnectError as exc:
            error = scope.remote_error(exc)
            if outer is not None:
                await await_scope_deadline(error, outer)
            if error is exc:
                raise
            # A local deadline error: the server's error stays its cause.
            raise error from exc

    def _unary_result(
        self,
        method: MethodInfo[Req, Res],
        response: AsyncExchange,
        payload: bytes,
        metadata: ResponseMetadata | None,
        verb: bytes = b"POST",
    ) -> Res:
        headers, trailers = split_unary_trailers(Headers.from_raw(response.headers))
        trailers.extend(Headers.from_raw(response.trailers))
        status = response.status
        if metadata is not None:
            metadata.headers = headers
            metadata.trailers = trailers
            metadata.http_status = status
        encoding = headers.get("content-encoding")
        if encoding is not None and encoding != "identity" and payload:
            try:
                comp = self.template.compression_named(encoding)
                payload = comp.decompress(payload, self.read_max_bytes)
            except ConnectError as exc:
                exc.metadata = headers.copy()
                exc.metadata.extend(trailers)
                exc.http_status = status
                raise
        if status != 200:
            url = request_label(verb, self.base_url, method.path)
            raise unary_error(status, headers, trailers, payload, url)
        if check_unary_response(status, headers, self.codec) is not None:
            url = request_label(verb, self.base_url, method.path)
            raise unary_content_type_error(status, headers, trailers, self.codec, url, payload)
        try:
            return self.codec.decode(payload, method.output)
        except ConnectError as exc:
            exc.metadata = headers.copy()
            exc.metadata.extend(trailers)
            raise

    # -- streams --------------------------------------------------------------------

    def _stream_setup(
        self,
        method: MethodInfo[Req, Res],
        body: bytes | AsyncIterable[bytes] | None,
        headers: HeadersInput,
        timeout: float | None,
        comp: Compression | None,
    ) -> _CallSetup:
        own, left, outer = self._deadline(timeout)
        raw = self._headers(self._stream_raw, headers, left)
        if comp is not self.template.send_compression:
            raw = [(k, v) for k, v in raw if k != b"connect-content-encoding"]
            if comp is not None:
                raw.append((b"connect-content-encoding", comp.name.encode()))
        return _CallSetup(method, b"POST", self._target(method.path), raw, body, own, outer)  # type: ignore[arg-type]

    def server_stream(
        self,
        method: MethodInfo[Req, Res],
        request: Req,
        *,
        headers: HeadersInput = None,
        timeout: float | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
    ) -> AsyncServerStreamCall[Res]:
        """Start a server-streaming call; nothing is sent until it is entered or iterated."""
        comp = self._send_compression(send_compression)
        body = self._encode_message(method, request, comp)
        setup = self._stream_setup(method, body, headers, timeout, comp)
        call: AsyncServerStreamCall[Res] = AsyncServerStreamCall(self, setup)
        if cancel is not None:
            call.attach_token(cancel)
        return call

    async def _request_body(
        self, method: MethodInfo[Req, Res], requests: RequestStream[Req], comp: Compression | None
    ) -> AsyncIterable[bytes]:
        """Request messages as envelopes, each sent as soon as it is produced.

        A list or tuple is all there up front: its envelopes go out in writes of
        up to 64 KiB instead of one write per message.
        """

        def encode(message: Message) -> bytes:
            return self._encode_message(method, message, comp)

        if isinstance(requests, AsyncIterable):
            iterator = requests.__aiter__()
            try:
                async for message in iterator:
                    yield encode(message)
            finally:
                # Stopped early (an error, the server answered): close the
                # caller's generator rather than leave it to the collector.
                close = getattr(iterator, "aclose", None)
                if close is not None:
                    await close()
        elif isinstance(requests, Sequence):
            batch: list[bytes] = []
            size = 0
            for message in requests:
                data = encode(message)
                batch.append(data)
                size += len(data)
                if size >= _BATCH_BYTES:
                    yield b"".join(batch)
                    batch.clear()
                    size = 0
            if batch:
                yield b"".join(batch)
        else:
            for message in requests:
                yield encode(message)

    async def client_stream(
        self,
        method: MethodInfo[Req, Res],
        requests: RequestStream[Req],
        *,
        headers: HeadersInput = None,
        timeout: float | None = None,
        metadata: ResponseMetadata | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
    ) -> Res:
        """Send a stream of requests and return the single response message."""
        comp = self._send_compression(send_compression)
        body = self._request_body(method, requests, comp)
        setup = self._stream_setup(method, body, headers, timeout, comp)
        call: AsyncStreamCall[Res] = AsyncStreamCall(self, setup)
        if cancel is not None:
            call.attach_token(cancel)
        try:
            # The whole call is one step: no cancel scope per message sent.
            with call.scope.step():
                async with call:
                    first = await call.receive()
                    if first is None:
                        raise ConnectError(
                            Code.UNIMPLEMENTED,
                            "protocol error: client stream got no response message",
                        )
                    extra = await call.receive()
                    if extra is not None:
                        raise ConnectError(
                            Code.UNIMPLEMENTED,
                            "protocol error: client stream got more than one response message",
                        )
        except ConnectError as exc:
            if metadata is not None:
                metadata.headers = call.response_headers
                metadata.trailers = call.response_trailers
            if not exc.metadata:
                exc.metadata = call.response_headers.copy()
                exc.metadata.extend(call.response_trailers)
            raise
        if metadata is not None:
            metadata.headers = call.response_headers
            metadata.trailers = call.response_trailers
            metadata.http_status = 200
        return first

    def bidi_stream(
        self,
        method: MethodInfo[Req, Res],
        requests: RequestStream[Req] | None = None,
        *,
        headers: HeadersInput = None,
        timeout: float | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
    ) -> AsyncBidiStreamCall[Req, Res]:
        """Start a bidirectional call.

        With ``requests`` the request stream is taken from that iterable;
        without, use ``send()`` and ``close_send()`` on the returned call.
        """
        comp = self._send_compression(send_compression)
        body = None if requests is None else self._request_body(method, requests, comp)
        setup = self._stream_setup(method, body, headers, timeout, comp)

        def encode(message: Message) -> bytes:
            return self._encode_message(method, message, comp)

        bidi: AsyncBidiStreamCall[Req, Res] = AsyncBidiStreamCall(self, setup, encode)
        if cancel is not None:
            bidi.attach_token(cancel)
        return bidi

    # -- lifecycle ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the client's own transport (a shared one is left open)."""
        if self._owns_transport:
            await self.transport.aclose()

    async def __aenter__(self) -> AsyncConnectClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
