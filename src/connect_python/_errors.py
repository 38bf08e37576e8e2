"""``ConnectError`` and the Connect error JSON format."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._code import Code, code_from_http_status
from ._headers import Headers

if TYPE_CHECKING:
    from google.protobuf import any_pb2

__all__ = [
    "ConnectError",
    "ErrorDetail",
    "error_from_json",
    "loads_json",
    "not_connect_error",
    "parse_error_body",
    "summarize_body",
]

_TYPE_PREFIX = "type.googleapis.com/"
_M = TypeVar("_M")


def _type_name(message_type: Any) -> str:
    """The full protobuf name of a message class of either message runtime."""
    desc = getattr(message_type, "DESCRIPTOR", None)  # Google's protobuf
    return str(desc.full_name) if desc is not None else str(message_type.desc().type_name)


class ErrorDetail:
    """One error detail: a protobuf message packed as ``google.protobuf.Any``.

    It holds the type URL and the message's bytes, so it serves messages of
    either message runtime (Google's ``protobuf`` or ``protobuf-py``):
    :meth:`pack` and :meth:`unpack` take the classes of both.
    """

    __slots__ = ("_type_url", "_value", "debug")

    def __init__(self, value: Any, debug: Any = None) -> None:
        """``value`` is a ``google.protobuf.Any`` of either runtime (anything
        with ``type_url`` and ``value``)."""
        self._type_url = str(value.type_url)
        self._value = bytes(value.value)
        self.debug = debug

    @classmethod
    def pack(cls, message: Any) -> ErrorDetail:
        """Wrap ``message`` (of either message runtime) as a detail."""
        to_binary = getattr(message, "to_binary", None)  # protobuf-py
        data = to_binary() if to_binary is not None else message.SerializeToString()
        return cls(_Packed(_TYPE_PREFIX + _type_name(type(message)), data))

    @property
    def type_name(self) -> str:
        """The fully-qualified protobuf type name of the detail."""
        return self._type_url.rpartition("/")[2]

    @property
    def type_url(self) -> str:
        """The detail's type URL (``type.googleapis.com/<type name>``)."""
        return self._type_url

    @property
    def value(self) -> bytes:
        """The binary-encoded detail message."""
        return self._value

    @property
    def any(self) -> any_pb2.Any:
        """The detail as Google's ``google.protobuf.Any`` (needs that runtime)."""
        from google.protobuf import any_pb2

        return any_pb2.Any(type_url=self._type_url, value=self._value)

    def unpack(self, message_type: type[_M]) -> _M | None:
        """The detail decoded as ``message_type`` (a message class of either
        runtime), or ``None`` if it is another type.

        A detail of that type whose bytes do not decode (they came from the
        server) raises ``ConnectError(INTERNAL)``.
        """
        if self.type_name != _type_name(message_type):
            return None
        cls = cast(Any, message_type)
        parse = getattr(cls, "from_binary", None) or cls.FromString
        try:
            return cast(_M, parse(self._value))
        # Google's DecodeError is an Exception; naming it would import its package.
        except Exception as exc:
            raise ConnectError(
                Code.INTERNAL, f"failed to unmarshal error detail {self.type_name}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"ErrorDetail({self.type_name!r})"


class _Packed:
    """A packed detail before it is an :class:`ErrorDetail`: no runtime's ``Any`` needed."""

    __slots__ = ("type_url", "value")

    def __init__(self, type_url: str, value: bytes) -> None:
        self.type_url = type_url
        self.value = value


class ConnectError(Exception):
    """An RPC failed.

    ``code`` is a :class:`Code`; ``message`` the error's text; ``details`` the error's
    details; ``metadata`` the response headers and trailers that came with the error
    (empty when no response arrived); ``http_status`` the HTTP status, when there was
    a response. ``remote`` tells an error the server sent (``True``) from one raised
    by this client, such as a transport failure or a local deadline (``False``); for
    the latter the original exception, if any, is the ``__cause__``.

    ``http_body`` is the body of an error response that was not a Connect error (an
    HTML page from a proxy, a gRPC server's answer) as it was received, after content
    decoding and within the read limit; the message only quotes a short summary of
    it. It is ``None`` for Connect errors and when no body was read.
    """

    def __init__(
        self,
        code: Code,
        message: str = "",
        *,
        details: Sequence[ErrorDetail] = (),
        metadata: Headers | None = None,
        http_status: int | None = None,
        remote: bool = False,
        http_body: bytes | None = None,
        from_http_status: bool = False,
    ) -> None:
        super().__init__(f"[{code.value}] {message}" if message else f"[{code.value}]")
        self.code = code
        self.message = message
        self.details = list(details)
        self.metadata = metadata if metadata is not None else Headers()
        self.http_status = http_status
        self.remote = remote
        self.http_body = http_body
        self.from_http_status = from_http_status

    def __repr__(self) -> str:
        return f"ConnectError({self.code!r}, {self.message!r})"


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)


def loads_json(data: bytes | str) -> object:
    """``json.loads`` for bytes from the peer: every failure is a ``ValueError``.

    Bad syntax or encoding already raise ``ValueError`` (``UnicodeDecodeError``
    is one); nesting deeper than the interpreter's recursion limit raises
    ``RecursionError``, which is turned into a ``ValueError`` here.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _details_from_json(raw: object) -> list[ErrorDetail]:
    details: list[ErrorDetail] = []
    if not isinstance(raw, list):
        return details
    for item in raw:
        if not isinstance(item, dict):
            continue
        type_name = item.get("type")
        value = item.get("value")
        if not isinstance(type_name, str) or not isinstance(value, str):
            continue
        try:
            data = _b64decode(value)
            # A type name that is not valid UTF-8 (a lone surrogate) is refused here.
            type_name.encode()
        except (binascii.Error, ValueError):
            continue  # a malformed detail is dropped; the error itself stands
        details.append(ErrorDetail(_Packed(_TYPE_PREFIX + type_name, data), item.get("debug")))
    return details


def error_from_json(
    obj: object,
    *,
    fallback: Code,
    metadata: Headers | None = None,
    http_status: int | None = None,
) -> ConnectError:
    """Build the error described by a decoded Connect error JSON object.

    A missing, null or unknown code gives ``fallback``.
    """
    if not isinstance(obj, dict):
        return ConnectError(
            fallback,
            "",
            metadata=metadata,
            http_status=http_status,
            remote=True,
            from_http_status=http_status not in (None, 200),
        )
    code = Code.from_string(obj.get("code"))
    message = obj.get("message")
    return ConnectError(
        code or fallback,
        message if isinstance(message, str) else "",
        details=_details_from_json(obj.get("details")),
        metadata=metadata,
        http_status=http_status,
        remote=True,
        from_http_status=code is None and http_status not in (None, 200),
    )


def parse_error_body(
    status: int, content_type: str, body: bytes | None, metadata: Headers, url: str = ""
) -> ConnectError:
    """The error for a non-200 unary Connect response (Connect spec rules).

    A JSON object with a string ``code`` or ``message`` is a Connect error (its
    code, or the HTTP status' code when the code is unknown). Anything else (other
    content types, JSON that does not parse, ``{"detail": "Not Found"}``) is not
    a Connect response: the code comes from the HTTP status and
    :func:`not_connect_error` describes it, naming ``url`` (the request, such as
    ``POST http://host/pkg.Service/Method``) when given. ``body`` is ``None``
    when it could not be read.
    """
    if body and _media_type(content_type) == "application/json":
        try:
            obj = loads_json(body)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and (
            isinstance(obj.get("code"), str) or isinstance(obj.get("message"), str)
        ):
            fallback = code_from_http_status(status)
            return error_from_json(obj, fallback=fallback, metadata=metadata, http_status=status)
    return not_connect_error(status, content_type, body, metadata, url)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


#: Characters of a body quoted in an error message.
SUMMARY_CHARS = 200
#: Bytes of a body looked at for the summary.
_SUMMARY_SCAN = 32 * 1024


def not_connect_error(
    status: int,
    content_type: str,
    body: bytes | None,
    metadata: Headers,
    url: str = "",
    *,
    code: Code | None = None,
    expected: str = "",
) -> ConnectError:
    """The error for a response that is not a Connect response.

    ``code`` defaults to the HTTP status' code (Connect spec); a 200 response
    with an unexpected content type (``expected`` is the one asked for) gives
    its own. The message names the request (``url``, such as
    ``POST http://host/pkg.Service/Method``), the status and content type,
    quotes a short summary of the body (:func:`summarize_body`; ``None``: not
    read) and adds a hint when the answer tells what went wrong (a gRPC server,
    a wrong path). The whole body stays on the error as ``http_body``.
    """
    media = _media_type(content_type)
    derived = code is None
    if code is None:
        code = code_from_http_status(status)
    if status == 200:
        what = f"unexpected response content type {content_type!r}"
        if expected:
            what += f" (expected {expected})"
    else:
        what = f"HTTP {status}{_reason(status)}, not a Connect response ({_ctype(content_type)})"
    parts = [f"{url}: {what}" if url else what]
    if body is not None and (status != 200 or body):
        parts.append(f": {summarize_body(content_type, body)}")
    hint = _not_connect_hint(status, media)
    if hint:
        parts.append(f"; {hint}")
    return ConnectError(
        code,
        "".join(parts),
        metadata=metadata,
        http_status=status,
        remote=True,
        http_body=body if body else None,
        from_http_status=derived,
    )


def _ctype(content_type: str) -> str:
    return f"content-type {content_type}" if content_type else "no content-type"


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return f" {HTTPStatus(status).phrase}"
    except ValueError:
        return ""


def _not_connect_hint(status: int, media: str) -> str:
    if media.startswith("application/grpc-web"):
        return f"the server answered with content-type {media}: it speaks gRPC-Web, not Connect"
    if media.startswith("application/grpc"):
        return f"the server answered with content-type {media}: it speaks gRPC, not Connect"
    if status == 404:
        return (
            "is the base URL right? The server has no handler at this path "
            "(calls go to <base URL>/<package>.<Service>/<Method>)"
        )
    if status == 415:
        return "the server does not accept the request's content type (another codec?)"
    if status == 505:
        return "the server does not accept this HTTP version"
    return ""


_TEXT_MEDIA = ("application/json", "application/xml", "application/javascript")


def summarize_body(content_type: str, body: bytes) -> str:
    """A short, printable account of a body that is not a Connect message.

    Text (``text/*``, JSON, XML, or untyped UTF-8) is quoted: HTML tags
    stripped, whitespace collapsed, cut at :data:`SUMMARY_CHARS` characters.
    Anything else is described by its size.
    """
    if not body:
        return "empty body"
    media = _media_type(content_type)
    head = body[:_SUMMARY_SCAN]
    textual = (
        media.startswith("text/")
        or media in _TEXT_MEDIA
        or media.endswith(("+json", "+xml"))
        or (not media and _looks_like_text(head))
    )
    if not textual:
        return f"{len(body)} bytes" + (f" of {media}" if media else "")
    text = head.decode(_charset(content_type), "replace")
    if media in ("text/html", "application/xhtml+xml") or (
        not media.startswith(("text/plain", "application/json")) and _looks_like_html(text)
    ):
        text = _html_text(text)
    text = " ".join(text.split())
    if not text:
        return f"{len(body)} bytes of whitespace"
    if len(text) > SUMMARY_CHARS:
        text = text[: SUMMARY_CHARS - 3].rstrip() + "..."
    elif len(body) > len(head):
        text += "..."
    return f'"{text}"'


def _charset(content_type: str) -> str:
    """The ``charset`` parameter of ``content_type`` if Python knows it, else UTF-8."""
    import codecs

    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def _looks_like_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # A cut in the middle of a character at the end of the scanned part.
        try:
            text = data[:-3].decode("utf-8") if len(data) > 3 else ""
        except UnicodeDecodeError:
            return False
        if not text:
            return False
    return all(c.isprintable() or c in "\t\r\n" for c in text[:1024])


def _looks_like_html(text: str) -> bool:
    start = text.lstrip()[:15].lower()
    return start.startswith(("<!doctype html", "<html", "<head", "<body", "<title"))


def _html_text(markup: str) -> str:
    """The text of an HTML page: tags, comments, scripts and styles removed."""
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skip = 0

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag in ("script", "style"):
                self.skip += 1
            self.parts.append(" ")

        def handle_endtag(self, tag: str) -> None:
            if tag in ("script", "style") and self.skip:
                self.skip -= 1
            self.parts.append(" ")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = _Text()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # the parser is lenient; should it still fail, strip crudely
        return re.sub(r"<[^>]*>", " ", markup)
    return "".join(parser.parts)


def error_to_json(error: ConnectError) -> dict[str, object]:
    """The Connect JSON form of ``error`` (used by tests and servers)."""
    obj: dict[str, object] = {"code": error.code.value}
    if error.message:
        obj["message"] = error.message
    if error.details:
        obj["details"] = [
            {
                "type": d.type_name,
                "value": base64.b64encode(d.value).decode().rstrip("="),
            }
            for d in error.details
        ]
    return obj
