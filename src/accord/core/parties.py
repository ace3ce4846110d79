"""Parties: nations named by their ISO 3166-1 alpha-3 code."""

from __future__ import annotations

import re

_ALPHA3 = re.compile(r"[A-Z]{3}")

#: Names of the parties Accord ships schemes for. Any well-formed code is accepted as data;
#: a party without a classification scheme is *unknown* and every decision about it is a denial.
PARTY_NAMES: dict[str, str] = {
    "KOR": "Republic of Korea",
    "JPN": "Japan",
    "USA": "United States of America",
}


def is_alpha3(code: object) -> bool:
    """True when ``code`` has the form of an ISO 3166-1 alpha-3 code (three upper-case letters)."""
    return isinstance(code, str) and _ALPHA3.fullmatch(code) is not None


def party_name(code: str) -> str:
    """The display name of a party, or the code itself when Accord does not know it."""
    return PARTY_NAMES.get(code, code)


_TOPIC = re.compile(r"[A-Z0-9][A-Z0-9._/-]{0,63}")


def is_text(value: object) -> bool:
    """True for a string with something other than whitespace in it."""
    return isinstance(value, str) and bool(value.strip())


def is_topic(value: object) -> bool:
    """True for a topic token: upper-case letters, digits and ``. _ / -``, at most 64 characters."""
    return isinstance(value, str) and _TOPIC.fullmatch(value) is not None
