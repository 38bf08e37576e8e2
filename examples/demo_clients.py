"""What the demo does with the generated clients (imported after generation)."""

from __future__ import annotations

from demo.process.v1 import process_pb2 as pb
from demo.process.v1.process_connect import AsyncProcessClient, ProcessClient

from connect_python import ConnectError
from connect_python.runtime_async import AsyncTransport
from connect_python.runtime_sync import Transport


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
    transport = AsyncTransport(h2c=True)
    async with AsyncProcessClient(url, transport=transport, codec="json", timeout=10) as client:
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
    with ProcessClient(url, transport=Transport(http2=False), timeout=10) as client:
        request = pb.StartRequest(process=pb.ProcessConfig(cmd="echo", args=["hello", "sync"]))
        with client.start(request) as call:
            for response in call:
                _show(response)
                if response.event.HasField("start"):
                    listing = client.list_(pb.ListRequest())
                    print(f"  running processes: {[p.pid for p in listing.processes]}")
