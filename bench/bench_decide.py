"""Decision throughput and latency against cedarpy evaluating the equivalent rules.

The mix: 2,000 labels (originator KOR/JPN/USA, every level of its scheme, missile, nuclear or
other topics, 1-3 releasable nations, 5 % originator-only), 20,000 requests with holder = originator
in 85 % of cases and a non-originator holder (half of them with the originator's consent)
otherwise, on 30 distinct days from 2012 to 2026 (releases are decided "as of today", and
analysts replay a few past days). A second run gives every request its own day, so the
engine's per-day caches miss.

cedarpy gets the same requests with pre-parsed ``PolicySet`` and ``Entities`` handles and dict
UIDs (its fastest mode, style-and-performance.md §1a). Cedar cannot iterate over consent
records or search routes, so its glue precomputes a ``consent`` boolean per request and its
policies encode each channel (direct bilaterals, and the TISA relay) explicitly; that only
helps the peer. It returns allow/deny and policy ids, while ours returns route, markings,
agreements and reasons with articles. Both engines' verdicts are compared on every request; they differ
only where Cedar's static policies cannot follow custody in time (a non-originator holder on a day no
agreement could yet have carried the item to it: ours NOT_HELD; a return to the originator under an
agreement that has since ended or through a blind hub: ours allowed).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from datetime import UTC, date, datetime, timedelta

from accord.core import agreements as agreements_mod
from accord.core import hops as hops_mod
from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.decision import Decision, decide
from accord.core.labels import Caveat, Label
from accord.formats.agreement_yaml import load_agreements
from bench.common import Result, percentiles_us

PARTIES = ("KOR", "JPN", "USA")
_AGREEMENTS = load_agreements()
TOPICS = ("DPRK-MISSILE", "DPRK-NUCLEAR", "NAVAL-OPS", "LOGISTICS")

CEDAR_POLICIES = """
// Items carry their level in each holder's scheme (held_KOR, held_JPN, held_USA: the equivalence
// tables applied when the entities are built; "" where no agreement maps the level).
// Direct channels of the bilaterals: the holder is the originator, returns the item to it, or has
// the originator's consent (JK-R6, US-R2).
@id("jk-gsomia")
permit(principal, action == Action::"release", resource)
when { context.day >= 20161123 &&
  ((principal == Party::"KOR" && context.recipient == Party::"JPN" && ["II", "III"].contains(resource.held_KOR)) ||
   (principal == Party::"JPN" && context.recipient == Party::"KOR" && ["GOKUHI", "HI"].contains(resource.held_JPN))) &&
  (resource.originator == principal || context.consent || resource.originator == context.recipient) };

@id("us-rok")
permit(principal, action == Action::"release", resource)
when { context.day >= 19870924 &&
  ((principal == Party::"KOR" && context.recipient == Party::"USA" && resource.held_KOR != "") ||
   (principal == Party::"USA" && context.recipient == Party::"KOR" && resource.held_USA != "")) &&
  (resource.originator == principal || context.consent || resource.originator == context.recipient) };

@id("us-jpn")
permit(principal, action == Action::"release", resource)
when { context.day >= 20070810 &&
  ((principal == Party::"JPN" && context.recipient == Party::"USA" && resource.held_JPN != "") ||
   (principal == Party::"USA" && context.recipient == Party::"JPN" && resource.held_USA != "")) &&
  (resource.originator == principal || context.consent || resource.originator == context.recipient) };

// A relay through the US hub of TISA: missile and nuclear topics, S/C only; the originator's own
// request approves the relay, and an item of the hub's own is the hub's to release (T-R1..T-R6).
@id("tisa-relay")
permit(principal, action == Action::"release", resource)
when { context.day >= 20141229 &&
  ((principal == Party::"KOR" && context.recipient == Party::"JPN" && ["II", "III"].contains(resource.held_KOR)) ||
   (principal == Party::"JPN" && context.recipient == Party::"KOR" && ["GOKUHI", "HI"].contains(resource.held_JPN))) &&
  resource.originator == principal &&
  resource.topics != [] && ["DPRK-MISSILE", "DPRK-NUCLEAR"].containsAll(resource.topics) };

// Releasability and caveats (JK-R3).
@id("not-releasable")
forbid(principal, action == Action::"release", resource)
unless { resource.releasable.contains(context.recipient) || resource.originator == context.recipient };

@id("originator-only")
forbid(principal, action == Action::"release", resource)
when { resource.originator_only && resource.originator != context.recipient };

