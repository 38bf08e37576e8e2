"""``Retry-After`` in both forms of RFC 9110 §10.2.3: delay-seconds and an
HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime forms)."""

from __future__ import annotations

import pytest

from connect_python import Headers
from connect_python._retry import retry_after

#: 1994-11-06 08:49:37 GMT, the RFC's example instant, as Unix time.
INSTANT = 784111777.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 30.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 30.0),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", 30.0),  # obsolete asctime
        ("Sun, 06 Nov 1994 08:48:37 GMT", 0.0),  # in the past: no wait
    ],
)
def test_both_forms(value: str, seconds: float) -> None:
    headers = Headers({"retry-after": value})
    assert retry_after(headers, now=INSTANT - 30) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-1",
        "1.5",
        "0x10",
        "1_0",
        "\u0661\u0662",  # Arabic-Indic digits: isdigit(), not delay-seconds
        "soon",
        "Sun, 31 Feb 1994 08:49:37 GMT",  # no such day
        "Sun, 06 Nov 1994 08:49:37 +0200",  # HTTP-dates are GMT
        "Sun, 06 Nov 1994 25:49:37 GMT",
    ],
)
def test_malformed_values_are_ignored(value: str) -> None:
    assert retry_after(Headers({"retry-after": value}), now=INSTANT) is None


def test_absent() -> None:
    assert retry_after(Headers(), now=INSTANT) is None


def test_a_date_is_measured_against_the_responses_date() -> None:
    # The server's clock says 10 s before the date; this host's is far off.
    headers = Headers(
        {"retry-after": "Sun, 06 Nov 1994 08:49:37 GMT", "date": "Sun, 06 Nov 1994 08:49:27 GMT"}
    )
    assert retry_after(headers, now=INSTANT + 3600) == 10.0
    # A malformed Date: this host's clock.
    headers = Headers({"retry-after": "Sun, 06 Nov 1994 08:49:37 GMT", "date": "yesterday"})
    assert retry_after(headers, now=INSTANT - 5) == 5.0
