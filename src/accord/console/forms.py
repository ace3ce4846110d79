"""What the console (and the CLI, with the same names) reads from a form: a member, a day, topics; attestation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from accord.console.backend import Backend
from accord.core.people import Employment, Member, Role, attest_readers
from accord.core.persons import Person
from accord.errors import InputError
from accord.people.register import iter_roles


def attest(backend: Backend, body: object) -> dict[str, Any]:
    """The JK-R17 answer for ``{"label": {...}, "readers": [...]}`` (used by the console API and the CLI)."""
    from accord.node.policy import label_from_dict

    if not isinstance(body, dict) or not isinstance(body.get("readers"), list) or not body["readers"]:
        raise InputError("give a label and a non-empty list of readers", field="readers")
    readers = [str(r) for r in body["readers"]][:1000]
    label = label_from_dict(body.get("label"))
    at = backend.today()
    result = attest_readers(label, backend.party, at, readers, backend.register.by_id(), agreements=backend.agreements)
    with backend.journal_tx() as conn:
        backend.journal(conn, "access", label.id, {"attestation": result.to_dict()})
    return result.to_dict()


def member_from_form(d: dict[str, str], party: str) -> Member:
    """A member from the console's form (or the CLI's options, same names)."""
    pid = d.get("id", "").strip()
    nationality = (d.get("nationality") or party).strip().upper()
    person = Person(
        id=pid,
        nationality=nationality,
        clearance=(d.get("clearance") or None),
        need_to_know=parse_topics(d.get("need_to_know", "")),
        clearance_until=parse_day(d.get("clearance_until", "")),
    )
    employment = Employment(d.get("employment") or "official")
    roles = iter_roles(
        [r for r in d.get("roles", "").replace(",", " ").split() if r]
        + [r.value for r in Role if d.get(f"role-{r.value}")]
    )
    return Member(
        person=person,
        name=d.get("name", "").strip() or pid,
        employment=employment,
        employer=d.get("employer") or None,
        facility=d.get("facility") or None,
        facility_cleared_until=parse_day(d.get("facility_cleared_until", "")),
        briefed_on=parse_day(d.get("briefed_on", "")),
        roles=roles,
    )


def parse_topics(text: str) -> frozenset[str]:
    return frozenset(t.strip().upper() for t in text.replace(",", " ").split() if t.strip())


def parse_day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date YYYY-MM-DD", field="date") from None


def printable(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text)
