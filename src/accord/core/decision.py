"""The release decision engine.

:func:`decide` answers: may ``holder`` release the item labelled ``label`` to ``recipient`` on
day ``at``, given the agreements, the holder's custody of the item and the originator's consents? It
returns a :class:`Decision` that says why, each reason citing the agreement, article and rule id
(``docs/rules.md``). It is pure: no clock, no I/O, and the same inputs always give the same decision.

Rules (rule ids from ``shared/domain/agreements.md`` and Accord's own ACC-R*):

1. Fail closed: no agreement, an unknown party or level, or a release to oneself is denied (ACC-R1..R3);
   a level its nation never shares is refused whatever an equivalence row assumes (ACC-R4).
2. Releasability: the recipient is the originator or within the label's "Releasable To", and the label
   has no "originator's nation only" caveat (ACC-R5).
3. Custody: a holder that is not the originator must hold the item lawfully, under an agreement that
   could have carried it (ACC-R7, :mod:`accord.core.custody`); a returned or destroyed item is not held
   (JK-R13); a compromised or frozen one only goes back to its originator (JK-R26). Return to the
   originator is always possible while the item is held lawfully, even after termination (JK-R13, JK-R31).
4. Every hop of the route is covered by an agreement in force that day, whose scope holds every topic
   (T-R1) and whose equivalence table covers the level (JK-R2, JK-R1): the route carries the equivalent
   national marking to every party that reads the item (JK-R4).
5. Third-party rule: a release by a party that is not the originator to a party that is not the
   originator needs the originator's consent, judged under the agreement the releasing party holds the
   item under (JK-R6 for a Korean item Japan holds under the GSOMIA) *and* the outgoing hop's agreement.
   Through the hub of an arrangement, the originator's own request is that consent (T-R5). A route
   through the originator is a return followed by the originator's own decision: never automatic (ACC-R8).
6. Route search: direct channels first, then relays through the hubs of multilateral arrangements in
   force (several hubs in a row if need be, T-R4), each relay hop also protected by one of the
   arrangement's underlying agreements (T-R3). A hub within the releasability reads, marks and re-wraps
   (``relay-rewrap``); a hub outside it forwards the sealed item unopened (``relay-blind``) and gets no
   marking.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from types import MappingProxyType
from typing import Any, NamedTuple

from accord.core.agreements import Agreement, AgreementSet, Status
from accord.core.consent import Consent
from accord.core.custody import RELEASING, Custody, Holding, lawful_custody
from accord.core.labels import Caveat, Label
from accord.core.national import restriction_for
from accord.core.reasons import DEFAULT_RULE, DENIALS, Code, Reason, reason
from accord.core.schemes import Level
from accord.errors import ReleaseRefused

__all__ = ["DENIALS", "Code", "ConsentNeed", "Decision", "Hop", "Mode", "Reason", "ReleaseDenied", "decide", "enforce"]

#: Hop modes (``Decision.hops``).
DIRECT = "direct"
RELAY_REWRAP = "relay-rewrap"
RELAY_BLIND = "relay-blind"
Mode = str

#: At most this many hubs in a row on a route (a route with more is not searched).
MAX_HUBS = 4


class Hop(NamedTuple):
    """One hop of a route: ``frm`` hands the item to ``to`` under ``agreement``.

    ``marking`` is ``to``'s national marking of the item, None for a hub that forwards it unopened.
    ``mode``: ``direct`` (holder straight to recipient), ``relay-rewrap`` (through a hub within the
    releasability, which reads, marks and re-wraps it) or ``relay-blind`` (through a hub outside it, which
    forwards the sealed item unopened). A hop into a hub has that hub's mode, a hop out of the last hub
    the last hub's mode.
    """

    frm: str
    to: str
    agreement: str
    marking: str | None
    mode: Mode

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "from": self.frm,
            "to": self.to,
            "agreement": self.agreement,
            "marking": self.marking,
            "mode": self.mode,
        }


class ConsentNeed(NamedTuple):
    """A hop that needs the originator's consent: ``holder`` releasing to ``recipient``."""

    originator: str
    holder: str
    recipient: str
    item_only: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "originator": self.originator,
            "holder": self.holder,
            "recipient": self.recipient,
            "item_only": self.item_only,
        }


_NO_MARKINGS: Mapping[str, str] = MappingProxyType({})


