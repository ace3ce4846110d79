"""The one enforcement point: a release is decided here, once per hop, and sealed as planned.

Every path that puts a sealed item on its way -- the SDK, ``accord seal`` / ``accord rewrap`` and the
gateway node -- plans the release here. A plan says where the item goes (route), what each hop does
(``direct``, ``relay-rewrap``, ``relay-blind``), whom the data key is wrapped for, the minimum suite the
agreements relied on require, and, for a hub's re-wrap, on what basis. It is made from
:func:`accord.core.decision.decide`; :mod:`accord.sealed` never decides, it seals against the plan it is
given and refuses a plan made for another label or item.

- :func:`decide_hop`: the one call to the decision engine for one hop.
- :func:`plan_release` / :func:`plan_from_decisions`: the plan for an originator's (or holder's) release.
- :func:`plan_rewrap`: the plan for a hub's re-wrap of a verified item.
- :func:`seal_bytes`, :func:`seal_file`, :func:`rewrap`, :func:`rewrap_file`: plan and seal in one call.
"""

from __future__ import annotations

import dataclasses
import io
import os
import threading
from collections.abc import Sequence
from datetime import date

from accord.core.agreements import AgreementSet, reason_under
from accord.core.consent import Consent
from accord.core.custody import Custody
from accord.core.decision import Decision, decide
from accord.core.labels import Label
from accord.core.reasons import Code
from accord.errors import InputError, ReleaseRefused
from accord.formats.stanag4774 import label_to_xml
from accord.sealed.container import ManifestInfo, seal_path
from accord.sealed.format import DEFAULT_SEGMENT_SIZE
from accord.sealed.item import VerifiedItem, rewrap_item, verify_bytes, verify_stream
from accord.sealed.keys import PartyKeys, Roster, atomic_output
from accord.sealed.model import Relay
from accord.sealed.payload import Progress
from accord.sealed.plan import Hop, ReleasePlan, RewrapPlan, label_digest
from accord.sealed.seal import seal_stream
from accord.sealed.suites import DEFAULT_SUITE, get_suite, suite_satisfies

__all__ = [
    "Hop",
    "ReleasePlan",
    "RewrapPlan",
    "decide_hop",
    "plan_from_decisions",
    "plan_release",
    "plan_rewrap",
    "rewrap",
    "rewrap_file",
    "seal_bytes",
    "seal_file",
]

RELAY_MODES = ("blind", "rewrap")


def decide_hop(
    label: Label,
    holder: str,
    recipient: str,
    at: date,
    agreements: AgreementSet,
    consents: Sequence[Consent] = (),
    custody: Custody | None = None,
    purpose: str | None = None,
) -> Decision:
    """The decision for one hop (``holder`` releasing ``label`` to ``recipient`` on ``at``; ``custody``: the
    holder's custody record of the item, issue 10; ``purpose``: the purpose of this release, JK-R7).

    The holder's record governs the item as held: a reclassification by the originator (JK-R12) re-marks it
    (the decision is made at the new level, whatever the sealed label says); an item provided for a purpose
    goes to anyone but its originator for another purpose (or none stated) only with the originator's
    approval of this very release -- a consent for this item, holder and recipient (JK-R7, ``OTHER_PURPOSE``).
    """
    if (
        custody is not None
        and custody.marking
        and custody.marking != label.classification
        and custody.originator == label.originator
        and (custody.item is None or custody.item == label.id)
        and agreements.schemes.level(label.originator, custody.marking) is not None
    ):
        label = dataclasses.replace(label, classification=custody.marking)  # JK-R12: re-marked by its originator
    d = decide(label, holder, recipient, at, tuple(consents), agreements=agreements, custody=custody)
    if (
        d.allowed
        and custody is not None
        and custody.purpose
        and recipient != label.originator
        and purpose != custody.purpose
        and not _approved_for(label, holder, recipient, at, consents)
    ):
        return _other_purpose(d, custody, purpose, agreements)
    return d


