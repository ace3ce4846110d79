"""The exhaustive flow check behind ``accord verify``: nothing reaches a party outside an agreement in force.

For every ordered pair of parties (the originator releasing its own item), every level of the
originator's scheme, every topic class and every interval between lifecycle dates, the engine's
decision is taken and every *allowed* one is re-checked by an independent oracle written from
the agreements alone (not from :mod:`accord.core.decision`'s code):

- the route starts at the holder and ends at the recipient, the recipient is within the
  label's "Releasable To" and no caveat forbids it (JK-R3, JK-R6);
- every hop is covered by an agreement the decision cites, in force that day (lifecycle,
  JK-R31), to which both ends are parties, whose topology allows the hop (a hub arrangement
  joins the hub with a spoke, never two spokes: T-R4), whose scope holds the topic (T-R1) and
  whose equivalence table maps the level carried on that hop (JK-R2); a hop through a hub is
  also protected by one of the arrangement's basis agreements in force (T-R3);
- the recipient's marking is the one the tables give (JK-R4).

States change only on lifecycle dates (signature, entry into force, events, effective dates,
expiry after a notice, the end of a fixed term), so checking one day per interval between them
checks every day. Topics are grouped into classes that every agreement treats alike (the same
scopes hold them); each class is checked through one representative, plus an item with no topic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from accord.core.agreements import Agreement, AgreementSet, EventType
from accord.core.consent import Consent
from accord.core.decision import Decision, decide
from accord.core.labels import Caveat, Label
from accord.core.schemes import Level

#: The representative topic of the class no agreement scope holds.
OTHER = "OTHER-CMI"
#: The class of an item with no topic.
NO_TOPIC = "(no topic)"

DecideFn = Callable[..., Decision]


@dataclass(frozen=True, slots=True)
class Flow:
    """An interval during which the holder may release something to the recipient for a topic class.

    Attributes:
        start, end: the interval (``end`` excluded; None when open-ended).
        level: the highest level of the holder's scheme allowed; marking: the recipient's marking.
    """

    holder: str
    recipient: str
    topics: str
    start: date
    end: date | None
    level: str
    marking: str
    route: tuple[str, ...]
    agreements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Violation:
    """An allowed decision the oracle cannot justify."""

    holder: str
    recipient: str
    topics: str
    level: str
    at: date
    route: tuple[str, ...]
    problem: str


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`verify` checked and found."""

    parties: tuple[str, ...]
    topic_classes: tuple[tuple[str, ...], ...]
    pairs: int
    days: int
    decisions: int
    allowed: int
    flows: tuple[Flow, ...]
    violations: tuple[Violation, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every allowed flow is justified."""
        return not self.violations


def lifecycle_dates(ag: Agreement) -> set[date]:
    """Every day on which the agreement's state or terms may change."""
    life = ag.lifecycle
    out = {d for d in (life.signed, life.in_force) if d is not None}
    if life.in_force is not None and life.term_years and not life.auto_renewal:
        out.add(life.anniversary(life.term_years))
    for ev in life.events:
        out.add(ev.on)
        if ev.effective is not None:
            out.add(ev.effective)
        if ev.type is EventType.NOTICE_OF_TERMINATION and ev.effective is None and life.in_force is not None:
            out.add(life.expiry_after_notice(ev.on))
    return out


def topic_classes(agreements: AgreementSet) -> tuple[tuple[str, ...], ...]:
    """Topics grouped by the set of scopes (of every version of every agreement) that hold them.

    The class of topics no scope holds is represented by :data:`OTHER`; a final class is the item
    with no topic at all.
    """
    scopes: list[frozenset[str]] = []
    for ag in agreements:
        for terms in (ag.terms, *(e.terms for e in ag.lifecycle.events if e.terms is not None)):
            if terms.topics is not None:
                scopes.append(terms.topics)
    topics = sorted({t for s in scopes for t in s})
    by_sig: dict[tuple[int, ...], list[str]] = {}
    for t in topics:
        by_sig.setdefault(tuple(i for i, s in enumerate(scopes) if t in s), []).append(t)
    return (*(tuple(v) for v in by_sig.values()), (OTHER,), ())


def _relevant(aset: AgreementSet, a: str, b: str) -> list[Agreement]:
    out = list(aset.channels(a, b)) + list(aset.hub_arrangements(a, b))
    for arr in aset.hub_arrangements(a, b):
        out.extend(g for g in (aset.get(i) for i in arr.protection_basis) if g is not None)
    return out


def _hop_ok(g: Agreement, x: str, y: str, level: Level, topics: frozenset[str], at: date) -> Level | str:
    """The level at ``y`` if ``g`` covers the hop, else why not (the oracle's own reading)."""
    if x not in g.parties or y not in g.parties:
        return f"{g.id} is not between {x} and {y}"
    if g.hub is not None and g.hub not in (x, y):
        return f"{g.id} relays through {g.hub}: {x}→{y} joins two spokes"
    if not g.state_at(at).exchange_allowed:
        return f"{g.id} is {g.state_at(at).status.value} on {at}"
    terms = g.terms_at(at)
    if terms.topics is not None and (not topics or not topics <= terms.topics):
        return f"{g.id} does not cover the topics {sorted(topics) or '(none)'}"
    row = next((r for r in terms.equivalence if r.levels.get(level.party) == level.key), None)
    if row is None or y not in row.levels:
        return f"{g.id} does not map {level.marking} to {y}"
    target = g.schemes.get(y) if g.schemes is not None else None
    out = target.by_key(row.levels[y]) if target is not None else None
    if out is None:
        return f"{g.id} maps {level.marking} to an unknown level of {y}"
    return out


def held_levels(level: Level, holder: str, aset: AgreementSet) -> list[Level]:
    """The levels of ``holder``'s scheme that any agreement between the originator and ``holder`` (any
    version, in force or not: JK-R31) gives as equivalent to ``level``."""
    out: list[Level] = []
    target = aset.schemes.get(holder)
    if target is None:
        return out
    for g in aset:
        if level.party not in g.parties or holder not in g.parties:
            continue
        for terms in (g.terms, *(e.terms for e in g.lifecycle.events if e.terms is not None)):
            row = terms.row_for(level)
            found = target.by_key(row.levels[holder]) if row is not None and holder in row.levels else None
            if found is not None and found not in out:
                out.append(found)
    return out


def check(
    d: Decision,
    level: Level,
    aset: AgreementSet,
    warnings: dict[tuple[str, str, str], str] | None = None,
    consents: Sequence[Consent] = (),
) -> str | None:
    """Why an allowed decision is not justified, or None when it is.

    For an onward release (the holder is not the originator), the holder's marking must be an
    equivalent of the item's level under an agreement between originator and holder, and every hop
    between two parties other than the originator needs one of ``consents`` covering it (JK-R6).

    T-R3 (a relay's hops also protected by a basis agreement) is an invariant for a relay; a direct
    hop between a hub and a spoke made under the arrangement alone, without a basis agreement in
    force, is reported in ``warnings`` (the engine's rule 5 checks the basis on relays only).
    """
    lab, at = d.label, d.at
    route = d.route
    if len(route) < 2 or route[0] != d.holder or route[-1] != d.recipient:
        return f"route {route} does not lead from {d.holder} to {d.recipient}"
    if d.recipient != lab.originator:
        if Caveat.ORIGINATOR_ONLY in lab.caveats:
            return "the item is originator-only"
        if d.recipient not in lab.releasable_to:
            return f"{d.recipient} is not in Releasable To"
    cited = [g for g in (aset.get(i) for i in d.agreements) if g is not None]
    if len(cited) != len(d.agreements):
        return f"cites an agreement that is not loaded ({', '.join(d.agreements)})"
    current = level
    if d.holder != lab.originator:
        held = d.markings.get(d.holder)
        candidates = held_levels(level, d.holder, aset)
        match = next((c for c in candidates if c.marking == held), None)
        if match is None:
            return (
                f"{d.holder} holds {level.marking} as {held!r}, not as an agreement with "
                f"{lab.originator} gives it ({', '.join(c.marking for c in candidates) or 'none'})"
            )
        current = match
    for x, y in pairwise(route):
        why: list[str] = []
        nxt: Level | None = None
        for g in cited:
            got = _hop_ok(g, x, y, current, lab.topics, at)
            if isinstance(got, str):
                why.append(got)
                continue
            if g.hub is not None and g.protection_basis:
                basis = [b for b in (aset.get(i) for i in g.protection_basis) if b is not None]
                if not any(isinstance(_hop_ok(b, x, y, current, lab.topics, at), Level) for b in basis):
                    if len(route) > 2:
                        why.append(f"hop {x}→{y} under {g.id} has no protecting agreement in force (T-R3)")
                        continue
                    if warnings is not None and (x, y, g.id) not in warnings:
                        warnings[(x, y, g.id)] = (
                            f"{x}→{y} directly under {g.id} (hub {g.hub}) without a basis "
                            f"agreement in force, first on {at} (T-R3 is checked on relays "
                            "only)"
                        )
            third = lab.originator not in (x, y) and (g.onward_release_requires_consent or len(route) > 2)
            requested = d.holder == lab.originator and g.hub == x  # the originator's own relay request (T-R5)
            if third and not requested and not any(c.covers(lab, x, y, at) for c in consents):
                why.append(f"{x}→{y} releases {lab.originator}'s item without its consent (JK-R6)")
                continue
            nxt = got
            break
        if nxt is None:
            return f"hop {x}→{y} is not covered by an agreement in force: " + "; ".join(why or ["none cited"])
        current = nxt
    if d.marking != current.marking:
        return f"recipient marking {d.marking!r} is not the tables' {current.marking!r}"
    return None


def verify(
    agreements: AgreementSet,
    *,
    parties: Sequence[str] | None = None,
    decide_fn: DecideFn | None = None,
    flows: bool = True,
    onward: bool = False,
) -> Report:
    """Check every allowed flow of the world (see the module docstring).

    ``decide_fn`` is the engine under test (:func:`accord.core.decision.decide` by default). With
    ``onward``, releases by a holder that is not the originator are checked too: for every
    originator, holder (that an agreement with the originator makes a holder) and recipient, each
    level, topic class and interval, once without any consent and once with the originator's
    consent for that very item (cubic in the parties: meant for worlds of a few dozen nations).
    """
    if decide_fn is None:
        decide_fn = decide
    ps = tuple(parties) if parties is not None else agreements.parties
    classes = topic_classes(agreements)
    created = datetime(1900, 1, 1, tzinfo=UTC)
    out_flows: list[Flow] = []
    violations: list[Violation] = []
    warnings: dict[tuple[str, str, str], str] = {}
    decisions = allowed = pairs = days_total = 0
    everyone = frozenset(ps)  # one label per (originator, level, topic class), releasable to every party
    label_cache: dict[tuple[str, str], list[Label]] = {}
    for a in ps:
        scheme = agreements.schemes.get(a)
        levels: tuple[Level, ...] = scheme.levels if scheme is not None else ()
        for b in ps:
            if a == b:
                continue
            pairs += 1
            dates: set[date] = set()
            for g in _relevant(agreements, a, b):
                dates |= lifecycle_dates(g)
            days = sorted(dates)
            days = [days[0] - timedelta(days=1), *days] if days else [date(2000, 1, 1)]
            days_total += len(days)
            for cls in classes:
                topics = frozenset(cls[:1])
                name = "|".join(cls) if cls else NO_TOPIC
                labels = label_cache.get((a, name))
                if labels is None:
                    labels = label_cache[(a, name)] = [
                        Label(
                            originator=a,
                            classification=lv.marking,
                            topics=topics,
                            releasable_to=everyone,
                            created=created,
                        )
                        for lv in levels
                    ]
                outcome: list[tuple[date, tuple[str, str, tuple[str, ...], tuple[str, ...]] | None]] = []
                for day in days:
                    best: tuple[str, str, tuple[str, ...], tuple[str, ...]] | None = None
                    for lv, lab in zip(levels, labels, strict=True):
                        d = decide_fn(lab, a, b, day, agreements=agreements)
                        decisions += 1
                        if not d.allowed:
                            continue
                        allowed += 1
                        problem = check(d, lv, agreements, warnings)
                        if problem is not None:
                            violations.append(Violation(a, b, name, lv.marking, day, d.route, problem))
                        if best is None:
                            best = (lv.marking, d.marking or "", d.route, d.agreements)
                    outcome.append((day, best))
                if flows:
                    out_flows.extend(_intervals(a, b, name, outcome))
    if onward:
        counts = _onward(agreements, ps, classes, decide_fn, violations, warnings)
        decisions += counts[0]
        allowed += counts[1]
    return Report(
        parties=ps,
        topic_classes=classes,
        pairs=pairs,
        days=days_total,
        decisions=decisions,
        allowed=allowed,
        flows=tuple(out_flows),
        violations=tuple(violations),
        warnings=tuple(warnings.values()),
    )


def _onward(
    aset: AgreementSet,
    ps: Sequence[str],
    classes: Sequence[tuple[str, ...]],
    decide_fn: DecideFn,
    violations: list[Violation],
    warnings: dict[tuple[str, str, str], str],
) -> tuple[int, int]:
    """Onward releases (holder ≠ originator), without and with the originator's consent for the item."""
    created = datetime(1900, 1, 1, tzinfo=UTC)
    everyone = frozenset(ps)
    decisions = allowed = 0
    for o in ps:
        scheme = aset.schemes.get(o)
        if scheme is None:
            continue
        for h in ps:
            if h == o or not any(o in g.parties and h in g.parties for g in aset):
                continue
            held = [(lv, held_levels(lv, h, aset)) for lv in scheme.levels]
            held = [(lv, c) for lv, c in held if c]
            for r in ps:
                if r in (o, h) or not (aset.channels(h, r) or aset.hub_arrangements(h, r)):
                    continue
                dates: set[date] = set()
                for g in (*_relevant(aset, h, r), *(g for g in aset if o in g.parties and h in g.parties)):
                    dates |= lifecycle_dates(g)
                days = sorted(dates)
                for ci, cls in enumerate(classes):
                    name = "|".join(cls) if cls else NO_TOPIC
                    for lv, _ in held:
                        item = f"verify-{o}-{lv.key}-{ci}"
                        lab = Label(
                            originator=o,
                            classification=lv.marking,
                            topics=frozenset(cls[:1]),
                            releasable_to=everyone,
                            created=created,
                            id=item,
                        )
                        consent = Consent(
                            id=f"consent-{item}-{h}-{r}",
                            originator=o,
                            holder=h,
                            recipient=r,
                            granted=date(1900, 1, 1),
                            until=date(9999, 1, 1),
                            item=item,
                        )
                        for day in days:
                            for given in ((), (consent,)):
                                d = decide_fn(lab, h, r, day, given, agreements=aset)
                                decisions += 1
                                if not d.allowed:
                                    continue
                                allowed += 1
                                problem = check(d, lv, aset, warnings, given)
                                if problem is not None:
                                    what = "with consent" if given else "without consent"
                                    violations.append(
                                        Violation(h, r, f"{name} ({o}'s, {what})", lv.marking, day, d.route, problem)
                                    )
    return decisions, allowed


def _intervals(
    a: str, b: str, name: str, outcome: Iterable[tuple[date, tuple[str, str, tuple[str, ...], tuple[str, ...]] | None]]
) -> list[Flow]:
    out: list[Flow] = []
    items = list(outcome)
    i = 0
    while i < len(items):
        day, best = items[i]
        j = i + 1
        while j < len(items) and items[j][1] == best:
            j += 1
        if best is not None:
            end = items[j][0] if j < len(items) else None
            out.append(Flow(a, b, name, day, end, best[0], best[1], best[2], best[3]))
        i = j
    return out
