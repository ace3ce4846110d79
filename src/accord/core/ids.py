"""The one grammar of identifiers Accord is given: item (label) ids, consent ids, person ids.

    id = [A-Za-z0-9] [A-Za-z0-9._:-]{0,127}

ASCII only, at most 128 characters, no space, no NUL, no control or look-alike character, no ``/`` (an id
is never a path). Every id fits an HTTP header (``Idempotency-Key``), a file name, a ``varchar(128)``
column on PostgreSQL and SQLite alike, and an audit event; two ids that print the same are the same id.

Checked at every label parse (JSON, STANAG 4774 XML, sealed items: :class:`accord.core.labels.Label`),
every consent and person document, and (to be wired by the node) every submit, peer delivery, consent
request and audit event.
"""

from __future__ import annotations

import re

from accord.errors import InputError

#: Longest id accepted.
MAX_ID_LENGTH = 128
#: The grammar, as a regular expression (for documentation: OpenAPI ``pattern``, SQL checks).
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"

_ID = re.compile(ID_PATTERN)


def is_id(value: object) -> bool:
    """True when ``value`` is a string in the id grammar."""
    return isinstance(value, str) and value.isascii() and _ID.fullmatch(value) is not None


def id_problem(value: object, what: str = "item id") -> str:
    """What is wrong with ``value`` as an id (the value shown shortened and escaped: it may hold control
    characters)."""
    if not isinstance(value, str):
        return f"{what}: expected text, got {type(value).__name__}"
    if not value:
        return f"{what} is empty"
    shown = repr(value[:40]) + ("…" if len(value) > 40 else "")
    if len(value) > MAX_ID_LENGTH:
        return f"{what} {shown} is {len(value)} characters long; at most {MAX_ID_LENGTH}"
    if not value.isascii():
        return f"{what} {shown} holds a non-ASCII character"
    if is_id(value):
        return ""
    return f"{what} {shown} must start with a letter or digit and hold only letters, digits and . _ : -"


def check_id(value: object, *, field: str = "id", what: str = "id") -> str:
    """``value`` if it is an id; :class:`InputError` (naming ``field``) saying what is wrong otherwise."""
    if is_id(value):
        assert isinstance(value, str)
        return value
    raise InputError(id_problem(value, what), field=field)
