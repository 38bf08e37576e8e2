"""Errors from servers that are not (or not here) Connect servers say what happened.

A newcomer's first mistakes, against real peers: a wrong base path (the Go test
server's 404), a plain web server (Python's ``http.server``: a 501 HTML page),
a gRPC-only server (``grpcio``) over HTTP/1.1 and over h2c, and h2c against a
server that speaks only HTTP/1.1. The message names the request (method and
full URL) when a response arrived, quotes a short summary of a body that is not
Connect (the whole body stays on ``http_body``), and hints at the protocol or
HTTP version. The sync twin asserts the same texts.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from _support import ServerInfo
from _support.methods import ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.rawhttp import RawServer

ECHO_PATH = "/connectpy.testing.v1.TestService/Echo"
STREAM_PATH = "/connectpy.testing.v1.TestService/Stream"
H2C_HINT = "the server may not speak HTTP/2 without TLS (h2c); for an http:// URL try h2c=False"


async def call(url: str, kind: str, **transport: bool) -> ConnectError:
    """The error of one unary or server-stream call to ``url``."""
    async with AsyncTransport(**transport) as t:
        client = AsyncConnectClient(url, transport=t, timeout=10)
        with pytest.raises(ConnectError) as info:
            if kind == "unary":
                await client.unary(ECHO, pb.EchoRequest(payload=b"hi"))
            else:
                async with client.server_stream(STREAM, pb.StreamRequest(count=1)) as stream:
                    async for _ in stream:
                        pass
        return info.value


def path_of(kind: str) -> str:
    return ECHO_PATH if kind == "unary" else STREAM_PATH


@pytest.mark.parametrize("kind", ["unary", "stream"])
@pytest.mark.parametrize("h2c", [False, True], ids=["h1", "h2c"])
async def test_wrong_base_path_names_the_url(test_server: ServerInfo, kind: str, h2c: bool) -> None:
    base = test_server.http + "/wrong/"
    err = await call(base, kind, h2c=h2c)
    assert err.code is Code.UNIMPLEMENTED
    assert err.http_status == 404
    assert err.remote
    assert err.message == (
        f"POST {test_server.http}/wrong{path_of(kind)}: HTTP 404 Not Found, not a Connect "
        'response (content-type text/plain; charset=utf-8): "404 page not found"; is the '
        "base URL right? The server has no handler at this path (calls go to "
        "<base URL>/<package>.<Service>/<Method>)"
    )
    assert err.http_body == b"404 page not found\n"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web_server() -> Iterator[str]:
    """Python's own HTTP/1.x file server: it answers POST with a 501 HTML page."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("kind", ["unary", "stream"])
async def test_html_error_page_is_summarised(web_server: str, kind: str) -> None:
    err = await call(web_server, kind)
    assert err.code is Code.UNKNOWN
    assert err.http_status == 501
    assert err.message == (
        f"POST {web_server}{path_of(kind)}: HTTP 501 Not Implemented, not a Connect response "
        '(content-type text/html;charset=utf-8): "Error response Error response Error code: '
        "501 Message: Unsupported method ('POST'). Error code explanation: 501 - Server does "
        'not support this operation."'
    )
    assert err.http_body is not None
    assert err.http_body.startswith(b"<!DOCTYPE HTML>")
    assert b"<title>Error response</title>" in err.http_body


@pytest.mark.parametrize("kind", ["unary", "stream"])
async def test_h2c_against_a_server_that_speaks_http1_only(web_server: str, kind: str) -> None:
    # http.server answers the HTTP/2 preface with an HTML page (HTTP/0.9 style).
    err = await call(web_server, kind, h2c=True)
    assert err.code is Code.UNAVAILABLE
    assert not err.remote
    assert err.message == (
        f"the server's answer is not HTTP/2 (it starts with b'<!DOCTYPE HTML>\\n'); {H2C_HINT}"
    )


H1_505 = (
    b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\n505 HTTP Version Not Supported"
)
H1_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("kind", ["unary", "stream"])
async def test_h2c_answered_with_http1_and_closed(kind: str) -> None:
    with RawServer(H1_505, read="preface") as server:
        err = await call(server.url, kind, h2c=True)
    assert err.code is Code.UNAVAILABLE
    assert err.message == (
        "the server answered HTTP/2 with HTTP/1.x ('HTTP/1.1 505 HTTP Version Not Supported'); "
        + H2C_HINT
    )


@pytest.mark.parametrize("kind", ["unary", "stream"])
async def test_h2c_answered_with_http1_on_an_open_connection_fails_at_once(kind: str) -> None:
    # The server keeps the connection open: only the first bytes tell.
    with RawServer(H1_400, read="preface", keep_open=True) as server:
        start = time.monotonic()
        err = await call(server.url, kind, h2c=True)
        elapsed = time.monotonic() - start
    assert err.code is Code.UNAVAILABLE
    assert err.message == (
        f"the server answered HTTP/2 with HTTP/1.x ('HTTP/1.1 400 Bad Request'); {H2C_HINT}"
    )
    assert elapsed < 5  # not the call's 10 s deadline


@pytest.fixture(scope="module")
def grpc_server() -> Iterator[str]:
    """A gRPC server (grpcio, no services): it speaks HTTP/2 and gRPC only."""
    executor = futures.ThreadPoolExecutor(max_workers=2)
    server = grpc.server(executor)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop(None).wait(5)
        executor.shutdown(wait=True)


@pytest.mark.parametrize("kind", ["unary", "stream"])
async def test_grpc_server_over_h2c(grpc_server: str, kind: str) -> None:
    err = await call(grpc_server, kind, h2c=True)
    assert err.code is Code.INTERNAL
    assert err.message == (
        "stream reset by the server: INTERNAL_ERROR; the server reset the request without "
        "answering it: it may not be a Connect server (a gRPC-only server resets Connect "
        "requests so)"
    )


@pytest.mark.parametrize("kind", ["unary", "stream"])
async def test_grpc_server_over_http1(grpc_server: str, kind: str) -> None:
    err = await call(grpc_server, kind)
    assert err.code is Code.UNAVAILABLE
    assert err.message == (
        "protocol error from peer: the server answered with HTTP/2 frames: it speaks only "
        "HTTP/2 (gRPC servers do); for an http:// URL use h2c=True (HTTP/2 without TLS)"
    )


GRPC_415 = (
    b"HTTP/1.1 415 Unsupported Media Type\r\ncontent-type: application/grpc\r\n"
    b"grpc-status: 3\r\ngrpc-message: invalid gRPC request content-type\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


@pytest.mark.parametrize("kind", ["unary", "stream"])
async def test_grpc_content_type_answer(kind: str) -> None:
    # What grpc-go answers a request whose content type is not gRPC.
    with RawServer(GRPC_415) as server:
        err = await call(server.url, kind)
    assert err.code is Code.UNKNOWN
    assert err.http_status == 415
    assert err.message == (
        f"POST {server.url}{path_of(kind)}: HTTP 415 Unsupported Media Type, not a Connect "
        "response (content-type application/grpc): empty body; the server answered with "
        "content-type application/grpc: it speaks gRPC, not Connect"
    )
