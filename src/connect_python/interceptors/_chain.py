"""Interceptors as plain synchronous hooks over values, and the chain that runs them.

An interceptor never awaits: each hook takes a value (request headers, a
message, response headers, the end of the call) and returns one. That is why
one interceptor object serves the async and the sync client alike, on any
event loop or thread, and why running it costs a function call rather than a
task or a wrapper around the call's I/O. An interceptor that needs I/O of its
own (fetching a token) does it outside the call and hands the result in.

A client holds its interceptors once (:class:`ClientHooks`); each call asks
every interceptor for its per-call hooks (:meth:`Interceptor.intercept`), and
the call's :class:`CallChain` runs them. Interceptors that keep no per-call
state (default headers) return ``None`` and cost nothing per message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._code import Code
from .._errors import ConnectError
from .._headers import Headers, HeadersInput
from .._method import MethodInfo
from ._errors import map_http_status

__all__ = ["CallChain", "CallHooks", "CallInfo", "ClientHooks", "Interceptor"]


class CallInfo:
    """One call as interceptors see it when it starts.

    ``method`` is the RPC (its ``stream_type`` tells the call kind);
    ``request_headers`` the call's own headers, which :meth:`Interceptor.intercept`
    may change (the client's default headers and the protocol's own are added
    after, and a call's own header wins over a client default of the same
    name); ``base_url`` the client's; ``timeout`` the call's deadline in
    seconds as asked for (``None``: the client's default applies);
    ``protocol`` the client's (``"connect"``, ``"grpc"``, ``"grpc-web"``).
    """

    __slots__ = ("base_url", "method", "protocol", "request_headers", "timeout")

    def __init__(
        self,
        method: MethodInfo[Any, Any],
        request_headers: Headers,
        base_url: str,
        timeout: float | None,
        protocol: str = "connect",
    ) -> None:
        self.method = method
        self.request_headers = request_headers
        self.base_url = base_url
        self.timeout = timeout
        self.protocol = protocol


class CallHooks:
    """The hooks of one interceptor for one call: override what you need.

    :meth:`on_request` sees every request message before it is encoded;
    :meth:`on_response_headers` the response head once it arrived;
    :meth:`on_response` every response message before the caller gets it;
    :meth:`on_end` the end, exactly once, however the call ended (``error``
    is ``None`` for success; ``CANCELED`` when the caller closed, abandoned or
    cancelled the call). :meth:`on_request` and :meth:`on_response` return the
    message to pass on (the same one, or another); :meth:`on_end` the error
    the caller gets.

    Each hook runs at the moment its value passes, in the task (or thread)
    that drives the call; a bidi call's request iterable is consumed by a
    background task (a thread on the sync client), so its ``on_request``
    calls run there, at the same time as ``on_response`` may.
    """

    def on_request(self, message: Any) -> Any:
        """A request message about to be sent; returns the message to send."""
        return message

    def on_response_headers(self, headers: Headers) -> None:
        """The response headers (also for an error response)."""

    def on_response(self, message: Any) -> Any:
        """A response message; returns the message the caller gets."""
        return message

    def on_end(self, error: ConnectError | None, trailers: Headers) -> ConnectError | None:
        """The call is over. Returns the error the caller gets: ``error`` or
        another ``ConnectError`` in its place (returning ``None`` for a failed
        call is taken as keeping ``error``)."""
        return error


class Interceptor:
    """Base class of interceptors.

    :meth:`intercept` runs when a call starts: it may change
    ``call.request_headers`` and returns the :class:`CallHooks` that follow the
    call, or ``None`` when it has nothing more to see. One interceptor object
    serves every call of every client it is given to, async and sync, at the
    same time: keep per-call state in the hooks object, not on ``self``.
    """

    def intercept(self, call: CallInfo) -> CallHooks | None:
        """Start a call: edit its request headers, return its hooks (or ``None``)."""
        return None


def _failure(hook: object, exc: Exception) -> ConnectError:
    """The typed error for an interceptor that raised: ``UNKNOWN``, its
    exception as the cause, ``remote == False`` (the server did nothing)."""
    error = ConnectError(Code.UNKNOWN, f"interceptor {type(hook).__qualname__} failed: {exc!r}")
    error.__cause__ = exc
    return error


def _through(hooks: tuple[Any, ...], value: Any, *, chained: bool = True) -> Any:
    """``value`` through each bound hook in turn; a hook's ``ConnectError``
    propagates as is, anything else it raises becomes its :func:`_failure`.
    ``chained``: each hook's result is what the next one gets (the message
    hooks); otherwise every hook sees ``value`` (the header hooks)."""
    for hook in hooks:
        try:
            result = hook(value)
        except ConnectError:
            raise
        except Exception as exc:
            raise _failure(hook.__self__, exc) from exc
        if chained:
            value = result
    return value


_HOOK_NAMES = ("on_request", "on_response_headers", "on_response", "on_end")
#: Hooks class -> which of the four hooks it overrides (looked up once per class).
_OVERRIDES: dict[type, tuple[bool, bool, bool, bool]] = {}


def _overrides(kind: type) -> tuple[bool, bool, bool, bool]:
    """Which hooks ``kind`` overrides (the others are the no-op defaults)."""
    found = _OVERRIDES.get(kind)
    if found is None:
        a, b, c, d = (getattr(kind, n) is not getattr(CallHooks, n) for n in _HOOK_NAMES)
        found = _OVERRIDES[kind] = (a, b, c, d)
    return found


class CallChain:
    """The hooks of one call, run in order.

    Interceptors given as ``[a, b, c]`` wrap the call like layers: ``a`` is the
    outermost. Request headers and request messages pass ``a``, ``b``, ``c``;
    response headers, messages and the end pass ``c``, ``b``, ``a``. Only the
    hooks an interceptor overrides are called. A hook that raises something
    other than ``ConnectError`` fails the call with ``ConnectError(UNKNOWN)``
    (see :func:`_failure`); the call then ends (its stream reset) and every
    interceptor still sees the end.
    """

    __slots__ = (
        "_end",
        "_ended",
        "_headers",
        "_headers_seen",
        "_request",
        "_response",
        "_status_codes",
        "trailers",
    )

    def __init__(self, hooks: Sequence[CallHooks], status_codes: Mapping[int, Code] | None) -> None:
        request: list[Any] = []
        headers: list[Any] = []
        response: list[Any] = []
        end: list[Any] = []
        for hook in hooks:
            on_request, on_headers, on_response, on_end = _overrides(type(hook))
            if on_request:
                request.append(hook.on_request)
            if on_headers:
                headers.append(hook.on_response_headers)
            if on_response:
                response.append(hook.on_response)
            if on_end:
                end.append(hook.on_end)
        self._request = tuple(request)
        # Responses and ends pass the interceptors innermost first.
        self._headers = tuple(reversed(headers))
        self._response = tuple(reversed(response))
        self._end = tuple(reversed(end))
        self._status_codes = status_codes
        self._ended = False
        self._headers_seen = False
        #: The response trailers handed to :meth:`CallHooks.on_end`.
        self.trailers = Headers()

    @property
    def idle(self) -> bool:
        """Whether nothing runs after the call started (no hook, no status map)."""
        return not (
            self._request or self._headers or self._response or self._end or self._status_codes
        )

    @property
    def ended(self) -> bool:
        """Whether :meth:`end` ran."""
        return self._ended

    def request(self, message: Any) -> Any:
        """``message`` through every ``on_request`` hook."""
        return _through(self._request, message)

    def response_headers(self, headers: Headers) -> None:
        """Hand the response headers to every hook (once per call)."""
        if self._headers_seen:
            return
        self._headers_seen = True
        _through(self._headers, headers, chained=False)

    def response(self, message: Any) -> Any:
        """``message`` through every ``on_response`` hook."""
        return _through(self._response, message)

    def end(self, error: ConnectError | None) -> ConnectError | None:
        """End the call (once; later calls return ``error`` unchanged): the
        client's HTTP status map first, then every ``on_end`` hook, innermost
        first. Returns the error the caller gets."""
        if self._ended:
            return error
        self._ended = True
        if error is not None and self._status_codes is not None:
            error = map_http_status(error, self._status_codes)
        trailers = self.trailers
        for hook in self._end:
            try:
                error = hook(error, trailers) or error
            except ConnectError as exc:
                error = exc
            except Exception as exc:
                error = _failure(hook.__self__, exc)
        return error

    def end_by(self, exc: BaseException) -> ConnectError | None:
        """End the call because ``exc`` was raised through it; returns the
        ``ConnectError`` to raise instead of ``exc`` (``None``: re-raise ``exc``).

        A ``ConnectError`` goes through :meth:`end`. Anything else (the
        backend's cancellation, the caller's own exception, a failing request
        iterable) propagates unchanged; interceptors see it as ``CANCELED``
        (cancellation) or ``UNKNOWN``.
        """
        if isinstance(exc, ConnectError):
            return self.end(exc)
        if self._ended:
            return None
        if isinstance(exc, Exception):
            seen = ConnectError(Code.UNKNOWN, f"call failed: {exc!r}")
            seen.__cause__ = exc
        else:
            seen = ConnectError(Code.CANCELED, "call cancelled")
        self.end(seen)
        return None

    def abandon(self) -> None:
        """The caller closed the call before its end: interceptors see ``CANCELED``."""
        if not self._ended:
            self.end(ConnectError(Code.CANCELED, "call was closed before its end"))


class ClientHooks:
    """A client's interceptors and HTTP status map, as each call uses them."""

    __slots__ = ("base_url", "interceptors", "protocol", "status_codes")

    def __init__(
        self,
        interceptors: Sequence[Interceptor],
        status_codes: Mapping[int, Code] | None,
        base_url: str,
        protocol: str = "connect",
    ) -> None:
        self.interceptors = tuple(interceptors)
        self.status_codes = dict(status_codes) if status_codes else None
        self.base_url = base_url
        self.protocol = protocol

    @classmethod
    def make(
        cls,
        interceptors: Sequence[Interceptor] | None,
        status_codes: Mapping[int, Code] | None,
        base_url: str,
        protocol: str = "connect",
    ) -> ClientHooks | None:
        """``None`` when there is nothing to run: calls then take the plain path."""
        if not interceptors and not status_codes:
            return None
        for interceptor in interceptors or ():
            if not callable(getattr(interceptor, "intercept", None)):
                raise TypeError(f"not an interceptor (no intercept method): {interceptor!r}")
        for status, code in (status_codes or {}).items():
            if not isinstance(code, Code) or not isinstance(status, int):
                raise TypeError(f"http_status_codes maps an int status to a Code, got {status!r}")
        return cls(interceptors or (), status_codes, base_url, protocol)

    def start(
        self, method: MethodInfo[Any, Any], headers: HeadersInput, timeout: float | None
    ) -> tuple[CallChain, Headers]:
        """Start a call: (its chain, its request headers as the interceptors left them)."""
        info = CallInfo(method, Headers(headers), self.base_url, timeout, self.protocol)
        hooks: list[CallHooks] = []
        for interceptor in self.interceptors:
            try:
                made = interceptor.intercept(info)
            except Exception as exc:
                # The interceptors that started before this one see the end.
                error = exc if isinstance(exc, ConnectError) else _failure(interceptor, exc)
                final = CallChain(hooks, None).end(error) or error
                if final is exc:
                    raise
                raise final from exc
            if made is not None:
                hooks.append(made)
        return CallChain(hooks, self.status_codes), info.request_headers
