"""The one grammar of identifiers Accord is given: item (label) ids, consent ids, person ids.

    id = [A-Za-z0-9] [A-Za-z0-9._:-]{0,127}

ASCII only, at most 128 characters, no space, no NUL, no control or look-alike character, no ``/`` (an id
is never a path). Every id fits an HTTP header (``Idempotency-Key``), a file name, a ``varchar(128)``
column on PostgreSQL and SQLite alike, and an audit event; two ids that print the same are the same id.

Checked at every label parse (JSON, STANAG 4774 XML, sealed items: :class:`accord.core.labels.Label`),
every consent and person document, and (to be wired by the node) every submit, peer delivery, consent
request and audit event.

Ids are namespaced by the party that created them (issue 9, ``ACC-R10``): ``kor-…`` or ``KOR:…`` for an id
Korea made. A node creates only ids in its own namespace and admits from a partner only ids in the
namespace of their creator (an item's originator, a consent's originator, a consent request's holder).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

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


def composed_id(prefix: str, inner: str, suffix: str = "") -> str:
    """``prefix + inner + suffix`` (an id made from another id: a consent request from an item id, a consent
    from a request id), kept within :data:`MAX_ID_LENGTH`: when too long, ``inner`` is replaced by
    ``sha256.<first 40 hex of its SHA-256>`` (deterministic, so both sides compose the same id)."""
    out = f"{prefix}{inner}{suffix}"
    if len(out) <= MAX_ID_LENGTH:
        return out
    return f"{prefix}sha256.{hashlib.sha256(inner.encode()).hexdigest()[:40]}{suffix}"


# --- namespaces (issue 9: ids are namespaced by the party that created them) ---------------------------------

#: Accord's rule that an id lies in the namespace of the party that created it (docs/rules.md).
NAMESPACE_RULE = "ACC-R10"


def id_namespace(value: str, known: Iterable[str]) -> str | None:
    """The party among ``known`` whose namespace ``value`` lies in, or None.

    An id lies in party ``P``'s namespace when it starts with ``P``'s code (any case) followed by ``-`` or
    ``:`` and at least one more character: ``kor-2017-7``, ``KOR:7``, ``usa-cr:kor-7:JPN``. An id in no
    namespace (``k1``) is *unqualified*; no party may create one (:data:`NAMESPACE_RULE`).
    """
    if len(value) > 4 and value[3] in "-:" and value[:3].isascii() and value[:3].isalpha():
        code = value[:3].upper()
        if code in known:
            return code
    return None


def namespace_problem(value: str, creator: str, known: Iterable[str], what: str = "item id") -> str:
    """What is wrong with ``value`` as an id created by ``creator`` ("" when it lies in its namespace)."""
    owner = id_namespace(value, {creator, *known})
    if owner == creator:
        return ""
    where = f"lies in {owner}'s namespace" if owner else "is not qualified by the party that created it"
    return (
        f"{what} {value!r} {where}: {creator} may only create ids starting with {creator.lower()}- or "
        f"{creator}: ({NAMESPACE_RULE})"
    )


class NamespaceError(InputError):
    """An id outside the namespace of the party creating it (:data:`NAMESPACE_RULE`); HTTP 400."""

    kind = "id-namespace"

    def __init__(self, message: str, *, field: str, namespace: str) -> None:
        self.namespace = namespace
        super().__init__(message, field=field)

    def extensions(self) -> dict[str, object]:
        return {"field": self.field, "rule": NAMESPACE_RULE, "namespace": self.namespace}


def check_namespace(
    value: str, creator: str, known: Iterable[str] = (), *, field: str = "id", what: str = "item id"
) -> str:
    """``value`` if it lies in ``creator``'s namespace; :class:`NamespaceError` otherwise."""
    problem = namespace_problem(value, creator, known, what)
    if problem:
        raise NamespaceError(problem, field=field, namespace=creator)
    return value