class Decision(NamedTuple):
    """The outcome of :func:`decide`, with its reasons (immutable; markings is a read-only mapping).

    Attributes:
        allowed: whether the release may be made.
        label: the label decided on.
        holder, recipient: the releasing and receiving parties.
        at: the day of the decision.
        route: the parties from holder to recipient; for a denial, the route that only lacks
            consents (see :attr:`consents_required`), else empty.
        agreements: ids of the agreements the route rests on.
        markings: party -> equivalent national marking, for every party on the route that reads the item
            (a hub relaying blind has none).
        consents_required: hops that need the originator's consent (met or not).
        consents_used: references of the consents relied on ("originator-request" for a relay
            approved by the originator's own request, T-R5).
        reasons: the grounds, denials first.
        hops: the route hop by hop, with agreement, marking and mode (:class:`Hop`).
    """

    allowed: bool
    label: Label
    holder: str
    recipient: str
    at: date
    route: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    markings: Mapping[str, str] = _NO_MARKINGS
    consents_required: tuple[ConsentNeed, ...] = ()
    consents_used: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    hops: tuple[Hop, ...] = ()

    @property
    def marking(self) -> str | None:
        """The recipient's national marking of the item (None when denied before a route was found)."""
        return self.markings.get(self.recipient)

    @property
    def awaiting_consent(self) -> bool:
        """True when some route lacks only the originator's consent (or its own decision, for a route
        through it): :attr:`route` and :attr:`consents_required` name it; other routes may have failed."""
        return not self.allowed and bool(self.route)

    @property
    def denials(self) -> tuple[Reason, ...]:
        """The reasons that refuse."""
        return tuple(r for r in self.reasons if r.denies)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``accord decide --json``)."""
        return {
            "allowed": self.allowed,
            "holder": self.holder,
            "recipient": self.recipient,
            "originator": self.label.originator,
            "at": self.at.isoformat(),
            "route": list(self.route),
            "marking": self.marking,
            "markings": dict(self.markings),
            "hops": [h.to_dict() for h in self.hops],
            "agreements": list(self.agreements),
            "consents_required": [c.to_dict() for c in self.consents_required],
            "consents_used": list(self.consents_used),
            "awaiting_consent": self.awaiting_consent,
            "reasons": [r.to_dict() for r in self.reasons],
        }


class ReleaseDenied(ReleaseRefused):
    """Raised by :func:`enforce` when a decision refuses; carries the decision.

    The same error as a sealed item's refused recipient (:class:`accord.errors.ReleaseRefused`), so that
    one ``except ReleaseRefused`` catches both; only the message names the holder too.
    """

    decision: Decision

    def __init__(self, decision: Decision) -> None:
        first = decision.denials[0].message if decision.denials else "denied"
        super().__init__(
            decision.recipient, decision, f"release {decision.holder}→{decision.recipient} refused: {first}"
        )


# ---------------------------------------------------------------------------------------------
# Hop evaluation (cached: agreements, levels and days are immutable values)


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
    if recipient == originator:
        cite = first.cite("return") if first is not None else None
        out = [
            reason(
                Code.RELEASABLE,
                f"{recipient} is the originator of the item.",
                first.id if first else None,
                cite.article if cite else None,
                cite.rule if cite else None,
            )
        ]
    else:
        cite = first.cite("release") if first is not None else None
        out = [
            reason(
                Code.RELEASABLE,
                f"The originator {originator} marked the item releasable to {recipient}.",
                first.id if first else None,
                cite.article if cite else None,
                cite.rule if cite else None,
            )
        ]
    if holder == originator:
        out.append(
            reason(
                Code.ORIGINATOR_RELEASE,
                f"{holder} is the originator: the release is its own case-by-case decision.",
                first.id if first else None,
                cite.article if cite else None,
                cite.rule if cite else None,
            )
        )
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _topical(ag: Agreement, topics: frozenset[str]) -> bool:
    """Whether ``ag``'s scope, at any time (amendments included), shares a topic with ``topics``."""
    terms = [ag.terms, *(e.terms for e in ag.lifecycle.events if e.terms is not None)]
    return any(t.topics is None or bool(t.topics & topics) for t in terms)


def _deny(label: Label, holder: str, recipient: str, at: date, *reasons: Reason) -> Decision:
    return Decision(False, label, holder, recipient, at, reasons=tuple(reasons))


