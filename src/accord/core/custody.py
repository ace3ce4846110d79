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

Also here, as pure values: the state machine of an item (HELD, RELEASED, RETURNED, DESTROYED,
COMPROMISED, FROZEN), the loss-or-compromise incident (SUSPECTED → NOTIFIED → INVESTIGATING →
REPORTED, JK-R26), derived items (reproduction and translation: originator and markings kept, highest
level of the sources, most restrictive releasability, lineage and copy counts) and reclassification
by the originator (JK-R12).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, NamedTuple

from accord.core.agreements import Agreement, AgreementSet, Status
from accord.core.labels import Caveat, Label
from accord.core.national import restriction_for
from accord.core.reasons import Code, Reason, reason
from accord.core.schemes import Level, SchemeRegistry, resolve_level
from accord.errors import InputError


class CustodyError(InputError):
    """A custody record or a change of custody is invalid (a transition not allowed, a foreign notice)."""


class CustodyState(StrEnum):
    """The state of an item at one holder."""

    HELD = "HELD"
    RELEASED = "RELEASED"  # held, and released onward at least once
    RETURNED = "RETURNED"  # given back to the originator (JK-R13): no longer held
    DESTROYED = "DESTROYED"  # destroyed under Art. 13 (JK-R13, JK-R22): no longer held
    COMPROMISED = "COMPROMISED"  # a loss or compromise, even a possible one, is under way (JK-R26)
    FROZEN = "FROZEN"  # the originator froze further release (JK-R26)


#: States in which the holder still holds the item (and may return it to the originator).
HOLDING = frozenset({CustodyState.HELD, CustodyState.RELEASED, CustodyState.COMPROMISED, CustodyState.FROZEN})
#: States in which the holder may release the item onward (the third-party rule permitting).
RELEASING = frozenset({CustodyState.HELD, CustodyState.RELEASED})

