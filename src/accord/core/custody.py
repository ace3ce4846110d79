"""Custody: what a holder records about each item it holds, and whether it holds it lawfully.

Every node keeps, per item (JK-R11, JK-R19): the originator, from whom and when it came, under which
agreement, the original marking and its own alternative marking (JK-R4), its state, and its copies and
derived items (JK-R5, JK-R23, JK-R24). The decision engine takes the custody into account:

- a holder that is not the originator holds an item *lawfully* only if it is within the item's
  releasability and some agreement between originator and holder could have carried it to the holder
  (in force, in scope, the level covered) on a day between the item's creation (or the recorded
  receipt) and the day of the decision. Otherwise it has no access and can release nothing (ACC-R7);
- the third-party rule is judged under the agreement the holder holds the item under (JK-R6 for a
  Korean item held by Japan under the GSOMIA), and the outgoing hop's agreement must be satisfied too;
- a returned or destroyed item is no longer held (JK-R13); a compromised or frozen one may only go
  back to its originator (JK-R26).

Re-exported here, as pure values (:mod:`accord.core.custody_records`, :mod:`accord.core.custody_notices`,
:mod:`accord.core.custody_derived`): the state machine of an item (HELD, RELEASED, RETURNED, DESTROYED,
COMPROMISED, FROZEN), the loss-or-compromise incident (SUSPECTED → NOTIFIED → INVESTIGATING →
REPORTED, JK-R26), derived items (reproduction and translation: originator and markings kept, highest
level of the sources, most restrictive releasability, lineage and copy counts) and reclassification
by the originator (JK-R12).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from accord.core.agreements import Agreement, AgreementSet, Status
from accord.core.custody_derived import DerivedKind, derive, reclassify
from accord.core.custody_notices import (
    Incident,
    IncidentState,
    NoticeTarget,
    compromise,
    freeze,
    notice_targets,
    reclassify_all,
)
from accord.core.custody_records import HOLDING, RELEASING, Custody, CustodyError, CustodyState, Holding
from accord.core.labels import Caveat, Label
from accord.core.national import restriction_for
from accord.core.reasons import Code, reason
from accord.core.schemes import Level, SchemeRegistry

__all__ = [
    "HOLDING",
    "RELEASING",
    "Custody",
    "CustodyError",
    "CustodyState",
    "DerivedKind",
    "Holding",
    "Incident",
    "IncidentState",
    "NoticeTarget",
    "compromise",
    "could_carry",
    "derive",
    "freeze",
    "lawful_custody",
    "notice_targets",
    "reclassify",
    "reclassify_all",
]


def _refuse(code: Code, message: str, ag: Agreement | None = None, concern: str | None = None) -> Holding:
    if ag is not None and concern is not None:
        c = ag.cite(concern)
        return Holding(False, None, None, (reason(code, message, ag.id, c.article, c.rule),), None)
    return Holding(False, None, None, (reason(code, message),), None)


def could_carry(
    ag: Agreement,
    originator: str,
    holder: str,
    level: Level,
    topics: frozenset[str],
    lo: date,
    hi: date,
    schemes: SchemeRegistry,
) -> tuple[date, Level] | None:
    """The first day in [lo, hi] on which ``ag`` could carry the item from originator to holder, and the
    holder's equivalent level under it; None when it never could (not in force, out of scope, level)."""
    if originator not in ag.parties or holder not in ag.parties:
        return None
    target = schemes.get(holder)
    if target is None:
        return None
    days = [lo, *(d for d in ag.change_days() if lo < d <= hi)]
    for day in days:
        if not ag.state_at(day).exchange_allowed:
            continue
        terms = ag.terms_at(day)
        if not terms.covers_topics(topics):
            continue
        row = terms.row_for(level)
        key = row.levels.get(holder) if row is not None else None
        out = target.by_key(key) if key is not None else None
        if out is not None:
            return day, out
    return None


def lawful_custody(
    label: Label, holder: str, at: date, *, agreements: AgreementSet, record: Custody | None = None
) -> Holding:
    """Whether ``holder`` (not the originator) holds ``label``'s item lawfully on ``at`` (cached per set).

    Without a record, the custody is presumed from the agreements: the first agreement between the
    originator and the holder (a direct channel first, then an arrangement relaying between them) that
    could have carried the item to the holder between its creation and ``at``.
    """
    level = None if label.uninterpreted else agreements.schemes.level(label.originator, label.classification)
    if level is None:
        return _refuse(
            Code.UNKNOWN_LEVEL, f"{label.classification!r} is not a classification of {label.originator}'s scheme."
        )
    key = (
        label.originator,
        level,
        label.topics,
        label.releasable_to,
        label.caveats,
        label.created,
        holder,
        at,
        record,
        label.id if record is not None else None,
    )
    cache = agreements.custody
    hit: Holding | None = cache.get(key)
    if hit is None:
        hit = _lawful(label, level, holder, at, agreements, record)
        if len(cache) >= 50_000:
            cache.clear()
        cache[key] = hit
    return hit


def _record_refusal(label: Label, holder: str, agreements: AgreementSet, record: Custody | None) -> Holding | None:
    """A custody record for another item or holder, or one whose custody has ended (JK-R13)."""
    if record is None:
        return None
    originator = label.originator
    if (
        record.holder != holder
        or record.originator != originator
        or (record.item is not None and label.id is not None and record.item != label.id)
    ):
        return _refuse(
            Code.NOT_HELD,
            f"The custody record is for item {record.item} of {record.originator} "
            f"held by {record.holder}, not for this item held by {holder}.",
        )
    if not record.holding:
        ag = agreements.get(record.agreement) if record.agreement else None
        return _refuse(
            Code.CUSTODY_ENDED,
            f"{holder} no longer holds {originator}'s item: it was "
            f"{record.state.value.lower()} (end of custody); it can neither release nor "
            f"return it.",
            ag,
            "return" if ag is not None else None,
        )
    return None


