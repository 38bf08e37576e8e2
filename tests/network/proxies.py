"""Real proxy servers for the tests: ``pproxy`` (PyPI), started as a
subprocess on a loopback port, as an HTTP proxy (plain or over TLS, with a
certificate from ``trustme``) or a SOCKS5 proxy, with username/password
authentication."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "tester", "s3cret:pw"


@dataclass
class ProxyServer:
    """A running proxy: its URL (credentials included) and, for TLS, its CA."""

    url: str
    process: subprocess.Popen[bytes]
    ca_pem: str = ""

    def url_with(self, user: str, password: str) -> str:
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{user}:{password}@{rest.split('@', 1)[1]}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_proxy(kind: str, workdir: Path) -> ProxyServer:
    """``kind``: ``http``, ``https`` or ``socks5``."""
    port = _free_port()
    # pproxy's own syntax: scheme://host:port#user:password
    listen = {"http": "http", "https": "http+ssl", "socks5": "socks5"}[kind]
    args = [sys.executable, "-m", "pproxy", "-l", f"{listen}://127.0.0.1:{port}#{USER}:{PASSWORD}"]
    # Ask every connection for credentials (by default pproxy trusts an
    # address that authenticated once).
    args += ["--auth", "0"]
    ca_pem = ""
    if kind == "https":
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert_file, key_file = workdir / "proxy-cert.pem", workdir / "proxy-key.pem"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(cert_file), append=True)
        cert.private_key_pem.write_to_path(str(key_file))
        args += ["--ssl", f"{cert_file},{key_file}"]
        ca_pem = ca.cert_pem.bytes().decode()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"pproxy ({kind}) did not start") from None
            time.sleep(0.05)
    scheme = "socks5" if kind == "socks5" else kind
    url = f"{scheme}://{USER}:{PASSWORD.replace(':', '%3A')}@127.0.0.1:{port}"
    return ProxyServer(url, process, ca_pem)
