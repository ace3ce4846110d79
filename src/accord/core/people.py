"""The people register of a node and how a person reads an item (JK-R7, R10, R14, R15, R17, R18, R25).

Pure: no I/O, no clock (the day is an argument). The register of individuals cleared and authorized at a
facility (JK-R10) is a set of :class:`Member` records; :func:`read_access` decides whether a member may
read an item's content on a day for a stated purpose, on top of :func:`accord.core.access.access`
(clearance AND need-to-know, JK-R14/R15), adding:

- JK-R7: a read states its purpose; no purpose, no read.
- JK-R25: a contractor reads only from a facility whose security clearance is current, and only once
  briefed on their protection responsibilities.
- JK-R18: a visitor from a partner nation reads only during a visit the host declared, only the topics of
  the visit, and never above the highest level the host declared for it.
- A disabled member reads nothing. Roles (operator, security officer, auditor) never open an item (JK-R14).

:func:`attest_readers` is the receiving node's assurance before a release (JK-R17): for a label and
intended readers, whether each holds a PSC at the necessary level and the need-to-know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from accord.core.access import AccessCode, AccessDecision, AccessReason, access
from accord.core.agreements import AgreementSet
from accord.core.labels import Caveat, Label
from accord.core.parties import is_alpha3, is_text, is_topic
from accord.core.persons import Person
from accord.core.schemes import Level, Scheme, scheme_for
from accord.errors import InputError


class Role(StrEnum):
    """What a member may do in the console. A role never opens an item (JK-R14)."""

    OPERATOR = "operator"
    SECURITY_OFFICER = "security-officer"
    AUDITOR = "auditor"


class Employment(StrEnum):
    """A government official, or a contractor's employee (JK-R25)."""

    OFFICIAL = "official"
    CONTRACTOR = "contractor"


class ReadCode(StrEnum):
    """Reason codes a read adds to :class:`AccessCode`."""

    NO_PURPOSE = "NO_PURPOSE"
    DISABLED = "DISABLED"
    FACILITY_NOT_CLEARED = "FACILITY_NOT_CLEARED"
    NOT_BRIEFED = "NOT_BRIEFED"
    NO_VISIT = "NO_VISIT"
    VISIT_LEVEL_CAP = "VISIT_LEVEL_CAP"
    VISIT_TOPIC = "VISIT_TOPIC"
    VISITOR_NOT_RELEASABLE = "VISITOR_NOT_RELEASABLE"
    PURPOSE_OK = "PURPOSE_OK"
    VISIT_OK = "VISIT_OK"


MAX_PURPOSE = 500


@dataclass(frozen=True, slots=True)
class Member:
    """One person in a node's register (JK-R10).

    Attributes:
        person: identity, nationality, PSC and its expiry, need-to-know topics (:class:`Person`).
        name: display name.
        employment: official or contractor.
        employer: the contractor's company (contractors only).
        facility: the contractor's facility (contractors only).
        facility_cleared_until: last day the facility's security clearance is valid (contractors).
        briefed_on: the day the person was briefed on protection responsibilities (JK-R25 d).
        roles: console roles.
        disabled: True once access was withdrawn; the record stays (custody trail).
    """

    person: Person
    name: str
    employment: Employment = Employment.OFFICIAL
    employer: str | None = None
    facility: str | None = None
    facility_cleared_until: date | None = None
    briefed_on: date | None = None
    roles: frozenset[Role] = frozenset()
    disabled: bool = False

    def __post_init__(self) -> None:
        if not is_text(self.name):
            raise InputError("name is missing", field="name")
        object.__setattr__(self, "employment", Employment(self.employment))
        object.__setattr__(self, "roles", frozenset(Role(r) for r in self.roles))
        if self.employment is Employment.CONTRACTOR:
            if not (self.employer and is_text(self.employer)):
                raise InputError("a contractor needs an employer (JK-R25)", field="employer")
            if not (self.facility and is_text(self.facility)):
                raise InputError("a contractor needs a facility (JK-R25)", field="facility")
        elif self.employer or self.facility or self.facility_cleared_until:
            raise InputError("employer and facility are for contractors only", field="employment")

    @property
    def id(self) -> str:
        """The person's identifier."""
        return self.person.id

    def to_dict(self) -> dict[str, Any]:
        """JSON form (no secret: password hashes live with accounts, not here)."""
        p = self.person
        return {
            "id": p.id,
            "name": self.name,
            "nationality": p.nationality,
            "clearance": p.clearance,
            "clearance_until": p.clearance_until.isoformat() if p.clearance_until else None,
            "need_to_know": sorted(p.need_to_know),
            "employment": self.employment.value,
            "employer": self.employer,
            "facility": self.facility,
            "facility_cleared_until": self.facility_cleared_until.isoformat() if self.facility_cleared_until else None,
            "briefed_on": self.briefed_on.isoformat() if self.briefed_on else None,
            "roles": sorted(r.value for r in self.roles),
            "disabled": self.disabled,
        }


