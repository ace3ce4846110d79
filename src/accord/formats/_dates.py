"""Dates and date-times in documents and arguments: the one reader of each, shared by the formats and the CLI.

A day is written ``YYYY-MM-DD`` exactly (not ``20190101``, not ``2019-W01-1``, not a date-time), names a
real day (``2019-02-30`` is refused) and lies in the supported range :data:`EARLIEST`..:data:`LATEST`, so
that the lifecycle arithmetic of an agreement (terms, anniversaries, notice periods) never leaves Python's
calendar (``--at 9999-12-31`` is refused with a clear error, not a ``year 10000 is out of range``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from accord.errors import InputError

#: First and last day Accord reasons about. Agreements, consents, clearances and ``--at`` days lie within;
#: the margin to ``date.max`` leaves room for terms (at most 100 years) and notice periods (10 years).
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_day(text: str) -> date:
    """A day written ``YYYY-MM-DD`` in the supported range; ``ValueError`` saying what is wrong otherwise."""
    if not text.isascii() or not _DAY.fullmatch(text):
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date of the calendar (YYYY-MM-DD)") from None
    return check_day_range(day)


def check_day_range(day: date) -> date:
    """``day`` if it lies in :data:`EARLIEST`..:data:`LATEST`; ``ValueError`` otherwise."""
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{day.isoformat()} is outside the supported range {EARLIEST}..{LATEST}")
    return day


def document_day(
    value: Any, *, source: str, field: str, optional: bool = False, error: type[InputError] = InputError
) -> date | None:
    """A document's date field: a ``YYYY-MM-DD`` string (or a ``date``, never a date-time); None only when
    ``optional``.

    Raises ``error`` (an :class:`InputError` subclass) naming the source and field otherwise.
    """
    if value is None and optional:
        return None
    if isinstance(value, datetime):
        raise error(f"expected a date YYYY-MM-DD, got the date-time {value.isoformat()}", source=source, field=field)
    try:
        if isinstance(value, date):
            return check_day_range(value)
        if isinstance(value, str):
            return parse_day(value)
    except ValueError as exc:
        raise error(str(exc), source=source, field=field) from None
    raise error(f"expected a date YYYY-MM-DD, got {value!r}", source=source, field=field)


def aware_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time (xs:dateTime) with a time zone, ``Z`` allowed; None if it is not one.

    Only the extended form ``YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)`` is accepted, in the supported range.
    """
    if not text.isascii() or not _DATETIME.fullmatch(text):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None or not EARLIEST <= when.date() <= LATEST:
        return None
    return when
