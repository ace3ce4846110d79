"""Consent and person documents (YAML or JSON), see ``docs/decisions.md``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accord.core.consent import Consent
from accord.core.ids import id_problem, is_id
from accord.core.persons import Person
from accord.errors import ConsentError, InputError
from accord.formats._dates import document_day
from accord.formats._read import read_bounded
from accord.formats._yaml import load_yaml

#: Largest consent or person document read (a file may hold a list of consents).
MAX_DOCUMENT_BYTES = 1024 * 1024
#: Most consents in one file.
MAX_CONSENTS = 10_000

_CONSENT_KEYS = {"id", "originator", "holder", "recipient", "granted", "until", "item", "topics", "standing"}
_PERSON_KEYS = {"id", "nationality", "clearance", "need_to_know", "clearance_until", "rank"}


def _check_keys(data: Any, allowed: set[str], required: set[str], source: str, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError(f"a {what} is a mapping of fields", source=source)
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(unknown)}", source=source)
    for key in sorted(required):
        if key not in data:
            raise InputError("required field is missing", source=source, field=key)
    return data


def _read_document(path: str | Path, error: type[InputError]) -> tuple[Path, Any]:
    """Read and parse a YAML/JSON document; an unreadable file raises ``error`` naming it."""
    p = Path(path)
    text = read_bounded(p, max_bytes=MAX_DOCUMENT_BYTES, error=error)
    try:
        return p, load_yaml(text, source=str(p), max_bytes=MAX_DOCUMENT_BYTES)
    except InputError as exc:
        raise error(exc.message, source=exc.source, field=exc.field) from None


def _id(value: Any, *, source: str, field: str, what: str, error: type[InputError]) -> str:
    """An id in the one grammar of :mod:`accord.core.ids` (never a number coerced to text)."""
    if not is_id(value):
        raise error(id_problem(value, what), source=source, field=field)
    return str(value)


def _flag(value: Any, *, source: str, field: str, error: type[InputError]) -> bool:
    if not isinstance(value, bool):
        raise error(f"expected true or false, got {value!r}", source=source, field=field)
    return value


def consent_from_dict(data: Any, *, source: str = "consent") -> Consent:
    """Build a :class:`Consent`; raise :class:`ConsentError` naming the field."""
    d = _check_keys(
        data, _CONSENT_KEYS, {"id", "originator", "holder", "recipient", "granted", "until"}, source, "consent"
    )
    topics = d.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ConsentError("expected a list of topics", source=source, field="topics")
    granted = document_day(d["granted"], source=source, field="granted", error=ConsentError)
    until = document_day(d["until"], source=source, field="until", error=ConsentError)
    assert granted is not None and until is not None
    consent_id = _id(d["id"], source=source, field="id", what="consent id", error=ConsentError)
    item = (
        None
        if d.get("item") is None
        else _id(d["item"], source=source, field="item", what="item id", error=ConsentError)
    )
    standing = _flag(d.get("standing", False), source=source, field="standing", error=ConsentError)
    try:
        return Consent(
            id=consent_id,
            originator=d["originator"],
            holder=d["holder"],
            recipient=d["recipient"],
            granted=granted,
            until=until,
            item=item,
            topics=frozenset(topics),
            standing=standing,
        )
    except InputError as exc:
        raise ConsentError(exc.message, source=source, field=exc.field) from None


def consent_to_dict(consent: Consent) -> dict[str, Any]:
    """The document form of a consent."""
    return {
        "id": consent.id,
        "originator": consent.originator,
        "holder": consent.holder,
        "recipient": consent.recipient,
        "granted": consent.granted.isoformat(),
        "until": consent.until.isoformat(),
        "item": consent.item,
        "topics": sorted(consent.topics),
        "standing": consent.standing,
    }


def load_consents(path: str | Path) -> list[Consent]:
    """Read one consent, or a list of consents, from a YAML/JSON file."""
    p, data = _read_document(path, ConsentError)
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_CONSENTS:
        raise ConsentError(f"{len(items)} consents in one file; at most {MAX_CONSENTS}", source=str(p))
    return [
        consent_from_dict(item, source=f"{p}[{i}]" if isinstance(data, list) else str(p))
        for i, item in enumerate(items)
    ]


def person_from_dict(data: Any, *, source: str = "person") -> Person:
    """Build a :class:`Person`; raise :class:`InputError` naming the field."""
    d = _check_keys(data, _PERSON_KEYS, {"id", "nationality", "need_to_know"}, source, "person")
    ntk = d["need_to_know"]
    if not isinstance(ntk, list) or not all(isinstance(t, str) for t in ntk):
        raise InputError("expected a list of topics", source=source, field="need_to_know")
    clearance = d.get("clearance")
    if clearance is not None and not isinstance(clearance, str):
        raise InputError("expected a national marking", source=source, field="clearance")
    person_id = _id(d["id"], source=source, field="id", what="person id", error=InputError)
    rank = d.get("rank")
    if rank is not None and not isinstance(rank, str):
        raise InputError("expected text", source=source, field="rank")
    try:
        return Person(
            id=person_id,
            nationality=d["nationality"],
            clearance=clearance,
            need_to_know=frozenset(ntk),
            clearance_until=document_day(
                d.get("clearance_until"), source=source, field="clearance_until", optional=True
            ),
            rank=rank,
        )
    except InputError as exc:
        raise InputError(exc.message, source=source, field=exc.field) from None


def load_person(path: str | Path) -> Person:
    """Read a person from a YAML/JSON file."""
    p, data = _read_document(path, InputError)
    return person_from_dict(data, source=str(p))
