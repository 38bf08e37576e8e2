"""Interceptors: hooks that see and change every call of a client.

An interceptor is given to a client (``AsyncConnectClient(...,
interceptors=[...])``, ``ConnectClient``, or any generated client) and runs
for every call of every kind, in the order given (the first is the outermost).
Its hooks are plain synchronous functions over values, so one interceptor
object serves async and sync clients alike. See :class:`Interceptor` and
:class:`CallHooks`.

Shipped: :class:`DefaultHeaders`, :class:`LoggingInterceptor`, and (with the
``otel`` extra) ``connect_python.interceptors.otel.TracingInterceptor``.

Also here: the error map applied by a client's ``http_status_codes``
(:func:`map_http_status`, :func:`with_code`) and :func:`is_transport_failure`.
"""

from __future__ import annotations

from ._chain import CallChain, CallHooks, CallInfo, ClientHooks, Interceptor
from ._default_headers import DefaultHeaders
from ._errors import is_transport_failure, map_http_status, with_code
from ._logging import LoggingInterceptor

__all__ = [
    "CallChain",
    "CallHooks",
    "CallInfo",
    "ClientHooks",
    "DefaultHeaders",
    "Interceptor",
    "LoggingInterceptor",
    "is_transport_failure",
    "map_http_status",
    "with_code",
]
