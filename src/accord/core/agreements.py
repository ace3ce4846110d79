"""Agreements between parties, their equivalence tables, scope and lifecycle.

An :class:`Agreement` is a value parsed from an agreement document (``docs/agreements.md``).
Its *state on a day* is computed from the lifecycle: entry into force, term and automatic
renewal, and dated events (notice of termination, its suspension or withdrawal, suspension
of the agreement, termination, amendment). Nothing here reads a clock: the day is an argument.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from accord.core.lifecycle import (
    EXCHANGE_STATES,
    Event,
    EventType,
    Lifecycle,
    State,
    Status,
    change_days,
    state_at,
)
from accord.core.reasons import Code, Reason, reason
from accord.core.schemes import EMPTY, Level, SchemeRegistry
from accord.core.terms import CONCERNS, NO_CITATION, Citation, EquivalenceRow, Kind, LegalStatus, Terms

__all__ = [  # the lifecycle and the terms are in accord.core.lifecycle and accord.core.terms; re-exported here
    "CONCERNS",
    "EXCHANGE_STATES",
    "NO_CITATION",
    "Agreement",
    "AgreementSet",
    "Citation",
    "EquivalenceRow",
    "Event",
    "EventType",
    "Kind",
    "LegalStatus",
    "Lifecycle",
    "State",
    "Status",
    "Terms",
]


@dataclass(frozen=True, slots=True, eq=False)
class Agreement:
    """An agreement for the exchange and protection of classified military information.

    Attributes:
        id: stable identifier (``jpn-kor-gsomia``).
        title: the title.
        kind: bilateral or multilateral.
        parties: alpha-3 codes of the parties (sorted).
        hub: for a multilateral arrangement that relays through one party, that party.
        terms: scope and equivalence table on entry into force (amendments change them later).
        onward_release_requires_consent: the third-party rule (release beyond the parties needs
            the originator's prior written approval).
        legal_status: legally binding or not.
        protection_basis: ids of the agreements under which items exchanged through this
            arrangement are protected (TISA para. 3); each hop must also be covered by one of them.
        min_suite: the weakest sealing suite items released under it may use (``docs/sealed-format.md``),
            or None for the default policy.
        citations: concern -> article and rule id.
        lifecycle: signature, entry into force, term, events.
        provenance: field -> what is sourced and what is assumed.
        source: where the document came from (a file path), for error messages.
        schemes: the national schemes its equivalence table was validated against (its level
            keys name levels there); None for an agreement built without one.
        based_on: id of the arrangement this one rests on (M-R5: the missile-warning mechanism on top
            of TISA), or None; users of it (the feed) require both in force on the day.
    """

    id: str
    title: str
    kind: Kind
    parties: tuple[str, ...]
    hub: str | None
    terms: Terms
    onward_release_requires_consent: bool
    legal_status: LegalStatus
    lifecycle: Lifecycle
    protection_basis: tuple[str, ...] = ()
    min_suite: str | None = None
    citations: Mapping[str, Citation] = field(default_factory=dict)
    provenance: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    schemes: SchemeRegistry | None = field(default=None, repr=False)
    based_on: str | None = None

    def cite(self, concern: str) -> Citation:
        """The article and rule id the agreement gives for a concern."""
        return self.citations.get(concern, NO_CITATION)

    def channels(self) -> Iterator[tuple[str, str]]:
        """Ordered pairs of parties that may exchange directly under this agreement.

        A hub arrangement connects the hub with each other party, never two spokes directly
        (TISA para. 4, T-R4).
        """
        for a in self.parties:
            for b in self.parties:
                if a == b:
                    continue
                if self.hub is not None and self.hub not in (a, b):
                    continue
                yield a, b

    def state_at(self, on: date) -> State:
        """The agreement's state on a day (cached: agreements are immutable)."""
        return _state_at(self, on)

    def terms_at(self, on: date) -> Terms:
        """The terms in effect on a day, after any amendment dated on or before it."""
        terms = self.terms
        for ev in self.lifecycle.events:
            if ev.on > on:
                break
            if ev.type is EventType.AMENDED and ev.terms is not None:
                terms = ev.terms
        return terms

    def change_days(self) -> tuple[date, ...]:
        """Every day the agreement's state or terms may change (entry into force, events, expiries), sorted.

        Between two consecutive change days the state is constant, so "was the agreement usable on some
        day of a window" is answered by looking at the window's first day and the change days inside it.
        """
        return _change_days(self)

    def with_events(self, events: Iterable[Event]) -> Agreement:
        """A hypothetical copy of this agreement with another list of events."""
        ordered = tuple(sorted(events, key=lambda e: e.on))
        return replace(self, lifecycle=replace(self.lifecycle, events=ordered))


@functools.lru_cache(maxsize=4096)
def _change_days(agreement: Agreement) -> tuple[date, ...]:
    return change_days(agreement.lifecycle)


@functools.lru_cache(maxsize=65536)
def _state_at(agreement: Agreement, on: date) -> State:
    return state_at(agreement.lifecycle, on)


class AgreementSet:
    """An immutable collection of agreements, indexed for decisions."""

    __slots__ = (
        "_by_hub",
        "_by_id",
        "_channels",
        "_equivalents",
        "_hubs",
        "_parties",
        "_spoke_of",
        "custody",
        "memo",
        "routes",
        "schemes",
    )

    def __init__(self, agreements: Iterable[Agreement] = ()) -> None:
        ordered = sorted(agreements, key=lambda a: (a.kind is not Kind.BILATERAL, a.id))
        by_id: dict[str, Agreement] = {}
        schemes: SchemeRegistry | None = None
        for ag in ordered:
            if ag.id in by_id:
                raise ValueError(f"two agreements with id {ag.id!r}")
            by_id[ag.id] = ag
            if ag.schemes is not None:
                if schemes is not None and ag.schemes is not schemes:
                    raise ValueError(f"{ag.id} was validated against other national schemes than the rest")
                schemes = ag.schemes
        #: The national schemes of this world (every agreement's level keys name levels there).
        self.schemes: SchemeRegistry = schemes if schemes is not None else EMPTY
        self._by_id = by_id
        channels: dict[tuple[str, str], list[Agreement]] = {}
        hubs: dict[tuple[str, str], list[Agreement]] = {}
        by_hub: dict[str, list[Agreement]] = {}
        spoke_of: dict[str, list[Agreement]] = {}
        parties: set[str] = set()
        for ag in ordered:
            parties.update(ag.parties)
            for pair in ag.channels():
                channels.setdefault(pair, []).append(ag)
            if ag.hub is not None:
                by_hub.setdefault(ag.hub, []).append(ag)
                spokes = [p for p in ag.parties if p != ag.hub]
                for p in spokes:
                    spoke_of.setdefault(p, []).append(ag)
                for a in spokes:
                    for b in spokes:
                        if a != b:
                            hubs.setdefault((a, b), []).append(ag)
        self._channels = {k: tuple(v) for k, v in channels.items()}
        self._hubs = {k: tuple(v) for k, v in hubs.items()}
        self._by_hub = {k: tuple(v) for k, v in by_hub.items()}
        self._spoke_of = {k: tuple(v) for k, v in spoke_of.items()}
        self._parties = tuple(sorted(parties))
        #: Memo of pure decisions over this set (see :func:`accord.core.decision.decide`).
        self.memo: dict[object, Any] = {}
        #: Memo of lawful-custody findings over this set (see :mod:`accord.core.custody`).
        self.custody: dict[object, Any] = {}
        #: Memo of hub-route searches per (holder, recipient, avoided party, day, topics) over this set.
        self.routes: dict[object, Any] = {}
        self._equivalents: dict[tuple[Level, str], tuple[Level, Agreement] | None] = {}

    def __iter__(self) -> Iterator[Agreement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def __contains__(self, agreement_id: object) -> bool:
        return agreement_id in self._by_id

    def get(self, agreement_id: str) -> Agreement | None:
        """The agreement with this id, if any."""
        return self._by_id.get(agreement_id)

    @property
    def parties(self) -> tuple[str, ...]:
        """Every party to at least one agreement, sorted."""
        return self._parties

    def channels(self, a: str, b: str) -> tuple[Agreement, ...]:
        """Agreements under which ``a`` may release directly to ``b`` (bilateral first)."""
        return self._channels.get((a, b), ())

    def hub_arrangements(self, a: str, b: str) -> tuple[Agreement, ...]:
        """Arrangements whose hub relays between ``a`` and ``b`` (both spokes)."""
        return self._hubs.get((a, b), ())

    def arrangements_of_hub(self, hub: str) -> tuple[Agreement, ...]:
        """Arrangements relaying through ``hub`` (multi-hub route search, T-R4)."""
        return self._by_hub.get(hub, ())

    def arrangements_as_spoke(self, party: str) -> tuple[Agreement, ...]:
        """Arrangements with a hub in which ``party`` is a spoke."""
        return self._spoke_of.get(party, ())

    def is_hub(self, party: str) -> bool:
        """Whether ``party`` is the hub of some arrangement."""
        return party in self._by_hub

    def replace(self, agreement: Agreement) -> AgreementSet:
        """A new set with ``agreement`` in place of the one with its id."""
        return AgreementSet(
            [agreement if a.id == agreement.id else a for a in self]
            + ([] if agreement.id in self._by_id else [agreement])
        )

    def what_if(self, *, drop: Iterable[tuple[str, date]] = (), add: Iterable[tuple[str, Event]] = ()) -> AgreementSet:
        """A hypothetical set: events dropped (by agreement id and date) or added.

        Raises:
            KeyError: an agreement id or a dropped event does not exist.
        """
        changed = {a.id: list(a.lifecycle.events) for a in self}
        for agreement_id, on in drop:
            if agreement_id not in changed:
                raise KeyError(f"no agreement {agreement_id!r}")
            before = len(changed[agreement_id])
            changed[agreement_id] = [e for e in changed[agreement_id] if e.on != on]
            if len(changed[agreement_id]) == before:
                raise KeyError(f"{agreement_id} has no event on {on}")
        for agreement_id, event in add:
            if agreement_id not in changed:
                raise KeyError(f"no agreement {agreement_id!r}")
            changed[agreement_id].append(event)
        return AgreementSet(
            a if changed[a.id] == list(a.lifecycle.events) else a.with_events(changed[a.id]) for a in self
        )

    def equivalent_level(self, level: Level, party: str) -> tuple[Level, Agreement] | None:
        """``level``'s equivalent in ``party``'s scheme under any agreement between the two, at any time.

        Used for items already held: their protection survives the agreement (JK-R31).
        """
        key = (level, party)
        if key in self._equivalents:
            return self._equivalents[key]
        found = self._equivalents[key] = self._equivalent_level(level, party)
        return found

    def _equivalent_level(self, level: Level, party: str) -> tuple[Level, Agreement] | None:
        if level.party == party:
            return None
        target = self.schemes.get(party)
        if target is None:
            return None
        for ag in self:
            if level.party not in ag.parties or party not in ag.parties:
                continue
            candidates = [ag.terms, *(e.terms for e in ag.lifecycle.events if e.terms is not None)]
            for terms in candidates:
                row = terms.row_for(level)
                if row is not None and party in row.levels:
                    found = target.by_key(row.levels[party])
                    if found is not None:
                        return found, ag
        return None


def reason_under(code: Code, message: str, ag: Agreement | None, concern: str) -> Reason:
    """A reason citing the article and rule ``ag`` gives for ``concern`` (the code's default rule without one)."""
    if ag is None:
        return reason(code, message)
    cite = ag.cite(concern)
    return reason(code, message, ag.id, cite.article, cite.rule)