def _approved_for(label: Label, holder: str, recipient: str, at: date, consents: Sequence[Consent]) -> bool:
    """The originator approved this very release (an item consent, not a standing one): JK-R7's approval."""
    return any(
        c.originator == label.originator
        and c.holder == holder
        and c.recipient == recipient
        and c.item is not None
        and c.item == label.id
        and not c.standing
        and c.granted <= at <= c.until
        for c in consents
    )


def _other_purpose(d: Decision, custody: Custody, purpose: str | None, agreements: AgreementSet) -> Decision:
    """``d`` refused: the release is for another purpose than the one the item was provided for (JK-R7)."""
    ag = agreements.get(custody.agreement) if custody.agreement else None
    asked = f"for {purpose!r}" if purpose else "without stating a purpose"
    why = reason_under(
        Code.OTHER_PURPOSE,
        f"{custody.originator} provided the item for {custody.purpose!r}; a release {asked} needs "
        f"{custody.originator}'s prior written approval of this release.",
        ag,
        "purpose",
    )
    return d._replace(allowed=False, reasons=(why, *d.reasons))


# The last label each thread serialised, by identity: a release plans (``plan_from_decisions``) and then seals
# the same Label object, and its XML is built once (issue 8: it was built twice per release). A Label is frozen,
# and the strong reference held here keeps its id from being reused by another object.
_LAST_XML = threading.local()


def label_xml_of(label: Label) -> bytes:
    """The STANAG 4774 XML a plan for ``label`` is bound to (and that the sealed statement carries)."""
    if not isinstance(label, Label):
        raise InputError("a core Label is required", field="label")
    last: tuple[Label, bytes] | None = getattr(_LAST_XML, "pair", None)
    if last is not None and last[0] is label:
        return last[1]
    xml = label_to_xml(label)
    _LAST_XML.pair = (label, xml)
    return xml


def min_suite(agreements: AgreementSet, ids: Sequence[str], requested: str | None) -> str | None:
    """The strongest minimum suite: any set by an agreement relied on, and the caller's ``requested``."""
    minima = [ag.min_suite for ag in map(agreements.get, ids) if ag is not None and ag.min_suite]
    if requested is not None:
        minima.append(requested)
    return max(minima, key=lambda m: get_suite(m).rank, default=None)  # on a tie, the first (an agreement's)


def plan_from_decisions(
    label: Label | bytes,
    decisions: Sequence[Decision],
    *,
    holder: str,
    at: date,
    agreements: AgreementSet,
    relay: str = "blind",
    suite: str | None = None,
    requested_min_suite: str | None = None,
) -> ReleasePlan:
    """The plan for decisions already made (one per final recipient); refuses any denied one.

    ``relay``: for a recipient reached through a hub, ``"blind"`` wraps for the final recipient (the hub
    forwards without reading: hop mode ``relay-blind``), ``"rewrap"`` wraps for the hub and asks it, in
    the signed statement, to re-wrap for the final recipient (hop mode ``relay-rewrap``, T-R5).

    Raises:
        ReleaseRefused: a recipient was denied (carries the Decision).
    """
    if relay not in RELAY_MODES:
        raise InputError("relay must be 'blind' or 'rewrap'", field="relay")
    if not decisions:
        raise InputError("no recipient: an item must be sealed for at least one nation", field="recipients")
    hops: dict[str, Hop] = {}
    relays: list[Relay] = []
    for d in decisions:
        if not d.allowed:
            raise ReleaseRefused(d.recipient, d)
        if d.holder != holder:
            raise InputError(f"a decision for holder {d.holder} cannot plan {holder}'s release", field="holder")
        route = tuple(d.route)
        # A hub outside the releasability relays blind: never wrapped for (issue 10, ACC-R5).
        blind = any(h.mode == "relay-blind" for h in getattr(d, "hops", ()))
        if relay == "rewrap" and len(route) > 2 and not blind:
            # The originator seals for the next hop and asks it (signed) to re-wrap for the recipient (T-R5).
            relays.append(Relay(d.recipient, route[1:-1], route, tuple(d.agreements)))
            hops.setdefault(route[1], Hop(route[1], route[:2], tuple(d.agreements), "relay-rewrap"))
        else:
            mode = "relay-blind" if len(route) > 2 else "direct"
            hops[d.recipient] = Hop(d.recipient, route, tuple(d.agreements), mode)
    minimum = min_suite(agreements, [a for h in hops.values() for a in h.agreements], requested_min_suite)
    suite_id = suite or DEFAULT_SUITE
    get_suite(suite_id)
    if not suite_satisfies(suite_id, minimum):
        raise InputError(f"suite {suite_id} is weaker than the minimum {minimum} set by the agreements", field="suite")
    xml = label if isinstance(label, bytes) else label_xml_of(label)
    return ReleasePlan(
        label_digest(xml), holder, at, tuple(hops.values()), tuple(relays), suite_id, minimum, tuple(decisions)
    )


