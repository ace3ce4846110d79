"""Which feed streams the agreements allow on a day (pure; ``docs/feed.md``).

A stream ``O-R`` (originator O, recipient R) may carry warning data on day ``d`` iff an arrangement
whose scope holds :data:`~accord.feed.model.FEED_TOPIC` on ``d`` (the 2023 mechanism) allows the release
of a warning item from O to R, decided by the core engine over that arrangement and its protection
basis only (so a spoke reaches the other spoke through the hub and never directly, M-R4 / T-R4), and
the arrangement it rests on (``based_on``: TISA, M-R5) is in force that day too. Relay by the hub
rests on the originator's standing consent: publishing is the originator's request (M-R5, T-R5).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime

from accord.core.agreements import Agreement, AgreementSet
from accord.core.decision import decide
from accord.core.labels import Label
from accord.feed.model import FEED_TOPIC

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Scope:
    """The answer for one stream on one day."""

    allowed: bool
    stream: str
    at: date
    agreement: str | None
    route: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def why(self) -> str:
        return "; ".join(self.reasons)


def mechanisms(agreements: AgreementSet) -> list[Agreement]:
    """Arrangements whose scope (at any time) includes the feed topic."""
    out = []
    for ag in agreements:
        terms = [ag.terms, *(e.terms for e in ag.lifecycle.events if e.terms is not None)]
        if any(t.topics is not None and FEED_TOPIC in t.topics for t in terms):
            out.append(ag)
    return out


def feed_scope(agreements: AgreementSet, originator: str, recipient: str, at: date) -> Scope:
    """Whether the stream ``originator-recipient`` may carry warning data on ``at`` (memoised per set)."""
    key = ("feed-scope", originator, recipient, at)
    hit = agreements.memo.get(key)
    if isinstance(hit, Scope):
        return hit
    found = _feed_scope(agreements, originator, recipient, at)
    agreements.memo[key] = found
    return found


def _feed_scope(agreements: AgreementSet, originator: str, recipient: str, at: date) -> Scope:
    stream = f"{originator}-{recipient}"
    reasons: list[str] = []
    mechs = [m for m in mechanisms(agreements) if originator in m.parties and recipient in m.parties]
    if not mechs or originator == recipient:
        return Scope(
            False,
            stream,
            at,
            None,
            (),
            (f"no arrangement for missile-warning data between {originator} and {recipient} is loaded",),
        )
    for mech in mechs:
        basis = [b for b in (agreements.get(i) for i in mech.protection_basis) if b is not None]
        only = AgreementSet([mech, *basis])
        row = mech.terms_at(at).equivalence[0] if mech.terms_at(at).equivalence else None
        level = row.levels.get(originator) if row is not None else None
        if level is None:
            reasons.append(f"{mech.id}: no classification of {originator} in its equivalence table")
            continue
        label = Label(
            originator=originator,
            classification=level,
            topics=frozenset({FEED_TOPIC}),
            releasable_to=frozenset(p for p in mech.parties if p != originator),
            created=_EPOCH,
        )
        d = decide(label, originator, recipient, at, agreements=only)
        if not d.allowed:
            reasons.extend(f"{mech.id}: {r.message} [{r.rule or r.code.value}]" for r in d.denials)
            continue
        if mech.id not in d.agreements:
            # a direct hop with the hub, released under a protecting bilateral: the mechanism itself must
            # be in force that day and cover warning data
            state = mech.state_at(at)
            topics = mech.terms_at(at).topics
            if not state.exchange_allowed:
                reasons.append(f"{mech.id}: the {mech.title} is not in force on {at} ({state.message}) [M-R5]")
                continue
            if topics is not None and FEED_TOPIC not in topics:
                reasons.append(f"{mech.id}: warning data is outside its scope on {at} [M-R1]")
                continue
        unprotected = [
            (a, b)
            for a, b in zip(d.route, d.route[1:], strict=False)
            if mech.protection_basis
            and not any(a in g.parties and b in g.parties and g.state_at(at).exchange_allowed for g in basis)
        ]
        if unprotected:
            a, b = unprotected[0]
            reasons.append(f"{mech.id}: the hop {a}→{b} has no protecting agreement in force on {at} [T-R3]")
            continue
        if mech.based_on is not None:
            base = agreements.get(mech.based_on)
            if base is None:
                reasons.append(f"{mech.id}: it rests on {mech.based_on}, which is not loaded [M-R5]")
                continue
            state = base.state_at(at)
            if not state.exchange_allowed:
                reasons.append(
                    f"{mech.id}: it rests on the {base.title}, not in force on {at} ({state.message}) [M-R5]"
                )
                continue
        via = f" through {d.route[1]}" if len(d.route) > 2 else ""
        return Scope(
            True,
            stream,
            at,
            mech.id,
            tuple(d.route),
            (f"{originator} may share warning data with {recipient}{via} under the {mech.title} on {at}",),
        )
    return Scope(False, stream, at, None, (), tuple(reasons))


@functools.lru_cache(maxsize=64)
def hub_of(agreements: AgreementSet) -> str | None:
    """The hub of the feed arrangements (M-R4); None when there is none or they disagree."""
    hubs = {m.hub for m in mechanisms(agreements)}
    return hubs.pop() if len(hubs) == 1 else None