@dataclass(frozen=True, slots=True)
class Visit:
    """A visit the host government authorized (JK-R18): who, which topics, up to which level, when.

    Attributes:
        id: reference of the visit authorization.
        person: the visitor's person id.
        host: the host nation (this node's party).
        highest: the highest level of CMI that may be furnished, as a marking of the host's scheme.
        topics: the topics of the visit (the visitor's need-to-know while visiting).
        start, end: first and last day of the visit.
        purpose: the official purpose of the visit.
        approved_by: the host's security officer.
    """

    id: str
    person: str
    host: str
    highest: str
    topics: frozenset[str]
    start: date
    end: date
    purpose: str
    approved_by: str

    def __post_init__(self) -> None:
        for name in ("id", "person", "purpose", "approved_by", "highest"):
            if not is_text(getattr(self, name)):
                raise InputError(f"{name} is missing", field=name)
        if not is_alpha3(self.host):
            raise InputError(f"{self.host!r} is not an ISO 3166 alpha-3 code", field="host")
        object.__setattr__(self, "topics", frozenset(self.topics))
        if not self.topics:
            raise InputError("a visit names at least one topic", field="topics")
        for t in self.topics:
            if not is_topic(t):
                raise InputError(f"topic {t!r} is not an upper-case token", field="topics")
        if self.end < self.start:
            raise InputError(f"end {self.end} is before start {self.start}", field="end")
        scheme = scheme_for(self.host)
        if scheme is None or scheme.level(self.highest) is None:
            raise InputError(f"{self.highest!r} is not a level of {self.host}'s scheme", field="highest")

    def active(self, on: date) -> bool:
        """True on the days of the visit."""
        return self.start <= on <= self.end

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "person": self.person,
            "host": self.host,
            "highest": self.highest,
            "topics": sorted(self.topics),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "purpose": self.purpose,
            "approved_by": self.approved_by,
        }


