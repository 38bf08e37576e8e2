## The async client classes of one generated module.
##
## Fed a FileModel (connect_python.codegen.model) and the renderer's
## placeholder registry `ph`: message types and proto-derived text go through
## `ph` so that the unasync transform, which derives the sync classes from
## this output, never rewrites them. Loops and ifs only, and the fixed text of
## the docstrings.
##
## Each class subclasses the runtime's AsyncServiceClient (constructor,
## aclose, context manager) and adds its service's methods.
##
## One layout, whatever the line length: `ruff format` keeps it at any
## --line-length, so nothing here measures lines. Brackets holding more than
## one item end with a magic trailing comma (always one item per line); a
## bracket around a single message type has a comment line in it (ruff keeps
## a bracket with a comment open; a one-item subscript has no magic comma);
## every fixed line fits in 60 columns. Only docstrings depend on the line
## length (`ph.doc` wraps them).
##
## Method docstrings are the model's text plus ARGS, through `ph.doc`: they
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
        "- ``open_timeout``: seconds until the response",
        "  starts (``None``: the client's; ``math.inf``:",
        "  none).",
        "- ``idle_timeout``: seconds of each wait for",
        "  response data (``None``: the client's;",
        "  ``math.inf``: none).",
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
        self._warn_deprecated(
            ${name},
        )
</%def>\
<%def name="headers_timeout()">\
        headers: _Headers | None = None,
        timeout: float | None = None,
        send_compression: str | None = None,
        cancel: CancelToken | None = None,
        open_timeout: float | None = None,
        idle_timeout: float | None = None,
</%def>\
% for svc in file.services:


% if svc.deprecated and decorate:
@deprecated(
    ${ph.string(svc.full_name + " is deprecated")},
)
% endif
class ${svc.async_class}(
    runtime_async.AsyncServiceClient,
):
    ${ph.doc(svc.docstring, 4)}
% if svc.deprecated and not decorate:

    _deprecated = ${svc.name_constant}
% endif
% for m in svc.methods:

% if m.deprecated and decorate:
    @deprecated(
        ${ph.string(m.path + " is deprecated")},
    )
% endif
% if m.kind == "UNARY":
    async def ${m.python_name}(
        self,
        request: ${ph.ref(m.input)},
        *,
${headers_timeout()}\
        metadata: _AsyncMetadata | None = None,
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
            open_timeout=open_timeout,
            idle_timeout=idle_timeout,
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
    ) -> runtime_async.AsyncServerStreamCall[
        # the response message
        ${ph.ref(m.output)}
    ]:
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
            open_timeout=open_timeout,
            idle_timeout=idle_timeout,
        )
% elif m.kind == "CLIENT_STREAM":
    async def ${m.python_name}(
        self,
        requests: _AsyncRequests[
            # the request message
            ${ph.ref(m.input)}
        ],
        *,
${headers_timeout()}\
        metadata: _AsyncMetadata | None = None,
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
            open_timeout=open_timeout,
            idle_timeout=idle_timeout,
            metadata=metadata,
        )
% else:
    def ${m.python_name}(
        self,
        requests: _AsyncRequestsOrNone[
            # the request message
            ${ph.ref(m.input)}
        ] = None,
        *,
${headers_timeout()}\
    ) -> runtime_async.AsyncBidiStreamCall[
        ${ph.ref(m.input)},
        ${ph.ref(m.output)},
    ]:
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
            open_timeout=open_timeout,
            idle_timeout=idle_timeout,
        )
% endif
% endfor
% endfor
