"""A hub's blind relays and the route of each item held here (issue 10, ACC-R5, T-R4, T-R5)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, RowMapping

from accord.node.db.engine import insert_ignore_duplicate
from accord.node.db.schema import custody_routes, now, relays


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


def mark_relay_delivered(conn: Connection, item_id: str, next_hop: str) -> None:
    """The next hop receipted a forwarded blind item."""
    conn.execute(
        update(relays)
        .where(relays.c.item_id == item_id)
        .where(relays.c.next_hop == next_hop)
        .where(relays.c.state == "forwarded")
        .values(state="delivered")
    )


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
