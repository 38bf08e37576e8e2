"""``DefaultHeaders``: headers every call of a client carries unless the call sets them."""

from __future__ import annotations

from .._headers import Headers, HeadersInput
from ._chain import CallHooks, CallInfo, Interceptor

__all__ = ["DefaultHeaders"]


class DefaultHeaders(Interceptor):
    """Adds ``headers`` to every call that does not send a header of the same
    name itself: a call's own header wins (all its values replace the default).

    It only edits the request headers when a call starts, so it costs nothing
    per message. ``headers`` may be a mapping, ``(name, value)`` pairs (a name
    may repeat) or :class:`Headers`; the object keeps its own copy.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: HeadersInput) -> None:
        self._headers = Headers(headers)

    def intercept(self, call: CallInfo) -> CallHooks | None:
        own = call.request_headers
        given = set(own)
        for name, value in self._headers.multi_items():
            if name not in given:
                own.add(name, value)
        return None
