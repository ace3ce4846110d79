"""The one path by which a person reads an item's content (JK-R7, JK-R14, JK-R15, JK-R18, JK-R25).

Every read, allowed or refused, is journaled as an ``access`` event (who, which item, for what purpose,
on which day, the decision with its rules, the digest -- never the content) and committed BEFORE the
content is opened: a read that is not recorded does not happen.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from accord.core.access import AccessReason
from accord.core.agreements import AgreementSet
from accord.core.labels import Label
from accord.core.people import ReadCode, ReadDecision, Visit, read_access
from accord.errors import Refusal
from accord.formats.label_json import label_to_dict
from accord.people.register import Register


class ReadSource(Protocol):
    """What a read needs from the holder of items (a node: :class:`accord.node.persons.NodeReader`)."""

    party: str
    agreements: AgreementSet
    register: Register

    def today(self) -> dt.date:
        """The holder's day (UTC)."""
        ...

    def item_label(self, item_id: str) -> tuple[Label, str]:
        """The item's label and the digest of its sealed form (NotFound)."""
        ...

    def journal_tx(self) -> AbstractContextManager[Connection]:
        """A transaction whose journal events reach the audit log once committed."""
        ...

    def journal(self, conn: Connection, type_: str, item_id: str | None, body: dict[str, Any]) -> None:
        """Write one journal event in ``conn``'s transaction."""
        ...

    def open_payload(self, item_id: str) -> bytes:
        """The plaintext; only called once a person's read was allowed and journaled."""
        ...


class ReadRefused(Refusal):
    """The read was refused (and recorded); ``decision`` says why. HTTP 403 ``read-refused`` with the decision."""

    kind = "read-refused"

    def __init__(self, decision: ReadDecision) -> None:
        super().__init__("; ".join(r.message for r in decision.denials) or "refused", decision=decision.to_dict())
        self.decision = decision


def read_item(
    backend: ReadSource, person_id: str, item_id: str, purpose: str, *, visit: Visit | None = None
) -> tuple[ReadDecision, bytes]:
    """Decide and record ``person_id``'s read of ``item_id`` today; return the content when allowed.

    ``visit``: the visit a visitor's session is bound to (JK-R18); a visitor's read is judged against it only.

    Raises:
        ReadRefused: the person may not read it (the refusal is recorded).
        NotFound: no such item.
    """
    label, digest = backend.item_label(item_id)
    at = backend.today()
    member = backend.register.get(person_id)
    if member is None:
        decision = ReadDecision(
            False,
            person_id,
            backend.party,
            at,
            purpose.strip(),
            None,
            (
                AccessReason(
                    ReadCode.DISABLED,  # type: ignore[arg-type]
                    f"{person_id!r} is not in {backend.party}'s register of cleared individuals.",
                    "JK-R10",
                ),
            ),
        )
    else:
        visits = (
            [visit]
            if visit is not None
            else (backend.register.visits(member.id) if member.person.nationality != backend.party else [])
        )
        decision = read_access(member, label, backend.party, at, purpose, agreements=backend.agreements, visits=visits)
    with backend.journal_tx() as conn:
        backend.journal(
            conn,
            "access",
            item_id,
            {
                "person": person_id,
                "purpose": decision.purpose,
                "allowed": decision.allowed,
                "decision": decision.to_dict(),
                "label": label_to_dict(label),
                "digest": digest,
            },
        )
    if not decision.allowed:
        raise ReadRefused(decision)
    return decision, backend.open_payload(item_id)
