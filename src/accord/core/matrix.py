"""The sharing matrix: for one day, who may share what with whom, by which route, under which agreements.

For every ordered pair of parties and every topic, the matrix gives the highest level of the
originator's scheme that may be released, the recipient's equivalent marking, the route and
the agreements. Run it on a hypothetical agreement set (an event removed or added) to answer
"what if the 2019 notice had never been suspended?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.decision import Code, Decision, decide
from accord.core.labels import Label

#: The topic the matrix uses for information outside every topic-scoped agreement.
OTHER_TOPIC = "OTHER-CMI"


@dataclass(frozen=True, slots=True)
class Cell:
    """One (holder, recipient, topic) entry of the matrix.

    Attributes:
        allowed: whether any level may be released.
        level: the highest releasable level, as the holder's marking.
        marking: its equivalent in the recipient's scheme.
        decision: the decision at that level (or, when nothing is allowed, at the lowest level).
    """

    holder: str
    recipient: str
    topic: str
    allowed: bool
    level: str | None
    marking: str | None
    decision: Decision

    @property
    def route(self) -> tuple[str, ...]:
        """The route of the decision."""
        return self.decision.route

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        d = self.decision
        return {
            "holder": self.holder,
            "recipient": self.recipient,
            "topic": self.topic,
            "allowed": self.allowed,
            "level": self.level,
            "marking": self.marking,
            "route": list(d.route),
            "agreements": list(d.agreements),
            "reasons": [r.to_dict() for r in (d.denials if not self.allowed else d.reasons)],
        }


@dataclass(frozen=True, slots=True)
class Matrix:
    """The matrix for one day."""

    at: date
    parties: tuple[str, ...]
    topics: tuple[str, ...]
    cells: tuple[Cell, ...]
    _index: dict[tuple[str, str, str], Cell] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(c.holder, c.recipient, c.topic): c for c in self.cells})

    def cell(self, holder: str, recipient: str, topic: str) -> Cell:
        """The cell for a pair and topic (raises KeyError when the matrix has none)."""
        return self._index[(holder, recipient, topic)]

    @property
    def allowed_count(self) -> int:
        """How many cells allow some level."""
        return sum(1 for c in self.cells if c.allowed)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "at": self.at.isoformat(),
            "parties": list(self.parties),
            "topics": list(self.topics),
            "cells": [c.to_dict() for c in self.cells],
        }


def default_topics(agreements: AgreementSet) -> tuple[str, ...]:
    """Every topic some agreement is scoped to, plus :data:`OTHER_TOPIC`."""
    topics: set[str] = set()
    for ag in agreements:
        if ag.terms.topics is not None:
            topics |= ag.terms.topics
    return (*sorted(topics), OTHER_TOPIC)


def sharing_matrix(
    agreements: AgreementSet,
    at: date,
    *,
    topics: Sequence[str] | None = None,
    parties: Sequence[str] | None = None,
    consents: Sequence[Consent] = (),
) -> Matrix:
    """Compute the sharing matrix for ``at`` (originator releasing its own information).

    Scales with the world: a pair with no channel and no hub between them is decided once, at its
    lowest level; when the engine answers NO_CHANNEL (a denial that names neither topic nor level),
    the other topics' cells carry that decision with their own label. Cells are indexed.
    """
    ps = tuple(parties) if parties is not None else agreements.parties
    ts = tuple(topics) if topics is not None else default_topics(agreements)
    created = datetime.combine(at, time(), UTC)
    everyone = frozenset(ps)  # one label per (originator, level, topic), releasable to every party
    cells: list[Cell] = []
    for a in ps:
        scheme = agreements.schemes.get(a)
        all_levels = scheme.levels if scheme is not None else ()
        labels = {
            (lv.key, t): Label(
                originator=a, classification=lv.marking, topics=frozenset({t}), releasable_to=everyone, created=created
            )
            for lv in all_levels
            for t in ts
        }
        for b in ps:
            if a == b:
                continue
            linked = bool(agreements.channels(a, b) or agreements.hub_arrangements(a, b))
            levels = all_levels if linked else all_levels[-1:]
            no_channel: Decision | None = None  # an unlinked pair's denial names neither topic nor level
            for t in ts:
                last: Decision | None = None
                found: Cell | None = None
                if no_channel is not None:
                    cells.append(
                        Cell(a, b, t, False, None, None, no_channel._replace(label=labels[(levels[0].key, t)]))
                    )
                    continue
                for level in levels:
                    d = decide(labels[(level.key, t)], a, b, at, consents, agreements=agreements)
                    last = d
                    if d.allowed:
                        found = Cell(a, b, t, True, level.marking, d.marking, d)
                        break
                if found is None:
                    if last is None:  # unknown party: decide() explains
                        label = Label(
                            originator=a,
                            classification="?",
                            topics=frozenset({t}),
                            releasable_to=everyone,
                            created=created,
                        )
                        last = decide(label, a, b, at, consents, agreements=agreements)
                    found = Cell(a, b, t, False, None, None, last)
                    if not linked and last.reasons and all(r.code is Code.NO_CHANNEL for r in last.denials):
                        no_channel = last
                cells.append(found)
    return Matrix(at=at, parties=ps, topics=ts, cells=tuple(cells))