def decide(
    label: Label,
    holder: str,
    recipient: str,
    at: date,
    consents: Sequence[Consent] = (),
    *,
    agreements: AgreementSet,
    custody: Custody | None = None,
) -> Decision:
    """Decide whether ``holder`` may release the item labelled ``label`` to ``recipient`` on ``at``.

    Args:
        label: the originator's label of the item.
        holder: the party releasing (the originator, or a party that received the item).
        recipient: the party to release to.
        at: the day of the release; agreements are taken as in force on that day.
        consents: the originator's consents the holder can show.
        agreements: the agreements to decide under (no default: an empty set denies everything).
        custody: the holder's custody record of the item (:class:`~accord.core.custody.Custody`); without
            one, a holder that is not the originator is presumed to hold the item under the first
            agreement that could have carried it to it (and not to hold it at all if none could).

    Returns:
        A :class:`Decision`; never raises for a policy reason.
    """
    label = label.effective_at(at)  # SuccessionHandling and groups, as in force that day (ADatP-4774 §4.3)
    # The decision is a pure function of these fields (the item id, its creation, the consents and the
    # custody matter only for a holder that is not the originator), memoised on the immutable agreement set.
    if holder == label.originator:
        key: tuple[object, ...] = (
            label.originator,
            label.classification,
            label.topics,
            label.releasable_to,
            label.caveats,
            recipient,
            at,
        )
    else:
        key = (
            label.originator,
            label.classification,
            label.topics,
            label.releasable_to,
            label.caveats,
            recipient,
            at,
            holder,
            label.id,
            label.created,
            tuple(consents),
            custody,
        )
    memo = agreements.memo
    hit = memo.get(key)
    if hit is None:
        hit = _decide(label, holder, recipient, at, consents, agreements, custody)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = hit
        return hit
    return Decision._make((hit[0], label, *hit[2:]))


_MEMO_MAX = 50_000


@functools.lru_cache(maxsize=4096)
def _not_releasable_rule(aset_channels: tuple[Agreement, ...], at: date) -> tuple[str | None, str | None, str | None]:
    for ag in aset_channels:
        if ag.state_at(at).exchange_allowed:
            c = ag.cite("release")
            return ag.id, c.article, c.rule
    return None, None, None


