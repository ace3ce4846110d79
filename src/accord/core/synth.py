"""Synthetic worlds: N nations, M bilateral and K multilateral agreements with lifecycles.

Deterministic by seed and pure (no clock, no I/O): the same arguments always give the same
world. Used by property tests (``tests/core/test_world_properties.py``), by ``accord verify`` on
generated worlds and by ``make bench ONLY=world``.

Nations take ISO 3166 user-assigned codes (``XAA``, ``XAB``…), so a synthetic world never
mistakes itself for a real one. Each has 3-5 levels (TOP SECRET down to RESTRICTED). A
bilateral maps levels by their English equivalent and excludes TOP SECRET one time in four
(as the Japan-ROK GSOMIA does); one in five is scoped to a few topics. A multilateral has 3-6
parties, half of them relay through a hub (any party, not one fixed nation) and are protected
by the bilaterals between the hub and its spokes (T-R3). Lifecycles draw signature and entry
into force between 1990 and 2024, terms with automatic renewal, and dated events: notices of
termination (some suspended or withdrawn), suspensions and resumptions, terminations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations

from accord.core.agreements import (
    Agreement,
    AgreementSet,
    Citation,
    EquivalenceRow,
    Event,
    EventType,
    Kind,
    LegalStatus,
    Lifecycle,
    Terms,
)
from accord.core.schemes import Level, Scheme, SchemeRegistry

ENGLISH = ("TOP SECRET", "SECRET", "CONFIDENTIAL", "RESTRICTED")
_KEYS = ("TS", "S", "C", "R", "U")
#: Topics synthetic agreements may be scoped to.
TOPICS = ("MISSILE", "NUCLEAR", "MARITIME", "CYBER")
_CITE = {
    "parties": Citation("Art. 1", "US-R1"),
    "scope": Citation("Art. 1", "T-R1"),
    "equivalence": Citation("Art. 4", "JK-R2"),
    "third_party": Citation("Art. 6", "JK-R6"),
    "relay": Citation("para. 4", "T-R5"),
    "protection": Citation("para. 3", "T-R3"),
    "lifecycle": Citation("Art. 21", "JK-R31"),
    "survival": Citation("Art. 21.4", "JK-R31"),
}


def nation_code(i: int) -> str:
    """The i-th user-assigned alpha-3 code: XAA, XAB, … XZZ, then YAA… (at most 1,352 nations)."""
    if not 0 <= i < 2 * 26 * 26:
        raise ValueError(f"no synthetic code for nation {i}")
    first = "XY"[i // 676]
    i %= 676
    return first + chr(65 + i // 26) + chr(65 + i % 26)


@dataclass(frozen=True, slots=True)
class World:
    """A synthetic world: its schemes and its agreements (whose ``schemes`` is the same registry)."""

    seed: int
    schemes: SchemeRegistry
    agreements: AgreementSet

    @property
    def nations(self) -> tuple[str, ...]:
        """The nations of the world."""
        return self.schemes.parties


def _scheme(code: str, rng: random.Random) -> Scheme:
    n = rng.choice((3, 4, 4, 5))
    names = [*ENGLISH, "UNCLASSIFIED-CONTROLLED"][:n]
    levels = tuple(
        Level(
            party=code,
            key=_KEYS[i],
            marking=f"{code} {names[i]}",
            rank=n - i,
            english=names[i],
            aliases=(f"{code}-{_KEYS[i]}",),
            lacv=n - i,
        )
        for i in range(n)
    )
    return Scheme(party=code, name=f"Synthetic scheme of {code}", levels=levels, basis="synthetic")


def _rows(parties: tuple[str, ...], schemes: SchemeRegistry, exclude_top: bool) -> tuple[EquivalenceRow, ...]:
    rows = []
    for english in ENGLISH:
        if exclude_top and english == "TOP SECRET":
            continue
        levels: dict[str, str] = {}
        for p in parties:
            lv = next((x for x in schemes[p].levels if x.english == english), None)
            if lv is None:
                break
            levels[p] = lv.key
        else:
            rows.append(EquivalenceRow(name=english, levels=levels))
    if not rows:  # every scheme has SECRET and CONFIDENTIAL, so this cannot happen; fail loudly if it does
        raise AssertionError("no common level")
    return tuple(rows)


def _lifecycle(rng: random.Random, parties: tuple[str, ...]) -> Lifecycle:
    signed = date(1990, 1, 1) + timedelta(days=rng.randrange(0, 34 * 365))
    in_force = signed + timedelta(days=rng.choice((0, 0, 30, 90, 180)))
    renewing = rng.random() < 0.5
    term = 1 if renewing else None
    events: list[Event] = []
    r = rng.random()
    on = in_force + timedelta(days=rng.randrange(200, 3000))
    if r < 0.15:
        events.append(
            Event(on, EventType.NOTICE_OF_TERMINATION, "synthetic notice", by=rng.choice(parties), sourced=False)
        )
        r2 = rng.random()
        if r2 < 0.4:
            events.append(Event(on + timedelta(days=30), EventType.NOTICE_SUSPENDED, sourced=False))
            if rng.random() < 0.5:
                events.append(Event(on + timedelta(days=400), EventType.NOTICE_WITHDRAWN, sourced=False))
        elif r2 < 0.6:
            events.append(Event(on + timedelta(days=20), EventType.NOTICE_WITHDRAWN, sourced=False))
    elif r < 0.25:
        events.append(Event(on, EventType.SUSPENDED, "synthetic suspension", sourced=False))
        if rng.random() < 0.6:
            events.append(Event(on + timedelta(days=rng.randrange(30, 700)), EventType.RESUMED, sourced=False))
    elif r < 0.30:
        events.append(Event(on, EventType.TERMINATED, "synthetic termination", sourced=False))
    return Lifecycle(
        signed=signed, in_force=in_force, term_years=term, auto_renewal=renewing, notice_days=90, events=tuple(events)
    )


def synth_world(nations: int, bilaterals: int, multilaterals: int, *, seed: int = 0) -> World:
    """A synthetic world (deterministic by ``seed``).

    Raises:
        ValueError: fewer than 2 nations, more bilaterals than pairs, or multilaterals with fewer
            than 3 nations.
    """
    if nations < 2:
        raise ValueError("a world needs at least two nations")
    pairs = list(combinations(range(nations), 2))
    if bilaterals > len(pairs):
        raise ValueError(f"{nations} nations have only {len(pairs)} pairs for {bilaterals} bilaterals")
    if multilaterals and nations < 3:
        raise ValueError("a multilateral needs at least three nations")
    rng = random.Random(seed)  # noqa: S311 - a reproducible world, not a secret
    codes = [nation_code(i) for i in range(nations)]
    schemes = SchemeRegistry(_scheme(c, rng) for c in codes)
    out: list[Agreement] = []
    by_pair: dict[tuple[str, str], str] = {}
    for n, (i, j) in enumerate(sorted(rng.sample(pairs, bilaterals))):
        pair = (codes[i], codes[j])
        topics = frozenset(rng.sample(TOPICS, rng.choice((1, 2)))) if rng.random() < 0.2 else None
        ag_id = f"b{n:04d}-{pair[0].lower()}-{pair[1].lower()}"
        by_pair[pair] = ag_id
        out.append(
            Agreement(
                id=ag_id,
                title=f"Security agreement {pair[0]}–{pair[1]}",
                kind=Kind.BILATERAL,
                parties=pair,
                hub=None,
                terms=Terms(topics=topics, equivalence=_rows(pair, schemes, rng.random() < 0.25)),
                onward_release_requires_consent=True,
                legal_status=LegalStatus.LEGALLY_BINDING,
                lifecycle=_lifecycle(rng, pair),
                citations=_CITE,
                provenance={"everything": "synthetic"},
                source=f"synthetic:{seed}",
                schemes=schemes,
            )
        )
    for n in range(multilaterals):
        ps = tuple(sorted(rng.sample(codes, min(nations, rng.randint(3, 6)))))
        hub = rng.choice(ps) if rng.random() < 0.5 else None
        basis: tuple[str, ...] = ()
        if hub is not None:
            basis = tuple(by_pair[k] for k in (tuple(sorted((hub, p))) for p in ps if p != hub) if k in by_pair)
        topics = frozenset(rng.sample(TOPICS, rng.choice((1, 2)))) if rng.random() < 0.6 else None
        out.append(
            Agreement(
                id=f"m{n:04d}",
                title=f"Multilateral arrangement {n}" + (f" (hub {hub})" if hub else ""),
                kind=Kind.MULTILATERAL,
                parties=ps,
                hub=hub,
                terms=Terms(topics=topics, equivalence=_rows(ps, schemes, rng.random() < 0.5)),
                onward_release_requires_consent=True,
                legal_status=LegalStatus.NOT_LEGALLY_BINDING if hub else LegalStatus.LEGALLY_BINDING,
                lifecycle=_lifecycle(rng, ps),
                protection_basis=basis,
                citations=_CITE,
                provenance={"everything": "synthetic"},
                source=f"synthetic:{seed}",
                schemes=schemes,
            )
        )
    return World(seed=seed, schemes=schemes, agreements=AgreementSet(out))
