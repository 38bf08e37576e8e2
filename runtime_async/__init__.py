"""The async runtime (asyncio and trio through anyio).

``runtime_sync`` is generated from this package by the unasync transform.
"""

from __future__ import annotations

from ._calls import AsyncBidiStreamCall, AsyncServerStreamCall, AsyncStreamCall
from ._client import AsyncConnectClient, ResponseMetadata
from ._service import AsyncServiceClient
from ._transport import AsyncTransport

__all__ = [
    "AsyncBidiStreamCall",
    "AsyncConnectClient",
    "AsyncServerStreamCall",
    "AsyncServiceClient",
    "AsyncStreamCall",
    "AsyncTransport",
    "ResponseMetadata",
]
