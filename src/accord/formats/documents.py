"""Consent and person documents (YAML or JSON), see ``docs/decisions.md``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accord.core.consent import Consent
from accord.core.persons import Person
from accord.errors import ConsentError, InputError
from accord.formats._dates import document_day
from accord.formats._yaml import load_yaml

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
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", source=str(p)) from None
    return p, load_yaml(text, source=str(p))


def consent_from_dict(data: Any, *, source: str = "consent") -> Consent:
    """Build a :class:`Consent`; raise :class:`ConsentError` naming the field."""
    d = _check_keys(data, _CONSENT_KEYS, {"id", "originator", "holder", "recipient", "granted", "until"},
                    source, "consent")
    topics = d.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ConsentError("expected a list of topics", source=source, field="topics")
    granted = document_day(d["granted"], source=source, field="granted")
    until = document_day(d["until"], source=source, field="until")
    assert granted is not None and until is not None
    try:
        return Consent(id=str(d["id"]), originator=d["originator"], holder=d["holder"],
                       recipient=d["recipient"], granted=granted, until=until,
                       item=None if d.get("item") is None else str(d["item"]), topics=frozenset(topics),
                       standing=bool(d.get("standing", False)))
    except InputError as exc:
        raise ConsentError(exc.message, source=source, field=exc.field) from None


def consent_to_dict(consent: Consent) -> dict[str, Any]:
    """The document form of a consent."""
    return {"id": consent.id, "originator": consent.originator, "holder": consent.holder,
            "recipient": consent.recipient, "granted": consent.granted.isoformat(),
            "until": consent.until.isoformat(), "item": consent.item, "topics": sorted(consent.topics),
            "standing": consent.standing}


def load_consents(path: str | Path) -> list[Consent]:
    """Read one consent, or a list of consents, from a YAML/JSON file."""
    p, data = _read_document(path, ConsentError)
    items = data if isinstance(data, list) else [data]
    return [consent_from_dict(item, source=f"{p}[{i}]" if isinstance(data, list) else str(p))
            for i, item in enumerate(items)]


def person_from_dict(data: Any, *, source: str = "person") -> Person:
    """Build a :class:`Person`; raise :class:`InputError` naming the field."""
    d = _check_keys(data, _PERSON_KEYS, {"id", "nationality", "need_to_know"}, source, "person")
    ntk = d["need_to_know"]
    if not isinstance(ntk, list) or not all(isinstance(t, str) for t in ntk):
        raise InputError("expected a list of topics", source=source, field="need_to_know")
    clearance = d.get("clearance")
    if clearance is not None and not isinstance(clearance, str):
        raise InputError("expected a national marking", source=source, field="clearance")
    try:
        return Person(id=str(d["id"]), nationality=d["nationality"], clearance=clearance,
                      need_to_know=frozenset(ntk),
                      clearance_until=document_day(d.get("clearance_until"), source=source, field="clearance_until",
                                                   optional=True),
                      rank=None if d.get("rank") is None else str(d["rank"]))
    except InputError as exc:
        raise InputError(exc.message, source=source, field=exc.field) from None


def load_person(path: str | Path) -> Person:
    """Read a person from a YAML/JSON file."""
    p, data = _read_document(path, InputError)
    return person_from_dict(data, source=str(p))
