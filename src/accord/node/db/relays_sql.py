"""A hub's blind relays and the route of each item held here (issue 10, ACC-R5, T-R4, T-R5)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, RowMapping

from accord.node.db.driver import DriverSql
from accord.node.db.engine import insert_ignore_duplicate
from accord.node.db.schema import custody_routes, inbox, now, relays


def insert_relay(conn: Connection, values: dict[str, Any]) -> bool:
    """Record a blind relay once per (item, sender) (False: already recorded)."""
    return insert_ignore_duplicate(conn, relays, {"received_at": now(), **values})


def relay_of(conn: Connection, item_id: str, *, state: str | None = None) -> RowMapping | None:
    """This hub's blind relay of ``item_id`` (the first, in ``state`` when given)."""
    q = select(relays).where(relays.c.item_id == item_id)
    if state is not None:
        q = q.where(relays.c.state == state)
    return conn.execute(q.order_by(relays.c.id)).mappings().first()


def relays_of(conn: Connection, item_id: str) -> list[RowMapping]:
    """Every blind relay of ``item_id`` by this hub, without the sealed form."""
    cols = [c for c in relays.c if c.name != "sealed"]
    return list(conn.execute(select(*cols).where(relays.c.item_id == item_id).order_by(relays.c.id)).mappings())


def set_relay_state(conn: Connection, row_id: int, state: str, *, where: Sequence[str], **values: Any) -> bool:
    """Move a relay from one of ``where`` to ``state`` (the sealed form is dropped unless still held); True if
    it moved. The ``where`` guard makes a second decision on the same hold a no-op (exactly once)."""
    extra = {"sealed": None} if state != "held" else {}
    r = conn.execute(
        update(relays)
        .where(relays.c.id == row_id)
        .where(relays.c.state.in_(tuple(where)))
        .values(state=state, **extra, **values)
    )
    return bool(r.rowcount)


_MARK_DELIVERED = DriverSql(
    update(relays)
    .where(relays.c.item_id == bindparam("item_id"))
    .where(relays.c.next_hop == bindparam("next_hop"))
    .where(relays.c.state == "forwarded")
    .values(state="delivered")
)


def mark_relay_delivered(conn: Connection, item_id: str, next_hop: str) -> None:
    """The next hop receipted a forwarded blind item."""
    _MARK_DELIVERED.execute(conn, {"item_id": item_id, "next_hop": next_hop})


#: A relayed delivery's inbox row: this node passed on the item it received (re-wrapped: ``relayed``; blind:
#: ``relayed-blind``, the relay's row then ``forwarded`` -- both rows are written, and move, together).
RELAYED = ("relayed", "relayed-blind")
_RELAYED = DriverSql(
    select(inbox.c.sender, inbox.c.final_recipient, inbox.c.state)
    .where(inbox.c.item_id == bindparam("item_id"))
    .where((inbox.c.state == RELAYED[0]) | (inbox.c.state == RELAYED[1]))
)


def relayed_here(conn: Connection, item_id: str) -> list[tuple[str, str, str]]:
    """(sender, final recipient, state) of each delivery of ``item_id`` this node relayed on (issue 10): empty
    at the originator and at a final recipient. One indexed read (``uq_inbox_item_sender``) answers both what a
    receipt for the item still has to do here -- pass the final receipt back, close a blind relay -- instead of
    an UPDATE and a SELECT that, on a direct release, match nothing (issue 8, wave 5)."""
    return [(str(s), str(f), str(t)) for s, f, t in _RELAYED.all(conn, {"item_id": item_id})]


def insert_route(conn: Connection, values: dict[str, Any]) -> None:
    """Record how an item held here came (once: a replay keeps the first)."""
    insert_ignore_duplicate(conn, custody_routes, {"created_at": now(), **values})


def route_of(conn: Connection, item_id: str) -> dict[str, Any] | None:
    """How ``item_id`` came here: released by, handed over by, route, modes, agreements, held under."""
    row = conn.execute(select(custody_routes).where(custody_routes.c.item_id == item_id)).mappings().first()
    if row is None:
        return None
    return {
        "released_by": row["released_by"],
        "handed_over_by": row["handed_over_by"],
        "route": json.loads(row["route_json"]),
        "via": json.loads(row["route_json"])[1:-1],
        "modes": json.loads(row["modes_json"]),
        "agreements": json.loads(row["agreements_json"]),
        "held_under": row["held_under"],
    }
