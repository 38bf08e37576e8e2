"""``LoggingInterceptor``: calls and messages to the standard ``logging`` module."""

from __future__ import annotations

import logging
import time
from typing import Any

from .._errors import ConnectError
from .._headers import Headers
from .._method import StreamType
from ._chain import CallHooks, CallInfo, Interceptor

__all__ = ["LoggingInterceptor"]

_KIND = {
    StreamType.UNARY: "unary",
    StreamType.SERVER_STREAM: "server stream",
    StreamType.CLIENT_STREAM: "client stream",
    StreamType.BIDI_STREAM: "bidi stream",
}


class LoggingInterceptor(Interceptor):
    """Logs each call's start and end (with its code and duration) at
    ``level`` (INFO), and each message sent or received at ``message_level``
    (DEBUG), to ``logger`` (a ``logging.Logger`` or a logger name).

    Message bodies are not logged unless ``log_bodies=True`` (then in their text
    form on one line, cut at ``body_chars`` characters): requests and responses
    often carry credentials or user data. A failed call is logged at
    ``error_level`` (default: ``level``). Records carry ``rpc_method``,
    ``rpc_code`` (end only) and ``duration_ms`` (end only) as attributes for
    structured handlers. When the logger is not enabled for ``message_level``
    when a call starts, the call costs nothing per message.
    """

    __slots__ = ("_body_chars", "_error_level", "_level", "_log_bodies", "_message_level", "logger")

    def __init__(
        self,
        logger: logging.Logger | str = "connect_python.calls",
        *,
        level: int = logging.INFO,
        message_level: int = logging.DEBUG,
        error_level: int | None = None,
        log_bodies: bool = False,
        body_chars: int = 500,
    ) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._level = level
        self._message_level = message_level
        self._error_level = level if error_level is None else error_level
        self._log_bodies = log_bodies
        self._body_chars = body_chars

    def intercept(self, call: CallInfo) -> CallHooks | None:
        logger = self.logger
        name = call.method.path[1:]
        if logger.isEnabledFor(self._level):
            logger.log(
                self._level,
                "rpc %s started (%s)",
                name,
                _KIND.get(call.method.stream_type, "call"),
                extra={"rpc_method": name},
            )
        if logger.isEnabledFor(self._message_level):
            return _MessageLog(self, name)
        return _CallLog(self, name)

    def _body(self, message: Any) -> str:
        if not self._log_bodies:
            return ""
        # A message's text form on one line (protobuf text format for Google's messages).
        text = " ".join(str(message).split())
        if len(text) > self._body_chars:
            text = text[: self._body_chars] + "..."
        return f": {text}"


class _CallLog(CallHooks):
    """One call's start time, for its end record."""

    __slots__ = ("_log", "_name", "_started")

    def __init__(self, log: LoggingInterceptor, name: str) -> None:
        self._log = log
        self._name = name
        self._started = time.perf_counter()

    def on_end(self, error: ConnectError | None, trailers: Headers) -> ConnectError | None:
        log = self._log
        duration = (time.perf_counter() - self._started) * 1000.0
        code = "ok" if error is None else error.code.value
        level = log._level if error is None else log._error_level
        if log.logger.isEnabledFor(level):
            text = "" if error is None else f": {error.message}"
            log.logger.log(
                level,
                "rpc %s ended %s in %.1f ms%s",
                self._name,
                code,
                duration,
                text,
                extra={"rpc_method": self._name, "rpc_code": code, "duration_ms": duration},
            )
        return error


class _MessageLog(_CallLog):
    """A call whose messages are logged too."""

    __slots__ = ("_received", "_sent")

    def __init__(self, log: LoggingInterceptor, name: str) -> None:
        super().__init__(log, name)
        self._sent = 0
        self._received = 0

    def on_request(self, message: Any) -> Any:
        self._sent += 1
        log = self._log
        log.logger.log(
            log._message_level,
            "rpc %s sent message %d (%s)%s",
            self._name,
            self._sent,
            type(message).__name__,
            log._body(message),
            extra={"rpc_method": self._name},
        )
        return message

    def on_response(self, message: Any) -> Any:
        self._received += 1
        log = self._log
        log.logger.log(
            log._message_level,
            "rpc %s received message %d (%s)%s",
            self._name,
            self._received,
            type(message).__name__,
            log._body(message),
            extra={"rpc_method": self._name},
        )
        return message
