"""TLS options of the transport, end to end.

Client certificates against connect-go configured to require them (its
``https_mtls`` ports accept certificates issued by a CA this module makes with
``trustme``), over HTTP/2 and HTTP/1.1: the right certificate (path or PEM
text, key separate or not, key encrypted), none, one from another CA. Then the
options people expect: server name override, verification off, minimum TLS
version, and a typed ``UNAVAILABLE`` error with the ``ssl`` reason for each TLS
failure (unknown CA, expired or wrong-host certificate, ALPN mismatch), with
small Python TLS servers for the failures connect-go doesn't produce. The sync
twin runs the same cases.
"""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from _support import ServerInfo, TestServer
from _support.methods import ECHO, STREAM, pb
from cryptography.hazmat.primitives import serialization

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

PASSWORD = b"correct horse"


class Certs:
    """A client CA, a client certificate it issued, and one from another CA."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.client = self.ca.issue_cert("client.example")
        self.stranger = trustme.CA().issue_cert("client.example")
        self.ca_file = folder / "client-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        # One file with key and chain, and the two apart.
        self.combined = folder / "client.pem"
        self.client.private_key_and_cert_chain_pem.write_to_path(str(self.combined))
        self.chain = folder / "client-chain.pem"
        self.chain.write_bytes(b"".join(blob.bytes() for blob in self.client.cert_chain_pems))
        self.key = folder / "client-key.pem"
        self.client.private_key_pem.write_to_path(str(self.key))
        key = serialization.load_pem_private_key(self.client.private_key_pem.bytes(), None)
        self.encrypted_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD),
        ).decode()
        self.stranger_file = folder / "stranger.pem"
        self.stranger.private_key_and_cert_chain_pem.write_to_path(str(self.stranger_file))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("mtls"))


@pytest.fixture(scope="module")
def mtls_server(certs: Certs) -> Iterator[ServerInfo]:
    with TestServer(client_ca=certs.ca_file) as info:
        yield info


def mtls_url(server: ServerInfo, http: str) -> str:
    url = server.https_mtls if http == "h2" else server.https_mtls_h1
    assert url is not None
    return url


async def echo(url: str, **options: object) -> bytes:
    async with AsyncTransport(**options) as transport:  # type: ignore[arg-type]
        client = AsyncConnectClient(url, transport=transport, timeout=10)
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"hi"))
        return reply.payload


async def failure(url: str, **options: object) -> ConnectError:
    with pytest.raises(ConnectError) as info:
        await echo(url, **options)
    error = info.value
    assert error.code is Code.UNAVAILABLE
    assert not error.remote
    return error


# -- client certificates against connect-go ------------------------------------


@pytest.mark.parametrize("http", ["h2", "http1"])
@pytest.mark.parametrize("form", ["combined file", "chain and key files", "PEM text"])
async def test_client_certificate_accepted(
    mtls_server: ServerInfo, certs: Certs, http: str, form: str
) -> None:
    if form == "combined file":
        given = {"client_cert": str(certs.combined)}
    elif form == "chain and key files":
        given = {"client_cert": str(certs.chain), "client_key": str(certs.key)}
    else:
        given = {
            "client_cert": certs.chain.read_text(),
            "client_key": certs.key.read_text(),
        }
    url = mtls_url(mtls_server, http)
    assert await echo(url, ca_certs=mtls_server.ca_pem, **given) == b"hi"


async def test_client_certificate_with_encrypted_key(mtls_server: ServerInfo, certs: Certs) -> None:
    url = mtls_url(mtls_server, "h2")
    options = {"ca_certs": mtls_server.ca_pem, "client_cert": str(certs.chain)}
    reply = await echo(url, client_key=certs.encrypted_key, client_key_password=PASSWORD, **options)
    assert reply == b"hi"
    with pytest.raises(ValueError, match=r"^client certificate or key not usable: "):
        await echo(url, client_key=certs.encrypted_key, client_key_password=b"wrong", **options)


@pytest.mark.parametrize("http", ["h2", "http1"])
async def test_client_certificate_on_a_stream(
    mtls_server: ServerInfo, certs: Certs, http: str
) -> None:
    options = {"ca_certs": mtls_server.ca_pem, "client_cert": str(certs.combined)}
    async with AsyncTransport(**options) as transport:  # type: ignore[arg-type]
        client = AsyncConnectClient(mtls_url(mtls_server, http), transport=transport, timeout=10)
        async with client.server_stream(STREAM, pb.StreamRequest(count=3)) as stream:
            replies = [reply async for reply in stream]
    assert len(replies) == 3


async def test_client_certificate_into_a_given_context(
    mtls_server: ServerInfo, certs: Certs
) -> None:
    context = ssl.create_default_context(cafile=mtls_server.ca_pem)
    context.set_alpn_protocols(["h2"])
    url = mtls_url(mtls_server, "h2")
    assert await echo(url, ssl_context=context, client_cert=str(certs.combined)) == b"hi"


@pytest.mark.parametrize("http", ["h2", "http1"])
async def test_no_client_certificate(mtls_server: ServerInfo, http: str) -> None:
    error = await failure(mtls_url(mtls_server, http), ca_certs=mtls_server.ca_pem)
    assert error.message.startswith("TLS failure: the server requires a client certificate")
    assert isinstance(error.__cause__, ssl.SSLError)


@pytest.mark.parametrize("http", ["h2", "http1"])
async def test_client_certificate_from_another_ca(
    mtls_server: ServerInfo, certs: Certs, http: str
) -> None:
    error = await failure(
        mtls_url(mtls_server, http),
        ca_certs=mtls_server.ca_pem,
        client_cert=str(certs.stranger_file),
    )
    assert error.message == (
        "TLS failure: the server does not trust the client certificate's issuer"
        " [TLSV1_ALERT_UNKNOWN_CA]"
    )
    assert isinstance(error.__cause__, ssl.SSLError)


# -- verifying the server --------------------------------------------------------


async def test_unknown_ca(test_server: ServerInfo) -> None:
    error = await failure(test_server.https)
    host_port = test_server.https.removeprefix("https://")
    assert error.message == (
        f"TLS failure with {host_port}: the server's certificate is not trusted "
        "(self-signed certificate; see ca_certs=)"
    )
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


async def test_server_hostname_override(test_server: ServerInfo) -> None:
    # The test server's certificate names localhost and 127.0.0.1, not wrong.example.
    reply = await echo(test_server.https, ca_certs=test_server.ca_pem, server_hostname="localhost")
    assert reply == b"hi"
    error = await failure(
        test_server.https, ca_certs=test_server.ca_pem, server_hostname="wrong.example"
    )
    assert "the server's certificate failed verification (Hostname mismatch" in error.message
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


async def test_verify_false_logs_once(
    test_server: ServerInfo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="connect_python.transport")
    async with AsyncTransport(verify=False) as transport:
        client = AsyncConnectClient(test_server.https, transport=transport, timeout=10)
        for _ in range(3):
            assert (await client.unary(ECHO, pb.EchoRequest(payload=b"x"))).payload == b"x"
    assert [r.getMessage() for r in caplog.records] == [
        "TLS certificate verification is off (verify=False): "
        "any server can pose as the one you call"
    ]


class TLSServer:
    """A Python TLS server for failures connect-go does not produce: it
    completes (or fails) handshakes and closes each connection."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"https://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with self._context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def tls_server(certificate: trustme.LeafCert, **settings: object) -> Iterator[TLSServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(context)
    for name, value in settings.items():
        setattr(context, name, value)
    server = TLSServer(context)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def server_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def expired_server(server_ca: trustme.CA) -> Iterator[TLSServer]:
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    yield from tls_server(
        server_ca.issue_cert(
            "127.0.0.1", not_before=past, not_after=past + datetime.timedelta(days=1)
        )
    )


