"""The release decision engine.

:func:`decide` answers: may ``holder`` release the item labelled ``label`` to ``recipient`` on
day ``at``, given the agreements and the originator's consents? It returns a :class:`Decision`
that says why, each reason citing the agreement, article and rule id. It is pure: no clock,
no I/O, and the same inputs always give the same decision.

Rules (rule ids from ``shared/domain/agreements.md``):

1. Fail closed: no agreement, an unknown party or level, or a release to oneself is denied.
2. Releasability: the recipient is the originator or within the label's "Releasable To", and
   the label has no "originator's nation only" caveat (JK-R3, US-R7).
3. Every hop of the route is covered by an agreement in force that day (lifecycle, JK-R31),
   whose scope holds every topic (T-R1) and whose equivalence table covers the level on that
   hop (JK-R2, Art. 4.1): the route carries the equivalent national marking hop by hop (JK-R4).
4. Third-party rule: a hop whose sender is not the originator, to a party that is not the
   originator, needs the originator's consent (JK-R6, US-R2, N-R4). Through the hub of an
   arrangement in force, the originator's own request is that consent (T-R5); anywhere else it
   takes a written :class:`~accord.core.consent.Consent`. ORCON items need a consent naming the item.
5. Route search prefers a direct channel, then a relay through the hub of a multilateral
   arrangement in force whose scope covers the topics (T-R4); each hop of a relay must also
   be protected by one of the arrangement's underlying agreements (T-R3).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from accord.core.agreements import Agreement, AgreementSet, Status
from accord.core.consent import Consent
from accord.core.labels import Caveat, Label
from accord.core.schemes import Level
from accord.errors import ReleaseRefused


class Code(StrEnum):
    """Stable reason codes. Denials first, then the grounds of an allowance."""

    # -- denials
    NO_AGREEMENTS = "NO_AGREEMENTS"
    UNKNOWN_PARTY = "UNKNOWN_PARTY"
    UNKNOWN_LEVEL = "UNKNOWN_LEVEL"
    SAME_PARTY = "SAME_PARTY"
    ORIGINATOR_ONLY = "ORIGINATOR_ONLY"
    NOT_RELEASABLE = "NOT_RELEASABLE"
    NO_EQUIVALENT = "NO_EQUIVALENT"
    NO_CHANNEL = "NO_CHANNEL"
    NOT_IN_FORCE = "NOT_IN_FORCE"
    TERMINATED = "TERMINATED"
    SUSPENDED = "SUSPENDED"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    LEVEL_NOT_COVERED = "LEVEL_NOT_COVERED"
    NO_PROTECTION_BASIS = "NO_PROTECTION_BASIS"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    # -- grounds of an allowance
    RELEASABLE = "RELEASABLE"
    ORIGINATOR_RELEASE = "ORIGINATOR_RELEASE"
    CHANNEL = "CHANNEL"
    IN_SCOPE = "IN_SCOPE"
    EQUIVALENCE = "EQUIVALENCE"
    PROTECTION_BASIS = "PROTECTION_BASIS"
    RELAY_APPROVED = "RELAY_APPROVED"
    CONSENT_USED = "CONSENT_USED"
    SURVIVAL = "SURVIVAL"


#: Codes that refuse a release; every other code is a ground of an allowance.
_DENIALS = frozenset({
    Code.NO_AGREEMENTS, Code.UNKNOWN_PARTY, Code.UNKNOWN_LEVEL, Code.SAME_PARTY, Code.ORIGINATOR_ONLY,
    Code.NOT_RELEASABLE, Code.NO_EQUIVALENT, Code.NO_CHANNEL, Code.NOT_IN_FORCE, Code.TERMINATED,
    Code.SUSPENDED, Code.OUT_OF_SCOPE, Code.LEVEL_NOT_COVERED, Code.NO_PROTECTION_BASIS,
    Code.CONSENT_REQUIRED,
})
for _code in Code:  # a plain attribute: cheaper on the hot path than hashing the enum member
    _code.refuses = _code in _DENIALS  # type: ignore[attr-defined]


class Reason(NamedTuple):
    """One ground of a decision (an immutable named tuple: cheap to build on the hot path).

    Attributes:
        code: stable code (:class:`Code`).
        message: a sentence a security officer would sign.
        agreement: id of the agreement it rests on, if any.
        article: the article of that agreement, if any.
        rule: the rule id (``JK-R6``), if any.
    """

    code: Code
    message: str
    agreement: str | None = None
    article: str | None = None
    rule: str | None = None

    @property
    def denies(self) -> bool:
        """True when this reason is a ground for refusal."""
        return self.code.refuses  # type: ignore[attr-defined, no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"code": self.code.value, "agreement": self.agreement, "article": self.article,
                "rule": self.rule, "message": self.message}


class ConsentNeed(NamedTuple):
    """A hop that needs the originator's consent: ``holder`` releasing to ``recipient``."""

    originator: str
    holder: str
    recipient: str
    item_only: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"originator": self.originator, "holder": self.holder, "recipient": self.recipient,
                "item_only": self.item_only}


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
        markings: party -> equivalent national marking, for every party on the route.
        consents_required: hops that need the originator's consent (met or not).
        consents_used: references of the consents relied on ("originator-request" for a relay
            approved by the originator's own request, T-R5).
        reasons: the grounds, denials first.
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

    @property
    def marking(self) -> str | None:
        """The recipient's national marking of the item (None when denied before a route was found)."""
        return self.markings.get(self.recipient)

    @property
    def awaiting_consent(self) -> bool:
        """True when the only thing missing is the originator's consent for some hops."""
        return not self.allowed and bool(self.route) and all(
            r.code is Code.CONSENT_REQUIRED for r in self.reasons if r.denies)

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
        super().__init__(decision.recipient, decision,
                         f"release {decision.holder}→{decision.recipient} refused: {first}")


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
def _hop(ag: Agreement, a: str, b: str, level: Level, at: date, topics: frozenset[str]) -> _Hop:
    """Whether ``ag`` covers ``a`` releasing an item at ``level`` (a's scheme) with ``topics`` to ``b``."""
    state = ag.state_at(at)
    if not state.exchange_allowed:
        cite = ag.cite("survival") if state.status is Status.TERMINATED else ag.cite("lifecycle")
        tail = ("; nothing new is released under it, while items already exchanged stay protected"
                if state.status is Status.TERMINATED else "")
        return _Hop(False, (Reason(_state_code(state.status),
                                   f"The {ag.title} is not in force on {at} ({state.message}){tail}.",
                                   ag.id, cite.article, cite.rule),))
    terms = ag.terms_at(at)
    chan = ag.cite("parties")
    reasons = [Reason(Code.CHANNEL, f"{a} may release to {b} under the {ag.title}: {state.message}.",
                      ag.id, chan.article, chan.rule)]
    scope = ag.cite("scope")
    if not terms.covers_topics(topics):
        outside = sorted(topics - terms.topics) if terms.topics is not None else []
        what = ", ".join(outside) if outside else "an item without a topic"
        allowed = ", ".join(sorted(terms.topics or ()))
        return _Hop(False, (Reason(Code.OUT_OF_SCOPE,
                                   f"{what} is outside the scope of the {ag.title} (only {allowed}).",
                                   ag.id, scope.article, scope.rule),))
    if terms.topics is not None:
        reasons.append(Reason(Code.IN_SCOPE, f"{', '.join(sorted(topics))} is within the scope of the "
                              f"{ag.title}.", ag.id, scope.article, scope.rule))
    eq = ag.cite("equivalence")
    row = terms.row_for(level)
    target = ag.schemes.get(b) if ag.schemes is not None else None
    key = row.levels.get(b) if row is not None else None
    out = target.by_key(key) if target is not None and key is not None else None
    if out is None:
        return _Hop(False, (Reason(Code.LEVEL_NOT_COVERED,
                                   f"{level.marking} ({level.party}, {level.english}) is not in the "
                                   f"equivalence table of the {ag.title}: the agreement does not cover it.",
                                   ag.id, eq.article, eq.rule),))
    assert row is not None
    reasons.append(Reason(Code.EQUIVALENCE, f"{level.marking} ({level.party}) is treated as {out.marking} "
                          f"({b}) under the {ag.title} ({row.name}).", ag.id, eq.article, eq.rule))
    return _Hop(True, tuple(reasons), out)


@functools.lru_cache(maxsize=65536)
def _protection(basis: tuple[Agreement, ...], a: str, b: str, level: Level, at: date,
                topics: frozenset[str], arrangement: Agreement) -> _Hop:
    """A hop through a hub must also be protected by an underlying agreement (TISA para. 3, T-R3)."""
    failures: list[Reason] = []
    for ag in basis:
        if a not in ag.parties or b not in ag.parties:
            continue
        hop = _hop(ag, a, b, level, at, topics)
        if hop.ok:
            cite = arrangement.cite("protection")
            return _Hop(True, (Reason(Code.PROTECTION_BASIS,
                                      f"The hop {a}→{b} is protected under the {ag.title}.",
                                      arrangement.id, cite.article, cite.rule or "T-R3"), *hop.reasons), hop.level)
        failures.extend(hop.reasons)
    cite = arrangement.cite("protection")
    return _Hop(False, (Reason(Code.NO_PROTECTION_BASIS,
                               f"The hop {a}→{b} has no protecting agreement in force on {at} under the "
                               f"{arrangement.title}.", arrangement.id, cite.article, cite.rule or "T-R3"),
                        *failures))


# ---------------------------------------------------------------------------------------------
# Route attempts


class _Attempt:
    """One route being tried (mutable scratch state of :func:`decide`)."""

    __slots__ = ("agreements", "consent_only", "markings", "needs", "ok", "reasons", "route", "used")

    def __init__(self, route: tuple[str, ...]) -> None:
        self.route = route
        self.ok = True
        self.consent_only = True
        self.agreements: list[str] = []
        self.markings: dict[str, str] = {}
        self.reasons: list[Reason] = []
        self.needs: list[ConsentNeed] = []
        self.used: list[str] = []

    def fail(self, reasons: Iterable[Reason], *, consent: bool = False) -> None:
        self.ok = False
        if not consent:
            self.consent_only = False
        self.reasons.extend(reasons)

    def use(self, ag_id: str) -> None:
        if ag_id not in self.agreements:
            self.agreements.append(ag_id)


def _third_party(att: _Attempt, label: Label, a: str, b: str, at: date, consents: Sequence[Consent],
                 hop_ag: Agreement, relay: Agreement | None, holder: str) -> None:
    """Rule 4: the third-party rule on hop a→b."""
    originator = label.originator
    if originator in (a, b):
        return
    if not hop_ag.onward_release_requires_consent and relay is None:
        return
    orcon = bool(label.caveats) and Caveat.ORIGINATOR_CONTROL in label.caveats
    need = ConsentNeed(originator, a, b, item_only=orcon)
    att.needs.append(need)
    if relay is not None and a == relay.hub and holder == originator:
        att.used.append("originator-request")
        att.reasons.append(_relay_approved(relay, originator, a, b))
        return
    for consent in consents:
        if consent.covers(label, a, b, at):
            cite = hop_ag.cite("third_party")
            att.used.append(consent.id)
            what = f"item {consent.item}" if consent.item else "items on " + ", ".join(sorted(consent.topics))
            att.reasons.append(Reason(
                Code.CONSENT_USED,
                f"{originator} consented ({consent.id}) to {a} releasing {what} to {b}, "
                f"from {consent.granted} until {consent.until}.", hop_ag.id, cite.article, cite.rule))
            return
    att.fail((_consent_required(relay or hop_ag, relay is not None, originator, a, b, at, orcon),), consent=True)


@functools.lru_cache(maxsize=4096)
def _relay_approved(relay: Agreement, originator: str, a: str, b: str) -> Reason:
    cite = relay.cite("relay")
    return Reason(Code.RELAY_APPROVED,
                  f"{a} relays for {originator} as hub of the {relay.title}; {originator}'s own request to reach "
                  f"{b} through {a} is its approval of the relay.", relay.id, cite.article, cite.rule or "T-R5")


@functools.lru_cache(maxsize=65536)
def _consent_required(ag: Agreement, relay: bool, originator: str, a: str, b: str, at: date, orcon: bool) -> Reason:
    cite = ag.cite("relay" if relay else "third_party")
    rule = cite.rule or ("T-R5" if relay else None)
    extra = " ORCON: only a consent naming this very item will do." if orcon else ""
    return Reason(Code.CONSENT_REQUIRED,
                  f"{a} is not the originator: releasing {originator}'s item to {b} needs {originator}'s prior "
                  f"written approval, and no consent covers it on {at}.{extra}", ag.id, cite.article, rule)


def _direct(ag: Agreement, label: Label, holder: str, recipient: str, level: Level, at: date,
            consents: Sequence[Consent]) -> _Attempt:
    att = _Attempt(route=(holder, recipient))
    hop = _hop(ag, holder, recipient, level, at, label.topics)
    if not hop.ok:
        att.fail(hop.reasons)
        return att
    assert hop.level is not None
    att.use(ag.id)
    att.reasons.extend(hop.reasons)
    att.markings[holder] = level.marking
    att.markings[recipient] = hop.level.marking
    _third_party(att, label, holder, recipient, at, consents, ag, None, holder)
    return att


def _relay(arr: Agreement, agreements: AgreementSet, label: Label, holder: str, recipient: str,
           level: Level, at: date, consents: Sequence[Consent]) -> _Attempt:
    hub = arr.hub
    assert hub is not None
    att = _Attempt(route=(holder, hub, recipient))
    basis = tuple(ag for ag in (agreements.get(i) for i in arr.protection_basis) if ag is not None)
    att.use(arr.id)
    current = level
    att.markings[holder] = level.marking
    for a, b in ((holder, hub), (hub, recipient)):
        hop = _hop(arr, a, b, current, at, label.topics)
        if not hop.ok:
            att.fail(hop.reasons)
            return att
        att.reasons.extend(hop.reasons)
        if arr.protection_basis:  # declared: a missing basis agreement fails closed (T-R3)
            prot = _protection(basis, a, b, current, at, label.topics, arr)
            if not prot.ok:
                att.fail(prot.reasons)
                return att
            att.reasons.extend(prot.reasons)
            for r in prot.reasons:
                if r.code is Code.CHANNEL and r.agreement:
                    att.use(r.agreement)
        assert hop.level is not None
        current = hop.level
        att.markings[b] = current.marking
        _third_party(att, label, a, b, at, consents, arr, arr, holder)
    return att


@functools.lru_cache(maxsize=4096)
def _grounds(originator: str, holder: str, recipient: str) -> tuple[Reason, ...]:
    """Rule 2's grounds: releasability, and the originator's own release decision (JK-R3)."""
    if recipient == originator:
        out = [Reason(Code.RELEASABLE, f"{recipient} is the originator of the item.")]
    else:
        out = [Reason(Code.RELEASABLE, f"The originator {originator} marked the item releasable to {recipient}.",
                      rule="JK-R3")]
    if holder == originator:
        out.append(Reason(Code.ORIGINATOR_RELEASE,
                          f"{holder} is the originator: the release is its own case-by-case decision.", rule="JK-R3"))
    return tuple(out)


def _deny(label: Label, holder: str, recipient: str, at: date, *reasons: Reason) -> Decision:
    return Decision(False, label, holder, recipient, at, reasons=tuple(reasons))


def decide(label: Label, holder: str, recipient: str, at: date, consents: Sequence[Consent] = (), *,
           agreements: AgreementSet) -> Decision:
    """Decide whether ``holder`` may release the item labelled ``label`` to ``recipient`` on ``at``.

    Args:
        label: the originator's label of the item.
        holder: the party releasing (the originator, or a party that received the item).
        recipient: the party to release to.
        at: the day of the release; agreements are taken as in force on that day.
        consents: the originator's consents the holder can show.
        agreements: the agreements to decide under (no default: an empty set denies everything).

    Returns:
        A :class:`Decision`; never raises for a policy reason.
    """
    label = label.effective_at(at)  # SuccessionHandling and groups, as in force that day (ADatP-4774 §4.3)
    # The decision is a pure function of these fields (the item id and the consents matter only
    # for a holder that is not the originator), so it is memoised on the immutable agreement set.
    if holder == label.originator:
        key: tuple[object, ...] = (label.originator, label.classification, label.topics, label.releasable_to,
                                   label.caveats, recipient, at)
    else:
        key = (label.originator, label.classification, label.topics, label.releasable_to, label.caveats,
               recipient, at, holder, label.id, tuple(consents))
    memo = agreements.memo
    hit = memo.get(key)
    if hit is None:
        hit = _decide(label, holder, recipient, at, consents, agreements)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = hit
        return hit
    return Decision._make((hit[0], label, *hit[2:]))


_MEMO_MAX = 50_000


def _decide(label: Label, holder: str, recipient: str, at: date, consents: Sequence[Consent],
            agreements: AgreementSet) -> Decision:
    originator = label.originator
    # Rule 1: fail closed.
    if not agreements:
        return _deny(label, holder, recipient, at, Reason(
            Code.NO_AGREEMENTS, "No agreement is loaded: nothing may be released (fail closed)."))
    schemes = agreements.schemes
    if originator not in schemes or holder not in schemes or recipient not in schemes:
        role, party = next((r, p) for r, p in (("originator", originator), ("holder", holder),
                                               ("recipient", recipient)) if p not in schemes)
        why = (f"The item is labelled under the {party} policy, which no agreement Accord holds covers"
               if role == "originator" and len(party) != 3 else  # an organisation's policy (accord.core.groups)
               f"The {role} {party!r} is not a party Accord has a classification scheme for")
        return _deny(label, holder, recipient, at, Reason(
            Code.UNKNOWN_PARTY, f"{why}: nothing is released to, from or about an unknown party."))
    # A label with access-control categories Accord keeps but does not interpret has no decidable level.
    level = None if label.uninterpreted else schemes.level(originator, label.classification)
    if level is None:
        return _deny(label, holder, recipient, at, Reason(
            Code.UNKNOWN_LEVEL, f"{label.classification!r} is not a classification of {originator}'s scheme."))
    if holder == recipient:
        return _deny(label, holder, recipient, at, Reason(
            Code.SAME_PARTY, f"{holder} is both holder and recipient: there is no release to decide."))
    # Rule 2: releasability and caveats.
    if recipient != originator:
        if label.caveats and Caveat.ORIGINATOR_ONLY in label.caveats:
            return _deny(label, holder, recipient, at, Reason(
                Code.ORIGINATOR_ONLY, f"The item is marked {originator} ONLY (originator's nation only): "
                f"it is never released to {recipient}.", rule="JK-R6"))
        if recipient not in label.releasable_to:
            rel = ", ".join(sorted(label.releasable_to)) or "no nation"
            return _deny(label, holder, recipient, at, Reason(
                Code.NOT_RELEASABLE, f"The originator {originator} did not mark the item releasable to "
                f"{recipient} (releasable to {rel}).", rule="JK-R3"))
    grounds = list(_grounds(originator, holder, recipient))
    # The holder's own level: the originator's, or its equivalent under the agreement the holder
    # received the item by. That protection survives the agreement (JK-R31).
    if holder == originator:
        held = level
    else:
        found = agreements.equivalent_level(level, holder)
        if found is None:
            return _deny(label, holder, recipient, at, Reason(
                Code.NO_EQUIVALENT, f"No agreement between {originator} and {holder} maps {level.marking}: "
                f"{holder}'s equivalent marking is unknown."))
        held, basis_ag = found
        state = basis_ag.state_at(at)
        if state.status is Status.TERMINATED:
            cite = basis_ag.cite("survival")
            grounds.append(Reason(Code.SURVIVAL, f"{holder} holds the item under the {basis_ag.title}, "
                                  f"{state.message}; the item stays protected under it.",
                                  basis_ag.id, cite.article, cite.rule))
    # Rule 5: route search, direct first.
    direct = agreements.channels(holder, recipient)
    relays = agreements.hub_arrangements(holder, recipient)
    if not direct and not relays:
        return _deny(label, holder, recipient, at, Reason(
            Code.NO_CHANNEL, f"No agreement between {holder} and {recipient}, and no arrangement whose hub "
            f"relays between them."))
    attempts: list[_Attempt] = []
    for ag in direct:
        att = _direct(ag, label, holder, recipient, held, at, consents)
        if att.ok:
            return _allow(label, holder, recipient, at, att, grounds)
        attempts.append(att)
    for arr in relays:
        att = _relay(arr, agreements, label, holder, recipient, held, at, consents)
        if att.ok:
            return _allow(label, holder, recipient, at, att, grounds)
        attempts.append(att)
    # Denied: every route's failures, and the first route that only lacks consents, if any.
    pending = next((a for a in attempts if a.consent_only), None)
    seen: set[tuple[Code, str | None, str]] = set()
    denials: list[Reason] = []
    for att in attempts:
        for r in att.reasons:
            if r.denies and (r.code, r.agreement, r.message) not in seen:
                seen.add((r.code, r.agreement, r.message))
                denials.append(r)
    if pending is not None:
        return Decision(False, label, holder, recipient, at, route=pending.route,
                        agreements=tuple(pending.agreements), markings=MappingProxyType(pending.markings),
                        consents_required=tuple(pending.needs), consents_used=tuple(pending.used),
                        reasons=(*denials, *grounds, *(r for r in pending.reasons if not r.denies)))
    return Decision(False, label, holder, recipient, at, reasons=(*denials, *grounds))


def _allow(label: Label, holder: str, recipient: str, at: date, att: _Attempt,
           grounds: list[Reason]) -> Decision:
    return Decision(True, label, holder, recipient, at, route=att.route, agreements=tuple(att.agreements),
                    markings=MappingProxyType(att.markings), consents_required=tuple(att.needs),
                    consents_used=tuple(att.used), reasons=(*grounds, *att.reasons))


def enforce(label: Label, holder: str, recipient: str, at: date, consents: Sequence[Consent] = (), *,
            agreements: AgreementSet) -> Decision:
    """Like :func:`decide`, but raise :class:`ReleaseDenied` unless the release is allowed."""
    decision = decide(label, holder, recipient, at, consents, agreements=agreements)
    if not decision.allowed:
        raise ReleaseDenied(decision)
    return decision
