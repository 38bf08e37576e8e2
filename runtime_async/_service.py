"""``AsyncServiceClient``: the base class of every generated async client.

A generated ``AsyncFooClient`` subclasses it and adds only its RPC methods,
each one attribute lookup (``self._client``) and one call into
:class:`AsyncConnectClient`. The constructor, closing and the context manager
live here, once, so generated code never repeats the runtime's options.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar, TypeVar

from connect_python._code import Code
from connect_python.interceptors import Interceptor
from connect_python.protocol import DEFAULT_READ_MAX_BYTES
from connect_python.protocol.codec import Codec

from ._client import AsyncConnectClient
from ._transport import AsyncTransport

__all__ = ["AsyncServiceClient"]

_Client = TypeVar("_Client", bound="AsyncServiceClient")


class AsyncServiceClient:
    """Base class of the generated clients: one subclass per service.

    A subclass adds the service's methods; everything else is here. Create a
    client with the server's base URL and options (see ``__init__``), call its
    methods, and close it (``async with client:``, or ``await client.aclose()``).
    """

    __slots__ = ("_client",)

    #: Set by a generated subclass whose service is marked ``deprecated``:
    #: the service's full name, and creating a client warns.
    _deprecated: ClassVar[str | None] = None

    def __init__(
        self,
        base_url: str,
        *,
        transport: AsyncTransport | None = None,
        protocol: str = "connect",
        codec: str | Codec = "proto",
        timeout: float | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        send_compression: str | None = None,
        accept_compression: Sequence[str] | None = None,
        compress_min_bytes: int = 1024,
        read_max_bytes: int | None = DEFAULT_READ_MAX_BYTES,
        interceptors: Sequence[Interceptor] = (),
        http_status_codes: Mapping[int, Code] | None = None,
        open_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        """Create a client of the service at ``base_url``.

        Use ``async with`` on it, or call ``aclose()`` when done. Arguments:

        - ``base_url``: ``http://`` or ``https://`` URL of the server, with any
          path prefix.
        - ``transport``: a connection pool (``AsyncTransport``) to share with
          other clients; by default the client makes its own (and closes it).
        - ``protocol``: ``"connect"`` (default), ``"grpc"`` (needs HTTP/2: an
          ``https://`` server offering h2, or ``AsyncTransport(h2c=True)``) or
          ``"grpc-web"``.
        - ``codec``: ``"proto"`` (default), ``"json"`` or a ``Codec``.
        - ``timeout``: default deadline of each call, in seconds (``None``: no
          deadline).
        - ``headers``: sent with every call (a mapping or ``(name, value)``
          pairs; a call's own header of the same name wins).
        - ``send_compression``: compression of requests: ``"gzip"``, ``"br"``
          or ``"zstd"`` (``None``: none).
        - ``accept_compression``: response encodings to accept (default: all
          available).
        - ``compress_min_bytes``: smaller messages are sent uncompressed.
        - ``read_max_bytes``: largest response message accepted (``None``: no
          limit).
        - ``interceptors``: run for every call, the first outermost (see
          ``connect_python.interceptors``).
        - ``http_status_codes``: codes for HTTP statuses of error responses
          that are not RPC responses (a proxy's ``{404: Code.NOT_FOUND}``), in
          place of the spec's mapping.
        - ``open_timeout``: seconds until a call's response starts, and
          ``idle_timeout``: seconds of each wait for response data (``None``:
          none; see ``AsyncConnectClient``).
        """
        if self._deprecated is not None:
            self._warn_deprecated(self._deprecated)
        self._client = AsyncConnectClient(
            base_url,
            transport=transport,
            protocol=protocol,
            codec=codec,
            timeout=timeout,
            headers=headers,
            send_compression=send_compression,
            accept_compression=accept_compression,
            compress_min_bytes=compress_min_bytes,
            read_max_bytes=read_max_bytes,
            interceptors=interceptors,
            http_status_codes=http_status_codes,
            open_timeout=open_timeout,
            idle_timeout=idle_timeout,
        )

    @staticmethod
    def _warn_deprecated(name: str) -> None:
        # stacklevel 3: past this function and the generated method (or
        # __init__) that calls it, to the line that used the deprecated API.
        warnings.warn(f"{name} is deprecated", DeprecationWarning, stacklevel=3)

    async def aclose(self) -> None:
        """Close the client (and the transport it made)."""
        await self._client.aclose()

    async def __aenter__(self: _Client) -> _Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
