"""Statements on held items and the inbox (received deliveries): the release path's hot statements, built once.

The release path's (the item's label, the id clash check's columns, the inserts, a replay's look-up) and the
container swap run at the driver (:mod:`accord.node.db.driver`, issue 8, wave 5 — sqlcut2): compiled once per dialect
by SQLAlchemy, the same rows written and read on SQLite and PostgreSQL. The list and the inbox state moves (a
variable ``IN``) and the full-row reads (``RowMapping`` for their callers; not on a direct release) stay on
SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, RowMapping

from accord.node.db.driver import DriverSql
from accord.node.db.schema import inbox, items

_ITEM_LABEL = DriverSql(select(items.c.label_json).where(items.c.item_id == bindparam("item_id")))
_ITEM = select(items).where(items.c.item_id == bindparam("item_id"))
# PostgreSQL locks the row until the transaction ends (SQLite ignores FOR UPDATE: its write transactions begin
# with BEGIN IMMEDIATE, one writer at a time): two first reads of a pending marking never both sign (JK-R4).
_ITEM_FOR_UPDATE = _ITEM.with_for_update()
# What the id clash check (flow/admission.py) judges a delivery by, without the container.
_ITEM_CLAIM = DriverSql(
    select(items.c.item_id, items.c.origin, items.c.originator, items.c.label_json).where(
        items.c.item_id == bindparam("item_id")
    )
)
_SET_SEALED = DriverSql(
    update(items)
    .where(items.c.item_id == bindparam("b_item_id"))
    .where(items.c.sealed == bindparam("b_was"))
    .values(sealed=bindparam("b_sealed"))
)
_PRIOR_DELIVERY = DriverSql(
    select(inbox).where(inbox.c.item_id == bindparam("item_id")).where(inbox.c.sender == bindparam("sender"))
)
_INSERTS: dict[tuple[str, tuple[str, ...]], DriverSql] = {}  # (table, the columns given): its INSERT


def _insert(table: Any, conn: Connection, values: dict[str, Any]) -> None:
    keys = tuple(values)
    stmt = _INSERTS.get((table.name, keys))
    if stmt is None:
        stmt = _INSERTS[(table.name, keys)] = DriverSql(table.insert(), keys=keys)
    stmt.execute(conn, values)


def _first(stmt: DriverSql, conn: Connection, params: dict[str, Any]) -> dict[str, Any] | None:
    rows = stmt.mappings(conn, params)
    return rows[0] if rows else None


def item_label_json(conn: Connection, item_id: str) -> str | None:
    """The stored label (JSON) of ``item_id``, or None when this node does not hold it."""
    value = _ITEM_LABEL.scalar(conn, {"item_id": item_id})
    return None if value is None else str(value)


_ITEM_LIST = select(*(c for c in items.c if c.name != "sealed")).order_by(items.c.created_at.desc())


def list_items(conn: Connection) -> list[dict[str, Any]]:
    """Every held item, newest first, without its sealed form."""
    return [dict(r) for r in conn.execute(_ITEM_LIST).mappings()]


def get_item(conn: Connection, item_id: str) -> RowMapping | None:
    return conn.execute(_ITEM, {"item_id": item_id}).mappings().first()


def item_claim(conn: Connection, item_id: str) -> dict[str, Any] | None:
    """``item_id``'s ``item_id``, ``origin``, ``originator`` and ``label_json`` (the columns of :func:`get_item`
    the id clash check reads, not the container), or None when this node does not hold it. At the driver: on
    every delivery (issue 8)."""
    return _first(_ITEM_CLAIM, conn, {"item_id": item_id})


def get_item_for_update(conn: Connection, item_id: str) -> RowMapping | None:
    """:func:`get_item` in a write transaction, the row locked until it ends (PostgreSQL)."""
    return conn.execute(_ITEM_FOR_UPDATE, {"item_id": item_id}).mappings().first()


def replace_sealed(conn: Connection, item_id: str, was: bytes, sealed: bytes) -> bool:
    """Store ``sealed`` as the container of ``item_id`` if it still is ``was``; False when it is not (changed
    by another transaction)."""
    return _SET_SEALED.execute(conn, {"b_item_id": item_id, "b_was": was, "b_sealed": sealed}) > 0


def insert_item(conn: Connection, values: dict[str, Any]) -> None:
    _insert(items, conn, values)


def prior_delivery(conn: Connection, item_id: str, sender: str) -> dict[str, Any] | None:
    """The inbox row of an earlier delivery of ``item_id`` by ``sender`` (a replay), if any."""
    return _first(_PRIOR_DELIVERY, conn, {"item_id": item_id, "sender": sender})


def insert_inbox(conn: Connection, values: dict[str, Any]) -> None:
    _insert(inbox, conn, values)


def set_inbox_state(
    conn: Connection, item_id: str, to: str, *, final_recipient: str | None = None, where_states: Iterable[str]
) -> None:
    """Move the inbox rows of ``item_id`` (for ``final_recipient``, when given) from ``where_states`` to ``to``."""
    q = update(inbox).where(inbox.c.item_id == item_id).where(inbox.c.state.in_(tuple(where_states)))
    if final_recipient is not None:
        q = q.where(inbox.c.final_recipient == final_recipient)
    conn.execute(q.values(state=to))
