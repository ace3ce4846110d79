"""Derived items (JK-R5, JK-R23, JK-R24) and reclassification by the originator (JK-R12).

Re-exported by :mod:`accord.core.custody`, the public module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from enum import StrEnum

from accord.core.custody_records import RELEASING, Custody, CustodyError, CustodyState
from accord.core.labels import Label
from accord.core.schemes import Level, SchemeRegistry, resolve_level

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
