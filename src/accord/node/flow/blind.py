"""A hub's blind relays (issue 10, ACC-R5, T-R4, T-R5): forward sealed items it cannot open, hold them for
the originator's consent, keep their trail (never their content); and, at the recipient, the provenance of a
relayed item (released by the originator, via the hub) that its custody record keeps. The final receipt
goes back to the originator through :mod:`accord.node.flow.receipts`.

A blind hub never has the data key: it relays an item whose route runs through it to a final recipient
the originator sealed it to. The originator's consent to the relay (T-R5: "DoD passes an item on only
after the originating participant approves") is its signed request carried with the item, a standing
consent held here, or -- when neither is there -- a consent its officer gives on this hub's request:
until then the sealed item waits here unopened (table ``relays``, state ``held``), durable across a
restart, and is forwarded exactly once on approval or dropped on denial.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from accord.core.decision import RELAY_BLIND
from accord.core.ids import check_id
from accord.errors import InputError, IntegrityError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.canon import verify
from accord.node.config import check_party
from accord.node.db import items_sql as db_items
from accord.node.db import relays_sql
from accord.node.errors import ForgedOrigin, PeerRefused
from accord.node.flow.admission import Admission
from accord.node.flow.journal import ORIGINATOR_REQUEST, RECEIPT_DOMAIN, Caller
from accord.node.flow.outbound import Outbound
from accord.node.flow.receipts import RECEIPT_KEYS, Receipts
from accord.node.policy import Consent, Decision, Label


class BlindRelay(Outbound, Admission, Receipts):
    """A hub's blind relays: record, hold for consent, forward once, deny."""

    def _check_origin(
        self, signer: str, label: Label, final: str, day: dt.date, carried: list[tuple[Consent, dict[str, Any]]]
    ) -> None:
        """The signer of an item's statement is its label's originator, or a holder re-releasing it under the
        originator's signed consent for exactly this release, carried with it (issue 9; T-R5, JK-R6).

        A hub's re-wrap keeps the originator's statement (and signature) unchanged, so relayed items pass the
        first test; only a holder's own statement needs the consent.
        """
        if signer == label.originator:
            return
        for c, _ in carried:
            if (
                c.originator == label.originator
                and c.holder == signer
                and c.recipient in (self.party, final)
                and c.granted <= day <= c.until
                and (c.item == label.id or (c.item is None and c.standing and set(label.topics) <= set(c.topics)))
            ):
                return
        raise ForgedOrigin(
            f"item {label.id} is signed by {signer} but its label names originator {label.originator}, "
            f"and no consent of {label.originator} for {signer}'s release comes with it",
            signer=signer,
            originator=label.originator,
        )

    def _provenance(
        self,
        label: Label,
        d: Decision,
        sender: str,
        through_hub: bool,
        carried: list[tuple[Consent, dict[str, Any]]],
    ) -> tuple[str, list[str], list[Any]]:
        """Who released the item to this node and through which hubs (issue 10, T-R4, JK-R6): a relay the
        originator asked for -- sealed to this node through a blind hub, or re-wrapped by a hub under the
        originator's own request -- was released by the originator via the hub; anything else by the sender
        (a holder releasing with consent). Returns (released by, route, the hops of the route)."""
        if through_hub:  # the originator's decision, its route ending ... → sender → this node
            return label.originator, list(d.route), list(d.hops)
        asked = any(
            c.id.startswith(f"{label.originator.lower()}-{ORIGINATOR_REQUEST}:")
            and c.originator == label.originator
            and c.holder == sender
            and c.recipient == self.party
            and c.item == label.id
            for c, _ in carried
        )
        if asked and sender != label.originator:
            d0 = self._decision(label, label.originator, self.party, d.at, [c for c, _ in carried])
            if d0.allowed and tuple(d0.route[-2:]) == (sender, self.party):
                return label.originator, list(d0.route), list(d0.hops)
        return sender, [sender, self.party], [h for h in d.hops if h.to == self.party][:1]

    def _record_relay(
        self,
        conn: Connection,
        label: Label,
        d: Decision,
        *,
        sender: str,
        item_id: str,
        final: str,
        day: dt.date,
        digest: str,
        statement: str | None,
        sealed: bytes,
        carried: list[tuple[Consent, dict[str, Any]]],
        state: str,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The hub's record of a blind relay (table ``relays``): the trail of what it forwards, never content;
        the sealed form only while it holds the item for the originator's consent."""
        values: dict[str, Any] = {
            "item_id": item_id,
            "originator": label.originator,
            "sender": sender,
            "final_recipient": final,
            "next_hop": d.route[2] if len(d.route) > 2 and d.route[1] == self.party else final,
            "at_date": day.isoformat(),
            "digest": digest,
            "statement": statement,
            "route_json": json.dumps(list(d.route)),
            "agreements_json": json.dumps(list(d.agreements)),
            "classification": label.classification,
            "state": state,
            "request_id": request_id,
            "sealed": sealed if state == "held" else None,
            "consents_json": canonical_json([doc for _, doc in carried]).decode(),
        }
        relays_sql.insert_relay(conn, values)
        return values

    def _relay_approval(
        self, label: Label, final: str, day: dt.date, pairs: list[tuple[Consent, dict[str, Any]]]
    ) -> tuple[Consent, dict[str, Any]] | None:
        """The originator's consent to this hub passing the item on to ``final`` on ``day`` (T-R5): its signed
        request carried with the item, a consent its officer gave on this hub's request, or a standing one."""
        for c, doc in pairs:
            if c.originator == label.originator and c.covers(label, self.party, final, day):
                return c, doc
        return None

    def _blind_approval(
        self,
        conn: Connection,
        label: Label,
        final: str,
        day: dt.date,
        carried: list[tuple[Consent, dict[str, Any]]],
    ) -> tuple[Consent, dict[str, Any]] | None:
        """The originator's consent to this hub's relay: carried with the item (the usual case, no query), else
        one held here (a standing consent, or its officer's answer)."""
        found = self._relay_approval(label, final, day, carried)
        if found is None:
            found = self._relay_approval(label, final, day, self._held_consents(conn, self.party))
        return found

    def _blind_awaits_consent(self, d: Decision, approval: tuple[Consent, dict[str, Any]] | None) -> bool:
        """T-R5 at a blind hub: the hop is allowed but no consent of the originator to this hub's relay comes
        with the item or is held here; or the hop's decision lacks only the originator's consent."""
        if len(d.route) < 3 or d.route[1] != self.party:
            return False
        return approval is None if d.allowed else d.awaiting_consent

    def _forward_blind(
        self,
        conn: Connection,
        d: Decision,
        relay: Any,
        sealed: bytes,
        carried: list[tuple[Consent, dict[str, Any]]],
        approval: tuple[Consent, dict[str, Any]] | None,
    ) -> None:
        """Queue the sealed item, unchanged, to the next hop with the consents that let it pass (the
        originator's T-R5 approval among them) and journal ``blind_relay``."""
        item_id, final, hop = str(relay["item_id"]), str(relay["final_recipient"]), str(relay["next_hop"])
        day = dt.date.fromisoformat(str(relay["at_date"]))
        used_ids = set(d.consents_used) | ({approval[0].id} if approval is not None else set())
        used = [doc for c, doc in carried if c.id in used_ids]
        if approval is not None and approval[1] not in used:
            used.append(approval[1])
        self._enqueue_delivery(conn, item_id, hop, final, day, sealed, used)
        self._event(
            conn,
            "blind_relay",
            item_id,
            {
                "sender": relay["sender"],
                "to": final,
                "next_hop": hop,
                "digest": relay["digest"],
                "mode": RELAY_BLIND,
                "route": list(d.route),
                "agreements": list(d.agreements),
                "statement": relay["statement"],
                "consents": sorted(used_ids),
            },
        )

    def _release_blind(self, conn: Connection, relay: Any, label: Label, officer: str) -> str:
        """The originator consented (its officer on this hub's request, or a standing consent): re-decide the hop
        with every consent held and forward the held item once; refused now, it is dropped (fail closed)."""
        day = dt.date.fromisoformat(str(relay["at_date"]))
        final, sender = str(relay["final_recipient"]), str(relay["sender"])
        carried = [(self.verify_consent(doc), doc) for doc in json.loads(relay["consents_json"] or "[]")]
        pairs = carried + self._held_consents(conn, self.party)
        d = self._decision(label, sender, final, day, [c for c, _ in pairs])
        self._journal_decision(conn, label, d, "relay-blind")
        approval = self._relay_approval(label, final, day, pairs)
        if not d.allowed or approval is None or len(d.route) < 3 or d.route[1] != self.party:
            if d.awaiting_consent or (d.allowed and approval is None):
                return "held"  # still lacks the originator's consent: stays in the queue
            self._deny_blind(conn, relay, officer or "decision", "the hop is no longer allowed", d)
            return "denied"
        if not relays_sql.set_relay_state(
            conn, int(relay["id"]), "forwarded", where=("held",), decided_by=officer, forwarded_at=st.now()
        ):
            return str(relays_sql.relay_of(conn, str(relay["item_id"]))["state"])  # type: ignore[index]
        self._forward_blind(conn, d, relay, bytes(relay["sealed"]), pairs, approval)
        db_items.set_inbox_state(
            conn, str(relay["item_id"]), "relayed-blind", final_recipient=final, where_states=("held-blind",)
        )
        return "relayed"

    def _deny_blind(self, conn: Connection, relay: Any, officer: str, reason: str, d: Decision | None = None) -> None:
        """The originator refused the relay (or the hop became refused): the held item is dropped, never
        forwarded; the trail stays (T-R5)."""
        if not relays_sql.set_relay_state(
            conn, int(relay["id"]), "denied", where=("held",), decided_by=officer, decided_at=st.now()
        ):
            return
        db_items.set_inbox_state(
            conn,
            str(relay["item_id"]),
            "denied",
            final_recipient=str(relay["final_recipient"]),
            where_states=("held-blind",),
        )
        self._event(
            conn,
            "blind_relay_refused",
            str(relay["item_id"]),
            {
                "sender": relay["sender"],
                "to": relay["final_recipient"],
                "digest": relay["digest"],
                "officer": officer,
                "reason": reason,
                "rule": "T-R5",
                "denials": [r.code.value for r in d.denials] if d is not None else [],
            },
        )

    def receive_final_receipt(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """A hub passes back the final recipient's signed receipt of an item this node sent through it.

        Checked before it is stored: this node sent ``item_id`` to the hub for that final recipient; the
        receipt has exactly its fields, names the item, the final recipient and the last hub of ``via`` as
        sender; and it is signed with the final recipient's pinned receipt key (a hub cannot forge it)."""
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        item_id = check_id(body.get("item_id"), field="item_id", what="item id")
        final = check_party(body.get("final_recipient"), source="final receipt", field="final_recipient")
        receipt, sig, via = body.get("receipt"), body.get("signature"), body.get("via")
        if not isinstance(via, list) or not via or not all(isinstance(p, str) for p in via) or len(via) > 8:
            raise InputError("via must list the hubs the item went through", field="via")
        if via[0] != peer.party:
            raise PeerRefused("a final receipt comes back from the hub that carried the item")
        with self.store.engine.connect() as c:
            sent = c.execute(
                select(st.outbox.c.id)
                .where(st.outbox.c.kind == "delivery")
                .where(st.outbox.c.item_id == item_id)
                .where(st.outbox.c.recipient == peer.party)
                .where(st.outbox.c.final_recipient == final)
            ).first()
        if sent is None:
            raise PeerRefused(f"{self.party} sent no item {item_id} to {final} through {peer.party}")
        pub = self._keys.get(final)
        if not isinstance(receipt, dict) or not isinstance(sig, str) or pub is None:
            raise IntegrityError()
        if set(receipt) != RECEIPT_KEYS or receipt.get("v") != 1 or not isinstance(receipt.get("received_at"), str):
            raise IntegrityError()
        if (receipt.get("item_id"), receipt.get("recipient"), receipt.get("sender")) != (item_id, final, via[-1]):
            raise IntegrityError()
        verify(pub, RECEIPT_DOMAIN, receipt, sig)  # IntegrityError unless the final recipient signed it
        with self._tx() as conn:
            stored = st.insert_ignore_duplicate(
                conn,
                st.receipts,
                {
                    "item_id": item_id,
                    "recipient": final,
                    "receipt_json": canonical_json(receipt).decode(),
                    "receipt_sig": sig,
                    "evidence": None,
                    "stored_at": st.now(),
                },
            )
            if stored:
                self._event(conn, "final_receipt", item_id, {"receipt": receipt, "signature": sig, "via": via})
                self._pass_back(conn, item_id, final, day.isoformat(), receipt, sig, via)  # a chain of hubs
        return {"item_id": item_id, "recipient": final, "stored": stored}
