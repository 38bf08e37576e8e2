"""Retries: which failed attempts a call may make again, and when.

Safe retries are on by default: an attempt whose request was never written
(the connection could not be made: refused, reset, TLS failure; the server
refused the HTTP/2 stream unprocessed: ``REFUSED_STREAM``, or a GOAWAY above
its stream id) is made again on a fresh connection, after an exponential
backoff with jitter, as long as the call's deadline leaves room for it. A
streaming call is retried only while none of its request was written.

Opt in with ``retry_codes`` (e.g. ``{Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED}``):
a unary call of a method marked ``IDEMPOTENT`` or ``NO_SIDE_EFFECTS`` that
failed with one of those codes from the server is made again, no sooner than
the response's ``Retry-After`` says (seconds or an HTTP-date; a wait beyond
``max_retry_after`` or the call's deadline returns the error instead).
Nothing else is ever sent twice: a request that may have reached the server
is not replayed.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._code import Code
from ._headers import Headers

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a transport retries (see the module docstring).

    ``attempts`` is the most tries of one call (1: no retry); the wait before
    try ``n + 1`` is ``initial_backoff * multiplier ** (n - 1)``, at most
    ``max_backoff``, spread by ``jitter`` (a fraction, both ways).
    ``retry_codes`` are server error codes retried for idempotent unary
    methods (none by default); a ``Retry-After`` beyond ``max_retry_after``
    seconds is not waited for (the error is returned).
    """

    attempts: int = 3
    initial_backoff: float = 0.05
    max_backoff: float = 1.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retry_codes: frozenset[Code] = field(default_factory=frozenset)
    max_retry_after: float = 30.0

    def __init__(
        self,
        attempts: int = 3,
        *,
        initial_backoff: float = 0.05,
        max_backoff: float = 1.0,
        multiplier: float = 2.0,
        jitter: float = 0.2,
        retry_codes: Iterable[Code] = (),
        max_retry_after: float = 30.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts!r}")
        if not (initial_backoff >= 0 and max_backoff >= 0 and multiplier >= 1):
            raise ValueError("backoffs must be >= 0 and the multiplier >= 1")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {jitter!r}")
        object.__setattr__(self, "attempts", attempts)
        object.__setattr__(self, "initial_backoff", initial_backoff)
        object.__setattr__(self, "max_backoff", max_backoff)
        object.__setattr__(self, "multiplier", multiplier)
        object.__setattr__(self, "jitter", jitter)
        object.__setattr__(self, "retry_codes", frozenset(retry_codes))
        object.__setattr__(self, "max_retry_after", max_retry_after)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (from 1)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        spread = self.jitter
        return base * random.uniform(1 - spread, 1 + spread) if spread else base


def retry_after(headers: Headers, now: float | None = None) -> float | None:
    """The ``Retry-After`` of a response in seconds from now, or ``None``
    (absent or malformed: ignored).

    Both forms of RFC 9110 §10.2.3: delay-seconds, and an HTTP-date (the
    preferred IMF-fixdate and the obsolete RFC 850 and asctime forms a
    recipient must accept). A date is measured against the response's own
    ``Date`` when it has a valid one (the server's clock: no skew between
    the two), else against ``now`` (Unix time; default: this host's clock);
    a date in the past means no wait.
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    when = _http_date(value)
    if when is None:
        return None
    server_now = _http_date(headers.get("date") or "")
    if server_now is None:
        server_now = time.time() if now is None else now
    return max(0.0, when - server_now)


def _http_date(value: str) -> float | None:
    """An HTTP-date as Unix time, or ``None`` when ``value`` is not one."""
    if not value.isascii():
        return None
    # Imported here: the email package takes about 1.4 MiB of memory, in every
    # process that imports the runtime, for a header form few servers send.
    import email.utils

    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime carries no zone: HTTP-dates are GMT
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    elif parsed.utcoffset() != datetime.timedelta(0):
        return None  # HTTP-dates are GMT: a numeric offset is malformed
    return parsed.timestamp()