def _decide(
    label: Label,
    holder: str,
    recipient: str,
    at: date,
    consents: Sequence[Consent],
    agreements: AgreementSet,
    custody: Custody | None,
) -> Decision:
    originator = label.originator
    # Rule 1: fail closed.
    if not agreements:
        return _deny(
            label,
            holder,
            recipient,
            at,
            reason(Code.NO_AGREEMENTS, "No agreement is loaded: nothing may be released (fail closed)."),
        )
    schemes = agreements.schemes
    if originator not in schemes or holder not in schemes or recipient not in schemes:
        role, party = next(
            (r, p)
            for r, p in (("originator", originator), ("holder", holder), ("recipient", recipient))
            if p not in schemes
        )
        why = (
            f"The item is labelled under the {party} policy, which no agreement Accord holds covers"
            if role == "originator" and len(party) != 3
            # an organisation's policy (accord.core.groups)
            else f"The {role} {party!r} is not a party Accord has a classification scheme for"
        )
        return _deny(
            label,
            holder,
            recipient,
            at,
            reason(Code.UNKNOWN_PARTY, f"{why}: nothing is released to, from or about an unknown party."),
        )
    # A label with access-control categories Accord keeps but does not interpret has no decidable level.
    level = None if label.uninterpreted else schemes.level(originator, label.classification)
    if level is None:
        return _deny(
            label,
            holder,
            recipient,
            at,
            reason(Code.UNKNOWN_LEVEL, f"{label.classification!r} is not a classification of {originator}'s scheme."),
        )
    if holder == recipient:
        return _deny(
            label,
            holder,
            recipient,
            at,
            reason(Code.SAME_PARTY, f"{holder} is both holder and recipient: there is no release to decide."),
        )
    if recipient != originator:
        restriction = restriction_for(level)
        if restriction is not None:
            return _deny(
                label,
                holder,
                recipient,
                at,
                reason(
                    Code.NEVER_RELEASED,
                    f"{restriction.statement} {restriction.source}: {level.marking} goes to "
                    f"no other nation, even where an equivalence row (an assumption) maps it.",
                    rule=restriction.rule,
                ),
            )
        # Rule 2: releasability and caveats.
        if label.caveats and Caveat.ORIGINATOR_ONLY in label.caveats:
            return _deny(
                label,
                holder,
                recipient,
                at,
                reason(
                    Code.ORIGINATOR_ONLY,
                    f"The item is marked {originator} ONLY (originator's nation only): "
                    f"it is never released to {recipient}.",
                ),
            )
        if recipient not in label.releasable_to:
            rel = ", ".join(sorted(label.releasable_to)) or "no nation"
            ag_id, article, rule = _not_releasable_rule(agreements.channels(holder, recipient), at)
            return _deny(
                label,
                holder,
                recipient,
                at,
                reason(
                    Code.NOT_RELEASABLE,
                    f"The originator {originator} did not mark the item releasable to "
                    f"{recipient} (releasable to {rel}).",
                    ag_id,
                    article,
                    rule,
                ),
            )
    # Rule 3: custody.
    grounds: list[Reason] = []
    custody_ag: Agreement | None = None
    if holder == originator:
        held = level
    else:
        holding: Holding = lawful_custody(label, holder, at, agreements=agreements, record=custody)
        if not holding.ok:
            return _deny(label, holder, recipient, at, *holding.reasons)
        assert holding.level is not None and holding.agreement is not None
        held, custody_ag = holding.level, holding.agreement
        grounds.extend(holding.reasons)
        if recipient != originator and custody is not None and custody.state not in RELEASING:
            cite = custody_ag.cite("compromise")
            return _deny(
                label,
                holder,
                recipient,
                at,
                reason(
                    Code.FROZEN,
                    f"{holder}'s custody of the item is {custody.state.value}: after a loss or compromise, "
                    f"or a freeze by {originator}, it may only go back to {originator}.",
                    custody_ag.id,
                    cite.article,
                    cite.rule,
                ),
                *grounds,
            )
    orcon = bool(label.caveats) and Caveat.ORIGINATOR_CONTROL in label.caveats
    ctx = _Ctx(label, holder, recipient, at, consents, agreements, level, held, custody_ag, orcon)
    # Rule 6: route search, direct first.
    attempts: list[_Attempt] = []
    for ag in agreements.channels(holder, recipient):
        if ag.based_on is not None and not _topical(ag, label.topics):
            continue  # M-R5: a mechanism on top of another arrangement speaks only for its own topics
        att = _direct(ctx, ag)
        if att.ok:
            return _allow(ctx, att, grounds)
        attempts.append(att)
    avoid = originator if holder != originator else None
    rkey = (holder, recipient, avoid, at, label.topics)
    found = agreements.routes.get(rkey)
    if found is None:
        if len(agreements.routes) >= _MEMO_MAX:
            agreements.routes.clear()
        found = agreements.routes[rkey] = _hub_routes(agreements, holder, recipient, at, label.topics, avoid)
    routes, unusable = found
    for parties, hop_ags in routes:
        att = _evaluate(ctx, parties, hop_ags)
        if att.ok:
            return _allow(ctx, att, grounds)
        attempts.append(att)
    if avoid is not None and recipient != originator:
        for arr in agreements.arrangements_of_hub(originator):
            if (
                holder in arr.parties
                and recipient in arr.parties
                and (arr.based_on is None or _topical(arr, label.topics))
            ):
                attempts.append(_through_originator(ctx, arr))
                break
    if recipient == originator and custody_ag is not None:
        return _allow(ctx, _return(ctx), grounds)
    if not attempts and not unusable:
        return _deny(
            label,
            holder,
            recipient,
            at,
            reason(
                Code.NO_CHANNEL,
                f"No agreement between {holder} and {recipient}, and no arrangement whose hub relays between them.",
            ),
            *grounds,
        )
    # Denied: every route's failures, and the first route that only lacks consents, if any.
    pending = next((a for a in attempts if a.consent_only), None)
    seen: set[tuple[Code, str | None, str]] = set()
    denials: list[Reason] = []
    for r in (*(r for att in attempts for r in att.reasons), *unusable):
        if r.denies and (r.code, r.agreement, r.message) not in seen:
            seen.add((r.code, r.agreement, r.message))
            denials.append(r)
    if pending is not None:
        return Decision(
            False,
            label,
            holder,
            recipient,
            at,
            route=pending.route,
            agreements=tuple(pending.agreements),
            markings=MappingProxyType(pending.markings),
            consents_required=tuple(pending.needs),
            consents_used=tuple(pending.used),
            reasons=(*denials, *grounds, *(r for r in pending.reasons if not r.denies)),
            hops=tuple(pending.hops),
        )
    return Decision(False, label, holder, recipient, at, reasons=(*denials, *grounds))


def _allow(ctx: _Ctx, att: _Attempt, grounds: list[Reason]) -> Decision:
    first = ctx.agreements.get(att.agreements[0]) if att.agreements else None
    return Decision(
        True,
        ctx.label,
        ctx.holder,
        ctx.recipient,
        ctx.at,
        route=att.route,
        agreements=tuple(att.agreements),
        markings=MappingProxyType(att.markings),
        consents_required=tuple(att.needs),
        consents_used=tuple(att.used),
        reasons=(*_grounds(ctx.label.originator, ctx.holder, ctx.recipient, first), *grounds, *att.reasons),
        hops=tuple(att.hops),
    )


def enforce(
    label: Label,
    holder: str,
    recipient: str,
    at: date,
    consents: Sequence[Consent] = (),
    *,
    agreements: AgreementSet,
    custody: Custody | None = None,
) -> Decision:
    """Like :func:`decide`, but raise :class:`ReleaseDenied` unless the release is allowed."""
    decision = decide(label, holder, recipient, at, consents, agreements=agreements, custody=custody)
    if not decision.allowed:
        raise ReleaseDenied(decision)
    return decision


assert set(DEFAULT_RULE) == set(Code)
