"""Hop evaluation for :mod:`accord.core.decision`: the agreement gate, level equivalence and coverage of one hop.

Cached: agreements, levels and days are immutable values.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import NamedTuple

from accord.core.agreements import Agreement, Status
from accord.core.reasons import Code, Reason, reason
from accord.core.schemes import Level


class _Hop(NamedTuple):
    ok: bool
    reasons: tuple[Reason, ...]
    level: Level | None = None  # the receiving party's level


def _state_code(status: Status) -> Code:
    if status is Status.TERMINATED:
        return Code.TERMINATED
    if status is Status.SUSPENDED:
        return Code.SUSPENDED
    return Code.NOT_IN_FORCE


@functools.lru_cache(maxsize=65536)
def _gate(ag: Agreement, at: date, topics: frozenset[str]) -> tuple[Reason, ...]:
    """Why ``ag`` cannot carry an item on ``topics`` on ``at`` (lifecycle, scope); empty when it can."""
    state = ag.state_at(at)
    if not state.exchange_allowed:
        if state.status is Status.TERMINATED:
            cite = ag.cite("survival")
            tail = "; nothing new is released under it, while items already exchanged stay protected"
        else:
            cite = ag.cite("in_force" if state.status is Status.NOT_IN_FORCE else "lifecycle")
            tail = ""
        return (
            reason(
                _state_code(state.status),
                f"The {ag.title} is not in force on {at} ({state.message}){tail}.",
                ag.id,
                cite.article,
                cite.rule,
            ),
        )
    terms = ag.terms_at(at)
    if not terms.covers_topics(topics):
        outside = sorted(topics - terms.topics) if terms.topics is not None else []
        what = ", ".join(outside) if outside else "an item without a topic"
        allowed = ", ".join(sorted(terms.topics or ()))
        scope = ag.cite("scope")
        return (
            reason(
                Code.OUT_OF_SCOPE,
                f"{what} is outside the scope of the {ag.title} (only {allowed}).",
                ag.id,
                scope.article,
                scope.rule,
            ),
        )
    return ()


def _not_covered(ag: Agreement, level: Level, b: str, at: date) -> Reason:
    """LEVEL_NOT_COVERED, citing the exclusion above the table (JK-R2) or the definition below it (JK-R1)."""
    terms = ag.terms_at(at)
    scheme = ag.schemes.get(level.party) if ag.schemes is not None else None
    ranks = [
        lv.rank
        for lv in (
            scheme.by_key(r.levels[level.party]) if scheme is not None else None
            for r in terms.equivalence
            if level.party in r.levels
        )
        if lv is not None
    ]
    if ranks and level.rank < min(ranks):
        cite = ag.cite("definition")
        return reason(
            Code.LEVEL_NOT_COVERED,
            f"{level.marking} ({level.party}, {level.english}) is below every "
            f"level of the {ag.title}'s equivalence table: it is not classified information the "
            f"agreement covers.",
            ag.id,
            cite.article,
            cite.rule,
        )
    cite = ag.cite("equivalence")
    where = "above the highest level" if ranks and level.rank > max(ranks) else "not"
    return reason(
        Code.LEVEL_NOT_COVERED,
        f"{level.marking} ({level.party}, {level.english}) is {where} in the "
        f"equivalence table of the {ag.title} for {b}: the agreement does not cover it.",
        ag.id,
        cite.article,
        cite.rule,
    )


@functools.lru_cache(maxsize=65536)
def _hop(ag: Agreement, a: str, b: str, level: Level, at: date, topics: frozenset[str]) -> _Hop:
    """Whether ``ag`` covers ``a`` handing an item at ``level`` (its last reader's scheme) to ``b``, who reads it."""
    gate = _gate(ag, at, topics)
    if gate:
        return _Hop(False, gate)
    state = ag.state_at(at)
    terms = ag.terms_at(at)
    chan = ag.cite("parties")
    reasons = [
        reason(
            Code.CHANNEL,
            f"{a} may release to {b} under the {ag.title}: {state.message}.",
            ag.id,
            chan.article,
            chan.rule,
        )
    ]
    if terms.topics is not None:
        scope = ag.cite("scope")
        reasons.append(
            reason(
                Code.IN_SCOPE,
                f"{', '.join(sorted(topics))} is within the scope of the {ag.title}.",
                ag.id,
                scope.article,
                scope.rule,
            )
        )
    row = terms.row_for(level)
    target = ag.schemes.get(b) if ag.schemes is not None else None
    key = row.levels.get(b) if row is not None else None
    out = target.by_key(key) if target is not None and key is not None else None
    if out is None:
        return _Hop(False, (_not_covered(ag, level, b, at),))
    assert row is not None
    eq = ag.cite("equivalence")
    reasons.append(
        reason(
            Code.EQUIVALENCE,
            f"{level.marking} ({level.party}) is treated as {out.marking} ({b}) under the {ag.title} ({row.name}).",
            ag.id,
            eq.article,
            eq.rule,
        )
    )
    return _Hop(True, tuple(reasons), out)


@functools.lru_cache(maxsize=65536)
def _pass(ag: Agreement, a: str, b: str, level: Level, at: date, topics: frozenset[str]) -> _Hop:
    """Whether ``ag`` lets hub ``b`` forward the sealed item unopened (it is outside the releasability)."""
    gate = _gate(ag, at, topics)
    if gate:
        return _Hop(False, gate)
    if ag.terms_at(at).row_for(level) is None:
        return _Hop(False, (_not_covered(ag, level, b, at),))
    relay = ag.cite("relay")
    return _Hop(
        True,
        (
            reason(
                Code.BLIND_RELAY,
                f"{b} is not within the item's releasability: as hub of the "
                f"{ag.title} it forwards the sealed item from {a} unopened and gets no marking.",
                ag.id,
                relay.article,
            ),
        ),
    )


@functools.lru_cache(maxsize=65536)
def _protection(
    basis: tuple[Agreement, ...],
    a: str,
    b: str,
    level: Level,
    at: date,
    topics: frozenset[str],
    arrangement: Agreement,
    reads: bool,
) -> _Hop:
    """A hop through a hub must also be protected by an underlying agreement (TISA para. 3, T-R3).

    ``reads``: ``a`` read the item (its level is in ``a``'s scheme); else only the agreement's lifecycle
    and scope are checked (the item passes sealed).
    """
    failures: list[Reason] = []
    cite = arrangement.cite("protection")
    for ag in basis:
        if a not in ag.parties or b not in ag.parties:
            continue
        if reads:
            hop = _hop(ag, a, b, level, at, topics)
        else:
            gate = _gate(ag, at, topics)
            chan = ag.cite("parties")
            hop = _Hop(
                not gate,
                gate
                or (
                    reason(
                        Code.CHANNEL,
                        f"{a} may hand the sealed item to {b} under the {ag.title}.",
                        ag.id,
                        chan.article,
                        chan.rule,
                    ),
                ),
            )
        if hop.ok:
            return _Hop(
                True,
                (
                    reason(
                        Code.PROTECTION_BASIS,
                        f"The hop {a}→{b} is protected under the {ag.title}.",
                        arrangement.id,
                        cite.article,
                        cite.rule,
                    ),
                    *hop.reasons,
                ),
                hop.level,
            )
        failures.extend(hop.reasons)
    return _Hop(
        False,
        (
            reason(
                Code.NO_PROTECTION_BASIS,
                f"The hop {a}→{b} has no protecting agreement in force on {at} under the {arrangement.title}.",
                arrangement.id,
                cite.article,
                cite.rule,
            ),
            *failures,
        ),
    )


# ---------------------------------------------------------------------------------------------
# Route attempts
