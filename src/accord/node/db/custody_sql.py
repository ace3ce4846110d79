"""The node's custody records (issue 10): one row per item held here that another nation originated."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Connection, bindparam, select, update

from accord.core.custody import Custody, CustodyState
from accord.node.db.engine import insert_ignore_duplicate
from accord.node.db.schema import custody, now

# Built once (issue 8: a statement built per call cost its cache key each time, ~0.5 ms per delivery).
_GET = select(custody).where(custody.c.item_id == bindparam("item_id"))


def get_custody(conn: Connection, item_id: str) -> Custody | None:
    """This node's custody record of ``item_id``, if any."""
    row = conn.execute(_GET, {"item_id": item_id}).mappings().first()
    if row is None:
        return None
    return Custody(
        item=row["item_id"],
        originator=row["originator"],
        holder=row["holder"],
        agreement=row["agreement"],
        received_from=row["received_from"],
        received_on=dt.date.fromisoformat(row["received_on"]) if row["received_on"] else None,
        marking=row["marking"],
        alternative=row["alternative"],
        state=CustodyState(row["state"]),
        copies=int(row["copies"] or 0),
        derived=tuple(json.loads(row["derived"] or "[]")),
        sources=tuple(json.loads(row["sources"] or "[]")),
        purpose=row["purpose"],
    )


def insert_custody(conn: Connection, c: Custody) -> None:
    """Record custody of an item received here (once: a replay keeps the first record -- the primary key's
    ``ON CONFLICT DO NOTHING``, one statement where a read and an insert were two: issue 8, wave 5)."""
    insert_ignore_duplicate(
        conn,
        custody,
        {
            "item_id": c.item,
            "originator": c.originator,
            "holder": c.holder,
            "agreement": c.agreement,
            "received_from": c.received_from,
            "received_on": c.received_on.isoformat() if c.received_on else None,
            "marking": c.marking,
            "alternative": c.alternative,
            "state": c.state.value,
            "copies": c.copies,
            "derived": json.dumps(list(c.derived)),
            "sources": json.dumps(list(c.sources)),
            "purpose": c.purpose,
            "updated_at": now(),
        },
    )


def set_custody_state(conn: Connection, item_id: str, state: CustodyState) -> None:
    conn.execute(update(custody).where(custody.c.item_id == item_id).values(state=state.value, updated_at=now()))


def all_custody(conn: Connection) -> list[Custody]:
    """Every custody record of this node."""
    ids = [r[0] for r in conn.execute(select(custody.c.item_id).order_by(custody.c.item_id))]
    return [c for c in (get_custody(conn, i) for i in ids) if c is not None]


def update_custody(conn: Connection, c: Custody) -> None:
    """Write a changed record (state, markings, purpose, copies, lineage) of an item held here."""
    conn.execute(
        update(custody)
        .where(custody.c.item_id == c.item)
        .values(
            state=c.state.value,
            marking=c.marking,
            alternative=c.alternative,
            purpose=c.purpose,
            copies=c.copies,
            derived=json.dumps(list(c.derived)),
            sources=json.dumps(list(c.sources)),
            updated_at=now(),
        )
    )


def derived_label_json(conn: Connection, item_id: str) -> str | None:
    """The label of an item derived here (None for a received item: its label is in ``items``)."""
    row = conn.execute(select(custody.c.label_json).where(custody.c.item_id == item_id)).first()
    return None if row is None else row[0]


def insert_derived(conn: Connection, c: Custody, label_json: str) -> None:
    """Record an item derived here, with its label."""
    insert_custody(conn, c)
    conn.execute(update(custody).where(custody.c.item_id == c.item).values(label_json=label_json))
