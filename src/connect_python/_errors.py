"""``ConnectError`` and the Connect error JSON format."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf import any_pb2

from ._code import Code, code_from_http_status
from ._headers import Headers

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["ConnectError", "ErrorDetail", "error_from_json", "parse_error_body"]

_TYPE_PREFIX = "type.googleapis.com/"
_M = TypeVar("_M", bound="Message")


class ErrorDetail:
    """One error detail: a protobuf message packed as ``google.protobuf.Any``."""

    __slots__ = ("_any", "debug")

    def __init__(self, value: any_pb2.Any, debug: Any = None) -> None:
        self._any = value
        self.debug = debug

    @classmethod
    def pack(cls, message: Message) -> ErrorDetail:
        """Wrap ``message`` as a detail."""
        value = any_pb2.Any()
        value.Pack(message)
        return cls(value)

    @property
    def type_name(self) -> str:
        """The fully-qualified protobuf type name of the detail."""
        return self._any.type_url.rpartition("/")[2]

    @property
    def value(self) -> bytes:
        """The binary-encoded detail message."""
        return self._any.value

    @property
    def any(self) -> any_pb2.Any:
        """The detail as ``google.protobuf.Any``."""
        return self._any

    def unpack(self, message_type: type[_M]) -> _M | None:
        """The detail decoded as ``message_type``, or ``None`` if it is another type."""
        message = message_type()
        if self._any.Unpack(message):
            return message
        return None

    def __repr__(self) -> str:
        return f"ErrorDetail({self.type_name!r})"


class ConnectError(Exception):
    """An RPC failed.

    ``code`` is a :class:`Code`; ``message`` the error's text; ``details`` the error's
    details; ``metadata`` the response headers and trailers that came with the error
    (empty when no response arrived); ``http_status`` the HTTP status, when there was
    a response. ``remote`` tells an error the server sent (``True``) from one raised
    by this client, such as a transport failure or a local deadline (``False``); for
    the latter the original exception, if any, is the ``__cause__``.
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
    ) -> None:
        super().__init__(f"[{code.value}] {message}" if message else f"[{code.value}]")
        self.code = code
        self.message = message
        self.details = list(details)
        self.metadata = metadata if metadata is not None else Headers()
        self.http_status = http_status
        self.remote = remote

    def __repr__(self) -> str:
        return f"ConnectError({self.code!r}, {self.message!r})"


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)


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
        except (binascii.Error, ValueError):
            continue
        packed = any_pb2.Any(type_url=_TYPE_PREFIX + type_name, value=data)
        details.append(ErrorDetail(packed, item.get("debug")))
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
        return ConnectError(fallback, "", metadata=metadata, http_status=http_status, remote=True)
    code = Code.from_string(obj.get("code")) or fallback
    message = obj.get("message")
    return ConnectError(
        code,
        message if isinstance(message, str) else "",
        details=_details_from_json(obj.get("details")),
        metadata=metadata,
        http_status=http_status,
        remote=True,
    )


def parse_error_body(
    status: int, content_type: str, body: bytes, metadata: Headers
) -> ConnectError:
    """The error for a non-200 unary Connect response (Connect spec rules)."""
    fallback = code_from_http_status(status)
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            obj = None
        else:
            return error_from_json(obj, fallback=fallback, metadata=metadata, http_status=status)
    text = body[:512].decode("utf-8", "replace").strip()
    message = text if text and obj_is_text(content_type) else f"HTTP status {status}"
    return ConnectError(fallback, message, metadata=metadata, http_status=status, remote=True)


def obj_is_text(content_type: str) -> bool:
    """Whether a body of ``content_type`` is worth quoting in an error message."""
    return content_type.startswith("text/")


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


def iter_detail_anys(error: ConnectError) -> Iterable[any_pb2.Any]:
    """The details of ``error`` as ``Any`` messages."""
    return (d.any for d in error.details)
