"""The Go test server (``tests/server/``) as a child process.

:class:`TestServer` builds the binary with ``tests/server/build.sh`` (cached:
it only rebuilds when the Go or proto sources change), starts it, reads the
one JSON line it prints (:class:`ServerInfo`) and stops it. The server exits on
its own when its stdin closes, so a crashed test run never leaves it behind.
Its stderr goes to ``.cache/testserver.log``.

Raw misbehaviours (truncated streams, HTTP 502, bad envelopes...) are asked for
with :data:`RAW_HEADER` (``x-test-raw: <mode>``) or the ``raw`` field of
``EchoRequest``/``StreamRequest``; the modes are listed in ``testing.proto``
and in :data:`UNARY_RAW_MODES` / :data:`STREAM_RAW_MODES`.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType

__all__ = [
    "RAW_HEADER",
    "STREAM_RAW_MODES",
    "UNARY_RAW_MODES",
    "ServerInfo",
    "TestServer",
    "build_test_server",
    "pattern",
]

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_SCRIPT = ROOT / "tests" / "server" / "build.sh"
LOG_FILE = ROOT / ".cache" / "testserver.log"

RAW_HEADER = "x-test-raw"
UNARY_RAW_MODES = (
    "http_502",
    "http_404",
    "http_429",
    "http_503_json",
    "wrong_content_type",
    "invalid_json",
    "unknown_code",
)
STREAM_RAW_MODES = (
    "truncate",
    "no_end_stream",
    "bad_flags",
    "huge_length",
    "wrong_content_type",
    "http_502",
    "garbage_end_stream",
)


def pattern(size: int) -> bytes:
    """The payload the server generates for a size: byte ``j`` is ``j % 256``."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


@dataclass(frozen=True)
class ServerInfo:
    """Where a running test server listens.

    ``http`` serves HTTP/1.1 and h2c (prior knowledge); ``https`` offers h2 and
    http/1.1 through ALPN; ``https_h1`` offers only http/1.1. ``ca_pem`` is the
    path of the self-signed certificate both TLS ports use.
    """

    http: str
    https: str
    https_h1: str
    ca_pem: str
    #: With ``client_ca``: TLS ports that require a client certificate.
    https_mtls: str | None = None
    https_mtls_h1: str | None = None
    #: A Unix domain socket serving what ``http`` serves (its path).
    uds: str | None = None

    @cached_property
    def ca_pem_text(self) -> str:
        """The certificate itself, as PEM text."""
        with open(self.ca_pem, encoding="ascii") as f:
            return f.read()


def build_test_server(timeout: float = 900.0) -> Path:
    """Run ``tests/server/build.sh`` and return the binary's path."""
    try:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{BUILD_SCRIPT} took longer than {timeout} s") from exc
    if result.returncode != 0:
        raise RuntimeError(
            f"{BUILD_SCRIPT} failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
        )
    return Path(result.stdout.strip().splitlines()[-1])


class TestServer:
    """A running Go test server; use as a context manager or start()/stop()."""

    __test__ = False  # not a pytest test class

    def __init__(self, binary: Path | None = None, *, client_ca: Path | None = None) -> None:
        self._binary = binary
        self._args = ["-client-ca", str(client_ca)] if client_ca is not None else []
        self._proc: subprocess.Popen[bytes] | None = None
        self.info: ServerInfo | None = None

    def start(self, timeout: float = 30.0) -> ServerInfo:
        """Build if needed, start the server and wait for its address line."""
        if self._proc is not None:
            raise RuntimeError("test server already started")
        binary = self._binary or build_test_server()
        LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
        with LOG_FILE.open("ab") as log:
            log.write(
                f"--- start {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}\n".encode()
            )
            log.flush()
            self._proc = subprocess.Popen(
                [str(binary), *self._args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        try:
            line = self._read_line(timeout)
            data = json.loads(line)
            self.info = ServerInfo(
                http=data["http"],
                https=data["https"],
                https_h1=data["https_h1"],
                ca_pem=data["ca_pem"],
                https_mtls=data.get("https_mtls"),
                https_mtls_h1=data.get("https_mtls_h1"),
                uds=data.get("uds"),
            )
        except BaseException:
            self.stop()
            raise
        return self.info

    def _read_line(self, timeout: float) -> bytes:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"test server printed no address line in {timeout} s")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(
                        f"test server exited (code {proc.wait()}) before printing its "
                        f"address; see {LOG_FILE}"
                    )
                buf += chunk
        return buf.split(b"\n", 1)[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Close the server's stdin (it exits), killing it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
