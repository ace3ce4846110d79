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
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from accord.core.schemes import EMPTY, Level, SchemeRegistry


class Kind(StrEnum):
    """Bilateral agreement, or multilateral arrangement (optionally relaying through a hub)."""

    BILATERAL = "bilateral"
    MULTILATERAL = "multilateral"


class LegalStatus(StrEnum):
    """Whether the agreement binds its parties in law."""

    LEGALLY_BINDING = "legally-binding"
    NOT_LEGALLY_BINDING = "not-legally-binding"


class EventType(StrEnum):
    """Dated lifecycle events."""

    SIGNING_ABORTED = "signing-aborted"
    NOTICE_OF_TERMINATION = "notice-of-termination"
    NOTICE_SUSPENDED = "notice-suspended"
    NOTICE_WITHDRAWN = "notice-withdrawn"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    TERMINATED = "terminated"
    AMENDED = "amended"
    RENEWED = "renewed"


class Status(StrEnum):
    """The state of an agreement on a day."""

    NOT_IN_FORCE = "not-in-force"
    IN_FORCE = "in-force"
    NOTICE_PENDING = "notice-pending"
    NOTICE_SUSPENDED = "notice-suspended"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


#: States in which new releases may be made under the agreement.
EXCHANGE_STATES = frozenset({Status.IN_FORCE, Status.NOTICE_PENDING, Status.NOTICE_SUSPENDED})

#: Concerns an agreement cites articles for (``citations`` in the document).
CONCERNS = (
    "parties",
    "scope",
    "equivalence",
    "third_party",
    "relay",
    "protection",
    "lifecycle",
    "survival",
    "marking",
    "in_force",
    "release",
    "definition",
    "return",
    "compromise",
    "reclassification",
    "reproduction",
    "translation",
    "purpose",
)


@dataclass(frozen=True, slots=True)
class Citation:
    """Where in the agreement a rule comes from."""

    article: str
    rule: str | None = None


NO_CITATION = Citation(article="(no article cited)")


@dataclass(frozen=True, slots=True)
class EquivalenceRow:
    """One row of an equivalence table: the levels of each party treated as equivalent.

    Attributes:
        name: the English equivalent the treaty gives (``SECRET``).
        levels: party -> level key in that party's scheme.
    """

    name: str
    levels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Terms:
    """The amendable terms of an agreement: what it covers."""

    #: Topics in scope, or None when the agreement covers all classified military information.
    topics: frozenset[str] | None
    equivalence: tuple[EquivalenceRow, ...]
    _rows: dict[tuple[str, str], EquivalenceRow] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        rows: dict[tuple[str, str], EquivalenceRow] = {}
        for row in self.equivalence:
            for party, key in row.levels.items():
                rows[(party, key)] = row
        object.__setattr__(self, "_rows", rows)

    def row_for(self, level: Level) -> EquivalenceRow | None:
        """The equivalence row holding ``level``, or None when the table does not cover it."""
        return self._rows.get((level.party, level.key))

    def covers_topics(self, topics: frozenset[str]) -> bool:
        """True when every topic is within scope (an item with no topic is never within a topic scope)."""
        if self.topics is None:
            return True
        return bool(topics) and topics <= self.topics