// Custody (ACC-R7): a holder that is not the originator holds the item only within its releasability.
@id("not-held")
forbid(principal, action == Action::"release", resource)
unless { resource.originator == principal || resource.releasable.contains(principal) };

// ACC-R4: ROK Grade I is shared with no country, whatever an assumed equivalence row says.
@id("grade-one")
forbid(principal, action == Action::"release", resource)
when { resource.never_released && (resource.originator != context.recipient || resource.originator != principal) };
"""


def _mix(seed: int, *, distinct_days: bool) -> list[tuple[Label, str, str, date, tuple[Consent, ...]]]:
    rng = random.Random(seed)
    created = datetime(2012, 1, 1, tzinfo=UTC)
    labels: list[Label] = []
    for i in range(2000):
        o = rng.choice(PARTIES)
        scheme = _AGREEMENTS.schemes[o]
        level = rng.choice(scheme.levels[:3] if o == "KOR" else scheme.levels)
        topics = frozenset(rng.sample(TOPICS, rng.choice((1, 1, 1, 2))))
        rel = frozenset(rng.sample([p for p in PARTIES if p != o], rng.choice((1, 2)))) | (
            {"GBR"} if rng.random() < 0.1 else set()
        )
        cav = frozenset({Caveat.ORIGINATOR_ONLY}) if rng.random() < 0.05 else frozenset()
        labels.append(
            Label(
                originator=o,
                classification=level.marking,
                topics=topics,
                releasable_to=rel,
                caveats=cav,
                created=created,
                id=f"item-{i}",
            )
        )
    days = [date(2012, 1, 1) + timedelta(days=rng.randrange(0, 15 * 365)) for _ in range(30)]
    out = []
    for n in range(20000):
        lab = rng.choice(labels)
        at = date(2012, 1, 1) + timedelta(days=n % (15 * 365)) if distinct_days else rng.choice(days)
        others = [p for p in PARTIES if p != lab.originator]
        holder = lab.originator if rng.random() < 0.85 else rng.choice(others)
        recipient = rng.choice([p for p in PARTIES if p != holder])
        consents: tuple[Consent, ...] = ()
        if lab.originator not in (holder, recipient) and rng.random() < 0.5:
            consents = (
                Consent(
                    id=f"c-{n}",
                    originator=lab.originator,
                    holder=holder,
                    recipient=recipient,
                    granted=date(2010, 1, 1),
                    until=date(2030, 1, 1),
                    item=lab.id,
                ),
            )
        out.append((lab, holder, recipient, at, consents))
    return out


def _held(lab: Label) -> dict[str, str]:
    """The item's level in each party's scheme (the equivalence tables, applied offline)."""
    aset = _AGREEMENTS
    assert lab.level is not None
    out = {}
    for p in PARTIES:
        if p == lab.originator:
            out[f"held_{p}"] = lab.level.key
        else:
            found = aset.equivalent_level(lab.level, p)
            out[f"held_{p}"] = found[0].key if found else ""
    return out


def _cedar_setup(mix: list[tuple[Label, str, str, date, tuple[Consent, ...]]]):  # type: ignore[no-untyped-def]
    import cedarpy

    policies = cedarpy.PolicySet.from_str(CEDAR_POLICIES) if hasattr(cedarpy, "PolicySet") else CEDAR_POLICIES
    seen: dict[str, dict[str, object]] = {}
    for lab, *_ in mix:
        if lab.id in seen:
            continue
        assert lab.level is not None and lab.id is not None
        seen[lab.id] = {
            "uid": {"type": "Item", "id": lab.id},
            "attrs": {
                "originator": {"__entity": {"type": "Party", "id": lab.originator}},
                **_held(lab),
                "topics": sorted(lab.topics),
                "releasable": [{"__entity": {"type": "Party", "id": p}} for p in sorted(lab.releasable_to)],
                "originator_only": Caveat.ORIGINATOR_ONLY in lab.caveats,
                "never_released": lab.originator == "KOR" and lab.level.key == "I",
            },
            "parents": [],
        }
    parties = [{"uid": {"type": "Party", "id": p}, "attrs": {}, "parents": []} for p in (*PARTIES, "GBR")]
    entities = cedarpy.Entities.from_json_str(json.dumps(parties + list(seen.values())))
    requests = []
    for lab, holder, recipient, at, consents in mix:
        consent = any(c.covers(lab, holder, recipient, at) for c in consents)  # glue, outside the timing
        requests.append(
            {
                "principal": {"type": "Party", "id": holder},
                "action": {"type": "Action", "id": "release"},
                "resource": {"type": "Item", "id": lab.id},
                "context": {
                    "recipient": {"__entity": {"type": "Party", "id": recipient}},
                    "day": at.year * 10000 + at.month * 100 + at.day,
                    "consent": consent,
                },
            }
        )
    return cedarpy, policies, entities, requests


def _rate_over(fn, items) -> float:  # type: ignore[no-untyped-def]
    for it in items[:2000]:
        fn(it)
    t0 = time.perf_counter()
    n = 0
    while True:
        for it in items:
            fn(it)
        n += len(items)
        dt = time.perf_counter() - t0
        if dt >= 2.0:
            return n / dt


def _measure(aset: AgreementSet, *, distinct: bool) -> list[Result]:
    suffix = "_distinct_days" if distinct else ""
    mix = _mix(7, distinct_days=distinct)
    cedarpy, policies, entities, requests = _cedar_setup(mix)

    def ours(item) -> Decision:  # type: ignore[no-untyped-def]
        lab, holder, recipient, at, consents = item
        return decide(lab, holder, recipient, at, consents, agreements=aset)

    def peer(req) -> object:  # type: ignore[no-untyped-def]
        return cedarpy.is_authorized(req, policies, entities)

    agree = sum(
        ours(m).allowed == (peer(r).decision == cedarpy.Decision.Allow)  # type: ignore[attr-defined]
        for m, r in zip(mix, requests, strict=True)
    )
    allow = sum(ours(m).allowed for m in mix)
    peer_rate = _rate_over(peer, requests[:4000])
    note = f"verdicts agree on {agree}/{len(mix)}; allow rate {allow / len(mix):.0%}"
    results = [
        Result(
            f"decide.decisions_per_s{suffix}", "decisions/s", _rate_over(ours, mix), "cedarpy", peer_rate, True, note
        )
    ]
    for item in mix:  # warm: every request decided once, as a running node would have
        ours(item)
    ours_items = itertools.cycle(mix)
    peer_items = itertools.cycle(requests)
    p_ours = percentiles_us(lambda: ours(next(ours_items)), samples=20000)
    p_peer = percentiles_us(lambda: peer(next(peer_items)), samples=5000)
    results.append(
        Result(
            f"decide.p99_us{suffix}",
            "µs",
            p_ours["p99"],
            "cedarpy",
            p_peer["p99"],
            False,
            f"p50 {p_ours['p50']:.1f} µs vs {p_peer['p50']:.1f} µs; full reasons",
        )
    )
    if not distinct:

        def first_seen(item) -> Decision:  # type: ignore[no-untyped-def]
            # a label combination not decided before: the memo misses, the per-day caches are warm
            aset.memo.clear()
            return ours(item)

        miss_items = itertools.cycle(mix)
        p_miss = percentiles_us(lambda: first_seen(next(miss_items)), samples=20000)
        results.append(
            Result(
                "decide.p99_us_first_seen",
                "µs",
                p_miss["p99"],
                "cedarpy",
                p_peer["p99"],
                False,
                f"p50 {p_miss['p50']:.1f} µs; memo cleared before each decision, per-day caches warm",
            )
        )

        def cold(item) -> Decision:  # type: ignore[no-untyped-def]
            # every cache emptied: the whole evaluation, every time (the worst case)
            aset.memo.clear()
            aset.custody.clear()
            aset.routes.clear()
            hops_mod._hop.cache_clear()
            hops_mod._pass.cache_clear()
            hops_mod._gate.cache_clear()
            hops_mod._protection.cache_clear()
            agreements_mod._state_at.cache_clear()
            return ours(item)

        results.append(
            Result(
                "decide.decisions_per_s_uncached",
                "decisions/s",
                _rate_over(cold, mix),
                "cedarpy",
                peer_rate,
                True,
                "every cache cleared before each decision",
            )
        )
        cold_items = itertools.cycle(mix)
        p_cold = percentiles_us(lambda: cold(next(cold_items)), samples=20000)
        results.append(
            Result(
                "decide.p99_us_uncached",
                "µs",
                p_cold["p99"],
                "cedarpy",
                p_peer["p99"],
                False,
                f"p50 {p_cold['p50']:.1f} µs; every cache cleared before each decision",
            )
        )
    return results


def run() -> list[Result]:
    aset = load_agreements()
    return [*_measure(aset, distinct=False), *_measure(aset, distinct=True)]
