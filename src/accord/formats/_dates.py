"""Dates and date-times in documents: the one reader of each, shared by the formats."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from accord.errors import InputError


def document_day(value: Any, *, source: str, field: str, optional: bool = False,
                 error: type[InputError] = InputError) -> date | None:
    """A document's date field: a YAML date or a ``YYYY-MM-DD`` string; None only when ``optional``.

    Raises ``error`` (an :class:`InputError` subclass) naming the source and field otherwise.
    """
    if value is None and optional:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise error(f"expected a date YYYY-MM-DD, got {value!r}", source=source, field=field)


def aware_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time (xs:dateTime) with a time zone, ``Z`` allowed; None if it is not one."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
