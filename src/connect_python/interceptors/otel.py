"""``TracingInterceptor``: an OpenTelemetry client span per call (the ``otel`` extra).

Follows the OpenTelemetry semantic conventions for RPC clients: a span of kind
``CLIENT`` named ``<package>.<Service>/<Method>`` with ``rpc.system``
(``connect_rpc``; ``grpc`` for a client speaking gRPC or gRPC-Web),
``rpc.service``, ``rpc.method``, ``server.address`` and ``server.port``; the
outcome as ``rpc.connect_rpc.error_code`` (the Connect code, on failure) or
``rpc.grpc.status_code`` (the gRPC number, always), and the span status
``ERROR`` on failure (every code but success is an error for a client).
Streaming calls record a ``message`` event per message with ``message.type``
(``SENT`` / ``RECEIVED``) and ``message.id`` (counted from 1 in each
direction). The span's context goes out in the request headers through the
global propagator (W3C ``traceparent`` by default), so the server's span joins
the caller's trace.

The span is the child of the context current where the call starts, and it is
not made current itself: hooks run where the call's values pass, not around
the call's awaits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._errors import ConnectError
from .._headers import Headers
from .._method import StreamType
from ._chain import CallHooks, CallInfo, Interceptor

if TYPE_CHECKING:
    from opentelemetry import trace

__all__ = ["TracingInterceptor"]

_INSTRUMENTATION = "connect_python"


class TracingInterceptor(Interceptor):
    """A client span per call, by the OpenTelemetry RPC conventions.

    ``tracer_provider`` defaults to the global one; ``message_events=False``
    leaves out the per-message events of streams. Put it first in a client's
    interceptors to have its span cover what the others do.
    """

    __slots__ = ("_inject", "_message_events", "_servers", "_span_kind", "_tracer", "_with_span")

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, *, message_events: bool = True
    ) -> None:
        # Imported here: the package imports this module's names without the extra.
        try:
            from opentelemetry import propagate, trace
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "TracingInterceptor needs OpenTelemetry: install connect-python-client[otel]"
            ) from exc
        self._tracer = trace.get_tracer(_INSTRUMENTATION, tracer_provider=tracer_provider)
        self._inject = propagate.inject
        self._with_span = trace.set_span_in_context
        self._span_kind = trace.SpanKind.CLIENT
        self._message_events = message_events
        #: base URL -> its server attributes (a client's base URL is fixed).
        self._servers: dict[str, dict[str, Any]] = {}

    def _server(self, base_url: str) -> dict[str, Any]:
        found = self._servers.get(base_url)
        if found is None:
            parts = urlsplit(base_url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            found = {"server.address": parts.hostname or "", "server.port": port}
            self._servers[base_url] = found
        return found

    def intercept(self, call: CallInfo) -> CallHooks | None:
        method = call.method
        grpc = call.protocol != "connect"
        attributes = {
            "rpc.system": "grpc" if grpc else "connect_rpc",
            "rpc.service": method.service,
            "rpc.method": method.name,
            **self._server(call.base_url),
        }
        span = self._tracer.start_span(method.path[1:], kind=self._span_kind, attributes=attributes)
        # The global propagator writes its fields (traceparent, ...) into a dict;
        # they replace any the call set itself.
        fields: dict[str, str] = {}
        self._inject(fields, context=self._with_span(span))
        headers = call.request_headers
        for name, value in fields.items():
            headers.set(name, value)
        if self._message_events and method.stream_type is not StreamType.UNARY:
            return _StreamSpan(span, grpc)
        return _CallSpan(span, grpc)


class _CallSpan(CallHooks):
    """Ends the span with the call's outcome."""

    __slots__ = ("_grpc", "_span")

    def __init__(self, span: trace.Span, grpc: bool) -> None:
        self._span = span
        self._grpc = grpc

    def on_end(self, error: ConnectError | None, trailers: Headers) -> ConnectError | None:
        span = self._span
        if self._grpc:
            span.set_attribute("rpc.grpc.status_code", 0 if error is None else error.code.number)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            if not self._grpc:
                span.set_attribute("rpc.connect_rpc.error_code", error.code.value)
            span.set_status(Status(StatusCode.ERROR, error.message or error.code.value))
        span.end()
        return error


class _StreamSpan(_CallSpan):
    """A streaming call's span, with an event per message."""

    __slots__ = ("_received", "_sent")

    def __init__(self, span: trace.Span, grpc: bool) -> None:
        super().__init__(span, grpc)
        self._sent = 0
        self._received = 0

    def on_request(self, message: Any) -> Any:
        self._sent += 1
        self._span.add_event("message", {"message.type": "SENT", "message.id": self._sent})
        return message

    def on_response(self, message: Any) -> Any:
        self._received += 1
        self._span.add_event("message", {"message.type": "RECEIVED", "message.id": self._received})
        return message
