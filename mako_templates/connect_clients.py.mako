## The async client classes of one generated module.
##
## Fed a FileModel (connect_python.codegen.model) and the renderer's
## placeholder registry `ph`: message types and proto-derived text go through
## `ph` so that the unasync transform, which derives the sync classes from
## this output, never rewrites them. Loops and ifs only, and the fixed text of
## the docstrings.
##
## Docstrings: the `__init__` docstring is a literal, so the unasync transform
## rewrites it for the sync class (`aclose` -> `close`, `async with` -> `with`).
## The method docstrings are the model's text plus ARGS, through `ph.doc`: they
## must read right in both classes as they are. List items are broken by hand
## to fit the narrowest supported line length (60) at their indentation;
## `ph.doc` wraps any longer line.
<%!
    _COMMON = (
        "",
        "Keyword arguments:",
        "",
        "- ``headers``: this call's headers (a name given",
        "  here replaces the client's).",
        "- ``timeout``: seconds; ``None``: the client's",
        "  default; ``math.inf``: no deadline.",
        "- ``send_compression``: this call's request",
        "  compression (``None``: the client's).",
        "- ``cancel``: a ``CancelToken`` that can end the",
        "  call with ``CANCELED``.",
    )
    _METADATA = (
        "- ``metadata``: a ``ResponseMetadata`` to receive",
        "  the response headers and trailers.",
    )
    _USE_GET = ("- ``use_get``: send the call as an HTTP GET.",)
    _STREAM = (
        "",
        "The call's ``response_headers`` and ``response_trailers`` hold the response metadata.",
    )
    ARGS = {
        "UNARY": _COMMON + _METADATA,
        "UNARY_GET": _COMMON + _METADATA + _USE_GET,
        "SERVER_STREAM": _STREAM + _COMMON,
        "CLIENT_STREAM": _COMMON + _METADATA,
        "BIDI_STREAM": _STREAM + _COMMON,
    }
%>\
<%def name="warn(name)">\
        _warn_deprecated(${name})
</%def>\
<%def name="headers_timeout()">\
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        timeout: float | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
</%def>\
% for svc in file.services:


% if svc.deprecated and decorate:
@deprecated(${ph.string(svc.full_name + " is deprecated")})
% endif
class ${svc.async_class}:
    ${ph.doc(svc.docstring, 4)}

    def __init__(
        self,
        base_url: str,
        *,
        transport: runtime_async.AsyncTransport | None = None,
        codec: str | Codec = "proto",
        timeout: float | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        send_compression: str | None = None,
        accept_compression: Sequence[str] | None = None,
        compress_min_bytes: int = 1024,
        read_max_bytes: int | None = 4 * 1024 * 1024,
    ) -> None:
        """Create a client of the service at ``base_url``.

        Use ``async with`` on it, or call ``aclose()`` when
        done. Arguments:

        - ``base_url``: ``http://`` or ``https://`` URL of
          the server, with any path prefix.
        - ``transport``: a connection pool
          (``AsyncTransport``) to share with other
          clients; by default the client makes its own.
        - ``codec``: ``"proto"`` (default), ``"json"`` or
          a ``Codec``.
        - ``timeout``: default deadline of each call, in
          seconds (``None``: no deadline).
        - ``headers``: sent with every call.
        - ``send_compression``: compression of requests:
          ``"gzip"``, ``"br"`` or ``"zstd"`` (``None``:
          none).
        - ``accept_compression``: response encodings to
          accept (default: all available).
        - ``compress_min_bytes``: smaller messages are
          sent uncompressed.
        - ``read_max_bytes``: largest response message
          accepted (``None``: no limit).
        """
% if svc.deprecated and not decorate:
${warn(svc.name_constant)}\
% endif
        self._client = runtime_async.AsyncConnectClient(
            base_url,
            transport=transport,
            codec=codec,
            timeout=timeout,
            headers=headers,
            send_compression=send_compression,
            accept_compression=accept_compression,
            compress_min_bytes=compress_min_bytes,
            read_max_bytes=read_max_bytes,
        )

    async def aclose(self) -> None:
        """Close the client (and the transport it made)."""
        await self._client.aclose()

    async def __aenter__(self) -> ${svc.async_class}:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
% for m in svc.methods:

% if m.deprecated and decorate:
    @deprecated(${ph.string(m.path + " is deprecated")})
% endif
% if m.kind == "UNARY":
    async def ${m.python_name}(
        self,
        request: ${ph.ref(m.input)},
        *,
${headers_timeout()}\
        metadata: runtime_async.ResponseMetadata | None = None,
% if m.get_allowed:
        use_get: bool = False,
% endif
    ) -> ${ph.ref(m.output)}:
        ${ph.doc(m.docstring + ARGS["UNARY_GET" if m.get_allowed else "UNARY"], 8)}
% if m.deprecated and not decorate:
${warn(m.constant + ".path")}\
% endif
        return await self._client.unary(
            ${m.constant},
            request,
            headers=headers,
            timeout=timeout,
            send_compression=send_compression,
            cancel=cancel,
% if m.get_allowed:
            use_get=use_get,
% endif
            metadata=metadata,
        )
% elif m.kind == "SERVER_STREAM":
    def ${m.python_name}(
        self,
        request: ${ph.ref(m.input)},
        *,
${headers_timeout()}\
    ) -> runtime_async.AsyncServerStreamCall[${ph.ref(m.output)}]:
        ${ph.doc(m.docstring + ARGS["SERVER_STREAM"], 8)}
% if m.deprecated and not decorate:
${warn(m.constant + ".path")}\
% endif
        return self._client.server_stream(
            ${m.constant},
            request,
            headers=headers,
            timeout=timeout,
            send_compression=send_compression,
            cancel=cancel,
        )
% elif m.kind == "CLIENT_STREAM":
    async def ${m.python_name}(
        self,
        requests: _AsyncRequests[${ph.ref(m.input)}],
        *,
${headers_timeout()}\
        metadata: runtime_async.ResponseMetadata | None = None,
    ) -> ${ph.ref(m.output)}:
        ${ph.doc(m.docstring + ARGS["CLIENT_STREAM"], 8)}
% if m.deprecated and not decorate:
${warn(m.constant + ".path")}\
% endif
        return await self._client.client_stream(
            ${m.constant},
            requests,
            headers=headers,
            timeout=timeout,
            send_compression=send_compression,
            cancel=cancel,
            metadata=metadata,
        )
% else:
    def ${m.python_name}(
        self,
        requests: _AsyncRequests[${ph.ref(m.input)}] | None = None,
        *,
${headers_timeout()}\
    ) -> runtime_async.AsyncBidiStreamCall[${ph.ref(m.input)}, ${ph.ref(m.output)}]:
        ${ph.doc(m.docstring + ARGS["BIDI_STREAM"], 8)}
% if m.deprecated and not decorate:
${warn(m.constant + ".path")}\
% endif
        return self._client.bidi_stream(
            ${m.constant},
            requests,
            headers=headers,
            timeout=timeout,
            send_compression=send_compression,
            cancel=cancel,
        )
% endif
% endfor
% endfor