def plan_release(
    label: Label,
    *,
    recipients: Sequence[str],
    holder: str,
    agreements: AgreementSet,
    at: date,
    consents: Sequence[Consent] = (),
    relay: str = "blind",
    suite: str | None = None,
    min_suite: str | None = None,
) -> ReleasePlan:
    """Decide once per recipient and plan the release (see :func:`plan_from_decisions`)."""
    if not recipients:
        raise InputError("no recipient: an item must be sealed for at least one nation", field="recipients")
    if relay not in RELAY_MODES:
        raise InputError("relay must be 'blind' or 'rewrap'", field="relay")
    decisions = [decide_hop(label, holder, r, at, agreements, consents) for r in recipients]
    return plan_from_decisions(
        label,
        decisions,
        holder=holder,
        at=at,
        agreements=agreements,
        relay=relay,
        suite=suite,
        requested_min_suite=min_suite,
    )


def plan_rewrap(
    item: VerifiedItem,
    *,
    hub: str,
    to: str,
    at: date,
    agreements: AgreementSet | None = None,
    consents: Sequence[Consent] = (),
    decision: Decision | None = None,
) -> RewrapPlan:
    """The plan for ``hub`` to re-wrap a verified item for ``to``.

    With ``decision`` (the hub's own decision for this hop, made by the caller, e.g. a node that journals
    it), nothing is decided again: it must allow ``hub`` to release to its final recipient, and ``to``
    must be the next hop of its route. Without it, the originator's signed request to reach ``to``
    through this hub is its approval when ``decide(holder -> to)`` still routes through ``hub`` (T-R5,
    basis ``originator-request``); otherwise ``decide(hub -> to, consents)`` must allow it on its own
    (basis ``decision``).

    Raises:
        ReleaseRefused: the release is denied (carries the Decision).
    """
    requested = next((r for r in item.relays if r.to == to and hub in r.via), None)
    if decision is not None:
        if not decision.allowed:
            raise ReleaseRefused(decision.recipient, decision)
        if decision.holder != hub or len(decision.route) < 2 or decision.route[1] != to:
            raise InputError("the decision given is not this hub's release to this hop", field="decision")
        if requested is not None and decision.recipient == to:
            return RewrapPlan(
                item.statement_digest,
                hub,
                to,
                at,
                "originator-request",
                requested.route,
                requested.agreements,
                decision,
            )
        return _rewrap_plan(item, hub, to, at, "decision", decision)
    if agreements is None:
        raise InputError("agreements are required to decide a re-wrap", field="agreements")
    label = item.label
    if label is None:
        raise InputError("the item's label cannot be read by the core; cannot decide", field="label")
    if requested is not None:
        d = decide_hop(label, item.holder, to, at, agreements, consents)
        if d.allowed and hub in d.route[1:-1]:
            return _rewrap_plan(item, hub, to, at, "originator-request", d)
    d = decide_hop(label, hub, to, at, agreements, consents)
    if not d.allowed:
        raise ReleaseRefused(to, d)
    return _rewrap_plan(item, hub, to, at, "decision", d)


