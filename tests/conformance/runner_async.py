"""Runs one conformance case with the generated async client, through public API only.

Written once: ``client.py --mode sync`` runs its sync twin, which the project's
unasync transform makes from this file with the renames it applies to the
runtime and the generated clients (the async client class and runtime become
the sync ones, the concurrency testing hook its sync half, ``async`` and
``await`` go). What only one flavour has (the event loop, worker threads,
reading stdin) stays in ``client.py``.

Cancellation is done the way an application does it: a :class:`CancelToken`
given to the call (``cancel=token``) and cancelled from a background task (a
thread in the sync flavour) after the delay the case asks for, or from the
request stream instead of closing it; a streaming call's own ``cancel()`` after
N responses. Either way the call ends with ``ConnectError(CANCELED)``, which is
what the runner expects to be reported.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from _support.concurrency.shim_async import Background, Event, Lock, sleep
from cases import UNARY_METHODS, Outcome, Plan, log, reached
from connectrpc.conformance.v1.client_compat_pb2 import ClientCompatRequest, ClientCompatResponse
from connectrpc.conformance.v1.service_connect import AsyncConformanceServiceClient

from connect_python import CancelToken, ConnectError
from connect_python.runtime_async import AsyncTransport, ResponseMetadata

__all__ = ["AsyncPools", "handle", "run"]


class AsyncPools:
    """One transport per (HTTP version, server certificate, client certificate), shared by every
    case that needs it, as an application shares one connection pool."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._pools: dict[tuple[bool, str | None, str | None], AsyncTransport] = {}

    async def get(self, plan: Plan) -> AsyncTransport:
        async with self._lock:
            transport = self._pools.get(plan.pool_key)
            if transport is None:
                # TLS: ALPN offers only h2 or only http/1.1; plain text over
                # HTTP/2: h2c with prior knowledge.
                transport = AsyncTransport(
                    http1=not plan.http2,
                    http2=plan.http2,
                    h2c=plan.http2,
                    ca_certs=plan.ca_certs,
                    client_cert=plan.client_cert,
                    client_key=plan.client_key,
                )
                self._pools[plan.pool_key] = transport
            return transport

    async def aclose(self) -> None:
        for transport in self._pools.values():
            await transport.aclose()


