"""Route attempts for :mod:`accord.core.decision`: direct channels, hub relays, third-party consent, returns."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import date
from typing import NamedTuple

from accord.core.agreements import Agreement, AgreementSet
from accord.core.consent import Consent
from accord.core.hops import _gate, _hop, _pass, _protection
from accord.core.labels import Label
from accord.core.reasons import Code, Reason, reason
from accord.core.schemes import Level
from accord.core.verdict import DIRECT, MAX_HUBS, RELAY_BLIND, RELAY_REWRAP, ConsentNeed, Hop


class _Ctx(NamedTuple):
    """The fixed inputs of one decision."""

    label: Label
    holder: str
    recipient: str
    at: date
    consents: Sequence[Consent]
    agreements: AgreementSet
    level: Level
    held: Level
    custody_ag: Agreement | None
    orcon: bool


class _Attempt:
    """One route being tried (mutable scratch state of :func:`decide`)."""

    __slots__ = ("agreements", "consent_only", "hops", "markings", "needs", "ok", "reasons", "route", "used")

    def __init__(self, route: tuple[str, ...]) -> None:
        self.route = route
        self.ok = True
        self.consent_only = True
        self.agreements: list[str] = []
        self.markings: dict[str, str] = {}
        self.reasons: list[Reason] = []
        self.needs: list[ConsentNeed] = []
        self.used: list[str] = []
        self.hops: list[Hop] = []

    def fail(self, reasons: Iterable[Reason], *, consent: bool = False) -> None:
        self.ok = False
        if not consent:
            self.consent_only = False
        self.reasons.extend(reasons)

    def use(self, ag_id: str) -> None:
        if ag_id not in self.agreements:
            self.agreements.append(ag_id)


@functools.lru_cache(maxsize=4096)
def _relay_approved(relay: Agreement, originator: str, a: str, b: str) -> Reason:
    cite = relay.cite("relay")
    return reason(
        Code.RELAY_APPROVED,
        f"{a} relays for {originator} as hub of the {relay.title}; {originator}'s own request to reach "
        f"{b} through {a} is its approval of the relay.",
        relay.id,
        cite.article,
        cite.rule or "T-R5",
    )


@functools.lru_cache(maxsize=65536)
def _consent_required(
    ag: Agreement, concern: str, held_under: Agreement, originator: str, a: str, b: str, at: date, orcon: bool
) -> Reason:
    cite = ag.cite(concern)
    extra = " ORCON: only a consent naming this very item will do." if orcon else ""
    return reason(
        Code.CONSENT_REQUIRED,
        f"{a} is not the originator and holds {originator}'s item under the {held_under.title}: "
        f"releasing it to {b} needs {originator}'s prior written approval, and no consent covers it on "
        f"{at}.{extra}",
        ag.id,
        cite.article,
        cite.rule or ("T-R5" if concern == "relay" else None),
    )


def _third_party(
    att: _Attempt, ctx: _Ctx, a: str, b: str, held_under: Agreement, ags: tuple[Agreement, ...], relayed: bool
) -> None:
    """Rule 5: ``a`` (holding the item under ``held_under``, not the originator) releases it to ``b``."""
    originator = ctx.label.originator
    binding = (
        held_under
        if held_under.onward_release_requires_consent
        else next((x for x in ags if x.onward_release_requires_consent), None)
    )
    if binding is None and not relayed:
        return
    cite_ag = binding or ags[0]
    concern = "third_party" if binding is not None else "relay"
    att.needs.append(ConsentNeed(originator, a, b, ctx.orcon))
    for consent in ctx.consents:
        if consent.covers(ctx.label, a, b, ctx.at):
            cite = cite_ag.cite(concern)
            att.used.append(consent.id)
            what = f"item {consent.item}" if consent.item else "items on " + ", ".join(sorted(consent.topics))
            att.reasons.append(
                reason(
                    Code.CONSENT_USED,
                    f"{originator} consented ({consent.id}) to {a} releasing {what} to {b}, "
                    f"from {consent.granted} until {consent.until}.",
                    cite_ag.id,
                    cite.article,
                    cite.rule,
                )
            )
            return
    att.fail((_consent_required(cite_ag, concern, held_under, originator, a, b, ctx.at, ctx.orcon),), consent=True)


def _basis(aset: AgreementSet, ag: Agreement) -> tuple[Agreement, ...]:
    return tuple(x for x in (aset.get(i) for i in ag.protection_basis) if x is not None)


def _evaluate(ctx: _Ctx, parties: tuple[str, ...], hop_ags: tuple[tuple[Agreement, ...], ...]) -> _Attempt:
    """Walk a route hop by hop: coverage, protection basis, markings of readers, third-party rule."""
    att = _Attempt(parties)
    label, at, topics = ctx.label, ctx.at, ctx.label.topics
    originator = label.originator
    rel = label.releasable_to
    n = len(parties) - 1
    reader, level, reader_ag = ctx.holder, ctx.held, ctx.custody_ag
    att.markings[reader] = level.marking
    mode = DIRECT
    for i in range(n):
        a, b, ags = parties[i], parties[i + 1], hop_ags[i]
        final = i == n - 1
        blind = not final and b not in rel
        if not final:
            mode = RELAY_BLIND if blind else RELAY_REWRAP
        out: Level | None = None
        for ag in ags:
            h = _pass(ag, a, b, level, at, topics) if blind else _hop(ag, a, b, level, at, topics)
            if not h.ok:
                att.fail(h.reasons)
                return att
            att.reasons.extend(h.reasons)
            att.use(ag.id)
            if ag.protection_basis:  # declared: a missing basis agreement fails closed (T-R3)
                prot = _protection(_basis(ctx.agreements, ag), a, b, level, at, topics, ag, not blind and a == reader)
                if not prot.ok:
                    att.fail(prot.reasons)
                    return att
                att.reasons.extend(prot.reasons)
                for r in prot.reasons:
                    if r.code is Code.CHANNEL and r.agreement:
                        att.use(r.agreement)
            if h.level is not None:
                out = h.level
        marking: str | None = None
        if not blind:
            assert out is not None
            if b != originator:
                if ctx.holder == originator:
                    if reader != originator or a != reader:  # a hub passes the originator's item on (T-R5)
                        if "originator-request" not in att.used:
                            att.used.append("originator-request")
                        att.reasons.append(_relay_approved(ags[0], originator, a, b))
                else:
                    assert reader_ag is not None
                    _third_party(att, ctx, reader, b, reader_ag, ags, a != reader)
            reader, level, reader_ag = b, out, ags[-1]
            marking = out.marking
            att.markings[b] = marking
        att.hops.append(Hop(a, b, ags[0].id, marking, mode))
    return att


def _direct(ctx: _Ctx, ag: Agreement) -> _Attempt:
    """A direct hop holder→recipient (the common case, kept lean; see :func:`_evaluate`)."""
    holder, recipient = ctx.holder, ctx.recipient
    if ag.protection_basis:
        return _evaluate(ctx, (holder, recipient), ((ag,),))
    att = _Attempt((holder, recipient))
    h = _hop(ag, holder, recipient, ctx.held, ctx.at, ctx.label.topics)
    if not h.ok:
        att.fail(h.reasons)
        return att
    out = h.level
    assert out is not None
    att.reasons.extend(h.reasons)
    att.agreements.append(ag.id)
    att.markings[holder] = ctx.held.marking
    att.markings[recipient] = out.marking
    originator = ctx.label.originator
    if originator not in (holder, recipient):
        assert ctx.custody_ag is not None
        _third_party(att, ctx, holder, recipient, ctx.custody_ag, (ag,), False)
    att.hops.append(Hop(holder, recipient, ag.id, out.marking, DIRECT))
    return att


def _hub_routes(
    aset: AgreementSet, holder: str, recipient: str, at: date, topics: frozenset[str], avoid: str | None
) -> tuple[list[tuple[tuple[str, ...], tuple[tuple[Agreement, ...], ...]]], list[Reason]]:
    """Routes through one or more hubs, fewest hubs first (breadth-first; T-R4), and why the arrangements of
    the routes that exist on paper could not be used that day (not in force, out of scope).

    A hub ``h`` relays from ``p`` to ``q`` under an arrangement whose hub is ``h`` and whose parties include
    both. ``avoid`` (the originator, for a holder that is not) is never a hub of the route. The search walks
    the hubs only, so it stays proportional to the hubs and their arrangements, not to the parties squared;
    an arrangement that cannot be used that day blocks the routes through it, whose failures are reported
    only if such a route reaches the recipient (else there is simply no channel).
    """
    routes: list[tuple[tuple[str, ...], tuple[tuple[Agreement, ...], ...]]] = []
    failures: list[Reason] = []
    gates: dict[str, tuple[Reason, ...]] = {}

    def gate(x: Agreement) -> tuple[Reason, ...]:
        hit = gates.get(x.id)
        if hit is None:
            hit = gates[x.id] = _gate(x, at, topics)
        return hit

    seen: set[tuple[str, str, bool]] = set()
    # (path ending at a hub, arrangements chosen so far, failures of the unusable ones among them)
    frontier: list[tuple[tuple[str, ...], tuple[Agreement, ...], tuple[Reason, ...]]] = []
    for x in aset.arrangements_as_spoke(holder):
        if x.based_on is not None and not _topical(x, topics):
            continue  # M-R5: the missile-warning mechanism does not route other topics (TISA does)
        h = x.hub
        assert h is not None
        if h in (avoid, recipient) or (holder, h, False) in seen:
            continue
        seen.add((holder, h, False))
        frontier.append(((holder, h), (), ()))
    depth = 0
    while frontier and depth < MAX_HUBS:
        depth += 1
        nxt: list[tuple[tuple[str, ...], tuple[Agreement, ...], tuple[Reason, ...]]] = []
        for path, arrs, blocked in frontier:
            prev, h = path[-2], path[-1]
            for x in aset.arrangements_of_hub(h):
                if prev not in x.parties or (x.based_on is not None and not _topical(x, topics)):
                    continue
                why = blocked + gate(x)
                if recipient in x.parties:
                    if why:
                        failures.extend(r for r in why if r not in failures)
                    else:
                        chosen = (*arrs, x)
                        hop_ags = (
                            (chosen[0],),
                            *((chosen[k], chosen[k + 1]) for k in range(len(chosen) - 1)),
                            (chosen[-1],),
                        )
                        routes.append(((*path, recipient), hop_ags))
                    continue
                if depth >= MAX_HUBS:
                    continue
                for q in x.parties:
                    key = (h, q, bool(why))
                    if q in path or q == avoid or not aset.is_hub(q) or key in seen:
                        continue
                    seen.add(key)
                    nxt.append(((*path, q), (*arrs, x), why))
        frontier = nxt
    return routes, failures


def _through_originator(ctx: _Ctx, arr: Agreement) -> _Attempt:
    """A route through the originator: a return, then the originator's own decision (ACC-R8)."""
    originator = ctx.label.originator
    att = _Attempt((ctx.holder, originator, ctx.recipient))
    att.needs.append(ConsentNeed(originator, ctx.holder, ctx.recipient, ctx.orcon))
    relay = arr.cite("relay")
    att.fail(
        (
            reason(
                Code.ORIGINATOR_DECIDES,
                f"The route {ctx.holder} → {originator} → {ctx.recipient} through the {arr.title} goes through "
                f"the originator: it is a return of the item to {originator} followed by {originator}'s own "
                f"release decision, taken by its officer; the item is never forwarded automatically.",
                arr.id,
                relay.article,
            ),
        ),
        consent=True,
    )
    return att


