"""Connect error codes and the HTTP status tables of the Connect protocol."""

from __future__ import annotations

import enum

__all__ = ["Code", "code_from_http_status", "http_status_from_code"]


class Code(enum.Enum):
    """A Connect (and gRPC) status code; the value is the Connect wire string."""

    CANCELED = "canceled"
    UNKNOWN = "unknown"
    INVALID_ARGUMENT = "invalid_argument"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    OUT_OF_RANGE = "out_of_range"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    DATA_LOSS = "data_loss"
    UNAUTHENTICATED = "unauthenticated"

    @property
    def number(self) -> int:
        """The gRPC numeric value of the code."""
        return _NUMBERS[self]

    @classmethod
    def from_string(cls, value: object) -> Code | None:
        """The code named by a Connect wire string, or ``None`` when unknown."""
        if isinstance(value, str):
            return _BY_STRING.get(value)
        return None

    @classmethod
    def from_number(cls, value: int) -> Code | None:
        """The code with a gRPC numeric value, or ``None`` when unknown."""
        return _BY_NUMBER.get(value)

    def __str__(self) -> str:
        return self.value


_NUMBERS = {code: index for index, code in enumerate(Code, start=1)}
_BY_STRING = {code.value: code for code in Code}
_BY_NUMBER = {number: code for code, number in _NUMBERS.items()}

# Connect spec: HTTP status of a response without a Connect error body -> code.
_HTTP_TO_CODE = {
    400: Code.INTERNAL,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.UNIMPLEMENTED,
    429: Code.UNAVAILABLE,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.UNAVAILABLE,
}

# Connect spec: code -> HTTP status a server uses for a unary error.
_CODE_TO_HTTP = {
    Code.CANCELED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


def code_from_http_status(status: int) -> Code:
    """The code for an HTTP status whose body is not a Connect error (Connect spec)."""
    return _HTTP_TO_CODE.get(status, Code.UNKNOWN)


def http_status_from_code(code: Code) -> int:
    """The HTTP status a Connect server sends with a unary error of ``code``."""
    return _CODE_TO_HTTP[code]
