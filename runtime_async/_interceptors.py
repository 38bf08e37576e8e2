"""Calls that run a client's interceptors (``connect_python.interceptors``).

A client without interceptors and without an HTTP status map never reaches
this module: its calls are the plain ones, with no hook in their path. With
them, a call is prepared here the way :class:`AsyncConnectClient` prepares a
plain one, after the interceptors saw its start and its request, and the
streaming call objects are subclasses of the plain ones that pass each
response message and the end of the call through the chain.

There is one call object and one exchange per call however many interceptors
run: closing the call (``break`` out of ``async with``, :meth:`aclose`,
cancellation, a deadline, the garbage collector) ends the exchange once, which
resets an HTTP/2 stream once, and every interceptor sees the end at that
moment (``CANCELED`` when the caller left before the end). An interceptor that
raises ends the call the same way, with ``ConnectError(UNKNOWN)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from connect_python._cancel import CancelToken
from connect_python._errors import ConnectError
from connect_python._headers import HeadersInput
from connect_python._method import Message, MethodInfo
from connect_python.interceptors import CallChain, ClientHooks

from ._bidi_call import AsyncBidiStreamCall
from ._calls import (
    AsyncServerStreamCall,
    AsyncStreamCall,
    RequestStream,
    client_stream_result,
    request_body,
)
from ._unary import ResponseMetadata

if TYPE_CHECKING:
    from ._client import AsyncConnectClient

__all__ = [
    "AsyncHookedBidiStreamCall",
    "AsyncHookedServerStreamCall",
    "AsyncHookedStreamCall",
    "hooked_bidi_stream",
    "hooked_client_stream",
    "hooked_server_stream",
    "hooked_unary",
]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


class _RequestHookFailed(Exception):
    """An ``on_request`` hook failed inside a request iterable.

    Not a ``ConnectError`` on purpose: the call's sender takes any other
    exception from the iterable as the end of the call and interrupts the
    reader; the call then raises :attr:`error`.
    """

    def __init__(self, error: ConnectError) -> None:
        super().__init__(str(error))
        self.error = error


def _raise_ended(chain: CallChain, exc: BaseException) -> NoReturn:
    """End ``chain`` by ``exc`` and raise what the caller gets."""
    if isinstance(exc, _RequestHookFailed):
        exc = exc.error
    error = chain.end_by(exc)
    if error is None or error is exc:
        raise exc
    # The replacement keeps its own cause (a transport failure's stays there).
    raise error


class _Hooked(AsyncStreamCall[Res]):
    """What the intercepted streaming calls add to the plain ones."""

    __slots__ = ()
    _chain: CallChain

    async def _fail(self, exc: BaseException) -> NoReturn:
        """End the exchange (if not yet over) and the chain; raise."""
        await self._finish()
        chain = self._chain
        if not chain.ended and self._proto.status is not None:
            try:
                chain.response_headers(self.response_headers)
            except ConnectError:
                pass  # the call failed already; the end reports that
        chain.trailers = self.response_trailers
        _raise_ended(chain, exc)

    async def start(self) -> None:
        try:
            await super().start()
            self._chain.response_headers(self.response_headers)
        except BaseException as exc:
            await self._fail(exc)

    async def receive(self) -> Res | None:
        try:
            message = await super().receive()
            if message is not None:
                return self._chain.response(message)  # type: ignore[no-any-return]
        except BaseException as exc:
            await self._fail(exc)
        chain = self._chain
        if not chain.ended:
            chain.trailers = self.response_trailers
            error = chain.end(None)
            if error is not None:
                raise error
        return None

    def _leave(self) -> None:
        """The caller is done with the call: end the chain if it has not ended."""
        chain = self._chain
        if chain.ended:
            return
        if self._ended and not self._pending and self._pending_error is None:
            # Every message was read, only the final "no more" was not asked for.
            chain.trailers = self.response_trailers
            chain.end(None)
        else:
            chain.abandon()

    async def aclose(self) -> None:
        await super().aclose()
        self._leave()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        self._leave()

    def __del__(self) -> None:
        # Dropped without being closed: the exchange's own finalizer resets
        # the stream; the interceptors learn of it here. Hooks never raise
        # from end() (their failures become the call's error).
        try:
            chain = self._chain
        except AttributeError:
            return  # construction failed
        chain.abandon()


class AsyncHookedStreamCall(_Hooked[Res]):
    """A client-streaming call with interceptors."""

    __slots__ = ("_chain",)


class AsyncHookedServerStreamCall(_Hooked[Res], AsyncServerStreamCall[Res]):
    """A server-streaming call with interceptors."""

    __slots__ = ("_chain",)


class AsyncHookedBidiStreamCall(_Hooked[Res], AsyncBidiStreamCall[Req, Res], Generic[Req, Res]):
    """A bidirectional call with interceptors."""

    __slots__ = ("_chain",)

    async def send(self, message: Req) -> None:
        try:
            message = self._chain.request(message)
        except ConnectError as exc:
            await self._fail(exc)
        await super().send(message)

    async def __aenter__(self) -> AsyncHookedBidiStreamCall[Req, Res]:
        try:
            await self._open()
        except BaseException as exc:
            await self._fail(exc)
        return self


_Call = TypeVar("_Call", bound=AsyncStreamCall[Any])


def _started(call: _Call, chain: CallChain, cancel: CancelToken | None) -> _Call:
    """``call`` with the chain its hooks run on (a hooked call) and the
    caller's token attached."""
    if isinstance(call, _Hooked):
        call._chain = chain
    if cancel is not None:
        call.attach_token(cancel)
    return call


