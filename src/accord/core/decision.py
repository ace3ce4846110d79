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
from collections.abc import Callable, Sequence
from datetime import date
from types import MappingProxyType
from typing import ParamSpec

from accord.core.agreements import Agreement, AgreementSet
from accord.core.consent import Consent
from accord.core.custody import RELEASING, Custody, Holding, lawful_custody

# Re-exported: the cached hop functions (benches clear their caches) and the route modes.
from accord.core.hops import _gate, _hop, _pass, _protection  # noqa: F401
from accord.core.labels import Caveat, Label
from accord.core.national import restriction_for
from accord.core.reasons import DEFAULT_RULE, DENIALS, Code, Reason, reason
from accord.core.routes import (
    _Attempt,
    _Ctx,
    _direct,
    _evaluate,
    _grounds,
    _hub_routes,
    _return,
    _through_originator,
    _topical,
)
from accord.core.schemes import Level
from accord.core.verdict import (
    DIRECT,
    MAX_HUBS,
    RELAY_BLIND,
    RELAY_REWRAP,
    ConsentNeed,
    Decision,
    Hop,
    Mode,
    ReleaseDenied,
)

__all__ = [
    "DENIALS",
    "DIRECT",
    "MAX_HUBS",
    "RELAY_BLIND",
    "RELAY_REWRAP",
    "Code",
    "ConsentNeed",
    "Decision",
    "Hop",
    "Mode",
    "Reason",
    "ReleaseDenied",
    "decide",
    "enforce",
]


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
    key: tuple[object, ...] = (
        label.originator,
        label.classification,
        label.topics,
        label.releasable_to,
        label.caveats,
        recipient,
        at,
    )
    if holder != label.originator:
        key = (*key, holder, label.id, label.created, tuple(consents), custody)
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
P = ParamSpec("P")


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
    level = _decidable(label, holder, recipient, agreements)  # Rule 1: fail closed.
    if isinstance(level, Reason):
        return _deny(label, holder, recipient, at, level)
    if recipient != originator:
        refused = _not_released(label, holder, recipient, at, level, agreements)
        if refused is not None:
            return _deny(label, holder, recipient, at, refused)
    # Rule 3: custody.
    grounds: list[Reason] = []
    custody_ag: Agreement | None = None
    held = level
    if holder != originator:
        holding: Holding = lawful_custody(label, holder, at, agreements=agreements, record=custody)
        if not holding.ok:
            return _deny(label, holder, recipient, at, *holding.reasons)
        assert holding.level is not None and holding.agreement is not None
        held, custody_ag = holding.level, holding.agreement
        grounds.extend(holding.reasons)
        if recipient != originator and custody is not None and custody.state not in RELEASING:
            cite = custody_ag.cite("compromise")
            frozen = reason(
                Code.FROZEN,
                f"{holder}'s custody of the item is {custody.state.value}: after a loss or compromise, "
                f"or a freeze by {originator}, it may only go back to {originator}.",
                custody_ag.id,
                cite.article,
                cite.rule,
            )
            return _deny(label, holder, recipient, at, frozen, *grounds)
    orcon = bool(label.caveats) and Caveat.ORIGINATOR_CONTROL in label.caveats
    ctx = _Ctx(label, holder, recipient, at, consents, agreements, level, held, custody_ag, orcon)
    return _search(ctx, grounds)


def _decidable(label: Label, holder: str, recipient: str, agreements: AgreementSet) -> Level | Reason:
    """Rule 1: the item's level, or why nothing can be decided (fail closed)."""
    originator = label.originator
    if not agreements:
        return reason(Code.NO_AGREEMENTS, "No agreement is loaded: nothing may be released (fail closed).")
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
        return reason(Code.UNKNOWN_PARTY, f"{why}: nothing is released to, from or about an unknown party.")
    # A label with access-control categories Accord keeps but does not interpret has no decidable level.
    level = None if label.uninterpreted else schemes.level(originator, label.classification)
    if level is None:
        return reason(Code.UNKNOWN_LEVEL, f"{label.classification!r} is not a classification of {originator}'s scheme.")
    if holder == recipient:
        return reason(Code.SAME_PARTY, f"{holder} is both holder and recipient: there is no release to decide.")
    return level


