"""Inbound: verify once, re-decide from the sender's side, mark, store, receipt; a hub relays."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from accord.audit.receipt import evidence_document
from accord.core.custody import Custody
from accord.core.decision import RELAY_BLIND
from accord.core.ids import check_id
from accord.errors import AccordError, InputError, IntegrityError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.canon import sha256_hex, sign
from accord.node.config import check_party
from accord.node.db import custody_sql as db_custody
from accord.node.db import items_sql as db_items
from accord.node.db import relays_sql
from accord.node.errors import Busy, Conflict, ForgedOrigin, IdRefused, PeerRefused
from accord.node.flow.admission import Admission, consent_request_id
from accord.node.flow.blind import BlindRelay
from accord.node.flow.custody_gate import freeze_gate
from accord.node.flow.derived_check import derived_origin, record_returned
from accord.node.flow.journal import RECEIPT_DOMAIN, Caller
from accord.node.policy import (
    Consent,
    Decision,
    Label,
    label_to_dict,
)
from accord.sealed.item import VerifiedItem
from accord.sealed.model import Grant

if TYPE_CHECKING:
    pass

log = logging.getLogger("accord.node")


class Inbound(BlindRelay, Admission):
    """Inbound: verify once, re-decide from the sender's side, mark, store, receipt; a hub relays."""

    def receive_delivery(self, caller: Caller, env: dict[str, Any]) -> dict[str, Any]:
        """Verify, re-decide from the sender's side, mark, store and sign a receipt. Replays store once.

        With an audit writer in this process, the answer also carries receipt evidence: the audit log's
        signed checkpoint and the inclusion proof of this delivery's event (issue 5).
        """
        try:
            out, journal_id = self._receive_delivery(caller, env)
        except (ForgedOrigin, IdRefused) as e:  # the partner's attack is on the custody trail (and logged)
            log.warning("%s: refused a delivery from %s: %s", self.party, caller.party, e)
            with self._tx() as conn:
                self._event(
                    conn,
                    "forged_origin" if isinstance(e, ForgedOrigin) else "id_refused",
                    str(env.get("item_id")),
                    {"sender": caller.party, **{k: v for k, v in e.details.items() if k != "item_id"}},
                )
            raise
        except InconsistentRelay as e:  # an item sealed to a hub outside its releasability (ACC-R5)
            log.warning("%s: refused a delivery from %s: %s", self.party, caller.party, e.reason)
            with self._tx() as conn:
                self._event(
                    conn, "inconsistent_relay", str(env.get("item_id")), {"sender": caller.party, "why": e.reason}
                )
            raise
        except DBIntegrityError as e:  # a concurrent delivery of the same item won the unique key
            raise Busy("the same delivery is being stored concurrently; retry") from e
        evidence = self._evidence(journal_id)
        if evidence is not None:
            out["evidence"] = evidence
        return out

    def _evidence(self, journal_id: int | None) -> dict[str, Any] | None:
        if self.feeder is None or not self.cfg.receipt_evidence or journal_id is None:
            return None
        try:
            idx = self.feeder.index_of(journal_id)
            if idx is None:
                return None
            return evidence_document(self.feeder.log, int(idx))  # as ReceiptEvidence.to_json's object (issue 8)
        except Exception:  # the receipt stands without evidence; the event stays journaled
            log.exception("%s: no receipt evidence", self.party)
            return None

    def _receive_delivery(self, caller: Caller, env: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        day = self.resolve_at(env.get("at"), inbound=True)
        peer = self.admit(caller, day)
        item_id = check_id(env.get("item_id"), field="item_id", what="item id")  # one id grammar (issue 9)
        idem = env.get("idem_key", "")
        if not isinstance(idem, str) or len(idem) > 300 or not (idem.isascii() and idem.isprintable()):
            raise InputError("idempotency key must be printable ASCII of at most 300 characters", field="idem_key")
        if env.get("sender") != peer.party:
            raise PeerRefused("the envelope's sender is not the authenticated peer")
        final = check_party(env.get("final_recipient"), source="delivery", field="final_recipient")
        try:
            sealed = base64.b64decode(str(env["sealed"]), validate=True)
        except (binascii.Error, ValueError) as e:
            raise InputError("sealed is not base64", field="sealed") from e
        digest = sha256_hex(sealed)
        # Verify, decide and mark before the write transaction (open, and at a hub the marking's ML-DSA-87
        # signature, are most of the CPU time). What they raise is raised inside the transaction, so that a
        # failed check or a refusal is journaled exactly as if it had happened there. A replay is found inside
        # the transaction (and answered with the stored receipt, whatever this work found): no read before it.
        work = self._inbound_work(peer.party, item_id, final, day, sealed, env)
        with self._recorded_tx(item_id, "inbound") as conn:
            prior = self._prior_delivery(conn, item_id, peer.party)
            if prior is not None:
                if prior["digest"] != digest:
                    raise Conflict(f"item {item_id} was already delivered by {peer.party} with other content")
                self._event(conn, "replay", item_id, {"sender": peer.party, "digest": digest})
                return {
                    "receipt": json.loads(prior["receipt_json"]),
                    "signature": prior["receipt_sig"],
                    "status": prior["state"],
                    "replay": True,
                }, prior["journal_id"]
            if work.failure is not None:
                raise work.failure
            label, d, carried, held = work.label, work.decision, work.carried, work.held
            assert label is not None and d is not None
            home = label.originator == self.party and final == self.party
            held_row = db_items.item_claim(conn, item_id)  # read once: the clash check, then the store (issue 8)
            returning = self._judge_id_clash(held_row, item_id, label, home=home)  # a holder's return (JK-R13)
            self._journal_decision(conn, label, d, "inbound-blind" if work.blind else "inbound")
            approval = self._blind_approval(conn, label, final, day, work.carried) if work.blind else None
            if work.blind and self._blind_awaits_consent(d, approval):
                args = (conn, work, peer.party, final, day, digest, env, approval)
                receipt, sig, journal_id = self._blind_delivery(*args, hold=True)
                log.info("%s: holding %s blind from %s for %s's consent", self.party, item_id, peer.party, final)
                return {"receipt": receipt, "signature": sig, "status": "held-blind", "replay": False}, journal_id
            if not work.accepted(d, self.party):
                raise self._refuse(f"delivery of {item_id} from {peer.party} refused", d)
            if work.blind:
                args = (conn, work, peer.party, final, day, digest, env, approval)
                receipt, sig, journal_id = self._blind_delivery(*args, hold=False)
                log.info("%s: relayed %s blind from %s to %s", self.party, item_id, peer.party, final)
                return {"receipt": receipt, "signature": sig, "status": "relayed-blind", "replay": False}, journal_id
            if returning:  # this nation's own item comes back: receipted "returned", never stored twice
                receipt, sig, journal_id = self._receipt_and_inbox(
                    conn,
                    item_id,
                    peer.party,
                    final,
                    day,
                    digest,
                    env,
                    state="returned",
                    event={"sender": peer.party, "digest": digest, "returned": True},
                )
                self._event(conn, "returned", item_id, {"from": peer.party, "digest": digest, "rule": "JK-R13"})
                log.info("%s: %s returned by %s", self.party, item_id, peer.party)
                return {"receipt": receipt, "signature": sig, "status": "returned", "replay": False}, journal_id
            receipt, sig, journal_id = self._store_delivery(
                conn, work, peer.party, item_id, final, day, digest, env, held_here=held_row is not None
            )
            status = "stored"
            if final != self.party:
                status, _ = self._relay_or_hold(conn, label, item_id, held, final, day, carried, work.item)
        log.info("%s: received %s from %s (%s)", self.party, item_id, peer.party, status)
        return {"receipt": receipt, "signature": sig, "status": status, "replay": False}, journal_id

    def _store_delivery(
        self,
        conn: Connection,
        work: _Inbound,
        sender: str,
        item_id: str,
        final: str,
        day: dt.date,
        digest: str,
        env: dict[str, Any],
        *,
        held_here: bool,
    ) -> tuple[dict[str, Any], str, int]:
        """Store the item once (its marking recorded; signed into the container here at a hub, at the final
        recipient the first time it leaves: flow/marking.py), sign the receipt, journal the delivery and record
        it in the inbox. ``held_here``: the id clash check found the item (same originator and label) held."""
        label, marking, alt, held = work.label, work.marking, work.alt, work.held
        assert label is not None
        if not held_here:
            db_items.insert_item(
                conn,
                {
                    "item_id": item_id,
                    "originator": label.originator,
                    "label_json": canonical_json(label_to_dict(label)).decode(),
                    "digest": digest,
                    "sealed": held,
                    "origin": "received",
                    "sender": sender,
                    "marking": marking,
                    "alt_label_xml": alt,
                    "created_at": st.now(),
                },
            )
        if label.originator != self.party and work.decision is not None:  # custody (JK-R11, JK-R19)
            d = work.decision
            released_by, route, hops = self._provenance(label, d, sender, work.through_hub, work.carried)
            first = d.agreements[0] if d.agreements else None
            under = next((h.agreement for h in hops if h.to == self.party), first)  # the hop into this node
            record = Custody(
                item_id, label.originator, self.party, under, released_by, day, label.classification, marking
            )
            if work.derived:  # its lineage, as the holder declared it and this node checked (derived_check.py)
                record = replace(record, sources=tuple(env["lineage"]))
            db_custody.insert_custody(conn, record)
            relays_sql.insert_route(
                conn,
                {
                    "item_id": item_id,
                    "released_by": released_by,
                    "handed_over_by": sender,
                    "route_json": json.dumps(route),
                    "modes_json": json.dumps([h.mode for h in hops]),
                    "agreements_json": json.dumps([h.agreement for h in hops]),
                    "held_under": under,
                },
            )
        elif work.derived:
            record_returned(self, conn, item_id, sender, env)
        return self._receipt_and_inbox(
            conn,
            item_id,
            sender,
            final,
            day,
            digest,
            env,
            state="stored",
            event={"sender": sender, "digest": digest, "marking": marking, "label": label_to_dict(label)},
        )

    def _receipt_and_inbox(
        self,
        conn: Connection,
        item_id: str,
        sender: str,
        final: str,
        day: dt.date,
        digest: str,
        env: dict[str, Any],
        *,
        state: str,
        event: dict[str, Any],
    ) -> tuple[dict[str, Any], str, int]:
        """Sign the receipt, journal the ``delivery`` event and record the delivery in the inbox (``state``)."""
        received_at = st.now()
        receipt = {
            "v": 1,
            "item_id": item_id,
            "digest": digest,
            "sender": sender,
            "recipient": self.party,
            "received_at": received_at.isoformat(),
        }
        sig = sign(self.receipt_key, RECEIPT_DOMAIN, receipt)
        journal_id = self._event(conn, "delivery", item_id, event)
        db_items.insert_inbox(
            conn,
            {
                "item_id": item_id,
                "sender": sender,
                "idem_key": str(env.get("idem_key", "")),
                "final_recipient": final,
                "at_date": day.isoformat(),
                "digest": digest,
                "state": state,
                "receipt_json": canonical_json(receipt).decode(),
                "receipt_sig": sig,
                "journal_id": journal_id,
                "received_at": received_at,
            },
        )
        return receipt, sig, journal_id

    def _prior_delivery(self, conn: Connection | None, item_id: str, sender: str) -> Any:
        if conn is not None:
            return db_items.prior_delivery(conn, item_id, sender)
        with self.store.engine.connect() as c:  # a read: WAL readers neither wait for nor block the writer
            return db_items.prior_delivery(c, item_id, sender)

    def _inbound_work(
        self, sender: str, item_id: str, final: str, day: dt.date, sealed: bytes, env: dict[str, Any]
    ) -> _Inbound:
        """Open (seal and label binding), the decision from the sender's side, this nation's marking: no I/O."""
        w = _Inbound()
        try:
            item = self.sealer.verify(sealed, to_open=True)  # the hop's one verification (signature, roster, label)
            if self.party not in item.parties() and final != self.party:
                # Not sealed to this node: a blind relay, judged without the key (issue 10, ACC-R5).
                self._blind_work(w, item, sender, item_id, final, day, sealed, env)
                return w
            through = _blind_grant(item, self.party, sender)
            opened = self.sealer.open(item)  # IntegrityError if anything is off
            label = opened.label
            assert label is not None  # checked by the sealer
            if label.id != item_id:
                raise IntegrityError()
            w.carried = [(self.verify_consent(doc), doc) for doc in env.get("consents", [])]
            w.derived = derived_origin(self, opened.signer, label, final, day, w.carried, env)  # issue 10, JK-R5
            if not w.derived:
                self._check_origin(opened.signer, label, final, day, w.carried)
            self.check_namespace(item_id, opened.signer if w.derived else label.originator)
            w.label = label
            consents = [c for c, _ in w.carried]
            if through is not None and final == self.party:
                # Sealed to this node by the originator and forwarded unopened by the hub `sender`: the
                # decision is the originator's, and its route must end with that hub and this node.
                w.decision = d = self._decision(label, label.originator, final, day, consents)
                w.through_hub = True
                w.via_blind = tuple(d.route[-2:]) == (sender, self.party) and d.route == through.route
                if not (d.allowed and w.via_blind):
                    return w
            else:
                # Re-run the decision from the sender's side (JK-R6): refuse what the agreements do not allow.
                w.decision = d = self._decision(label, sender, final, day, consents)
                w.decision = d = freeze_gate(self.store, self.agreements, d)  # JK-R26 (flow/custody_gate.py)
                if not d.allowed or len(d.route) < 2 or d.route[1] != self.party:
                    return w
                if _mode_into(d, self.party) == RELAY_BLIND:
                    # This node is outside the releasability: it may only forward blind, so a key wrapped
                    # for it is the originator's (or a forger's) error, never used (ACC-R5).
                    raise InconsistentRelay("the item is sealed to this hub, which is outside its releasability")
            w.marking = d.markings.get(self.party)
            w.alt = _alternative_label(label, self.party, w.marking)
            w.held, w.item = sealed, item
            if w.alt is not None and final != self.party:
                # JK-R4: this nation's marking travels in the container, beside the originator's label. A hub
                # relays it now: signed here. The final recipient records it (items, custody, the delivery
                # event) and signs it into the container the first time it leaves (flow/marking.py).
                try:
                    w.item = self.sealer.add_marking(item, w.alt.encode())
                    w.held = w.item.to_bytes()
                except AccordError:
                    w.held, w.item = sealed, item
        except Exception as e:  # re-raised in the transaction
            w.failure = e
        return w

    def _blind_work(
        self,
        w: _Inbound,
        item: VerifiedItem,
        sender: str,
        item_id: str,
        final: str,
        day: dt.date,
        sealed: bytes,
        env: dict[str, Any],
    ) -> None:
        """A hub's checks of an item it relays blind, all without the data key (issue 10, ACC-R5, T-R5): the
        originator's signature over label, payload root and recipients against the pinned roster (done by
        ``verify``), the signer named by the label, the final recipient's grant routed through this hub, and
        this hop's decision from the sender's side. Never opens it, never marks it."""
        label = item.label
        if label is None or label.id != item_id:
            raise IntegrityError()
        w.carried = [(self.verify_consent(doc), doc) for doc in env.get("consents", [])]
        self._check_origin(item.info.signer, label, final, day, w.carried)
        self.check_namespace(item_id, label.originator)
        grant = next((g for g in item.grants if g.party == final), None)
        if grant is None or self.party not in grant.route[1:-1]:
            raise InconsistentRelay(f"the item is not sealed to {final} through this hub")
        w.label, w.blind, w.held, w.item = label, True, sealed, item
        w.decision = d = self._decision(label, sender, final, day, [c for c, _ in w.carried])
        w.decision = d = freeze_gate(self.store, self.agreements, d)  # JK-R26 (flow/custody_gate.py)
        if d.allowed and len(d.route) > 2 and d.route[1] == self.party:
            following = grant.route[grant.route.index(self.party) + 1]
            if d.route[2] != following:
                raise InconsistentRelay(f"the item's route goes on to {following}, the decision's to {d.route[2]}")

    def _blind_delivery(
        self,
        conn: Connection,
        work: _Inbound,
        sender: str,
        final: str,
        day: dt.date,
        digest: str,
        env: dict[str, Any],
        approval: tuple[Consent, dict[str, Any]] | None,
        *,
        hold: bool,
    ) -> tuple[dict[str, Any], str, int]:
        """Receipt the hop of an item this hub relays blind, record it (table ``relays``) and either queue it,
        unchanged, to the next hop with the originator's consent to the relay (``approval``, T-R5), or, with
        ``hold``, keep it sealed in the consent queue and ask the originator once (released by its approval,
        dropped on its denial: :meth:`Consents.receive_consent_decision`). No item row, no marking and no
        custody record: a blind hub holds nothing it could read or release (ACC-R5). Durable before the
        receipt is answered."""
        d, label = work.decision, work.label
        assert d is not None and label is not None and label.id is not None
        item_id = label.id
        request_id = consent_request_id(item_id, self.party, final) if hold else None
        receipt, sig, journal_id = self._receipt_and_inbox(
            conn,
            item_id,
            sender,
            final,
            day,
            digest,
            env,
            state="held-blind" if hold else "relayed-blind",
            event={"sender": sender, "digest": digest, "mode": RELAY_BLIND, "label": label_to_dict(label)},
        )
        relay = self._record_relay(
            conn,
            label,
            d,
            sender=sender,
            item_id=item_id,
            final=final,
            day=day,
            digest=digest,
            statement=work.item.statement_digest if work.item is not None else None,
            sealed=work.held,
            carried=work.carried,
            state="held" if hold else "forwarded",
            request_id=request_id,
        )
        if not hold:
            self._forward_blind(conn, d, relay, work.held, work.carried, approval)
            return receipt, sig, journal_id
        self._hold(conn, d, label, item_id, work.held, final, day)  # the consent request to the originator
        body = {"sender": sender, "to": final, "request_id": request_id, "digest": digest, "route": list(d.route)}
        self._event(conn, "blind_hold", item_id, {**body, "mode": RELAY_BLIND, "rule": "T-R5"})
        return receipt, sig, journal_id


@dataclass
class _Inbound:
    """What an inbound delivery needs before its transaction: the checked label, the decision, the marking."""

    failure: Exception | None = None
    label: Label | None = None
    decision: Decision | None = None
    carried: list[tuple[Consent, dict[str, Any]]] = field(default_factory=list)
    marking: str | None = None
    alt: str | None = None
    held: bytes = b""
    item: VerifiedItem | None = None
    blind: bool = False  # this node relays it without the key (ACC-R5)
    derived: bool = False  # signed by a holder that derived it from sources it holds (issue 10, JK-R5)
    through_hub: bool = False  # sealed to this node by the originator, handed over by a hub on its route
    via_blind: bool = False  # ... and the originator's decision is that route, ending here

    def accepted(self, d: Decision, party: str) -> bool:
        """The decision lets this hop happen: the next hop of its route is this node (or, for an item that
        came through a blind hub, its route ends here)."""
        if not d.allowed or len(d.route) < 2:
            return False
        if self.through_hub:
            return self.via_blind and d.route[-1] == party
        return d.route[1] == party and (not self.blind or len(d.route) > 2)


class InconsistentRelay(IntegrityError):
    """An item whose sealing contradicts its relay: sealed to a hub outside its releasability, or not
    sealed to its final recipient through this hub (issue 10, ACC-R5). Answered as an integrity failure."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def _mode_into(d: Decision, party: str) -> str | None:
    """The mode of the decision's hop into ``party``."""
    return next((h.mode for h in d.hops if h.to == party), None)


def _blind_grant(item: VerifiedItem, party: str, sender: str) -> Grant | None:
    """This node's grant when the originator sealed it straight to this node through the hub ``sender``."""
    # A grant in the statement (granted by its holder), never one a hub's re-wrap added (that hub holds it).
    g = next((g for g in item.grants if g.party == party and g.granted_by == item.holder), None)
    if g is None or len(g.route) < 3 or g.route[-1] != party or g.route[-2] != sender:
        return None
    return g


def _alternative_label(label: Label, party: str, marking: str | None) -> str | None:
    """JK-R4: this nation's alternativeConfidentialityLabel (STANAG 4774) with its equivalent marking."""
    from accord.formats.stanag4774 import alternative_label_xml

    if marking is None:
        return None
    try:
        return alternative_label_xml(label, party, marking, dt.datetime.now(dt.UTC)).decode()
    except AccordError:
        return None