@pytest.fixture(scope="module")
def tls12_server(server_ca: trustme.CA) -> Iterator[TLSServer]:
    yield from tls_server(server_ca.issue_cert("127.0.0.1"), maximum_version=ssl.TLSVersion.TLSv1_2)


async def test_expired_server_certificate(expired_server: TLSServer, server_ca: trustme.CA) -> None:
    error = await failure(expired_server.url, ca_certs=server_ca.cert_pem.bytes().decode())
    assert error.message == (
        f"TLS failure with {expired_server.url.removeprefix('https://')}: the server's "
        "certificate failed verification (certificate has expired)"
    )


async def test_minimum_tls_version(tls12_server: TLSServer, server_ca: trustme.CA) -> None:
    ca = server_ca.cert_pem.bytes().decode()
    error = await failure(tls12_server.url, ca_certs=ca, tls_min_version=ssl.TLSVersion.TLSv1_3)
    assert "no TLS version in common (see tls_min_version)" in error.message
    assert isinstance(error.__cause__, ssl.SSLError)


async def test_http2_only_to_a_server_without_alpn(
    tls12_server: TLSServer, server_ca: trustme.CA
) -> None:
    # The Python server ignores ALPN: it picks nothing, which means HTTP/1.1.
    ca = server_ca.cert_pem.bytes().decode()
    error = await failure(tls12_server.url, ca_certs=ca, http1=False)
    assert error.message == (
        f"TLS with {tls12_server.url.removeprefix('https://')}: the server does not offer "
        "HTTP/2 through ALPN (it chose nothing), and this transport has http1=False"
    )


async def test_http2_only_to_an_http1_only_server(test_server: ServerInfo) -> None:
    error = await failure(test_server.https_h1, ca_certs=test_server.ca_pem, http1=False)
    assert error.message.endswith(
        ": no protocol in common through ALPN (the server speaks neither of the HTTP versions"
        " this transport offers) [tlsv1 alert no application protocol]"
    )


# -- options checked when the transport is made ----------------------------------


def test_option_errors(tmp_path: Path, certs: Certs) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ValueError, match=r"^client_cert: no such file"):
        AsyncTransport(client_cert=missing)
    with pytest.raises(ValueError, match=r"^client_key: no such file"):
        AsyncTransport(client_cert=str(certs.chain), client_key=missing)
    with pytest.raises(ValueError, match=r"^client_key and client_key_password need client_cert"):
        AsyncTransport(client_key=str(certs.key))
    with pytest.raises(ValueError, match=r"^verify=False with ssl_context"):
        AsyncTransport(verify=False, ssl_context=ssl.create_default_context())
    with pytest.raises(ValueError, match=r"^verify=False with ca_certs"):
        AsyncTransport(verify=False, ca_certs=str(certs.ca_file))
    with pytest.raises(TypeError, match=r"^tls_min_version must be an ssl.TLSVersion, not str"):
        AsyncTransport(tls_min_version="1.3")  # type: ignore[arg-type]