_TRANSITIONS: dict[CustodyState, frozenset[CustodyState]] = {
    CustodyState.HELD: frozenset(
        {
            CustodyState.RELEASED,
            CustodyState.RETURNED,
            CustodyState.DESTROYED,
            CustodyState.COMPROMISED,
            CustodyState.FROZEN,
        }
    ),
    CustodyState.RELEASED: frozenset(
        {
            CustodyState.RELEASED,
            CustodyState.RETURNED,
            CustodyState.DESTROYED,
            CustodyState.COMPROMISED,
            CustodyState.FROZEN,
        }
    ),
    # the investigation closes (back to HELD), or the originator freezes the item
    CustodyState.COMPROMISED: frozenset(
        {CustodyState.HELD, CustodyState.FROZEN, CustodyState.RETURNED, CustodyState.DESTROYED}
    ),
    # only the originator lifts a freeze (back to HELD)
    CustodyState.FROZEN: frozenset(
        {CustodyState.HELD, CustodyState.COMPROMISED, CustodyState.RETURNED, CustodyState.DESTROYED}
    ),
    CustodyState.RETURNED: frozenset(),
    CustodyState.DESTROYED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Custody:
    """One holder's record of one item (immutable; a change of state gives a new record).

    Attributes:
        item: the item id (the label's id).
        originator: the nation whose information it is.
        holder: the nation holding it.
        agreement: the id of the agreement it holds the item under (None for the originator's own item).
        received_from: who released it to the holder (the originator, or a holder with consent).
        received_on: the day it was received.
        marking: the original (originator's) marking.
        alternative: the holder's equivalent marking (JK-R4), the STANAG 4774 alternative label.
        state: see :class:`CustodyState`.
        copies: reproductions made (JK-R23).
        derived: ids of items derived from it (copies, translations, extracts).
        sources: for a derived item, the ids of the items it was made from (lineage).
        purpose: the purpose it was provided for (JK-R7), if stated.
    """

    item: str | None
    originator: str
    holder: str
    agreement: str | None
    received_from: str | None = None
    received_on: date | None = None
    marking: str | None = None
    alternative: str | None = None
    state: CustodyState = CustodyState.HELD
    copies: int = 0
    derived: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    purpose: str | None = None

    @property
    def holding(self) -> bool:
        """Whether the holder still holds the item."""
        return self.state in HOLDING

    def to(self, state: CustodyState) -> Custody:
        """The record after a change of state; raises :class:`CustodyError` for a change not allowed."""
        if state not in _TRANSITIONS[self.state]:
            raise CustodyError(f"an item {self.state.value} cannot become {state.value}", field="state")
        return replace(self, state=state)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``docs/custody.md``)."""
        return {
            "item": self.item,
            "originator": self.originator,
            "holder": self.holder,
            "agreement": self.agreement,
            "received_from": self.received_from,
            "received_on": None if self.received_on is None else self.received_on.isoformat(),
            "marking": self.marking,
            "alternative": self.alternative,
            "state": self.state.value,
            "copies": self.copies,
            "derived": list(self.derived),
            "sources": list(self.sources),
            "purpose": self.purpose,
        }


class Holding(NamedTuple):
    """Whether, and how, a holder holds an item lawfully on a day.

    Attributes:
        ok: it holds it lawfully (and still holds it).
        level: its level in the holder's scheme.
        agreement: the agreement it holds the item under.
        reasons: the ground (``CUSTODY``, ``SURVIVAL``) or the denial (``NOT_HELD``, ``NEVER_RELEASED``,
            ``CUSTODY_ENDED``).
        custody: the record (given, or presumed from the agreements when none was given).
    """

    ok: bool
    level: Level | None
    agreement: Agreement | None
    reasons: tuple[Reason, ...]
    custody: Custody | None


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


def _lawful(
    label: Label, level: Level, holder: str, at: date, agreements: AgreementSet, record: Custody | None
) -> Holding:
    originator = label.originator
    if record is not None:
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


# ---------------------------------------------------------------------------------------------
# Loss or compromise (JK-R26)


class IncidentState(StrEnum):
    """The stages of a loss or compromise, even a possible one (JK-R26, Art. 17)."""

    SUSPECTED = "SUSPECTED"
    NOTIFIED = "NOTIFIED"
    INVESTIGATING = "INVESTIGATING"
    REPORTED = "REPORTED"


_INCIDENT_ORDER = (IncidentState.SUSPECTED, IncidentState.NOTIFIED, IncidentState.INVESTIGATING, IncidentState.REPORTED)


@dataclass(frozen=True, slots=True)
class Incident:
    """A loss or compromise of an item at a holder: each stage in order, with its day and note."""

    item: str
    holder: str
    originator: str
    history: tuple[tuple[IncidentState, date, str], ...]

    @property
    def state(self) -> IncidentState:
        """The current stage."""
        return self.history[-1][0]

    @classmethod
    def suspect(cls, item: str, holder: str, originator: str, on: date, note: str = "") -> Incident:
        """Open an incident: a loss or compromise is suspected."""
        return cls(item, holder, originator, ((IncidentState.SUSPECTED, on, note),))

    def advance(self, to: IncidentState, on: date, note: str = "") -> Incident:
        """The next stage, in order only (SUSPECTED → NOTIFIED → INVESTIGATING → REPORTED)."""
        i = _INCIDENT_ORDER.index(self.state)
        if i + 1 >= len(_INCIDENT_ORDER) or _INCIDENT_ORDER[i + 1] is not to:
            raise CustodyError(f"incident {self.item}: {self.state.value} cannot go to {to.value}", field="state")
        if on < self.history[-1][1]:
            raise CustodyError(f"incident {self.item}: {on} is before {self.history[-1][1]}", field="date")
        return replace(self, history=(*self.history, (to, on, note)))


def compromise(custody: Custody) -> Custody:
    """The record once a loss or compromise is suspected: no further release (JK-R26)."""
    return custody.to(CustodyState.COMPROMISED)


def freeze(records: Sequence[Custody], item: str, by: str) -> list[Custody]:
    """The originator ``by`` freezes ``item`` and every item derived from it (transitively, JK-R26)."""
    by_id = {r.item: r for r in records}
    root = by_id.get(item)
    if root is not None and root.originator != by:
        raise CustodyError(f"only the originator {root.originator} freezes its item, not {by}", field="by")
    if root is None and not any(item in r.sources for r in records):
        raise CustodyError(f"no record of item {item} nor of an item derived from it", field="item")
    targets: list[str] = []
    todo = [item]
    while todo:
        cur = todo.pop()
        if cur in targets:
            continue
        targets.append(cur)
        rec = by_id.get(cur)
        todo.extend(rec.derived if rec is not None else ())
        todo.extend(r.item for r in records if r.item is not None and cur in r.sources)
    out = []
    for r in records:
        if r.item in targets and r.originator != by:
            raise CustodyError(f"only the originator {r.originator} freezes {r.item}, not {by}", field="by")
        if r.item in targets and r.holding and r.state is not CustodyState.FROZEN:
            out.append(r.to(CustodyState.FROZEN))
        else:
            out.append(r)
    return out


# ---------------------------------------------------------------------------------------------
# Derived items (JK-R5, JK-R23, JK-R24) and reclassification (JK-R12)


class DerivedKind(StrEnum):
    """How an item was derived."""

    REPRODUCTION = "reproduction"
    TRANSLATION = "translation"
    EXTRACT = "extract"


def derive(
    sources: Sequence[tuple[Label, Custody]],
    kind: DerivedKind,
    item: str,
    on: date,
    *,
    language: str | None = None,
    schemes: SchemeRegistry | None = None,
) -> tuple[Label, Custody, list[Custody]]:
    """A derived item made by the holder from items it holds.

    The derived item keeps the originator and its markings (JK-R5, JK-R24), at the highest level of its
    sources (high-water mark) with the most restrictive releasability (the intersection) and every
    caveat and topic; its record carries its lineage. Each source's record gains the derived id, and a
    reproduction raises its copy count (JK-R23).

    Returns:
        the derived label, its custody record, and the sources' updated records.

    Raises:
        CustodyError: no source, sources of several originators or holders, or a source not held.
    """
    if not sources:
        raise CustodyError("a derived item needs at least one source", field="sources")
    originators = {lab.originator for lab, _ in sources}
    holders = {c.holder for _, c in sources}
    if len(originators) != 1:
        raise CustodyError(
            "sources of several originators: each originator's information is marked apart "
            f"({', '.join(sorted(originators))})",
            field="sources",
        )
    if len(holders) != 1:
        raise CustodyError("sources held by several nations", field="sources")
    ranks: list[int] = []
    for lab, c in sources:
        if c.state not in RELEASING:
            raise CustodyError(f"source {c.item} is {c.state.value}: nothing may be derived from it", field="sources")
        lv = _level_of(lab, schemes)
        if lv is None:
            raise CustodyError(f"source {c.item} has an unknown level", field="sources")
        ranks.append(lv.rank)
    top = sources[ranks.index(max(ranks))]
    rel = frozenset.intersection(*(lab.releasable_to for lab, _ in sources))
    topics = frozenset().union(*(lab.topics for lab, _ in sources))
    caveats = frozenset().union(*(lab.caveats for lab, _ in sources))
    created = datetime.combine(on, time(), UTC)
    label = Label(
        originator=top[0].originator,
        classification=top[0].classification,
        topics=topics,
        releasable_to=rel,
        caveats=caveats,
        created=created,
        id=item,
    )
    base = top[1]
    purposes = {c.purpose for _, c in sources if c.purpose}
    custody = Custody(
        item,
        base.originator,
        base.holder,
        base.agreement,
        base.received_from,
        on,
        top[0].marking,
        base.alternative,
        CustodyState.HELD,
        0,
        (),
        tuple(c.item for _, c in sources if c.item is not None),
        purposes.pop() if len(purposes) == 1 else None,
    )
    if language is not None and kind is not DerivedKind.TRANSLATION:
        raise CustodyError("a language is given for translations only", field="language")
    updated = [
        replace(c, derived=(*c.derived, item), copies=c.copies + (1 if kind is DerivedKind.REPRODUCTION else 0))
        for _, c in sources
    ]
    return label, custody, updated


def _level_of(label: Label, schemes: SchemeRegistry | None) -> Level | None:
    """The label's level in ``schemes`` (the bundled schemes when None)."""
    if schemes is None:
        return resolve_level(label.originator, label.classification)
    return schemes.level(label.originator, label.classification)