def _not_holdable(label: Label, level: Level, holder: str) -> Holding | None:
    """A level its nation never shares, or a label that keeps the item from ``holder`` (ACC-R4, ACC-R7)."""
    originator = label.originator
    restriction = restriction_for(level)
    if restriction is not None:
        return _refuse(
            Code.NEVER_RELEASED,
            f"{restriction.statement} {restriction.source}: {holder} cannot "
            f"hold {level.marking} lawfully, whatever an equivalence table assumes.",
        )
    if label.caveats and Caveat.ORIGINATOR_ONLY in label.caveats:
        return _refuse(
            Code.NOT_HELD,
            f"The item is marked {originator} ONLY: no other nation holds it "
            f"lawfully, so {holder} has no access and can release nothing.",
        )
    if holder not in label.releasable_to:
        rel = ", ".join(sorted(label.releasable_to)) or "no nation"
        return _refuse(
            Code.NOT_HELD,
            f"{holder} is not the originator and not within the item's "
            f"releasability ({rel}): it cannot hold it lawfully, so it has no access and can "
            f"release nothing.",
        )
    return None


def _held_under(
    ag: Agreement,
    label: Label,
    level: Level,
    holder: str,
    at: date,
    day: date,
    held: Level,
    record: Custody | None,
    agreements: AgreementSet,
) -> Holding:
    """``holder`` holds the item under ``ag`` (which could carry it on ``day``, marked ``held``)."""
    originator = label.originator
    if record is not None and record.alternative is not None:
        mine = agreements.schemes.level(holder, record.alternative)
        if mine is not held:
            return _refuse(
                Code.NOT_HELD,
                f"The custody record marks the item {record.alternative}, but "
                f"the {ag.title} makes it {held.marking} in {holder}'s scheme.",
                ag,
                "marking",
            )
    custody = record or Custody(label.id, originator, holder, ag.id, originator, day, level.marking, held.marking)
    how = "recorded" if record is not None else f"presumed: it could first have come on {day}"
    cite = ag.cite("marking")
    grounds = [
        reason(
            Code.CUSTODY,
            f"{holder} holds {originator}'s item under the {ag.title} ({how}), "
            f"marked {held.marking} beside the original {level.marking}.",
            ag.id,
            cite.article,
            cite.rule,
        )
    ]
    state = ag.state_at(at)
    if state.status is Status.TERMINATED:
        c = ag.cite("survival")
        grounds.append(
            reason(
                Code.SURVIVAL,
                f"The {ag.title} is {state.message}; the item {holder} already holds stays protected under it.",
                ag.id,
                c.article,
                c.rule,
            )
        )
    return Holding(True, held, ag, tuple(grounds), custody)


def _lawful(
    label: Label, level: Level, holder: str, at: date, agreements: AgreementSet, record: Custody | None
) -> Holding:
    originator = label.originator
    refused = _record_refusal(label, holder, agreements, record)
    if refused is None:
        refused = _not_holdable(label, level, holder)
    if refused is not None:
        return refused
    created = label.created.date()
    lo = min(created, at)
    if record is not None:
        if record.agreement is None:
            return _refuse(
                Code.NOT_HELD, f"The custody record names no agreement under which {holder} holds {originator}'s item."
            )
        named = agreements.get(record.agreement)
        if named is None:
            return _refuse(
                Code.NOT_HELD,
                f"The custody record names {record.agreement}, which is not loaded: "
                f"{holder}'s custody of the item cannot be established.",
            )
        if record.received_on is not None:
            if record.received_on > at:
                return _refuse(
                    Code.NOT_HELD,
                    f"The custody record says {holder} received the item on {record.received_on}, after {at}.",
                    named,
                    "parties",
                )
            lo = record.received_on
            at_most = record.received_on
        else:
            at_most = at
        candidates: Sequence[Agreement] = (named,)
    else:
        at_most = at
        candidates = (*agreements.channels(originator, holder), *agreements.hub_arrangements(originator, holder))
    # Received from a third party (with the originator's consent): the agreement linked that party and the
    # holder, and carried the item at that party's equivalent level.
    sender, sent_level = originator, level
    if record is not None and record.received_from not in (None, originator):
        assert record.received_from is not None
        mid = agreements.equivalent_level(level, record.received_from)
        if mid is None:
            return _refuse(
                Code.NOT_HELD,
                f"{record.received_from}, from whom the record says {holder} received "
                f"{originator}'s item, has no equivalent of {level.marking}.",
            )
        sender, sent_level = record.received_from, mid[0]
    for ag in candidates:
        found = could_carry(ag, sender, holder, sent_level, label.topics, lo, at_most, agreements.schemes)
        if found is None:
            continue
        day, held = found
        return _held_under(ag, label, level, holder, at, day, held, record, agreements)
    if record is not None:
        return _refuse(
            Code.NOT_HELD,
            f"The {candidates[0].title} could not have carried this item from "
            f"{originator} to {holder} on {lo if lo == at_most else f'{lo}..{at_most}'} (not in "
            f"force, out of scope or level not covered): {holder} does not hold it lawfully.",
            candidates[0],
            "parties",
        )
    return _refuse(
        Code.NOT_HELD,
        f"No agreement could have carried this item from {originator} to {holder} "
        f"between {lo} and {at}: {holder} does not hold it lawfully, so it has no access and can "
        f"release nothing.",
    )
