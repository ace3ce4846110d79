"""Statements on held items and the inbox (received deliveries): the release path's hot statements, built once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, RowMapping

from accord.node.db.schema import inbox, items

_INSERT_ITEM = items.insert()
_INSERT_INBOX = inbox.insert()
_ITEM_LABEL = select(items.c.label_json).where(items.c.item_id == bindparam("item_id"))
_ITEM = select(items).where(items.c.item_id == bindparam("item_id"))
# PostgreSQL locks the row until the transaction ends (SQLite ignores FOR UPDATE: its write transactions begin
# with BEGIN IMMEDIATE, one writer at a time): two first reads of a pending marking never both sign (JK-R4).
_ITEM_FOR_UPDATE = _ITEM.with_for_update()
_SET_SEALED = (
    update(items)
    .where(items.c.item_id == bindparam("b_item_id"))
    .where(items.c.sealed == bindparam("b_was"))
    .values(sealed=bindparam("b_sealed"))
)
_PRIOR_DELIVERY = (
    select(inbox).where(inbox.c.item_id == bindparam("item_id")).where(inbox.c.sender == bindparam("sender"))
)


def item_label_json(conn: Connection, item_id: str) -> str | None:
    """The stored label (JSON) of ``item_id``, or None when this node does not hold it."""
    row = conn.execute(_ITEM_LABEL, {"item_id": item_id}).first()
    return None if row is None else str(row[0])


_ITEM_LIST = select(*(c for c in items.c if c.name != "sealed")).order_by(items.c.created_at.desc())


def list_items(conn: Connection) -> list[dict[str, Any]]:
    """Every held item, newest first, without its sealed form."""
    return [dict(r) for r in conn.execute(_ITEM_LIST).mappings()]


def get_item(conn: Connection, item_id: str) -> RowMapping | None:
    return conn.execute(_ITEM, {"item_id": item_id}).mappings().first()


def get_item_for_update(conn: Connection, item_id: str) -> RowMapping | None:
    """:func:`get_item` in a write transaction, the row locked until it ends (PostgreSQL)."""
    return conn.execute(_ITEM_FOR_UPDATE, {"item_id": item_id}).mappings().first()


def replace_sealed(conn: Connection, item_id: str, was: bytes, sealed: bytes) -> bool:
    """Store ``sealed`` as the container of ``item_id`` if it still is ``was``; False when it is not (changed
    by another transaction)."""
    n = conn.execute(_SET_SEALED, {"b_item_id": item_id, "b_was": was, "b_sealed": sealed}).rowcount
    return bool(n)


def insert_item(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(_INSERT_ITEM, values)


def prior_delivery(conn: Connection, item_id: str, sender: str) -> RowMapping | None:
    """The inbox row of an earlier delivery of ``item_id`` by ``sender`` (a replay), if any."""
    return conn.execute(_PRIOR_DELIVERY, {"item_id": item_id, "sender": sender}).mappings().first()


def insert_inbox(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(_INSERT_INBOX, values)


def set_inbox_state(
    conn: Connection, item_id: str, to: str, *, final_recipient: str | None = None, where_states: Iterable[str]
) -> None:
    """Move the inbox rows of ``item_id`` (for ``final_recipient``, when given) from ``where_states`` to ``to``."""
    q = update(inbox).where(inbox.c.item_id == item_id).where(inbox.c.state.in_(tuple(where_states)))
    if final_recipient is not None:
        q = q.where(inbox.c.final_recipient == final_recipient)
    conn.execute(q.values(state=to))