def _hooked_request(chain: CallChain, message: Any) -> Any:
    try:
        return chain.request(message)
    except ConnectError as exc:
        raise _RequestHookFailed(exc) from exc


async def _hooked_async_requests(
    chain: CallChain, requests: AsyncIterable[Req]
) -> AsyncIterator[Req]:
    iterator = requests.__aiter__()
    try:
        async for message in iterator:
            yield _hooked_request(chain, message)
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


def _hooked_requests(chain: CallChain, requests: Iterable[Req]) -> Iterator[Req]:
    for message in requests:
        yield _hooked_request(chain, message)


def _requests(chain: CallChain, requests: RequestStream[Req]) -> RequestStream[Req]:
    """``requests`` with every message passed through the chain as it is sent
    (a list or tuple at once, before the call starts)."""
    if isinstance(requests, AsyncIterable):
        return _hooked_async_requests(chain, requests)
    if isinstance(requests, Sequence):
        return [chain.request(message) for message in requests]
    return _hooked_requests(chain, requests)


async def hooked_unary(
    client: AsyncConnectClient,
    hooks: ClientHooks,
    method: MethodInfo[Req, Res],
    request: Req,
    headers: HeadersInput,
    timeout: float | None,
    use_get: bool,
    metadata: ResponseMetadata | None,
    send_compression: str | None,
    cancel: CancelToken | None,
    timeouts: tuple[float | None, float | None] | None = None,
) -> Res:
    """:meth:`AsyncConnectClient.unary` through the client's interceptors."""
    chain, call_headers = hooks.start(method, headers, timeout)
    meta = metadata if metadata is not None else ResponseMetadata()
    try:
        message = chain.request(request)
        own, left, outer = client._deadline(timeout)
        response = await client._unary(
            method, message, call_headers, use_get, send_compression, own, left, outer, meta,
            cancel, timeouts,
        )  # fmt: skip
        chain.response_headers(meta.headers)
        chain.trailers = meta.trailers
        response = chain.response(response)
    except BaseException as exc:
        if meta.http_status is not None and not chain.ended:
            try:
                chain.response_headers(meta.headers)
            except ConnectError:
                pass  # the call failed already; the end reports that
        chain.trailers = meta.trailers
        _raise_ended(chain, exc)
    error = chain.end(None)
    if error is not None:
        raise error
    return response


def hooked_server_stream(
    client: AsyncConnectClient,
    hooks: ClientHooks,
    method: MethodInfo[Req, Res],
    request: Req,
    headers: HeadersInput,
    timeout: float | None,
    send_compression: str | None,
    cancel: CancelToken | None,
    timeouts: tuple[float | None, float | None] | None = None,
) -> AsyncServerStreamCall[Res]:
    """:meth:`AsyncConnectClient.server_stream` through the client's interceptors."""
    chain, call_headers = hooks.start(method, headers, timeout)
    try:
        message = chain.request(request)
        own, left, outer = client._deadline(timeout)
        proto = client.protocol.call(method, send_compression=send_compression)
        body = proto.encode_request(message)
        head = proto.request_head(left, headers=call_headers)
    except BaseException as exc:
        _raise_ended(chain, exc)
    kind = AsyncServerStreamCall if chain.idle else AsyncHookedServerStreamCall
    call: AsyncServerStreamCall[Res] = kind(
        client.transport, client._request(head, own, body, timeouts), proto, outer
    )
    return _started(call, chain, cancel)


async def hooked_client_stream(
    client: AsyncConnectClient,
    hooks: ClientHooks,
    method: MethodInfo[Req, Res],
    requests: RequestStream[Req],
    headers: HeadersInput,
    timeout: float | None,
    metadata: ResponseMetadata | None,
    send_compression: str | None,
    cancel: CancelToken | None,
    timeouts: tuple[float | None, float | None] | None = None,
) -> Res:
    """:meth:`AsyncConnectClient.client_stream` through the client's interceptors."""
    chain, call_headers = hooks.start(method, headers, timeout)
    try:
        own, left, outer = client._deadline(timeout)
        proto = client.protocol.call(method, send_compression=send_compression)
        head = proto.request_head(left, headers=call_headers)
        body = request_body(proto, _requests(chain, requests))
    except BaseException as exc:
        _raise_ended(chain, exc)
    kind = AsyncStreamCall if chain.idle else AsyncHookedStreamCall
    call: AsyncStreamCall[Res] = kind(
        client.transport, client._request(head, own, timeouts=timeouts), proto, outer, body
    )
    return await client_stream_result(_started(call, chain, cancel), metadata)


def hooked_bidi_stream(
    client: AsyncConnectClient,
    hooks: ClientHooks,
    method: MethodInfo[Req, Res],
    requests: RequestStream[Req] | None,
    headers: HeadersInput,
    timeout: float | None,
    send_compression: str | None,
    cancel: CancelToken | None,
    timeouts: tuple[float | None, float | None] | None = None,
) -> AsyncBidiStreamCall[Req, Res]:
    """:meth:`AsyncConnectClient.bidi_stream` through the client's interceptors."""
    chain, call_headers = hooks.start(method, headers, timeout)
    try:
        own, left, outer = client._deadline(timeout)
        proto = client.protocol.call(method, send_compression=send_compression)
        head = proto.request_head(left, headers=call_headers)
        body = None if requests is None else request_body(proto, _requests(chain, requests))
    except BaseException as exc:
        _raise_ended(chain, exc)
    kind = AsyncBidiStreamCall if chain.idle else AsyncHookedBidiStreamCall
    bidi: AsyncBidiStreamCall[Req, Res] = kind(
        client.transport, client._request(head, own, timeouts=timeouts), proto, outer, body
    )
    return _started(bidi, chain, cancel)
