"""Custody notices at a node (issue 10, JK-R12, JK-R26): every signed notice once, and per party its delivery.

- ``custody_notices``: each signed notice this node originated (``role = sent``) or received (``received``),
  once per digest: a replay is answered from here and applied nothing twice. ``peer`` is the partner it came
  from (the way its acknowledgement goes back), ``applied`` the items it changed here (JSON).
- ``notice_parties``: per notice and party, who passes it on (``via``) and whether that party has acknowledged
  it (``sent`` → ``acknowledged``), with the digest of the signed acknowledgement. The originator's node shows
  this per holder, two hops away included (a holder's acknowledgement lists whom it forwarded the notice to).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from accord.node.db.driver import DriverSql
from accord.node.db.schema import metadata, now

if TYPE_CHECKING:
    from accord.node.db.engine import Database

custody_notices = Table(
    "custody_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("role", String(8), nullable=False),  # sent (originated here) | received
    Column("kind", String(32), nullable=False),
    Column("item_id", String(200), nullable=False, index=True),
    Column("originator", String(3), nullable=False),
    Column("holder", String(3)),
    Column("signer", String(3), nullable=False),
    Column("peer", String(3)),  # received from (None: originated here)
    Column("doc", Text, nullable=False),  # the signed notice (JSON)
    Column("applied", Text, nullable=False, default="[]"),  # items it changed here
    Column("created_at", DateTime(timezone=True), nullable=False),
)

notice_parties = Table(
    "notice_parties",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, index=True),
    Column("party", String(3), nullable=False),
    Column("via", String(3), nullable=False),
    Column("state", String(16), nullable=False),  # sent | acknowledged
    Column("ack_digest", String(64)),
    Column("note", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("digest", "party", name="uq_notice_party"),
)


def get_notice(conn: Connection, digest: str) -> dict[str, Any] | None:
    row = conn.execute(select(custody_notices).where(custody_notices.c.digest == digest)).mappings().first()
    return dict(row) if row is not None else None


def insert_notice(conn: Connection, row: dict[str, Any]) -> bool:
    """Record a notice once (False: its digest is already here)."""
    if get_notice(conn, row["digest"]) is not None:
        return False
    conn.execute(insert(custody_notices).values(**row, created_at=now()))
    return True


_BY_ITEM = DriverSql(
    select(custody_notices).where(custody_notices.c.item_id == bindparam("item")).order_by(custody_notices.c.id)
)


def notices_for(conn: Connection, item_id: str) -> list[dict[str, Any]]:
    """The notices about ``item_id`` here, in the order recorded (built once and run at the driver: every
    delivery asks, issue 8)."""
    return _BY_ITEM.mappings(conn, {"item": item_id})


def read_notices_for(store: Database, item_id: str) -> list[dict[str, Any]]:
    """:func:`notices_for` as a read of its own, outside any transaction (the freeze gate's, before a delivery's
    write transaction): no BEGIN/ROLLBACK pair around it (issue 8, wave 5), on this thread's kept read connection
    (SQLite file databases; issue 8, wave 6) or a pooled driver connection."""
    return _BY_ITEM.read(store.engine, {"item": item_id}, plain=store.read_conn())


def note_party(conn: Connection, digest: str, party: str, via: str) -> None:
    """``party`` is to get the notice ``digest`` through ``via`` (kept once; an acknowledgement stays)."""
    found = conn.execute(
        select(notice_parties.c.id).where((notice_parties.c.digest == digest) & (notice_parties.c.party == party))
    ).first()
    if found is None:
        conn.execute(insert(notice_parties).values(digest=digest, party=party, via=via, state="sent", updated_at=now()))


def acknowledge(conn: Connection, digest: str, party: str, via: str, ack_digest: str, note: str) -> bool:
    """Record ``party``'s acknowledgement of ``digest`` (False: it was already recorded)."""
    note_party(conn, digest, party, via)
    res = conn.execute(
        update(notice_parties)
        .where((notice_parties.c.digest == digest) & (notice_parties.c.party == party))
        .where(notice_parties.c.state != "acknowledged")
        .values(state="acknowledged", ack_digest=ack_digest, note=note[:2000], updated_at=now())
    )
    return bool(res.rowcount)


def parties_of(conn: Connection, digest: str) -> list[dict[str, Any]]:
    q = select(notice_parties).where(notice_parties.c.digest == digest).order_by(notice_parties.c.party)
    return [
        {"party": r["party"], "via": r["via"], "state": r["state"], "ack": r["ack_digest"], "note": r["note"]}
        for r in conn.execute(q).mappings()
    ]


def applied_of(row: dict[str, Any]) -> list[str]:
    return list(json.loads(row["applied"] or "[]"))
