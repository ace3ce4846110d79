"""Custody notices over the network (issue 10): the life of an item after its release.

- The **originator** signs a reclassification (JK-R12), a freeze or unfreeze (JK-R26) or the purpose the item
  was provided for (JK-R7) and sends it, through the durable outbox, to every party it released the item to.
- Each **holder** checks it (signed by the originator of the item it names, as held here: anything else is
  refused and journaled), applies it once to the item and to every item derived from it here, passes it on to
  each party it released the item (or a derived item) to -- two hops away included -- and sends back a signed
  acknowledgement. Acknowledgements travel back hop by hop, the way the notice came, to the originator, whose
  node shows per holder: ``sent`` / ``acknowledged``.
- A holder's **reports** (a loss or compromise at each stage SUSPECTED → NOTIFIED → INVESTIGATING → REPORTED,
  JK-R26; a derived item, JK-R5/R23/R24) travel up the same way to the originator, whose node raises an alarm
  (a ``custody_alarm`` event, :meth:`Notices.custody_alarms`).

Exactly once: each notice is recorded once per digest at each node (a replay applies nothing twice and is
answered as before), every message leaves through the outbox with an idempotency key derived from the digest,
and the state change, the forwards and the acknowledgement are one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.engine import Connection

from accord.core.custody import Custody, reclassify_all
from accord.core.ids import check_id
from accord.errors import InputError
from accord.formats.canonical import canonical_json
from accord.formats.custody_notice import BY_HOLDER, FORMAT, Notice, sign_notice, verify_notice
from accord.node import db as st
from accord.node.db import custody_sql as db_custody
from accord.node.db import items_sql as db_items
from accord.node.db import notices_sql as db_notices
from accord.node.errors import Busy, NotFound, PeerRefused
from accord.node.flow.admission import Admission
from accord.node.flow.custody_apply import CustodyApply
from accord.node.flow.custody_gate import frozen_by, latest_sequence
from accord.node.flow.journal import Caller
from accord.node.flow.outbound import Outbound
from accord.node.policy import label_from_dict

log = logging.getLogger("accord.node")

KEYID = "node"  # notices are signed with the node key pinned in the roster (the receipt key)
MAX_NOTICE = 64 * 1024  # bytes of a notice message
ORIGINATOR_KINDS = ("reclassification", "freeze", "unfreeze", "purpose")


class NodeKeys:
    """The :class:`~accord.formats.lifecycle_doc.KeySource` of a node: each party's pinned node key."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self.keys = keys

    def verify(self, party: str, keyid: str, signature: bytes, message: bytes) -> bool:
        pub = self.keys.get(party)
        if pub is None or keyid != KEYID:
            return False
        try:
            pub.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class NotYet(Busy):
    """A notice about an item that has not arrived here (yet): answered 503, the sender's outbox retries."""


class NoticeRefused(PeerRefused):
    """A partner's custody notice that this node will not apply (wrong originator, a cover not given by it)."""


