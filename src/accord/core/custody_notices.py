"""Loss or compromise of a held item (JK-R26), and notices reaching every holder (JK-R12 reclassification,
JK-R26 freeze).

Re-exported by :mod:`accord.core.custody`, the public module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from accord.core.custody_derived import _level_of, reclassify
from accord.core.custody_records import Custody, CustodyError, CustodyState
from accord.core.labels import Label
from accord.core.schemes import SchemeRegistry

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
