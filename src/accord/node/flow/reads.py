"""Reads for this nation's own systems: an item's status and custody, its plaintext."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from accord.node import db as st
from accord.node.db import events_sql, items_sql, relays_sql
from accord.node.errors import NotFound
from accord.node.flow.journal import Journal
from accord.node.flow.marking import marked_row
from accord.node.policy import (
    Label,
    label_from_dict,
)
from accord.node.results import EventRecord, ItemStatus, OutboxMessage, RelayStatus

if TYPE_CHECKING:
    pass


class Reads(Journal):
    """Reads for this nation's own systems: an item's status and custody, its plaintext."""

    def item_status(self, item_id: str) -> ItemStatus:
        rows = self.store.rows(st.items, st.items.c.item_id == item_id)
        if not rows:
            raise NotFound(f"no item {item_id}")
        it = rows[0]
        out = self.store.rows(st.outbox, st.outbox.c.item_id == item_id)
        rec = self.store.rows(st.receipts, st.receipts.c.item_id == item_id)
        inb = self.store.rows(st.inbox, st.inbox.c.item_id == item_id)
        held = self.store.rows(st.custody, st.custody.c.item_id == item_id)
        with self.store.engine.connect() as conn:
            route = relays_sql.route_of(conn, item_id)
        custody = _custody_row(held[0]) if held else None
        if custody is not None and route is not None:
            custody["route"] = route  # released by whom, through which hubs, under which agreements (issue 10)
        sent = it["digest"] if it["origin"] == "local" else None
        doc = {
            "custody": custody,
            "item_id": item_id,
            "origin": it["origin"],
            "sender": it["sender"],
            "digest": it["digest"],
            "label": json.loads(it["label_json"]),
            "marking": it["marking"],
            "alternative_label": it["alt_label_xml"],
            "outbox": [
                {
                    "kind": o["kind"],
                    "to": o["recipient"],
                    "final": o["final_recipient"],
                    "state": o["state"],
                    "attempts": o["attempts"],
                }
                for o in out
            ],
            "inbox": [{"sender": i["sender"], "state": i["state"], "final": i["final_recipient"]} for i in inb],
            "receipts": [_receipt(r, self.party, sent) for r in rec],
        }

        return ItemStatus.from_dict(doc, strict=True)

    def relay_status(self, item_id: str) -> RelayStatus:
        """A hub's status of an item it relayed blind (issue 10): state, from, to, when, route, receipts; never
        content (it has none) and no label. NotFound when this node neither holds nor relayed the item."""
        with self.store.engine.connect() as conn:
            relays = relays_sql.relays_of(conn, item_id)
        if not relays:
            raise NotFound(f"no item {item_id}")
        first = relays[0]
        out = self.store.rows(st.outbox, st.outbox.c.item_id == item_id)
        rec = self.store.rows(st.receipts, st.receipts.c.item_id == item_id)
        return RelayStatus.from_dict(
            {
                "item_id": item_id,
                "relay": "blind",
                "state": first["state"],
                "originator": first["originator"],
                "classification": first["classification"],
                "sender": first["sender"],
                "to": first["final_recipient"],
                "next_hop": first["next_hop"],
                "at": first["at_date"],
                "digest": first["digest"],
                "route": json.loads(first["route_json"]),
                "agreements": json.loads(first["agreements_json"]),
                "received_at": _iso(first["received_at"]),
                "forwarded_at": _iso(first["forwarded_at"]),
                "decided_at": _iso(first["decided_at"]),
                "decided_by": first["decided_by"],
                "consent_request": first["request_id"],
                "relays": [
                    {"sender": r["sender"], "to": r["final_recipient"], "state": r["state"], "at": r["at_date"]}
                    for r in relays
                ],
                "outbox": [{"kind": o["kind"], "to": o["recipient"], "state": o["state"]} for o in out],
                "receipts": [_receipt(r, self.party, first["digest"]) for r in rec],
            },
            strict=True,
        )

    def item_or_relay_status(self, item_id: str) -> ItemStatus | RelayStatus:
        """An item held here, or else one this hub relayed blind (``GET /v1/items/{id}``, ``node status``)."""
        try:
            return self.item_status(item_id)
        except NotFound:
            return self.relay_status(item_id)

    def open_item(self, item_id: str) -> tuple[Label, bytes]:
        """The plaintext of a held item, for this nation's own systems only (never logged). The container is
        read with this nation's signed alternative label (JK-R4), added now if still pending (marking.py)."""
        _row, _sealed, item = marked_row(self, item_id)
        opened = self.sealer.open(item)
        assert opened.label is not None and opened.payload is not None  # checked by the sealer
        return opened.label, opened.payload

    def held_items(self) -> list[dict[str, Any]]:
        """Every held item (sent or received), newest first: its row without the sealed form."""
        with self.store.engine.connect() as conn:
            return items_sql.list_items(conn)

    def item_label(self, item_id: str) -> tuple[Label, str]:
        """A held item's label and the digest of its sealed form, without opening it."""
        with self.store.engine.connect() as conn:
            row = items_sql.get_item(conn, item_id)
        if row is None:
            raise NotFound(f"no item {item_id}")
        return label_from_dict(json.loads(row["label_json"])), str(row["digest"])

    def journal_events(
        self, *, type_: str | None = None, item_id: str | None = None, text: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Journal events, newest first (see :func:`accord.node.db.events_sql.recent_events`)."""
        with self.store.engine.connect() as conn:
            return events_sql.recent_events(conn, type_=type_, item_id=item_id, text=text, limit=limit)

    def outbox_messages(self, state: str | None = None) -> list[OutboxMessage]:
        """The outbox: every message (or those in ``state``), its state and attempts."""
        return [OutboxMessage.of_row(r) for r in self.store.outbox_rows(state=state)]

    def event_records(self, item_id: str | None = None) -> list[EventRecord]:
        """The journal (or an item's part of it), oldest first, bodies as JSON text."""
        where = [st.events.c.item_id == item_id] if item_id else []
        return [EventRecord(r["id"], r["type"], r["item_id"], r["body"]) for r in self.store.rows(st.events, *where)]


def _iso(v: Any) -> str | None:
    return None if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v))


def _receipt(r: dict[str, Any], party: str, sent: str | None) -> dict[str, Any]:
    """A stored receipt: the next hop's, or the final recipient's passed back by a hub (``via``: the hub that
    delivered it; ``same_digest``: it receipts exactly the bytes this node sent, as after a blind relay)."""
    receipt = json.loads(r["receipt_json"])
    out = {
        "recipient": r["recipient"],
        "receipt": receipt,
        "signature": r["receipt_sig"],
        "evidence": json.loads(r["evidence"]) if r["evidence"] else None,
    }
    if receipt.get("sender") != party:
        out["via"] = receipt.get("sender")
        out["same_digest"] = sent is not None and receipt.get("digest") == sent
    return out


def _custody_row(row: dict[str, Any]) -> dict[str, Any]:
    """This node's custody record of an item, as JSON (issue 10)."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k != "updated_at"}
