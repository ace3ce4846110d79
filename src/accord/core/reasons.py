"""Reason codes of release decisions, and the rule each one cites (``docs/rules.md``).

Every reason a decision gives cites a rule id: the article's own rule when the agreement gives one
(``citations`` in the agreement document), else the default rule of its code below. Rule ids are those of
``shared/domain/agreements.md`` (JK-R*, US-R*, N-R*, T-R*, M-R*) and Accord's own fail-closed rules
(ACC-R*), each listed with its meaning, where it is enforced and the test that shows it refusing in
``docs/rules.md``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple


class Code(StrEnum):
    """Stable reason codes. Denials first, then the grounds of an allowance."""

    # -- denials
    NO_AGREEMENTS = "NO_AGREEMENTS"
    UNKNOWN_PARTY = "UNKNOWN_PARTY"
    UNKNOWN_LEVEL = "UNKNOWN_LEVEL"
    SAME_PARTY = "SAME_PARTY"
    ORIGINATOR_ONLY = "ORIGINATOR_ONLY"
    NOT_RELEASABLE = "NOT_RELEASABLE"
    NEVER_RELEASED = "NEVER_RELEASED"
    NOT_HELD = "NOT_HELD"
    CUSTODY_ENDED = "CUSTODY_ENDED"
    FROZEN = "FROZEN"
    NO_EQUIVALENT = "NO_EQUIVALENT"
    NO_CHANNEL = "NO_CHANNEL"
    NOT_IN_FORCE = "NOT_IN_FORCE"
    TERMINATED = "TERMINATED"
    SUSPENDED = "SUSPENDED"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    LEVEL_NOT_COVERED = "LEVEL_NOT_COVERED"
    NO_PROTECTION_BASIS = "NO_PROTECTION_BASIS"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    ORIGINATOR_DECIDES = "ORIGINATOR_DECIDES"
    OTHER_PURPOSE = "OTHER_PURPOSE"
    # -- grounds of an allowance
    RELEASABLE = "RELEASABLE"
    ORIGINATOR_RELEASE = "ORIGINATOR_RELEASE"
    CUSTODY = "CUSTODY"
    RETURN = "RETURN"
    CHANNEL = "CHANNEL"
    IN_SCOPE = "IN_SCOPE"
    EQUIVALENCE = "EQUIVALENCE"
    PROTECTION_BASIS = "PROTECTION_BASIS"
    RELAY_APPROVED = "RELAY_APPROVED"
    BLIND_RELAY = "BLIND_RELAY"
    CONSENT_USED = "CONSENT_USED"
    SURVIVAL = "SURVIVAL"


#: Codes that refuse a release; every other code is a ground of an allowance.
DENIALS = frozenset(
    {
        Code.NO_AGREEMENTS,
        Code.UNKNOWN_PARTY,
        Code.UNKNOWN_LEVEL,
        Code.SAME_PARTY,
        Code.ORIGINATOR_ONLY,
        Code.NOT_RELEASABLE,
        Code.NEVER_RELEASED,
        Code.NOT_HELD,
        Code.CUSTODY_ENDED,
        Code.FROZEN,
        Code.NO_EQUIVALENT,
        Code.NO_CHANNEL,
        Code.NOT_IN_FORCE,
        Code.TERMINATED,
        Code.SUSPENDED,
        Code.OUT_OF_SCOPE,
        Code.LEVEL_NOT_COVERED,
        Code.NO_PROTECTION_BASIS,
        Code.CONSENT_REQUIRED,
        Code.ORIGINATOR_DECIDES,
        Code.OTHER_PURPOSE,
    }
)
for _code in Code:  # a plain attribute: cheaper on the hot path than hashing the enum member
    _code.refuses = _code in DENIALS  # type: ignore[attr-defined]

#: The rule a code cites when the agreement's own citation names none (see docs/rules.md).
DEFAULT_RULE: dict[Code, str] = {
    Code.NO_AGREEMENTS: "ACC-R1",
    Code.UNKNOWN_PARTY: "ACC-R2",
    Code.UNKNOWN_LEVEL: "ACC-R2",
    Code.SAME_PARTY: "ACC-R3",
    Code.ORIGINATOR_ONLY: "ACC-R5",
    Code.NOT_RELEASABLE: "ACC-R5",
    Code.NEVER_RELEASED: "ACC-R4",
    Code.NOT_HELD: "ACC-R7",
    Code.CUSTODY_ENDED: "JK-R13",
    Code.FROZEN: "JK-R26",
    Code.NO_EQUIVALENT: "JK-R4",
    Code.NO_CHANNEL: "ACC-R1",
    Code.NOT_IN_FORCE: "ACC-R1",
    Code.TERMINATED: "ACC-R6",
    Code.SUSPENDED: "ACC-R1",
    Code.OUT_OF_SCOPE: "ACC-R1",
    Code.LEVEL_NOT_COVERED: "ACC-R1",
    Code.NO_PROTECTION_BASIS: "T-R3",
    Code.CONSENT_REQUIRED: "ACC-R9",
    Code.ORIGINATOR_DECIDES: "ACC-R8",
    Code.OTHER_PURPOSE: "JK-R7",
    Code.RELEASABLE: "ACC-R5",
    Code.ORIGINATOR_RELEASE: "ACC-R5",
    Code.CUSTODY: "ACC-R7",
    Code.RETURN: "ACC-R6",
    Code.CHANNEL: "ACC-R1",
    Code.IN_SCOPE: "ACC-R1",
    Code.EQUIVALENCE: "JK-R4",
    Code.PROTECTION_BASIS: "T-R3",
    Code.RELAY_APPROVED: "T-R5",
    Code.BLIND_RELAY: "ACC-R5",
    Code.CONSENT_USED: "ACC-R9",
    Code.SURVIVAL: "ACC-R6",
}


class Reason(NamedTuple):
    """One ground of a decision (an immutable named tuple: cheap to build on the hot path).

    Attributes:
        code: stable code (:class:`Code`).
        message: a sentence a security officer would sign.
        agreement: id of the agreement it rests on, if any.
        article: the article of that agreement, if any.
        rule: the rule id (``JK-R6``); never None for a reason built by :func:`reason`.
    """

    code: Code
    message: str
    agreement: str | None = None
    article: str | None = None
    rule: str | None = None

    @property
    def denies(self) -> bool:
        """True when this reason is a ground for refusal."""
        return self.code.refuses  # type: ignore[attr-defined, no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "code": self.code.value,
            "agreement": self.agreement,
            "article": self.article,
            "rule": self.rule,
            "message": self.message,
        }


def reason(
    code: Code, message: str, agreement: str | None = None, article: str | None = None, rule: str | None = None
) -> Reason:
    """A reason citing ``rule``, or its code's default rule when the agreement cites none."""
    return Reason(code, message, agreement, article, rule or DEFAULT_RULE[code])
