"""``AsyncConnectClient``: the low-level call API used by generated clients."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from connect_python._cancel import CancelToken
from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._headers import HeadersInput
from connect_python._http.request import Request
from connect_python._io.shim_async import current_deadline, current_time
from connect_python._method import IdempotencyLevel, Message, MethodInfo
from connect_python._retry import retry_after
from connect_python._timeouts import check_timeout, resolve_timeout
from connect_python.interceptors import ClientHooks, Interceptor
from connect_python.protocol import DEFAULT_READ_MAX_BYTES, RequestHead
from connect_python.protocol.codec import Codec
from connect_python.protocol.protocols import client_protocol

from ._bidi_call import AsyncBidiStreamCall
from ._calls import (
    AsyncServerStreamCall,
    AsyncStreamCall,
    RequestStream,
    client_stream_result,
    request_body,
)
from ._interceptors import (
    hooked_bidi_stream,
    hooked_client_stream,
    hooked_server_stream,
    hooked_unary,
)
from ._retries import wait_to_retry
from ._transport import AsyncTransport
from ._unary import ResponseMetadata, unary_call

__all__ = ["AsyncConnectClient", "ResponseMetadata"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


def _check_timeout(timeout: float | None) -> None:
    """Raise ``ValueError`` for a negative or NaN timeout."""
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds (None: no deadline), got {timeout!r}")


class AsyncConnectClient:
    """A client for one base URL.

    ``protocol`` is ``"connect"`` (default), ``"grpc"`` (needs HTTP/2: TLS
    with ALPN ``h2``, or ``AsyncTransport(h2c=True)`` for ``http://`` URLs) or
    ``"grpc-web"`` (HTTP/1.1 or HTTP/2). ``codec`` is ``"proto"`` (default),
    ``"json"`` or a :class:`Codec`;
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

    ``interceptors`` run for every call, the first given outermost (see
    ``connect_python.interceptors``); ``http_status_codes`` gives the code of
    an error response that carries no error of the protocol (a proxy's page)
    by its HTTP status, in place of the spec's mapping (e.g.
    ``{404: Code.NOT_FOUND}``). Without either, calls run no hook at all.

    ``open_timeout`` bounds the time until a call's response starts (its
    headers) and ``idle_timeout`` each wait for response data (every arrival
    starts it anew: a long call that keeps receiving is never cut, a stalled
    one is); both in seconds, ``None``: none; each fails the call with
    ``DEADLINE_EXCEEDED`` and a message naming it (``connect_python._timeouts``).
    Calls may override them (``math.inf``: none for that call).
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: AsyncTransport | None = None,
        protocol: str = "connect",
        codec: str | Codec = "proto",
        timeout: float | None = None,
        headers: HeadersInput = None,
        send_compression: str | None = None,
        accept_compression: Sequence[str] | None = None,
        compress_min_bytes: int = 1024,
        read_max_bytes: int | None = DEFAULT_READ_MAX_BYTES,
        interceptors: Sequence[Interceptor] = (),
        http_status_codes: Mapping[int, Code] | None = None,
        open_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
        _check_timeout(timeout)
        check_timeout("open_timeout", open_timeout)
        check_timeout("idle_timeout", idle_timeout)
        self.open_timeout = open_timeout
        self.idle_timeout = idle_timeout
        self.base_url = base_url
        self._scheme = parts.scheme.encode()
        self._host = parts.hostname.encode("idna")
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._owns_transport = transport is None
        self.transport = transport if transport is not None else AsyncTransport()
        self.timeout = timeout
        #: The protocol: request heads from options, responses into messages.
        self.protocol = client_protocol(
            protocol,
            codec=codec,
            send_compression=send_compression,
            accept_compression=accept_compression,
            compress_min_bytes=compress_min_bytes,
            read_max_bytes=read_max_bytes,
            headers=headers,
            base_url=base_url,
        )
        self._http2_only = f"the {protocol} protocol" if self.protocol.requires_http2 else ""
        #: Interceptors and status map; ``None`` when there are neither.
        self._hooks = ClientHooks.make(interceptors, http_status_codes, base_url, protocol)

    # -- plumbing ---------------------------------------------------------------

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

    def _timeouts(
        self, open_timeout: float | None, idle_timeout: float | None
    ) -> tuple[float | None, float | None]:
        """A call's (open, idle) timeouts from its keywords and the client's."""
        return (
            resolve_timeout("open_timeout", open_timeout, self.open_timeout),
            resolve_timeout("idle_timeout", idle_timeout, self.idle_timeout),
        )

    def _request(
        self,
        head: RequestHead,
        deadline: float | None,
        body: bytes | None = None,
        timeouts: tuple[float | None, float | None] | None = None,
    ) -> Request:
        """The HTTP request of a call: ``head`` to this client's origin, with
        ``body`` (or the head's) sent whole; ``timeouts`` (open, idle) are the
        call's (``None``: the client's)."""
        open_timeout, idle_timeout = (
            (self.open_timeout, self.idle_timeout) if timeouts is None else timeouts
        )
        return Request(
            head.verb,
            self._scheme,
            self._host,
            self._port,
            head.target,
            head.headers,
            head.body if body is None else body,
            deadline,
            self._http2_only,
            open_timeout,
            idle_timeout,
        )

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
        open_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> Res:
        """Call a unary method and return its response message.

        ``use_get=True`` sends a Connect GET (only for methods marked
        ``NO_SIDE_EFFECTS``). ``timeout=None`` uses the client's default;
        ``math.inf`` disables it for this call; ``0`` fails at once with
        ``DEADLINE_EXCEEDED``; a negative or NaN timeout raises ``ValueError``.
        ``send_compression`` overrides the client's request compression
        (``"identity"``: none). ``open_timeout``/``idle_timeout`` override the
        client's (``math.inf``: none).
        """
        if self._hooks is not None:
            return await hooked_unary(
                self, self._hooks, method, request, headers, timeout, use_get, metadata,
                send_compression, cancel, self._timeouts(open_timeout, idle_timeout),
            )  # fmt: skip
        own, left, outer = self._deadline(timeout)
        return await self._unary(
            method, request, headers, use_get, send_compression, own, left, outer, metadata,
            cancel, self._timeouts(open_timeout, idle_timeout),
        )  # fmt: skip

    async def _unary(
        self,
        method: MethodInfo[Req, Res],
        request: Req,
        headers: HeadersInput,
        use_get: bool,
        send_compression: str | None,
        own: float | None,
        left: float | None,
        outer: float | None,
        metadata: ResponseMetadata | None,
        cancel: CancelToken | None,
        timeouts: tuple[float | None, float | None] | None,
    ) -> Res:
        """A unary call's tries: one, unless the transport's retry policy
        retries the server's error (opt-in codes, idempotent methods only,
        ``Retry-After`` honoured, within the deadline)."""
        policy = self.transport.retries
        retry = (
            policy is not None
            and bool(policy.retry_codes)
            and method.idempotency_level is not IdempotencyLevel.UNKNOWN
        )
        tries = 1
        while True:
            proto = self.protocol.call(method, send_compression=send_compression)
            proto.encode_request(request)  # the body, which the head announces
            head = proto.request_head(left, headers=headers, use_get=use_get)
            try:
                return await unary_call(
                    self.transport, self._request(head, own, timeouts=timeouts), proto, outer,
                    metadata, cancel,
                )  # fmt: skip
            except ConnectError as exc:
                if not retry or not exc.remote or policy is None:
                    raise
                if exc.code not in policy.retry_codes:
                    raise
                after = retry_after(exc.metadata)
                if after is not None and after > policy.max_retry_after:
                    raise
                if not await wait_to_retry(policy, tries, own, after or 0.0, cancel):
                    raise
            tries += 1
            if left is not None:
                # Announce what is left of the deadline now.
                target = outer if outer is not None else own
                assert target is not None
                left = max(0.0, target - current_time())

    # -- streams --------------------------------------------------------------------

    def server_stream(
        self,
        method: MethodInfo[Req, Res],
        request: Req,
        *,
        headers: HeadersInput = None,
        timeout: float | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
        open_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> AsyncServerStreamCall[Res]:
        """Start a server-streaming call; nothing is sent until it is entered or iterated."""
        if self._hooks is not None:
            return hooked_server_stream(
                self, self._hooks, method, request, headers, timeout, send_compression, cancel,
                self._timeouts(open_timeout, idle_timeout),
            )  # fmt: skip
        own, left, outer = self._deadline(timeout)
        proto = self.protocol.call(method, send_compression=send_compression)
        body = proto.encode_request(request)
        head = proto.request_head(left, headers=headers)
        timeouts = self._timeouts(open_timeout, idle_timeout)
        call: AsyncServerStreamCall[Res] = AsyncServerStreamCall(
            self.transport, self._request(head, own, body, timeouts), proto, outer
        )
        if cancel is not None:
            call.attach_token(cancel)
        return call

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
        open_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> Res:
        """Send a stream of requests and return the single response message."""
        if self._hooks is not None:
            return await hooked_client_stream(
                self, self._hooks, method, requests, headers, timeout, metadata,
                send_compression, cancel, self._timeouts(open_timeout, idle_timeout),
            )  # fmt: skip
        own, left, outer = self._deadline(timeout)
        proto = self.protocol.call(method, send_compression=send_compression)
        head = proto.request_head(left, headers=headers)
        body = request_body(proto, requests)
        timeouts = self._timeouts(open_timeout, idle_timeout)
        call: AsyncStreamCall[Res] = AsyncStreamCall(
            self.transport, self._request(head, own, timeouts=timeouts), proto, outer, body
        )
        if cancel is not None:
            call.attach_token(cancel)
        return await client_stream_result(call, metadata)

    def bidi_stream(
        self,
        method: MethodInfo[Req, Res],
        requests: RequestStream[Req] | None = None,
        *,
        headers: HeadersInput = None,
        timeout: float | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
        open_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> AsyncBidiStreamCall[Req, Res]:
        """Start a bidirectional call.

        With ``requests`` the request stream is taken from that iterable;
        without, use ``send()`` and ``close_send()`` on the returned call.
        """
        if self._hooks is not None:
            return hooked_bidi_stream(
                self, self._hooks, method, requests, headers, timeout, send_compression, cancel,
                self._timeouts(open_timeout, idle_timeout),
            )  # fmt: skip
        own, left, outer = self._deadline(timeout)
        proto = self.protocol.call(method, send_compression=send_compression)
        head = proto.request_head(left, headers=headers)
        body = None if requests is None else request_body(proto, requests)
        timeouts = self._timeouts(open_timeout, idle_timeout)
        bidi: AsyncBidiStreamCall[Req, Res] = AsyncBidiStreamCall(
            self.transport, self._request(head, own, timeouts=timeouts), proto, outer, body
        )
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
