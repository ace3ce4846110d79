"""Which flows a change of the agreements opens and closes (a lifecycle document before it takes effect).

A flow is an originator releasing its own item at one level of its scheme, on one topic, to one party.
:func:`flow_changes` decides every flow under the agreements before and after the change, on one day,
and lists those whose verdict or route differ, level by level (an amendment dropping a row shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from accord.core.agreements import AgreementSet
from accord.core.decision import Decision, decide
from accord.core.labels import Label

#: The topic standing for information outside every topic-scoped agreement.
OTHER_TOPIC = "OTHER-CMI"


@dataclass(frozen=True, slots=True)
class FlowChange:
    """One flow whose decision differs: ``change`` is ``opens``, ``closes`` or ``reroutes``."""

    change: str
    originator: str
    recipient: str
    topic: str
    level: str
    before: Decision
    after: Decision

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "change": self.change,
            "holder": self.originator,
            "recipient": self.recipient,
            "topic": self.topic,
            "level": self.level,
            "before": {
                "allowed": self.before.allowed,
                "route": list(self.before.route),
                "marking": self.before.marking,
            },
            "after": {
                "allowed": self.after.allowed,
                "route": list(self.after.route),
                "marking": self.after.marking,
                "denials": sorted({r.code.value for r in self.after.denials}),
            },
        }


def flow_changes(
    before: AgreementSet,
    after: AgreementSet,
    at: date,
    *,
    parties: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
) -> list[FlowChange]:
    """Every (originator, recipient, topic, level) flow whose decision differs between the two sets on ``at``."""
    ps = tuple(parties) if parties is not None else tuple(sorted(set(before.parties) | set(after.parties)))
    if topics is None:
        found: set[str] = set()
        for aset in (before, after):
            for ag in aset:
                for terms in (ag.terms, *(e.terms for e in ag.lifecycle.events if e.terms is not None)):
                    found |= terms.topics or set()
        topics = (*sorted(found), OTHER_TOPIC)
    created = datetime.combine(at, time(), UTC)
    out: list[FlowChange] = []
    for a in ps:
        scheme = after.schemes.get(a) or before.schemes.get(a)
        if scheme is None:
            continue
        for b in ps:
            if a == b:
                continue
            for t in topics:
                for level in scheme.levels:
                    label = Label(
                        originator=a,
                        classification=level.marking,
                        topics=frozenset({t}),
                        releasable_to=frozenset({b}),
                        created=created,
                    )
                    d0 = decide(label, a, b, at, agreements=before)
                    d1 = decide(label, a, b, at, agreements=after)
                    if d0.allowed == d1.allowed and (not d0.allowed or d0.route == d1.route):
                        continue
                    change = (
                        "opens"
                        if d1.allowed and not d0.allowed
                        else ("closes" if d0.allowed and not d1.allowed else "reroutes")
                    )
                    out.append(FlowChange(change, a, b, t, level.marking, d0, d1))
    return out
