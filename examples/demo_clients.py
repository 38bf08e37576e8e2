"""What the demo does with the generated clients (imported after generation).

It uses them the way an SDK for the envd-like Process service would: one list
of interceptors for every client, async and sync alike, adding the SDK's
headers to every call (a call's own header of the same name wins) and logging
each call (start, end with its code and duration) to the SDK's logger; an
application turns that on with ``logging.basicConfig(level=logging.INFO)``
(``DEBUG`` adds a record per message).
"""

from __future__ import annotations

import logging

from demo.process.v1 import process_pb2 as pb
from demo.process.v1.process_connect import AsyncProcessClient, ProcessClient

from connect_python import Code, ConnectError, RetryPolicy
from connect_python.interceptors import DefaultHeaders, Interceptor, LoggingInterceptor
from connect_python.runtime_async import AsyncTransport
from connect_python.runtime_sync import Transport

#: The SDK's interceptors: plain objects, shared by its async and sync clients.
SDK_INTERCEPTORS: list[Interceptor] = [
    DefaultHeaders({"user-agent": "demo-sdk/1.0", "x-access-token": "demo-token"}),
    LoggingInterceptor(logging.getLogger("demo_sdk.rpc")),
]

#: The SDK's retries: requests never written (a refused dial, a refused
#: stream) always; an UNAVAILABLE from the edge proxy for idempotent methods.
SDK_RETRIES = RetryPolicy(4, initial_backoff=0.1, retry_codes={Code.UNAVAILABLE})


def _show(response: pb.StartResponse) -> None:
    event = response.event
    kind = event.WhichOneof("event")
    if kind == "start":
        print(f"  started pid {event.start.pid}")
    elif kind == "data":
        out = event.data.stdout or event.data.stderr
        stream = "stdout" if event.data.HasField("stdout") else "stderr"
        print(f"  {stream}: {out.decode().rstrip()}")
    elif kind == "end":
        print(f"  ended: {event.end.status}")


async def run_async(url: str) -> None:
    """List, start a command and stream its output, feed stdin: async client."""
    # One HTTP/2 connection per sandbox, kept alive by PINGs while calls are open
    # (a paused sandbox or a dead path is noticed within 30 + 10 s).
    transport = AsyncTransport(
        h2c=True, retries=SDK_RETRIES, http2_ping_interval=30, http2_ping_timeout=10
    )
    async with AsyncProcessClient(
        url, transport=transport, codec="json", timeout=10, interceptors=SDK_INTERCEPTORS
    ) as client:
        request = pb.StartRequest(process=pb.ProcessConfig(cmd="echo", args=["hello", "async"]))
        async with client.start(request, headers={"keepalive-ping-interval": "50"}) as call:
            async for response in call:
                _show(response)
                if response.event.HasField("start"):
                    # Another call while the stream is open (same connection on h2c).
                    listing = await client.list_(pb.ListRequest())
                    print(f"  running processes: {[p.pid for p in listing.processes]}")
        stdin = [
            pb.StreamInputRequest(pid=1, input=pb.ProcessInput(stdin=b"line\n")) for _ in range(3)
        ]
        sent = await client.stream_input(stdin)
        print(f"  stdin bytes received by the server: {sent.bytes_received}")
        try:
            await client.send_signal(pb.SendSignalRequest(pid=1, signal="SIGTERM"), timeout=5)
        except ConnectError as exc:
            print(f"  send_signal failed: {exc.code.value}: {exc.message}")
    await transport.aclose()


def run_sync(url: str) -> None:
    """The same with the sync client, over HTTP/1.1."""
    with (
        Transport(http2=False, retries=SDK_RETRIES) as transport,
        ProcessClient(
            url, transport=transport, timeout=10, interceptors=SDK_INTERCEPTORS
        ) as client,
    ):
        request = pb.StartRequest(process=pb.ProcessConfig(cmd="echo", args=["hello", "sync"]))
        with client.start(request) as call:
            for response in call:
                _show(response)
                if response.event.HasField("start"):
                    listing = client.list_(pb.ListRequest())
                    print(f"  running processes: {[p.pid for p in listing.processes]}")
