## The async client classes of one generated module.
##
## Fed a FileModel (connect_python.codegen.model) and the renderer's
## placeholder registry `ph`: message types and proto-derived text go through
## `ph` so that the unasync transform, which derives the sync classes from
## this output, never rewrites them. Loops and ifs only.
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
        """Close the client's own transport (a shared one is left open)."""
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
        ${ph.doc(m.docstring, 8)}
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
        ${ph.doc(m.docstring, 8)}
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
        ${ph.doc(m.docstring, 8)}
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
        ${ph.doc(m.docstring, 8)}
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
