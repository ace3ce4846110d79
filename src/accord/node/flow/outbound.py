"""Outbound: submit an own item, forward a held one, relay or hold; all through the durable outbox."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection, RowMapping

from accord.core.custody import CustodyState
from accord.core.ids import composed_id
from accord.errors import InputError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.canon import sha256_hex
from accord.node.config import check_party
from accord.node.db import consents_sql as db_consents
from accord.node.db import custody_sql as db_custody
from accord.node.db import items_sql as db_items
from accord.node.errors import Conflict, NotFound
from accord.node.flow.admission import check_own_id, consent_request_id
from accord.node.flow.custody_gate import catch_up
from accord.node.flow.journal import ORIGINATOR_REQUEST, Courier
from accord.node.flow.marking import held_container
from accord.node.flow.signing import Signing
from accord.node.policy import (
    Consent,
    Decision,
    Label,
    label_from_dict,
    label_to_dict,
)
from accord.node.results import Forwarded, Submitted
from accord.node.sent import SENT
from accord.release import plan_from_decisions, plan_rewrap
from accord.sealed.item import VerifiedItem

if TYPE_CHECKING:
    pass


def envelope_json(env: dict[str, Any], sealed: bytes) -> bytes:
    """``canonical_json({**env, "sealed": base64(sealed)})``, without the encoder scanning the ~19 KB of base64
    for characters to escape and the UTF-8 encoding copying it again (issue 8, wave 6): the standard base64
    alphabet (A-Z a-z 0-9 + / =), which ``b64encode`` produces, needs no escaping, so its JSON string is those
    bytes between two quotes, placed where the sorted keys put ``sealed``. An ``env`` that has a ``sealed`` key
    already goes the general way."""
    b64 = base64.b64encode(sealed)
    if "sealed" in env:
        return canonical_json({**env, "sealed": b64.decode("ascii")})
    before = canonical_json({k: v for k, v in env.items() if k < "sealed"})
    after = canonical_json({k: v for k, v in env.items() if k > "sealed"})
    head = before[:-1] + b"," if len(before) > 2 else b"{"
    tail = b"," + after[1:] if len(after) > 2 else b"}"
    return b"".join((head, b'"sealed":"', b64, b'"', tail))


class Outbound(Signing):
    """Outbound: submit an own item, forward a held one, relay or hold; all through the durable outbox."""

    def submit(
        self, label_doc: object, payload: bytes, to: str, at: dt.date | str | None = None, *, hub_approval: bool = True
    ) -> Submitted:
        """Decide, seal and queue a release of this nation's own item. Durable before it returns.

        ``hub_approval=False``: the release through a hub carries no approval of the relay; each hub holds the
        item and asks this node's officer (T-R5, the consent queue) before passing it on."""
        to = check_party(to, source="request", field="to")
        day = self.resolve_at(at)
        label = label_from_dict(label_doc)
        if label.originator != self.party:
            raise InputError(
                f"this node releases {self.party}'s items; a held item is forwarded instead",
                field="label.originator",
            )
        if label.id is not None:  # ids are namespaced by their creator (issue 9)
            check_own_id(label.id, self.party, self.roster.peers)
        if label.id is None:
            import dataclasses

            label = dataclasses.replace(label, id=f"{self.party.lower()}-{uuid.uuid4()}")
        assert label.id is not None
        item_id = label.id
        # Decide and seal before the write transaction (the seal's ML-DSA-87 signature and HPKE are the bulk of
        # the CPU time; no other writer of this database should wait for them). What they raise is raised
        # inside the transaction below, so that a refusal is journaled exactly as if it had happened there.
        d = self._decision(label, self.party, to, day, ())
        hop = d.route[1] if d.allowed else to
        consents: list[dict[str, Any]] = []
        sealed = b""
        failure: Exception | None = None
        if d.allowed:
            try:
                if len(d.route) > 2 and hub_approval:
                    # T-R5: the originator's own request to reach `to` through the hub is its approval of the
                    # relay; it travels with the item as a consent signed by this node.
                    consents.append(
                        self.sign_consent(
                            Consent(
                                # in this party's namespace (ACC-R10), within the id grammar
                                id=composed_id(f"{self.party.lower()}-{ORIGINATOR_REQUEST}:", item_id, f":{hop}-{to}"),
                                originator=self.party,
                                holder=hop,
                                recipient=to,
                                granted=day,
                                until=day,
                                item=item_id,
                            )
                        )
                    )
                plan = plan_from_decisions(
                    label, [d], holder=self.party, at=day, agreements=self.agreements, relay="rewrap"
                )
                sealed = self.sealer.seal(payload, label, to=to, at=day, plan=plan)
            except Exception as e:  # re-raised in the transaction
                failure = e
        digest = sha256_hex(sealed)
        # A delivery thread of this process with nothing to do takes the message straight from this transaction
        # (leased to it in the same commit), instead of a claim transaction after a wake-up.
        courier = self.courier if self.courier is not None and self.courier.reserve() else None
        entry: st.OutboxEntry | None = None
        try:
            out, entry = self._submit_tx(label, item_id, to, day, d, hop, sealed, digest, consents, failure, courier)
        finally:
            if courier is not None:
                courier.hand_over(entry)  # None: gives the reserved thread back
        return out

    def _submit_tx(
        self,
        label: Label,
        item_id: str,
        to: str,
        day: dt.date,
        d: Decision,
        hop: str,
        sealed: bytes,
        digest: str,
        consents: list[dict[str, Any]],
        failure: Exception | None,
        courier: Courier | None,
    ) -> tuple[Submitted, st.OutboxEntry | None]:
        with self._recorded_tx(item_id, "submit") as conn:
            self._journal_decision(conn, label, d, "submit")
            if not d.allowed:
                raise self._refuse(f"release of {item_id} to {to} refused", d)
            if failure is not None:
                raise failure
            existing = db_items.item_label_json(conn, item_id)
            if existing is None:
                db_items.insert_item(
                    conn,
                    {
                        "item_id": item_id,
                        "originator": self.party,
                        "label_json": canonical_json(label_to_dict(label)).decode(),
                        "digest": digest,
                        "sealed": sealed,
                        "origin": "local",
                        "sender": None,
                        "marking": label.marking,
                        "created_at": st.now(),
                    },
                )
            elif json.loads(existing) != label_to_dict(label):
                raise Conflict(f"item {item_id} already exists with another label")
            lease = (courier.worker, self.cfg.lease_seconds) if courier is not None else None
            entry = self._enqueue_delivery(conn, item_id, hop, to, day, sealed, consents, lease=lease, digest=digest)
            self._event(
                conn,
                "release",
                item_id,
                {
                    "to": to,
                    "next_hop": hop,
                    "digest": digest,
                    "route": list(d.route),
                    "agreements": list(d.agreements),
                },
            )
        status = "queued" if entry is not None else "already-queued"
        return Submitted(item_id, status, hop, digest, d.to_dict()), entry

    def _enqueue_delivery(
        self,
        conn: Connection,
        item_id: str,
        hop: str,
        final: str,
        day: dt.date,
        sealed: bytes,
        consents: list[dict[str, Any]],
        *,
        lease: tuple[str, float] | None = None,
        digest: str | None = None,
    ) -> st.OutboxEntry | None:
        """Queue the delivery envelope of ``sealed`` (``digest``: its SHA-256 when the caller has it)."""
        env = {
            "item_id": item_id,
            "sender": self.party,
            "final_recipient": final,
            "at": day.isoformat(),
            "consents": consents,
        }
        idem_key = f"delivery:{item_id}:{self.party}->{hop}"
        body = envelope_json(env, sealed)
        # for the receipt's check (kept only for this very body)
        SENT.put(idem_key, body, digest if digest is not None else sha256_hex(sealed))
        entry = self.store.enqueue_entry(
            conn,
            lease=lease,
            idem_key=idem_key,
            kind="delivery",
            recipient=hop,
            body=body,
            at_date=day.isoformat(),
            item_id=item_id,
            final_recipient=final,
        )
        catch_up(self.store, conn, self.party, item_id, hop, day)  # the originator's notices go with it (issue 10)
        return entry

    def forward(self, item_id: str, to: str, at: dt.date | str | None = None, purpose: str | None = None) -> Forwarded:
        """Release an item this node holds (received from a partner) onward: the third-party rule applies."""
        to = check_party(to, source="request", field="to")
        day = self.resolve_at(at)
        with self._recorded_tx(item_id, "forward") as conn:
            row = db_items.get_item_for_update(conn, item_id)  # its container may get its marking (JK-R4)
            if row is None:
                raise NotFound(f"no item {item_id} held here")
            if row["origin"] == "local":
                raise InputError("this node's own item: submit it to the new recipient instead", field="item_id")
            label = label_from_dict(json.loads(row["label_json"]))
            outcome, d = self._relay_or_hold(conn, label, item_id, b"", to, day, [], purpose=purpose, stored=row)
            if outcome == "denied":
                raise self._refuse(f"release of {item_id} to {to} refused", d)
        return Forwarded(item_id, outcome, d.to_dict())

    def _relay_or_hold(
        self,
        conn: Connection,
        label: Label,
        item_id: str,
        sealed: bytes,
        to: str,
        day: dt.date,
        carried: list[tuple[Consent, dict[str, Any]]],
        item: VerifiedItem | None = None,
        purpose: str | None = None,
        stored: RowMapping | None = None,
    ) -> tuple[str, Decision]:
        """As holder: pass the item on if allowed; hold it and ask the originator if only consent lacks.

        ``item``: the verified form of ``sealed`` when the caller has it (an inbound hop: no second check).
        ``stored``: the item's row (read for update) instead of ``sealed``: its stored container, which gets
        this nation's signed alternative label now if still pending, before it leaves (JK-R4, marking.py).
        """
        pairs = carried + self._held_consents(conn, self.party)
        held = db_custody.get_custody(conn, item_id) if label.originator != self.party else None
        consents = [c for c, _ in pairs]
        d = self._decide(conn, label, self.party, to, day, consents, context="relay", custody=held, purpose=purpose)
        if stored is not None and (d.allowed or d.awaiting_consent):
            sealed, item = held_container(self, conn, stored)
        if d.allowed:
            self._relay(conn, d, item_id, sealed, to, day, pairs, item)
            if held is not None and to == label.originator and CustodyState.RETURNED in held.next_states():
                db_custody.set_custody_state(conn, item_id, CustodyState.RETURNED)  # JK-R13: given back
            elif held is not None and held.state is CustodyState.HELD:
                db_custody.set_custody_state(conn, item_id, CustodyState.RELEASED)
            return "relayed", d
        if d.awaiting_consent:
            self._hold(conn, d, label, item_id, sealed, to, day)
            return "held", d
        return "denied", d

    def _relay(
        self,
        conn: Connection,
        d: Decision,
        item_id: str,
        sealed: bytes,
        to: str,
        day: dt.date,
        pairs: list[tuple[Consent, dict[str, Any]]],
        item: VerifiedItem | None,
    ) -> None:
        """Re-wrap the (verified) item for the next hop under this hop's decision and queue it."""
        hop = d.route[1]
        used = [doc for c, doc in pairs if c.id in d.consents_used]
        verified = item if item is not None else self.sealer.verify(sealed)
        plan = plan_rewrap(verified, hub=self.party, to=hop, at=day, decision=d)  # this hop's one decision
        blob = self.sealer.rewrap(verified, plan).to_bytes()
        self._enqueue_delivery(conn, item_id, hop, to, day, blob, used)
        body = {
            "to": to,
            "next_hop": hop,
            "digest": sha256_hex(blob),
            "route": list(d.route),
            "consents": list(d.consents_used),
        }
        self._event(conn, "release", item_id, body)
        db_items.set_inbox_state(conn, item_id, "relayed", final_recipient=to, where_states=("stored", "held"))

    def _hold(
        self, conn: Connection, d: Decision, label: Label, item_id: str, sealed: bytes, to: str, day: dt.date
    ) -> None:
        """Only the originator's consent lacks: hold the item and ask the originator once (T-R5, JK-R6)."""
        request_id = consent_request_id(item_id, self.party, to)  # the holder's namespace (ACC-R10)
        if db_consents.request_state(conn, request_id) is None:
            body = {
                "request_id": request_id,
                "item_id": item_id,
                "originator": label.originator,
                "holder": self.party,
                "recipient": to,
                "label": label_to_dict(label),
                "digest": sha256_hex(sealed),
                "statement": self.sealer.verify(sealed).statement_digest,  # checked by the originator (issue 9)
                "at": day.isoformat(),
                "reasons": [r.to_dict() for r in d.denials],
            }
            db_consents.insert_request(
                conn,
                {
                    "request_id": request_id,
                    "role": "outgoing",
                    "item_id": item_id,
                    "originator": label.originator,
                    "holder": self.party,
                    "recipient": to,
                    "label_json": canonical_json(label_to_dict(label)).decode(),
                    "digest": sha256_hex(sealed),
                    "at_date": day.isoformat(),
                    "state": "pending",
                    "created_at": st.now(),
                },
            )
            self.store.enqueue(
                conn,
                idem_key=f"consent_request:{request_id}",
                kind="consent_request",
                recipient=label.originator,
                body=canonical_json(body),
                at_date=day.isoformat(),
                item_id=item_id,
            )
            self._event(conn, "consent_requested", item_id, {"request_id": request_id, "to": to})
        db_items.set_inbox_state(conn, item_id, "held", final_recipient=to, where_states=("stored",))