def _return(ctx: _Ctx) -> _Attempt:
    """The return of a lawfully held item to its originator under the agreement it is held under
    (JK-R13), allowed even when that agreement has ended (JK-R31)."""
    ag = ctx.custody_ag
    assert ag is not None
    label, holder = ctx.label, ctx.holder
    originator = label.originator
    original = ctx.level
    cite = ag.cite("return")
    if ag.hub is None or ag.hub in (holder, originator):
        att = _Attempt((holder, originator))
        att.hops.append(Hop(holder, originator, ag.id, original.marking, DIRECT))
        how = "directly"
    else:
        att = _Attempt((holder, ag.hub, originator))
        att.hops.append(Hop(holder, ag.hub, ag.id, None, RELAY_BLIND))
        att.hops.append(Hop(ag.hub, originator, ag.id, original.marking, RELAY_BLIND))
        how = f"through {ag.hub}, which forwards it unopened"
    att.use(ag.id)
    att.markings[holder] = ctx.held.marking
    att.markings[originator] = original.marking
    att.reasons.append(
        reason(
            Code.RETURN,
            f"{holder} returns {originator}'s item to {originator} {how}: return "
            f"to the originator stays possible while the item is held lawfully, whatever the "
            f"state of the {ag.title}.",
            ag.id,
            cite.article,
            cite.rule,
        )
    )
    return att


@functools.lru_cache(maxsize=4096)
def _grounds(originator: str, holder: str, recipient: str, first: Agreement | None) -> tuple[Reason, ...]:
    """Rule 2's grounds, citing the rule of the agreement the route starts with (JK-R3 under the GSOMIA)."""
    cite = first.cite("return" if recipient == originator else "release") if first is not None else None
    where = (first.id if first else None, cite.article if cite else None, cite.rule if cite else None)
    if recipient == originator:
        out = [reason(Code.RELEASABLE, f"{recipient} is the originator of the item.", *where)]
    else:
        out = [
            reason(Code.RELEASABLE, f"The originator {originator} marked the item releasable to {recipient}.", *where)
        ]
    if holder == originator:
        msg = f"{holder} is the originator: the release is its own case-by-case decision."
        out.append(reason(Code.ORIGINATOR_RELEASE, msg, *where))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _topical(ag: Agreement, topics: frozenset[str]) -> bool:
    """Whether ``ag``'s scope, at any time (amendments included), shares a topic with ``topics``."""
    terms = [ag.terms, *(e.terms for e in ag.lifecycle.events if e.terms is not None)]
    return any(t.topics is None or bool(t.topics & topics) for t in terms)