def _rewrap_plan(item: VerifiedItem, hub: str, to: str, at: date, basis: str, d: Decision) -> RewrapPlan:
    return RewrapPlan(item.statement_digest, hub, to, at, basis, tuple(d.route), tuple(d.agreements), d)


# --- plan and seal in one call --------------------------------------------------------------------------


def seal_bytes(
    payload: bytes,
    label: Label,
    *,
    recipients: Sequence[str],
    signer: PartyKeys,
    roster: Roster,
    agreements: AgreementSet,
    at: date,
    holder: str | None = None,
    consents: Sequence[Consent] = (),
    suite: str | None = None,
    relay: str = "blind",
    min_suite: str | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> bytes:
    """Seal ``payload`` for ``recipients`` after :func:`accord.core.decision.decide` allowed each one.

    Raises:
        ReleaseRefused: a recipient was denied (carries the Decision).
    """
    xml = label_xml_of(label)
    plan = _seal_plan(label, recipients, signer, agreements, at, holder, consents, suite, relay, min_suite)
    out = io.BytesIO()
    seal_stream(
        io.BytesIO(payload), out, label_xml=xml, plan=plan, signer=signer, roster=roster, segment_size=segment_size
    )
    return out.getvalue()


def seal_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    label: Label,
    *,
    recipients: Sequence[str],
    signer: PartyKeys,
    roster: Roster,
    agreements: AgreementSet,
    at: date,
    holder: str | None = None,
    consents: Sequence[Consent] = (),
    suite: str | None = None,
    relay: str = "blind",
    min_suite: str | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    progress: Progress | None = None,
) -> ManifestInfo:
    """Seal a file of any size in constant memory (decisions as :func:`seal_bytes`), written atomically."""
    plan = _seal_plan(label, recipients, signer, agreements, at, holder, consents, suite, relay, min_suite)
    return seal_path(
        in_path,
        out_path,
        label_xml=label_xml_of(label),
        plan=plan,
        signer=signer,
        roster=roster,
        segment_size=segment_size,
        progress=progress,
    )


def _seal_plan(
    label: Label,
    recipients: Sequence[str],
    signer: PartyKeys,
    agreements: AgreementSet,
    at: date,
    holder: str | None,
    consents: Sequence[Consent],
    suite: str | None,
    relay: str,
    min_suite: str | None,
) -> ReleasePlan:
    """The plan of :func:`seal_bytes` and :func:`seal_file`: the signer releases unless a holder is named."""
    return plan_release(
        label,
        recipients=recipients,
        holder=holder or signer.party,
        agreements=agreements,
        at=at,
        consents=consents,
        relay=relay,
        suite=suite,
        min_suite=min_suite,
    )


def rewrap(
    blob: bytes,
    *,
    keys: PartyKeys,
    roster: Roster,
    to: str,
    agreements: AgreementSet,
    at: date,
    consents: Sequence[Consent] = (),
) -> bytes:
    """The hub (``keys``) re-wraps the item for ``to`` as :func:`plan_rewrap` allows; one verification.

    Raises:
        ReleaseRefused: the re-wrap is denied (carries the Decision).
    """
    item = verify_bytes(blob, roster=roster)
    plan = plan_rewrap(item, hub=keys.party, to=to, at=at, agreements=agreements, consents=consents)
    return rewrap_item(item, plan, keys=keys, roster=roster).to_bytes()


def rewrap_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    keys: PartyKeys,
    roster: Roster,
    to: str,
    agreements: AgreementSet,
    at: date,
    consents: Sequence[Consent] = (),
) -> None:
    """File form of :func:`rewrap`, streaming (the payload is copied, never decrypted), written atomically."""
    try:
        src = open(in_path, "rb")  # noqa: SIM115 -- closed below, after the output is renamed
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", source=str(in_path)) from e
    with src:
        item = verify_stream(src, roster=roster)
        plan = plan_rewrap(item, hub=keys.party, to=to, at=at, agreements=agreements, consents=consents)
        amended = rewrap_item(item, plan, keys=keys, roster=roster)
        with atomic_output(out_path, 0o644) as dst:
            amended.write(dst)