async def handle(data: bytes, pools: AsyncPools) -> ClientCompatResponse:
    """The answer to one ``ClientCompatRequest`` (serialized in ``data``)."""
    req = ClientCompatRequest.FromString(data)
    response = ClientCompatResponse(test_name=req.test_name)
    try:
        out = await run(Plan(req), pools)
    except Exception as exc:  # the RPC could not be attempted, or the client broke
        log(f"{req.test_name}: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        response.error.message = f"{type(exc).__name__}: {exc}"
    else:
        response.response.CopyFrom(out.result())
    return response


async def run(plan: Plan, pools: AsyncPools) -> Outcome:
    """Run the case; an error the call raised (a cancellation too) is in the outcome."""
    client = AsyncConformanceServiceClient(
        plan.base_url, transport=await pools.get(plan), **plan.client_options()
    )
    out = Outcome()
    async with client:  # a shared transport stays open
        try:
            if plan.method in UNARY_METHODS:
                await _unary(client, plan, out)
            elif plan.method == "ServerStream":
                await _server_stream(client, plan, out)
            elif plan.method == "ClientStream":
                await _client_stream(client, plan, out)
            else:
                await _bidi_stream(client, plan, out)
        except ConnectError as exc:
            out.fail(exc)
    return out


async def _cancel_at(token: CancelToken, at: float) -> None:
    await sleep(max(0.0, at - time.monotonic()))
    token.cancel()


class _Timer:
    """Cancels ``token`` ``delay`` seconds from now (counted from here, not
    from when its background task first runs), unless stopped.

    Under CPU load the event loop can be busy well past the cancel time, and
    the timer's task then wakes in the same scheduling round as a response the
    server sent 200 ms after it, in either order (trio shuffles each round):
    the response would be taken before the cancel although the cancel came
    first. (The sync flavour's timer thread can be held back the same way.)
    So the reader asks :meth:`overdue` about everything it takes after the
    timer started, and cancels the call itself when the timer is late.
    """

    def __init__(self, token: CancelToken, delay: float) -> None:
        self._token = token
        self._at = time.monotonic() + delay
        self._task = Background(_cancel_at, token, self._at)

    def overdue(self) -> bool:
        """Whether the cancel time has passed; if so, cancel now (the timer's
        task or thread may not have run yet)."""
        if time.monotonic() < self._at:
            return False
        self._token.cancel()
        return True

    def stop(self) -> None:
        # Sync: the thread cannot be stopped; it cancels a call that is over,
        # which does nothing.
        self._task.cancel()


def _timer(token: CancelToken, delay: float | None) -> _Timer | None:
    return None if delay is None else _Timer(token, delay)


async def _unary(client: AsyncConformanceServiceClient, plan: Plan, out: Outcome) -> None:
    meta = ResponseMetadata()
    token = CancelToken()
    # A unary request is complete as soon as the call starts: the cancel time
    # counts from there.
    timer = _timer(token, plan.cancel_after_close)
    kw: dict[str, Any] = {
        "headers": plan.headers,
        "timeout": plan.timeout,
        "metadata": meta,
        "cancel": token,
    }
    request = plan.single()
    try:
        if plan.method == "Unary":
            response: Any = await client.unary(request, **kw)
        elif plan.method == "IdempotentUnary":
            response = await client.idempotent_unary(request, use_get=plan.use_get, **kw)
        else:
            response = await client.unimplemented(request, **kw)
        out.add(response)
    finally:
        out.headers, out.trailers = meta.headers, meta.trailers
        if timer is not None:
            timer.stop()


async def _read(call: Any, plan: Plan, out: Outcome, timer: _Timer | None = None) -> None:
    while True:
        message = await call.receive()
        if timer is not None and timer.overdue():
            # This message (or the stream's end) was taken after the cancel
            # time (see _Timer): the cancel came first. The call reports it
            # (the next receive raises CANCELED); its own cancel, as a call
            # that has just taken its end is no longer the token's.
            call.cancel()
            timer = None
            continue
        if message is None:
            return
        out.add(message)
        out.headers = call.response_headers
        if reached(plan, out):
            call.cancel()


async def _server_stream(client: AsyncConformanceServiceClient, plan: Plan, out: Outcome) -> None:
    token = CancelToken()
    call = client.server_stream(
        plan.single(), headers=plan.headers, timeout=plan.timeout, cancel=token
    )
    timer = _timer(token, plan.cancel_after_close)
    try:
        async with call:
            await _read(call, plan, out, timer)
    finally:
        out.headers, out.trailers = call.response_headers, call.response_trailers
        if timer is not None:
            timer.stop()


async def _client_stream(client: AsyncConformanceServiceClient, plan: Plan, out: Outcome) -> None:
    meta = ResponseMetadata()
    token = CancelToken()
    timers: list[_Timer] = []

    async def requests() -> AsyncIterator[Any]:
        for message in plan.messages:
            if plan.delay:
                await sleep(plan.delay)
            yield message
        if plan.cancel_before_close:
            # Cancel instead of closing the request stream: the request never
            # ends, the cancellation ends this wait and the call.
            token.cancel()
            await Event().wait()
        elif plan.cancel_after_close is not None:
            timers.append(_Timer(token, plan.cancel_after_close))

    try:
        response = await client.client_stream(
            requests(), headers=plan.headers, timeout=plan.timeout, metadata=meta, cancel=token
        )
        out.add(response)
    finally:
        out.headers, out.trailers = meta.headers, meta.trailers
        for timer in timers:
            timer.stop()


async def _bidi_stream(client: AsyncConformanceServiceClient, plan: Plan, out: Outcome) -> None:
    token = CancelToken()
    call = client.bidi_stream(headers=plan.headers, timeout=plan.timeout, cancel=token)
    timer = None
    try:
        async with call:
            for message in plan.messages:
                if plan.delay:
                    await sleep(plan.delay)
                await call.send(message)
                if plan.full_duplex:
                    response = await call.receive()
                    if response is None:
                        break
                    out.add(response)
                    out.headers = call.response_headers
                    if reached(plan, out):
                        call.cancel()
            if plan.cancel_before_close:
                call.cancel()
            else:
                # close_send() may also wait for the response headers, which a
                # server can hold back until its first message: start the
                # cancel timer as the request stream closes.
                timer = _timer(token, plan.cancel_after_close)
                await call.close_send()
            out.headers = call.response_headers
            await _read(call, plan, out, timer)
    finally:
        out.headers, out.trailers = call.response_headers, call.response_trailers
        if timer is not None:
            timer.stop()
