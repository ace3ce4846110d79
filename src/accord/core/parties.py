"""Parties: nations named by their ISO 3166-1 alpha-3 code."""

from __future__ import annotations

import re

from accord.errors import InputError

_ALPHA3 = re.compile(r"[A-Z]{3}")

#: Names of the parties Accord ships schemes for. Any well-formed code is accepted as data;
#: a party without a classification scheme is *unknown* and every decision about it is a denial.
PARTY_NAMES: dict[str, str] = {
    "KOR": "Republic of Korea",
    "JPN": "Japan",
    "USA": "United States of America",
}


def is_alpha3(code: object) -> bool:
    """True when ``code`` has the form of an ISO 3166-1 alpha-3 code: exactly three ASCII upper-case letters."""
    return isinstance(code, str) and code.isascii() and _ALPHA3.fullmatch(code) is not None


def parse_party(text: object, *, where: str = "party") -> str:
    """A party code as typed by a person (``usa`` or ``USA``), checked strictly; ``InputError`` otherwise.

    The text must be ASCII *before* it is upper-cased: ``str.upper()`` maps look-alikes onto ASCII
    (``"uſa".upper() == "USA"`` with U+017F LONG S, ``"ﬀ".upper() == "FF"``), and a fullwidth ``ＵＳＡ`` or
    a trailing newline must never reach the USA. Ambiguity is refused, never resolved.
    """
    if not isinstance(text, str):
        raise InputError(f"expected an ISO 3166 alpha-3 code, got {type(text).__name__}", field=where)
    if not text.isascii():
        raise InputError(
            f"{text!r} is not an ISO 3166 alpha-3 code (only the ASCII letters A-Z; look-alike characters are refused)",
            field=where,
        )
    code = text.upper()
    if _ALPHA3.fullmatch(code) is None:
        raise InputError(f"{text!r} is not an ISO 3166 alpha-3 code (three letters A-Z)", field=where)
    return code


def parse_topic(text: object, *, where: str = "topic") -> str:
    """A topic token as typed by a person (upper-cased after a strict ASCII check); ``InputError`` otherwise."""
    if not isinstance(text, str) or not text.isascii() or not is_topic(text.upper()):
        raise InputError(f"{text!r} is not a topic token (ASCII letters, digits and . _ / -, at most 64)", field=where)
    return text.upper()


def party_name(code: str) -> str:
    """The display name of a party, or the code itself when Accord does not know it."""
    return PARTY_NAMES.get(code, code)


_TOPIC = re.compile(r"[A-Z0-9][A-Z0-9._/-]{0,63}")


def is_text(value: object) -> bool:
    """True for a string with something other than whitespace in it."""
    return isinstance(value, str) and bool(value.strip())


def is_topic(value: object) -> bool:
    """True for a topic token: upper-case letters, digits and ``. _ / -``, at most 64 characters."""
    return isinstance(value, str) and value.isascii() and _TOPIC.fullmatch(value) is not None