@dataclass(frozen=True, slots=True)
class Event:
    """A dated lifecycle event.

    Attributes:
        on: the date the event took effect.
        type: what happened.
        note: what the documents say (a diplomatic note, a press release...).
        by: the party that acted, if one did.
        effective: for a notice of termination, the date termination takes effect, when the
            document states it; otherwise it is computed from the term and notice period.
        terms: for an amendment, the new terms from that date.
        sourced: True when the event is documented in a primary or secondary source.
    """

    on: date
    type: EventType
    note: str = ""
    by: str | None = None
    effective: date | None = None
    terms: Terms | None = None
    sourced: bool = True


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Signature, entry into force, term and the dated events.

    Attributes:
        signed: date of signature, or None for a draft never signed.
        in_force: date of entry into force, or None.
        term_years: length of a term, or None for an indefinite agreement.
        auto_renewal: whether each term renews automatically unless notice is given.
        notice_days: the notice period for termination, in days.
        events: dated events, in date order.
    """

    signed: date | None
    in_force: date | None
    term_years: int | None
    auto_renewal: bool
    notice_days: int | None
    events: tuple[Event, ...] = ()

    def anniversary(self, years: int) -> date:
        """The ``years``-th anniversary of entry into force (28 February for 29 February)."""
        assert self.in_force is not None
        start = self.in_force
        try:
            return start.replace(year=start.year + years)
        except ValueError:
            return start.replace(year=start.year + years, day=28)

    def expiry_after_notice(self, notice: date) -> date:
        """When a notice of termination given on ``notice`` takes effect.

        With a renewing term, at the end of the first term that still leaves the full notice
        period (Japan-ROK GSOMIA Art. 21.3: 90 days before the anniversary); without a term,
        when the notice period has run.
        """
        days = timedelta(days=self.notice_days or 0)
        if self.term_years and self.in_force is not None:
            k = self.term_years
            while self.anniversary(k) - notice < days:
                k += self.term_years
            return self.anniversary(k)
        return notice + days

    def term_end(self, on: date) -> date | None:
        """The end of the term running on ``on`` (None for an indefinite agreement)."""
        if not self.term_years or self.in_force is None:
            return None
        k = self.term_years
        while self.anniversary(k) <= on:
            k += self.term_years
        return self.anniversary(k)


@dataclass(frozen=True, slots=True)
class State:
    """The state of an agreement on a given day, with a sentence a security officer can sign."""

    status: Status
    message: str
    since: date | None = None
    until: date | None = None

    @property
    def exchange_allowed(self) -> bool:
        """Whether new releases may be made under the agreement on that day."""
        return self.status in EXCHANGE_STATES


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
    life = agreement.lifecycle
    days: set[date] = set()
    if life.in_force is not None:
        days.add(life.in_force)
    for ev in life.events:
        days.add(ev.on)
        if ev.type is EventType.NOTICE_OF_TERMINATION:
            if ev.effective is not None:
                days.add(ev.effective)
            elif life.in_force is not None:
                days.add(life.expiry_after_notice(ev.on))
    if life.term_years and not life.auto_renewal and life.in_force is not None:
        for k in range(1, 2 + sum(1 for e in life.events if e.type is EventType.RENEWED)):
            days.add(life.anniversary(life.term_years * k))
    return tuple(sorted(days))


@functools.lru_cache(maxsize=65536)
def _state_at(agreement: Agreement, on: date) -> State:
    life = agreement.lifecycle
    if life.in_force is None:
        if life.signed is None:
            aborted = [e for e in life.events if e.type is EventType.SIGNING_ABORTED and e.on <= on]
            if aborted:
                return State(
                    Status.NOT_IN_FORCE, f"never signed: signing aborted on {aborted[-1].on}", since=aborted[-1].on
                )
            return State(Status.NOT_IN_FORCE, "never signed")
        return State(Status.NOT_IN_FORCE, f"signed {life.signed}, never entered into force")
    if on < life.in_force:
        if life.signed is not None and life.signed <= on:
            message = f"signed {life.signed}, not in force until {life.in_force}"
        else:
            message = f"not yet in force (enters into force on {life.in_force})"
        aborted = [e for e in life.events if e.type is EventType.SIGNING_ABORTED and e.on <= on]
        if aborted:
            message = f"signing was aborted on {aborted[-1].on}; {message}"
        return State(Status.NOT_IN_FORCE, message)
    if life.term_years and not life.auto_renewal:
        # A fixed term ends unless a renewal, signed before it ends, extends it by one more term.
        terms = 1
        end = life.anniversary(life.term_years)
        for ev in life.events:
            if ev.type is EventType.RENEWED and ev.on < end:
                terms += 1
                end = life.anniversary(life.term_years * terms)
        if on >= end:
            return State(Status.TERMINATED, f"expired on {end} at the end of its term", since=end)

    notice: Event | None = None
    expiry: date | None = None
    notice_suspension: Event | None = None
    suspension: Event | None = None
    for ev in life.events:
        if ev.on > on:
            break
        if expiry is not None and notice_suspension is None and ev.on >= expiry:
            break  # the pending notice took effect before this event
        if ev.type is EventType.TERMINATED:
            return State(
                Status.TERMINATED, f"terminated on {ev.on}" + (f" ({ev.note})" if ev.note else ""), since=ev.on
            )
        if ev.type is EventType.NOTICE_OF_TERMINATION:
            notice, notice_suspension = ev, None
            expiry = ev.effective or life.expiry_after_notice(ev.on)
        elif ev.type is EventType.NOTICE_SUSPENDED and notice is not None:
            notice_suspension = ev
        elif ev.type is EventType.NOTICE_WITHDRAWN:
            notice, expiry, notice_suspension = None, None, None
        elif ev.type is EventType.SUSPENDED:
            suspension = ev
        elif ev.type is EventType.RESUMED:
            suspension = None
    if notice is not None and expiry is not None and notice_suspension is None and on >= expiry:
        by = f" by {notice.by}" if notice.by else ""
        return State(
            Status.TERMINATED,
            f"terminated on {expiry} under the notice of termination given{by} on {notice.on}",
            since=expiry,
        )
    if suspension is not None:
        return State(Status.SUSPENDED, f"suspended since {suspension.on}", since=suspension.on)
    if notice is not None and notice_suspension is not None:
        return State(
            Status.NOTICE_SUSPENDED,
            f"in force; the notice of termination of {notice.on} was suspended on {notice_suspension.on}",
            since=notice_suspension.on,
        )
    if notice is not None:
        return State(
            Status.NOTICE_PENDING,
            f"in force until {expiry} (notice of termination given on {notice.on})",
            since=notice.on,
            until=expiry,
        )
    term_end = life.term_end(on)
    renew = ""
    if term_end is not None:
        renew = f"; current term ends {term_end}" + (", renewing automatically" if life.auto_renewal else "")
    return State(Status.IN_FORCE, f"in force since {life.in_force}{renew}", since=life.in_force, until=term_end)


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
