"""The Connect client runtime: ``AsyncConnectClient`` (calls from options),
``AsyncTransport`` (the connection pool), the call objects, and
``AsyncServiceClient`` (the base class of generated clients).

Two flavours share this code: one for asyncio and trio (through anyio),
written by hand, and a blocking one generated from it by the project's
unasync transform.
"""

from __future__ import annotations

from ._bidi_call import AsyncBidiStreamCall
from ._calls import AsyncServerStreamCall, AsyncStreamCall
from ._client import AsyncConnectClient
from ._service import AsyncServiceClient
from ._transport import AsyncTransport
from ._unary import ResponseMetadata

__all__ = [
    "AsyncBidiStreamCall",
    "AsyncConnectClient",
    "AsyncServerStreamCall",
    "AsyncServiceClient",
    "AsyncStreamCall",
    "AsyncTransport",
    "ResponseMetadata",
]