def reclassify(label: Label, by: str, classification: str, *, schemes: SchemeRegistry | None = None) -> Label:
    """The label after the originator's reclassification notice (JK-R12): only the originator may.

    Raises:
        CustodyError: ``by`` is not the originator, or the new classification is not of its scheme.
    """
    if by != label.originator:
        raise CustodyError(f"only the originator {label.originator} reclassifies its information, not {by}", field="by")
    known = (
        schemes.level(label.originator, classification)
        if schemes is not None
        else resolve_level(label.originator, classification)
    )
    if known is None:
        raise CustodyError(
            f"{classification!r} is not a classification of {label.originator}'s scheme", field="classification"
        )
    return replace(label, classification=classification)


# ---------------------------------------------------------------------------------------------
# Notices reaching every holder (JK-R12 reclassification, JK-R26 freeze): who gets them, in which order


class NoticeTarget(NamedTuple):
    """One holder to notify about one item: ``via`` forwards the notice to it (the originator first)."""

    holder: str
    item: str
    via: str
    hops: int


def notice_targets(records: Sequence[Custody], item: str, originator: str) -> list[NoticeTarget]:
    """Every holder of ``item`` or of an item derived from it (transitively), with who forwards the notice.

    The originator notifies those it released the item to; each holder forwards to those it released it to
    (a copy two hops away is reached through the holder that passed it on); a derived item's holder is
    notified for it too. Records no longer held (returned, destroyed) are skipped.
    """
    by_item: dict[str, list[Custody]] = {}
    for r in records:
        if r.item is not None:
            by_item.setdefault(r.item, []).append(r)
    items = [item]
    i = 0
    while i < len(items):  # the item, then its derivatives, transitively
        cur = items[i]
        i += 1
        for r in by_item.get(cur, ()):
            for d in r.derived:
                if d not in items:
                    items.append(d)
        for r in records:
            if r.item is not None and cur in r.sources and r.item not in items:
                items.append(r.item)
    out: list[NoticeTarget] = []
    reached = {originator: 0}  # holder -> hops from the originator (through the item, then its derivatives)
    for it in items:
        recs = [r for r in by_item.get(it, ()) if r.holding and r.originator == originator]
        pending = list(recs)
        while pending:
            progressed = False
            for r in list(pending):
                if r.sources and r.holder in reached:  # a derived item: its maker is told with the sources
                    src = r.holder
                elif r.received_from in reached and not r.sources:
                    src = r.received_from
                else:
                    continue
                assert src is not None
                hops = reached[src] + (0 if src == r.holder else 1)
                out.append(NoticeTarget(r.holder, it, src, hops))
                reached.setdefault(r.holder, hops)
                pending.remove(r)
                progressed = True
            if not progressed:  # a holder whose source is unknown: the originator tells it directly
                for r in pending:
                    out.append(NoticeTarget(r.holder, it, originator, 1))
                break
    return sorted(out, key=lambda t: (t.hops, t.holder, t.item))


def reclassify_all(
    labels: dict[str, Label],
    records: Sequence[Custody],
    item: str,
    by: str,
    classification: str,
    *,
    schemes: SchemeRegistry | None = None,
) -> dict[str, Label]:
    """Every label after the originator reclassifies ``item``: the item itself, and each item derived from it
    re-marked at the highest level of its sources (JK-R12, JK-R5). Raises :class:`CustodyError`."""
    if item not in labels:
        raise CustodyError(f"no label of item {item}", field="item")
    out = dict(labels)
    out[item] = reclassify(labels[item], by, classification, schemes=schemes)
    sources = {r.item: r.sources for r in records if r.item is not None and r.sources}
    changed = True
    while changed:  # derived items, transitively (a copy of a translation...)
        changed = False
        for derived, srcs in sources.items():
            parts = [(out[s], _level_of(out[s], schemes)) for s in srcs if s in out]
            known = [(p, lv) for p, lv in parts if lv is not None]
            if derived not in out or not known:
                continue
            top = max(known, key=lambda pl: pl[1].rank)[0]
            if out[derived].classification != top.classification:
                out[derived] = replace(out[derived], classification=top.classification)
                changed = True
    return out