class Notices(CustodyApply, Outbound, Admission):
    """Custody notices: issued by the originator, applied, forwarded and acknowledged by every holder."""

    # ------------------------------------------------------------------------------------------------
    # the originator

    def issue_notice(
        self,
        item_id: str,
        kind: str,
        *,
        classification: str | None = None,
        purpose: str | None = None,
        note: str = "",
        at: dt.date | str | None = None,
    ) -> dict[str, Any]:
        """Sign a notice about one of this nation's items and send it to every party it released it to."""
        if kind not in ORIGINATOR_KINDS:
            raise InputError(f"expected one of {', '.join(ORIGINATOR_KINDS)}", field="kind")
        item_id = check_id(item_id, field="item_id", what="item id")
        day = self.resolve_at(at)
        with self._tx() as conn:
            row = db_items.get_item(conn, item_id)
            if row is None:
                raise NotFound(f"no item {item_id} here")
            label = label_from_dict(json.loads(row["label_json"]))
            if row["origin"] != "local" or label.originator != self.party:
                raise InputError(
                    f"only the originator {label.originator} reclassifies, freezes or states the purpose of its "
                    f"item, not {self.party} (JK-R12, JK-R26)",
                    field="item_id",
                )
            sent = [
                r
                for r in db_notices.notices_for(conn, item_id)
                if r["role"] == "sent" and r["kind"] in ORIGINATOR_KINDS
            ]
            body: dict[str, Any] = {
                "format": FORMAT,
                "kind": kind,
                "item": item_id,
                "originator": self.party,
                "date": day.isoformat(),
                "note": note,
                "sequence": len(sent) + 1,  # a holder applies the originator's notices in this order
            }
            if kind == "reclassification":
                if not classification:
                    raise InputError("a reclassification names the new classification", field="classification")
                reclassify_all({item_id: label}, [], item_id, self.party, classification, schemes=self.schemes)
                body["classification"] = classification
            if kind == "purpose":
                if not purpose:
                    raise InputError("a purpose notice states the purpose", field="purpose")
                body["purpose"] = purpose
            if kind == "unfreeze" and frozen_by(conn, item_id, self.party) is None:
                raise InputError(f"item {item_id} is not frozen", field="item_id")
            doc = sign_notice(body, self.party, KEYID, self.receipt_key.sign)
            n = verify_notice(doc, self.notice_keys(), source="notice")
            db_notices.insert_notice(conn, _notice_row(n, doc, "sent", None, []))
            down = self._downstream(conn, {item_id: classification}, exclude={self.party})
            self._send_down(conn, n, doc, down, day)
            self._event(
                conn,
                "custody_notice_sent",
                item_id,
                {"kind": kind, "digest": n.digest, "to": sorted(down), "classification": classification, "note": note},
            )
        return self.notice_status(n.digest)

    # ------------------------------------------------------------------------------------------------
    # a partner's message

    def receive_custody_notice(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """A custody notice, report or acknowledgement from a partner node (``POST /v1/peer/custody-notices``)."""
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        doc = body.get("notice")
        covers = body.get("covers") or {}
        try:
            if len(canonical_json(body)) > MAX_NOTICE:
                raise InputError(f"a custody notice message is at most {MAX_NOTICE} bytes", field="notice")
            if not isinstance(covers, dict) or not all(isinstance(k, str) for k in covers):
                raise InputError("covers maps derived item ids to their new classification", field="covers")
            n = verify_notice(doc, self.notice_keys(), source=f"custody notice from {peer.party}")
            if n.kind == "acknowledgement":
                return self._receive_ack(peer.party, n, doc)
            if n.kind in BY_HOLDER:
                return self._receive_report(peer.party, n, doc, day)
            return self._receive_originator_notice(peer.party, n, doc, covers, day)
        except (InputError, PeerRefused) as e:
            with self._tx() as conn:
                item = doc.get("item") if isinstance(doc, dict) else None
                self._event(
                    conn,
                    "custody_notice_refused",
                    str(item)[:200] if item is not None else None,
                    {"from": peer.party, "problem": str(e)[:500]},
                )
            log.warning("%s: refused a custody notice from %s: %s", self.party, peer.party, e)
            raise

    def _receive_originator_notice(
        self, sender: str, n: Notice, doc: Any, covers: dict[str, Any], day: dt.date
    ) -> dict[str, Any]:
        with self._tx() as conn:
            prior = db_notices.get_notice(conn, n.digest)
            if prior is not None:  # a replay: applied once, acknowledged once
                return {"digest": n.digest, "status": "replay", "applied": db_notices.applied_of(prior)}
            self._check_originator(conn, sender, n, covers)
            ids = self._closure(conn, [n.item, *covers])
            later = latest_sequence(conn, n.item, n.originator, n.kind)
            if later > n.sequence:  # arrived after a later notice of the same kind: recorded, passed on, not applied
                applied: list[str] = []
                marks: dict[str, str | None] = dict.fromkeys(ids)
            else:
                applied, marks = self._apply(conn, n, ids, covers, day)
            db_notices.insert_notice(conn, _notice_row(n, doc, "received", sender, applied))
            down = self._downstream(conn, marks, exclude={sender, n.originator, self.party})
            self._send_down(conn, n, doc, down, day)
            what = f"applied to {', '.join(applied)}" if applied else "no record here changed"
            if later > n.sequence:
                what = f"superseded by the originator's notice {later} about {n.item}"
            ack = {
                "format": FORMAT,
                "kind": "acknowledgement",
                "item": n.item,
                "originator": n.originator,
                "holder": self.party,
                "date": day.isoformat(),
                "acknowledges": n.digest,
                "forwarded": sorted(down),
                "note": what,
            }
            signed = sign_notice(ack, self.party, KEYID, self.receipt_key.sign)
            ack_n = verify_notice(signed, self.notice_keys(), source="acknowledgement")
            self._enqueue_notice(conn, sender, signed, {}, day, f"notice-ack:{n.digest}:{self.party}", n.item)
            self._event(
                conn,
                "custody_notice",
                n.item,
                {
                    "kind": n.kind,
                    "digest": n.digest,
                    "from": sender,
                    "originator": n.originator,
                    "applied": applied,
                    "forwarded": sorted(down),
                    "ack": ack_n.digest,
                    "classification": n.classification,
                },
            )
        return {"digest": n.digest, "status": "applied", "applied": applied, "forwarded": sorted(down)}

    def _receive_ack(self, sender: str, n: Notice, doc: Any) -> dict[str, Any]:
        assert n.acknowledges is not None and n.holder is not None
        with self._tx() as conn:
            orig = db_notices.get_notice(conn, n.acknowledges)
            if orig is None or orig["item_id"] != n.item or orig["originator"] != n.originator:
                raise NoticeRefused(f"no notice {n.acknowledges[:12]}… about {n.item} passed through {self.party}")
            sent_to = db_notices.parties_of(conn, n.acknowledges)
            if not any(p["party"] == sender and p["via"] == self.party for p in sent_to):
                raise NoticeRefused(f"{self.party} sent notice {n.acknowledges[:12]}… to {sender}: no, not to it")
            fresh = db_notices.acknowledge(conn, n.acknowledges, n.holder, sender, n.digest, n.note)
            for f in n.forwarded:
                db_notices.note_party(conn, n.acknowledges, f, n.holder)
            if fresh:
                if orig["role"] == "received" and orig["peer"]:  # on its way back to the originator
                    self._enqueue_notice(
                        conn,
                        orig["peer"],
                        doc,
                        {},
                        dt.date.fromisoformat(str(doc["date"])),
                        f"notice-ack:{n.acknowledges}:{n.holder}:via:{self.party}",
                        n.item,
                    )
                self._event(
                    conn,
                    "custody_notice_ack",
                    n.item,
                    {"acknowledges": n.acknowledges, "holder": n.holder, "via": sender, "forwarded": list(n.forwarded)},
                )
        return {"digest": n.digest, "status": "recorded" if fresh else "replay"}

    def _receive_report(self, sender: str, n: Notice, doc: Any, day: dt.date) -> dict[str, Any]:
        with self._tx() as conn:
            if db_notices.get_notice(conn, n.digest) is not None:
                return {"digest": n.digest, "status": "replay"}
            about = self._report_items(conn, n)
            if not set(about) <= self._released_to(conn, about, sender):
                raise NoticeRefused(f"{self.party} released no item {', '.join(about)} to {sender}: no report of it")
            if n.originator == self.party:
                for it in about:
                    row = db_items.get_item(conn, it)
                    if row is None or row["origin"] != "local":
                        raise NoticeRefused(f"{self.party} originated no item {it}")
                db_notices.insert_notice(conn, _notice_row(n, doc, "received", sender, []))
                body = {"holder": n.holder, "via": sender, "digest": n.digest, "note": n.note, "date": n.on.isoformat()}
                if n.kind == "compromise":
                    assert n.stage is not None
                    self._event(conn, "custody_alarm", n.item, {**body, "stage": n.stage.value})
                    log.warning(
                        "%s: ALARM: %s reports %s of %s (%s)", self.party, n.holder, n.stage.value, n.item, n.note
                    )
                elif n.kind == "derived":
                    self._event(
                        conn,
                        "custody_derived",
                        n.item,
                        {**body, "sources": list(n.sources), "derivation": n.derivation},
                    )
                else:
                    self._event(conn, "custody_reported", n.item, {**body, "kind": n.kind})
                return {"digest": n.digest, "status": "recorded"}
            rec = db_custody.get_custody(conn, about[0])
            up = rec.received_from if rec is not None else _inbox_sender(conn, about[0])
            if up is None or up == self.party:
                raise NoticeRefused(f"{self.party} cannot pass on a report about {n.item}: it never held it")
            db_notices.insert_notice(conn, _notice_row(n, doc, "received", sender, []))
            self._enqueue_notice(conn, up, doc, {}, day, f"notice-up:{n.digest}:{self.party}", n.item)
            self._event(conn, "custody_notice_relayed", n.item, {"kind": n.kind, "digest": n.digest, "to": up})
        return {"digest": n.digest, "status": "relayed"}

    # ------------------------------------------------------------------------------------------------
    # helpers
    def notice_status(self, digest: str) -> dict[str, Any]:
        """A notice this node sent or received, with each party it reaches: ``sent`` or ``acknowledged``."""
        with self.store.engine.connect() as conn:
            row = db_notices.get_notice(conn, digest)
            if row is None:
                raise NotFound(f"no custody notice {digest}")
            return _status(row, db_notices.parties_of(conn, digest))

    def notice_keys(self) -> NodeKeys:
        return NodeKeys(self._keys)

    def _check_originator(self, conn: Connection, sender: str, n: Notice, covers: dict[str, Any]) -> None:
        """Only the originator of the item as held here reclassifies or freezes it (JK-R12, JK-R26); a cover (a
        derived item) must be one the sender itself gave this node, of the same originator."""
        row = db_items.get_item(conn, n.item)
        rec = db_custody.get_custody(conn, n.item)
        held_by = rec.originator if rec is not None else (row["originator"] if row is not None else None)
        if held_by is None:
            if not covers and _inbox_sender(conn, n.item) is None:
                # the item may still be on its way (a notice sent with it can overtake it): the sender retries
                raise NotYet(f"{self.party} holds no item {n.item} (yet): retry later")
        elif held_by != n.originator:
            raise NoticeRefused(
                f"the {n.kind} of {n.item} is signed by {n.originator}, but the item's originator is {held_by}: "
                f"only the originator changes it (JK-R12, JK-R26)"
            )
        if n.originator == self.party:
            raise NoticeRefused(f"a notice about {self.party}'s own item comes from {self.party} only")
        for d, cls in covers.items():
            c = db_custody.get_custody(conn, d)
            if c is None or c.originator != n.originator or c.received_from != sender:
                raise NoticeRefused(f"{sender} did not give {self.party} the derived item {d} of {n.originator}")
            if cls is not None and (not isinstance(cls, str) or self.schemes.level(n.originator, cls) is None):
                raise InputError(f"{cls!r} is not a classification of {n.originator}'s scheme", field="covers")

    def _report_items(self, conn: Connection, n: Notice) -> list[str]:
        """The items a holder's report is about, as this node knows them: a derived item's sources (from the
        report itself, or from the derived-item report that passed through here earlier)."""
        if n.sources:
            return list(n.sources)
        for r in db_notices.notices_for(conn, n.item):
            if r["kind"] == "derived" and r["holder"] == n.holder:
                return [str(x) for x in json.loads(r["doc"]).get("sources", [])]
        return [n.item]

    def _released_to(self, conn: Connection, items: list[str], party: str) -> set[str]:
        """Those of ``items`` this node released (or relayed) to ``party``: the way a report may come back."""
        q = select(st.outbox.c.item_id).where(
            (st.outbox.c.kind == "delivery") & (st.outbox.c.recipient == party) & (st.outbox.c.item_id.in_(items))
        )
        return {str(r[0]) for r in conn.execute(q)}

    def _downstream(
        self, conn: Connection, marks: dict[str, str | None], exclude: set[str]
    ) -> dict[str, dict[str, Any]]:
        """Each party this node released one of ``marks``' items to (its outbox), with the derived items among
        them (``covers``: id -> new classification) -- the way the notice goes on."""
        out: dict[str, dict[str, Any]] = {}
        if not marks:
            return out
        q = select(st.outbox.c.recipient, st.outbox.c.item_id).where(
            (st.outbox.c.kind == "delivery") & (st.outbox.c.item_id.in_(list(marks)))
        )
        for party, item in conn.execute(q):
            if party in exclude:
                continue
            covers = out.setdefault(party, {})
            if item != next(iter(marks)):
                covers[item] = marks[item]
        return out

    def _send_down(self, conn: Connection, n: Notice, doc: Any, down: dict[str, dict[str, Any]], day: dt.date) -> None:
        for party, covers in sorted(down.items()):
            self._enqueue_notice(conn, party, doc, covers, day, f"notice:{n.digest}:{self.party}->{party}", n.item)
            db_notices.note_party(conn, n.digest, party, self.party)

    def _send_up(self, conn: Connection, rec: Custody, body: dict[str, Any], day: dt.date) -> Notice:
        """Sign a holder's report and send it towards the originator (the way the item came)."""
        doc = sign_notice(body, self.party, KEYID, self.receipt_key.sign)
        n = verify_notice(doc, self.notice_keys(), source="report")
        up = rec.received_from or rec.originator
        db_notices.insert_notice(conn, _notice_row(n, doc, "sent", None, []))
        db_notices.note_party(conn, n.digest, rec.originator, up)
        self._enqueue_notice(conn, up, doc, {}, day, f"notice-up:{n.digest}:{self.party}", n.item)
        return n

    def _enqueue_notice(
        self, conn: Connection, to: str, doc: Any, covers: dict[str, Any], day: dt.date, key: str, item: str
    ) -> None:
        msg = {"notice": doc, "covers": covers, "at": day.isoformat()}
        self.store.enqueue(
            conn,
            idem_key=key[:300],
            kind="custody_notice",
            recipient=to,
            body=canonical_json(msg),
            at_date=day.isoformat(),
            item_id=item,
        )


def _notice_row(n: Notice, doc: Any, role: str, peer: str | None, applied: list[str]) -> dict[str, Any]:
    return {
        "digest": n.digest,
        "role": role,
        "kind": n.kind,
        "item_id": n.item,
        "originator": n.originator,
        "holder": n.holder,
        "signer": n.signer,
        "peer": peer,
        "doc": canonical_json(doc).decode(),
        "applied": json.dumps(applied),
    }


def _status(row: dict[str, Any], parties: list[dict[str, Any]]) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    return {
        "digest": row["digest"],
        "role": row["role"],
        "kind": row["kind"],
        "item": row["item_id"],
        "originator": row["originator"],
        "holder": row["holder"],
        "from": row["peer"],
        "date": doc.get("date"),
        "classification": doc.get("classification"),
        "stage": doc.get("stage"),
        "purpose": doc.get("purpose"),
        "note": doc.get("note", ""),
        "applied": db_notices.applied_of(row),
        "parties": parties,
        "acknowledged": bool(parties) and all(p["state"] == "acknowledged" for p in parties),
    }


def _inbox_sender(conn: Connection, item_id: str) -> str | None:
    row = conn.execute(select(st.inbox.c.sender).where(st.inbox.c.item_id == item_id).limit(1)).first()
    return None if row is None else str(row[0])
