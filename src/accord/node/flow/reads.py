"""Reads for this nation's own systems: an item's status and custody, its plaintext."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from accord.node import db as st
from accord.node.errors import NotFound
from accord.node.flow.journal import Journal
from accord.node.policy import (
    Label,
)

if TYPE_CHECKING:
    pass


class Reads(Journal):
    """Reads for this nation's own systems: an item's status and custody, its plaintext."""

    def item_status(self, item_id: str) -> dict[str, Any]:
        rows = self.store.rows(st.items, st.items.c.item_id == item_id)
        if not rows:
            raise NotFound(f"no item {item_id}")
        it = rows[0]
        out = self.store.rows(st.outbox, st.outbox.c.item_id == item_id)
        rec = self.store.rows(st.receipts, st.receipts.c.item_id == item_id)
        inb = self.store.rows(st.inbox, st.inbox.c.item_id == item_id)
        held = self.store.rows(st.custody, st.custody.c.item_id == item_id)
        return {
            "custody": _custody_row(held[0]) if held else None,
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
            "receipts": [
                {
                    "recipient": r["recipient"],
                    "receipt": json.loads(r["receipt_json"]),
                    "evidence": json.loads(r["evidence"]) if r["evidence"] else None,
                }
                for r in rec
            ],
        }

    def open_item(self, item_id: str) -> tuple[Label, bytes]:
        """The plaintext of a held item, for this nation's own systems only (never logged)."""
        rows = self.store.rows(st.items, st.items.c.item_id == item_id)
        if not rows:
            raise NotFound(f"no item {item_id}")
        opened = self.sealer.open(bytes(rows[0]["sealed"]))
        assert opened.label is not None and opened.payload is not None  # checked by the sealer
        return opened.label, opened.payload


def _custody_row(row: dict[str, Any]) -> dict[str, Any]:
    """This node's custody record of an item, as JSON (issue 10)."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k != "updated_at"}
