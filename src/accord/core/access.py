"""Access by a person to an item held by their nation (JK-R14, JK-R15, JK-R17), rooted in custody.

The nation must hold the item lawfully (:func:`accord.core.custody.lawful_custody`: the originator, or
within the releasability and received under an agreement that could carry it, ACC-R7); a returned or
destroyed item gives no access (JK-R13).

Access needs BOTH a personnel security clearance at or above the item's equivalent level in
the holder's scheme AND need-to-know for every topic of the item. Rank, appointment or
clearance alone is never enough (JK-R14, Art. 7.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from accord.core.agreements import AgreementSet
from accord.core.custody import Custody, lawful_custody
from accord.core.labels import Label
from accord.core.persons import Person
from accord.core.schemes import Level, Scheme


class AccessCode(StrEnum):
    """Stable reason codes of access decisions."""

    UNKNOWN_PARTY = "UNKNOWN_PARTY"
    UNKNOWN_LEVEL = "UNKNOWN_LEVEL"
    NOT_HOLDER_NATIONAL = "NOT_HOLDER_NATIONAL"
    OTHER_PURPOSE = "OTHER_PURPOSE"
    NOT_HELD = "NOT_HELD"
    CUSTODY_ENDED = "CUSTODY_ENDED"
    NEVER_RELEASED = "NEVER_RELEASED"
    NO_EQUIVALENT = "NO_EQUIVALENT"
    NO_CLEARANCE = "NO_CLEARANCE"
    UNKNOWN_CLEARANCE = "UNKNOWN_CLEARANCE"
    CLEARANCE_EXPIRED = "CLEARANCE_EXPIRED"
    CLEARANCE_TOO_LOW = "CLEARANCE_TOO_LOW"
    NO_NEED_TO_KNOW = "NO_NEED_TO_KNOW"
    CLEARANCE_OK = "CLEARANCE_OK"
    NEED_TO_KNOW_OK = "NEED_TO_KNOW_OK"


_ACCESS_DENIALS = frozenset(c for c in AccessCode if not c.value.endswith("_OK"))


@dataclass(frozen=True, slots=True)
class AccessReason:
    """One ground of an access decision."""

    code: AccessCode
    message: str
    rule: str | None = None

    @property
    def denies(self) -> bool:
        """True when this reason refuses access."""
        return self.code in _ACCESS_DENIALS

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"code": self.code.value, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """Whether a person may access an item; ``marking`` is the item's marking in the holder's scheme."""

    allowed: bool
    person: Person
    holder: str
    at: date
    marking: str | None
    reasons: tuple[AccessReason, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "allowed": self.allowed,
            "person": self.person.id,
            "holder": self.holder,
            "at": self.at.isoformat(),
            "marking": self.marking,
            "reasons": [r.to_dict() for r in self.reasons],
        }


def access(
    person: Person,
    label: Label,
    holder: str,
    at: date,
    *,
    agreements: AgreementSet,
    custody: Custody | None = None,
    purpose: str | None = None,
) -> AccessDecision:
    """Decide whether ``person`` may access the item labelled ``label`` held by ``holder`` on ``at``.

    The item's protection does not depend on the agreement still being in force: items already exchanged
    stay protected after termination (JK-R31), so the equivalence is taken from any agreement between them.
    """

    def deny(code: AccessCode, message: str, rule: str | None = None, marking: str | None = None) -> AccessDecision:
        return AccessDecision(False, person, holder, at, marking, (AccessReason(code, message, rule),))

    label = label.effective_at(at)  # SuccessionHandling and groups, as in force that day (ADatP-4774 §4.3)
    holder_scheme = agreements.schemes.get(holder)
    if holder_scheme is None or label.originator not in agreements.schemes:
        unknown = holder if holder_scheme is None else label.originator
        return deny(AccessCode.UNKNOWN_PARTY, f"{unknown!r} is not a party Accord has a scheme for.", "ACC-R2")
    level = None if label.uninterpreted else agreements.schemes.level(label.originator, label.classification)
    if level is None:
        return deny(
            AccessCode.UNKNOWN_LEVEL,
            f"{label.classification!r} is not a classification of {label.originator}'s scheme.",
            "ACC-R2",
        )
    if person.nationality != holder:
        return deny(
            AccessCode.NOT_HOLDER_NATIONAL,
            f"{person.id} is a {person.nationality} national; access to an item held by {holder} is "
            f"for {holder}'s cleared officials (a foreign national needs the originator's consent).",
            "JK-R15",
        )
    if holder == label.originator:
        held = level
    else:
        holding = lawful_custody(label, holder, at, agreements=agreements, record=custody)
        if not holding.ok or holding.level is None:
            why = holding.reasons[0]
            return deny(AccessCode(why.code.value), why.message, why.rule)
        held = holding.level
        if custody is not None and custody.purpose is not None and purpose != custody.purpose:
            ag = holding.agreement
            cite = ag.cite("purpose") if ag is not None else None
            asked = f"for {purpose!r}" if purpose else "without stating a purpose"
            return deny(
                AccessCode.OTHER_PURPOSE,
                f"{label.originator} provided the item for {custody.purpose!r}; "
                f"access {asked} needs {label.originator}'s prior written approval.",
                (cite.rule if cite is not None else None) or "JK-R7",
            )
    cleared = _cleared(person, label, holder, holder_scheme, held, at)
    if isinstance(cleared, AccessReason):
        return AccessDecision(False, person, holder, at, held.marking, (cleared,))
    clearance = cleared
    return AccessDecision(
        True,
        person,
        holder,
        at,
        held.marking,
        (
            AccessReason(
                AccessCode.CLEARANCE_OK,
                f"{person.id} is cleared to {clearance.marking}, at or above "
                f"{held.marking} ({holder}'s equivalent of {level.marking}).",
                "JK-R15",
            ),
            AccessReason(
                AccessCode.NEED_TO_KNOW_OK,
                f"{person.id} has need-to-know for {', '.join(sorted(label.topics))}.",
                "JK-R15",
            ),
        ),
    )


def _cleared(person: Person, label: Label, holder: str, scheme: Scheme, held: Level, at: date) -> Level | AccessReason:
    """The person's clearance level when it covers ``held`` with need-to-know for every topic (JK-R14, JK-R15);
    else the reason for refusing."""
    if person.clearance is None:
        return AccessReason(
            AccessCode.NO_CLEARANCE,
            f"{person.id} holds no personnel security clearance; rank or appointment alone never gives access.",
            "JK-R14",
        )
    clearance = scheme.level(person.clearance)
    if clearance is None:
        return AccessReason(
            AccessCode.UNKNOWN_CLEARANCE,
            f"{person.clearance!r} is not a level of {holder}'s scheme.",
            "JK-R15",
        )
    if person.clearance_until is not None and person.clearance_until < at:
        return AccessReason(
            AccessCode.CLEARANCE_EXPIRED,
            f"{person.id}'s clearance expired on {person.clearance_until}.",
            "JK-R15",
        )
    if clearance.rank < held.rank:
        return AccessReason(
            AccessCode.CLEARANCE_TOO_LOW,
            f"{person.id} is cleared to {clearance.marking}; the item is {held.marking} in {holder}'s scheme.",
            "JK-R15",
        )
    if not label.topics:
        return AccessReason(
            AccessCode.NO_NEED_TO_KNOW,
            "The item has no topic, so no need-to-know can be shown.",
            "JK-R15",
        )
    missing = sorted(label.topics - person.need_to_know)
    if missing:
        return AccessReason(
            AccessCode.NO_NEED_TO_KNOW,
            f"{person.id} has no need-to-know for {', '.join(missing)}; clearance alone is never enough.",
            "JK-R14",
        )
    return clearance
