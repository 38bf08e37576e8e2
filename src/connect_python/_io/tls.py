"""The transport's TLS settings: the ``ssl.SSLContext`` made from its options,
what ALPN settled on, and the words for a failed handshake.

Options are checked when the transport is made (a missing file or a bad
combination is a ``ValueError`` there, not a failed call later); the context is
built on the first ``https://`` connection, because loading the system trust
store costs tens of milliseconds.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import tempfile
from dataclasses import dataclass

from .._code import Code
from .._errors import ConnectError

__all__ = ["TLSOptions", "negotiated_http2", "tls_cause", "tls_error"]

_log = logging.getLogger("connect_python.transport")


def _is_pem(value: str) -> bool:
    return value.lstrip().startswith("-----BEGIN")


def _check_source(option: str, value: str | None) -> None:
    if value is not None and not _is_pem(value) and not os.path.isfile(value):
        raise ValueError(f"{option}: no such file {value!r} (expected a path or PEM text)")


@dataclass(frozen=True)
class TLSOptions:
    """What the transport was given about TLS (see ``AsyncTransport``)."""

    http1: bool
    http2: bool
    ssl_context: ssl.SSLContext | None = None
    ca_certs: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    client_key_password: str | bytes | None = None
    verify: bool = True
    server_hostname: str | None = None
    min_version: ssl.TLSVersion | None = None

    def __post_init__(self) -> None:
        _check_source("ca_certs", self.ca_certs)
        _check_source("client_cert", self.client_cert)
        _check_source("client_key", self.client_key)
        if self.client_cert is None and (
            self.client_key is not None or self.client_key_password is not None
        ):
            raise ValueError("client_key and client_key_password need client_cert")
        if not self.verify:
            if self.ssl_context is not None:
                raise ValueError(
                    "verify=False with ssl_context: set verification on the context itself"
                )
            if self.ca_certs is not None:
                raise ValueError("verify=False with ca_certs: a CA is pointless without checks")
        if self.min_version is not None and not isinstance(self.min_version, ssl.TLSVersion):
            raise TypeError(
                f"tls_min_version must be an ssl.TLSVersion, not {type(self.min_version).__name__}"
            )

    def context(self) -> ssl.SSLContext:
        """The context for ``https://`` connections.

        A context the user passed is used as given, with the client
        certificate, ``ca_certs`` and the minimum version loaded into it.
        """
        ctx = self.ssl_context
        if ctx is None:
            ctx = ssl.create_default_context()
            ctx.set_alpn_protocols(
                [name for name, on in (("h2", self.http2), ("http/1.1", self.http1)) if on]
            )
            if not self.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                _log.warning(
                    "TLS certificate verification is off (verify=False): "
                    "any server can pose as the one you call"
                )
        if self.ca_certs is not None:
            if _is_pem(self.ca_certs):
                ctx.load_verify_locations(cadata=self.ca_certs)
            else:
                ctx.load_verify_locations(cafile=self.ca_certs)
        if self.min_version is not None:
            ctx.minimum_version = self.min_version
        if self.client_cert is not None:
            _load_client_cert(ctx, self.client_cert, self.client_key, self.client_key_password)
        return ctx


def _load_client_cert(
    ctx: ssl.SSLContext, cert: str, key: str | None, password: str | bytes | None
) -> None:
    """``load_cert_chain`` reads files only: PEM text goes through a private
    temporary file (mode 0600), removed as soon as it is loaded."""
    paths: list[str] = []

    def as_file(value: str) -> str:
        if not _is_pem(value):
            return value
        fd, path = tempfile.mkstemp(prefix="connect-python-", suffix=".pem")
        paths.append(path)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(value)
        return path

    try:
        key_path = as_file(key) if key is not None else None
        ctx.load_cert_chain(as_file(cert), key_path, password)
    except ssl.SSLError as exc:
        raise ValueError(f"client certificate or key not usable: {exc}") from exc
    finally:
        for path in paths:
            os.unlink(path)


def negotiated_http2(ssl_object: ssl.SSLObject | None, http1: bool, host: str, port: int) -> bool:
    """Whether ALPN settled on HTTP/2. A server that picked nothing speaks
    HTTP/1.1, which is an error when the transport has HTTP/1.1 off."""
    chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
    if chosen == "h2":
        return True
    if not http1:
        raise ConnectError(
            Code.UNAVAILABLE,
            f"TLS with {host}:{port}: the server does not offer HTTP/2 through ALPN "
            f"(it chose {chosen or 'nothing'}), and this transport has http1=False",
        )
    return False


#: Why OpenSSL says a handshake failed (its reason code, or words of its
#: message where the code is missing), in the user's words.
_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate "
    "(pass client_cert= to the transport)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server rejected the client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client certificate's issuer",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server says the client certificate has expired",
    "no application protocol": "no protocol in common through ALPN "
    "(the server speaks neither of the HTTP versions this transport offers)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common (see tls_min_version)",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common (see tls_min_version)",
    "WRONG_VERSION_NUMBER": "the server did not answer with TLS (is it plaintext? try http://)",
    "HANDSHAKE_FAILURE": "the server refused the handshake (does it require a client certificate?)",
}
_SSL_NOISE = re.compile(r"^\[SSL(?:: \w+)?\] |\s*\(_ssl\.c:\d+\)$")


def _reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or str(exc)
        if exc.verify_code in (18, 19, 20, 21):  # self-signed, unknown issuer
            return f"the server's certificate is not trusted ({detail}; see ca_certs=)"
        return f"the server's certificate failed verification ({detail})"
    text = _SSL_NOISE.sub("", str(exc.args[1] if len(exc.args) > 1 else exc))
    reason = getattr(exc, "reason", None) or ""
    tag = reason or text
    for key, words in _ALERTS.items():
        if reason.endswith(key) or key in text:
            return f"{words} [{tag}]"
    return tag


def tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` exception behind a transport exception, if there is one
    (network layers wrap it, as cause, context or first argument)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        if isinstance(item, ssl.SSLError):
            return item
        seen.add(id(item))
        todo.extend((item.__cause__, item.__context__, *item.args[:1]))
    return None


def tls_error(exc: ssl.SSLError, host: str | None = None, port: int | None = None) -> ConnectError:
    """The ``UNAVAILABLE`` error for a TLS failure, the ``ssl`` reason in its
    message and ``exc`` as its cause."""
    where = f" with {host}:{port}" if host is not None else ""
    error = ConnectError(Code.UNAVAILABLE, f"TLS failure{where}: {_reason(exc)}")
    error.__cause__ = exc
    return error