@dataclass(frozen=True, slots=True)
class ReadDecision:
    """Whether a member may read an item's content, for a purpose, on a day; the grounds, denials first."""

    allowed: bool
    person: str
    holder: str
    at: date
    purpose: str
    marking: str | None
    reasons: tuple[AccessReason, ...]
    visit: str | None = None
    access: AccessDecision | None = field(default=None, compare=False)

    @property
    def denials(self) -> tuple[AccessReason, ...]:
        """The reasons that refuse."""
        return tuple(r for r in self.reasons if not r.code.endswith("_OK"))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the audit event's decision)."""
        return {
            "allowed": self.allowed,
            "person": self.person,
            "holder": self.holder,
            "at": self.at.isoformat(),
            "purpose": self.purpose,
            "marking": self.marking,
            "visit": self.visit,
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _reason(code: str, message: str, rule: str | None) -> AccessReason:
    # AccessReason's code is typed as AccessCode; read codes share its shape (code, message, rule).
    return AccessReason(code, message, rule)  # type: ignore[arg-type]


def read_access(
    member: Member,
    label: Label,
    holder: str,
    at: date,
    purpose: str,
    *,
    agreements: AgreementSet,
    visits: Sequence[Visit] = (),
) -> ReadDecision:
    """Decide whether ``member`` may read the content of the item ``label`` held by ``holder`` on ``at``.

    ``visits``: the visits the host authorized for this member (only relevant to a foreign national).
    """
    pid = member.id
    purpose = purpose.strip()

    def deny(
        code: str,
        message: str,
        rule: str | None,
        marking: str | None = None,
        acc: AccessDecision | None = None,
        visit: str | None = None,
    ) -> ReadDecision:
        return ReadDecision(False, pid, holder, at, purpose, marking, (_reason(code, message, rule),), visit, acc)

    if member.disabled:
        return deny(ReadCode.DISABLED, f"{pid}'s access was withdrawn.", "JK-R10")
    if not purpose:
        return deny(
            ReadCode.NO_PURPOSE,
            "A read states its purpose; CMI is used only for the purpose it was provided for.",
            "JK-R7",
        )
    if len(purpose) > MAX_PURPOSE:
        return deny(ReadCode.NO_PURPOSE, f"The purpose is longer than {MAX_PURPOSE} characters.", "JK-R7")
    purpose_ok = _reason(ReadCode.PURPOSE_OK, f"Purpose stated: {purpose}", "JK-R7")
    if member.employment is Employment.CONTRACTOR:
        if member.facility_cleared_until is None or member.facility_cleared_until < at:
            when = f"expired on {member.facility_cleared_until}" if member.facility_cleared_until else "is not cleared"
            return deny(
                ReadCode.FACILITY_NOT_CLEARED,
                f"{member.employer}'s facility {member.facility} {when}; a "
                f"contractor reads only where the facility can protect the CMI.",
                "JK-R25",
            )
        if member.briefed_on is None or member.briefed_on > at:
            return deny(ReadCode.NOT_BRIEFED, f"{pid} has not been briefed on protection responsibilities.", "JK-R25")
    if member.person.nationality != holder:
        return _visitor_read(member, label, holder, at, purpose, purpose_ok, agreements, visits)
    acc = access(member.person, label, holder, at, agreements=agreements)
    if not acc.allowed:
        r = acc.reasons[0]
        return ReadDecision(False, pid, holder, at, purpose, acc.marking, (r,), None, acc)
    return ReadDecision(True, pid, holder, at, purpose, acc.marking, (purpose_ok, *acc.reasons), None, acc)


def _visitor_read(
    member: Member,
    label: Label,
    holder: str,
    at: date,
    purpose: str,
    purpose_ok: AccessReason,
    agreements: AgreementSet,
    visits: Sequence[Visit],
) -> ReadDecision:
    """A foreign national reads only during a host-declared visit, within its topics and level (JK-R18)."""
    pid = member.id
    nation = member.person.nationality

    def deny(code: str, message: str, rule: str, marking: str | None = None, visit: str | None = None) -> ReadDecision:
        return ReadDecision(False, pid, holder, at, purpose, marking, (_reason(code, message, rule),), visit)

    visit = next((v for v in visits if v.person == pid and v.host == holder and v.active(at)), None)
    if visit is None:
        return deny(
            ReadCode.NO_VISIT,
            f"{pid} is a {nation} national with no visit authorized by {holder} "
            f"on {at}; visits are authorized by the host only.",
            "JK-R18",
        )
    level = label.level
    host_scheme = scheme_for(holder)
    if level is None or host_scheme is None:
        return deny(
            AccessCode.UNKNOWN_LEVEL,
            f"{label.classification!r} is not a known classification.",
            "JK-R1",
            visit=visit.id,
        )
    refused = _outside_visit(label, level, holder, nation, visit, host_scheme)
    if refused is not None:
        return ReadDecision(False, pid, holder, at, purpose, refused[1], (refused[0],), visit.id)
    cleared = _visitor_cleared(member, label, level, agreements, at)
    if isinstance(cleared, AccessReason):
        return ReadDecision(False, pid, holder, at, purpose, level.marking, (cleared,), visit.id)
    clearance, theirs = cleared
    return ReadDecision(
        True,
        pid,
        holder,
        at,
        purpose,
        level.marking,
        (
            purpose_ok,
            _reason(
                ReadCode.VISIT_OK,
                f"Visit {visit.id} ({visit.start}..{visit.end}) allows up to {visit.highest} "
                f"on {', '.join(sorted(visit.topics))}.",
                "JK-R18",
            ),
            _reason(
                AccessCode.CLEARANCE_OK,
                f"{pid} is cleared to {clearance.marking} ({nation}), at or above {theirs.marking}.",
                "JK-R15",
            ),
        ),
        visit.id,
    )


def _outside_visit(
    label: Label, level: Level, holder: str, nation: str, visit: Visit, host_scheme: Scheme
) -> tuple[AccessReason, str | None] | None:
    """Why the item lies outside what the visit allows (the refusal and the marking to show), or None."""
    # A visitor may be shown only what the host could release to the visitor's nation: the host's own
    # information, releasable to that nation (anything else is a third-party release, JK-R6).
    if label.originator != holder or Caveat.ORIGINATOR_ONLY in label.caveats or nation not in label.releasable_to:
        return _reason(
            ReadCode.VISITOR_NOT_RELEASABLE,
            f"The item is not {holder}'s own information releasable "
            f"to {nation}; showing it to a visitor would be a release to a third party.",
            "JK-R6",
        ), None
    cap = host_scheme.level(visit.highest)
    if cap is None or level.rank > cap.rank:
        return _reason(
            ReadCode.VISIT_LEVEL_CAP,
            f"The item is {level.marking}; the highest level {holder} "
            f"declared for visit {visit.id} is {visit.highest}.",
            "JK-R18",
        ), level.marking
    missing = sorted(label.topics - visit.topics) if label.topics else ["(no topic)"]
    if missing:
        return _reason(
            ReadCode.VISIT_TOPIC,
            f"Visit {visit.id} covers {', '.join(sorted(visit.topics))}, not {', '.join(missing)}.",
            "JK-R18",
        ), level.marking
    return None


def _visitor_cleared(
    member: Member, label: Label, level: Level, agreements: AgreementSet, at: date
) -> tuple[Level, Level] | AccessReason:
    """The visitor's clearance and the item's equivalent level in the visitor's scheme, when the visitor's own
    PSC reaches it with need-to-know (JK-R4, JK-R14, JK-R15); else the reason for refusing."""
    pid = member.id
    nation = member.person.nationality
    # The visitor's own PSC, in the visitor's scheme, must reach the item's equivalent level there.
    found = agreements.equivalent_level(level, nation)
    visitor_scheme = scheme_for(nation)
    if found is None or visitor_scheme is None:
        return _reason(
            AccessCode.NO_EQUIVALENT,
            f"No agreement maps {level.marking} into {nation}'s scheme.",
            "JK-R4",
        )
    theirs = found[0]
    p = member.person
    clearance = visitor_scheme.level(p.clearance) if p.clearance else None
    if clearance is None:
        return _reason(AccessCode.NO_CLEARANCE, f"{pid} holds no {nation} clearance.", "JK-R15")
    if p.clearance_until is not None and p.clearance_until < at:
        return _reason(
            AccessCode.CLEARANCE_EXPIRED,
            f"{pid}'s clearance expired on {p.clearance_until}.",
            "JK-R15",
        )
    if clearance.rank < theirs.rank:
        return _reason(
            AccessCode.CLEARANCE_TOO_LOW,
            f"{pid} is cleared to {clearance.marking}; the item is {theirs.marking} in {nation}'s scheme.",
            "JK-R15",
        )
    lacking = sorted(label.topics - p.need_to_know)
    if lacking:
        return _reason(
            AccessCode.NO_NEED_TO_KNOW,
            f"{pid} has no need-to-know for {', '.join(lacking)}.",
            "JK-R14",
        )
    return clearance, theirs


@dataclass(frozen=True, slots=True)
class ReaderAssurance:
    """One intended reader's assurance (JK-R17)."""

    person: str
    cleared: bool
    reasons: tuple[AccessReason, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"person": self.person, "cleared": self.cleared, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True, slots=True)
class Attestation:
    """The receiving node's answer: are all intended readers cleared for this label on this day (JK-R17)?"""

    holder: str
    at: date
    label: str
    readers: tuple[ReaderAssurance, ...]

    @property
    def all_cleared(self) -> bool:
        """True when every reader is cleared (and there is at least one)."""
        return bool(self.readers) and all(r.cleared for r in self.readers)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "holder": self.holder,
            "at": self.at.isoformat(),
            "label": self.label,
            "all_cleared": self.all_cleared,
            "readers": [r.to_dict() for r in self.readers],
        }


def attest_readers(
    label: Label,
    holder: str,
    at: date,
    readers: Sequence[str],
    register: dict[str, Member],
    *,
    agreements: AgreementSet,
) -> Attestation:
    """JK-R17: whether each intended reader at ``holder`` holds a PSC at the necessary level and the
    need-to-know for ``label`` on ``at`` (an unknown or disabled reader is not cleared)."""
    out: list[ReaderAssurance] = []
    for pid in readers:
        m = register.get(pid)
        if m is None:
            out.append(
                ReaderAssurance(
                    pid, False, (_reason(ReadCode.DISABLED, f"{pid} is not in {holder}'s register.", "JK-R10"),)
                )
            )
            continue
        d = read_access(m, label, holder, at, "pre-release assurance (JK-R17)", agreements=agreements)
        out.append(ReaderAssurance(pid, d.allowed, d.reasons if d.allowed else d.denials[:1]))
    return Attestation(holder, at, label.banner, tuple(out))