def _not_released(
    label: Label, holder: str, recipient: str, at: date, level: Level, agreements: AgreementSet
) -> Reason | None:
    """Why an item goes to no ``recipient`` but its originator (ACC-R4, rule 2: releasability and caveats)."""
    originator = label.originator
    restriction = restriction_for(level)
    if restriction is not None:
        return reason(
            Code.NEVER_RELEASED,
            f"{restriction.statement} {restriction.source}: {level.marking} goes to "
            f"no other nation, even where an equivalence row (an assumption) maps it.",
            rule=restriction.rule,
        )
    if label.caveats and Caveat.ORIGINATOR_ONLY in label.caveats:
        return reason(
            Code.ORIGINATOR_ONLY,
            f"The item is marked {originator} ONLY (originator's nation only): it is never released to {recipient}.",
        )
    if recipient not in label.releasable_to:
        rel = ", ".join(sorted(label.releasable_to)) or "no nation"
        ag_id, article, rule = _not_releasable_rule(agreements.channels(holder, recipient), at)
        return reason(
            Code.NOT_RELEASABLE,
            f"The originator {originator} did not mark the item releasable to {recipient} (releasable to {rel}).",
            ag_id,
            article,
            rule,
        )
    return None


def _search(ctx: _Ctx, grounds: list[Reason]) -> Decision:
    """Rule 6: route search, direct first; the first route that works allows."""
    label, holder, recipient, at, agreements = ctx.label, ctx.holder, ctx.recipient, ctx.at, ctx.agreements
    originator = label.originator
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
    if recipient == originator and ctx.custody_ag is not None:
        return _allow(ctx, _return(ctx), grounds)
    if not attempts and not unusable:
        none = reason(
            Code.NO_CHANNEL,
            f"No agreement between {holder} and {recipient}, and no arrangement whose hub relays between them.",
        )
        return _deny(label, holder, recipient, at, none, *grounds)
    return _denied(ctx, attempts, unusable, grounds)


def _denied(ctx: _Ctx, attempts: list[_Attempt], unusable: Sequence[Reason], grounds: list[Reason]) -> Decision:
    """Denied: every route's failures, and the first route that only lacks consents, if any."""
    pending = next((a for a in attempts if a.consent_only), None)
    seen: set[tuple[Code, str | None, str]] = set()
    denials: list[Reason] = []
    for r in (*(r for att in attempts for r in att.reasons), *unusable):
        if r.denies and (r.code, r.agreement, r.message) not in seen:
            seen.add((r.code, r.agreement, r.message))
            denials.append(r)
    if pending is None:
        return _deny(ctx.label, ctx.holder, ctx.recipient, ctx.at, *denials, *grounds)
    return Decision(
        False,
        ctx.label,
        ctx.holder,
        ctx.recipient,
        ctx.at,
        route=pending.route,
        agreements=tuple(pending.agreements),
        markings=MappingProxyType(pending.markings),
        consents_required=tuple(pending.needs),
        consents_used=tuple(pending.used),
        reasons=(*denials, *grounds, *(r for r in pending.reasons if not r.denies)),
        hops=tuple(pending.hops),
    )


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


def _raising(engine: Callable[P, Decision]) -> Callable[P, Decision]:
    """``engine`` with its signature, raising :class:`ReleaseDenied` unless the release is allowed."""

    @functools.wraps(engine)
    def enforce(*args: P.args, **kwargs: P.kwargs) -> Decision:
        decision = engine(*args, **kwargs)
        if not decision.allowed:
            raise ReleaseDenied(decision)
        return decision

    enforce.__doc__ = "Like :func:`decide`, but raise :class:`ReleaseDenied` unless the release is allowed."
    enforce.__name__ = enforce.__qualname__ = "enforce"
    return enforce


enforce = _raising(decide)


assert set(DEFAULT_RULE) == set(Code)
