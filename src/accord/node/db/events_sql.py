"""The custody journal (JK-R11): events appended in the state change's transaction, then fed to the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, bindparam, desc, insert, select, update
from sqlalchemy.engine import Connection

from accord.node.db.driver import DriverSql, stored_value
from accord.node.db.schema import events

if TYPE_CHECKING:
    from accord.node.db.engine import Database

# The release path's journal statements run at the driver (issue 8, wave 5: node/db/driver.py), built once.
_INSERT_EVENT = DriverSql(insert(events).returning(events.c.id), keys=("type", "item_id", "body", "created_at"))
_PENDING = select(events).where(events.c.audit_idx.is_(None)).order_by(events.c.id).limit(bindparam("n", type_=Integer))
_PENDING_IDS = DriverSql(
    select(events.c.id).where(events.c.audit_idx.is_(None)).order_by(events.c.id).limit(bindparam("n", type_=Integer))
)
_SET_AUDIT_IDX = DriverSql(update(events).where(events.c.id == bindparam("jid")).values(audit_idx=bindparam("idx")))


def insert_event(conn: Connection, row: dict[str, Any]) -> int:
    """Journal one event; returns its id."""
    return int(_INSERT_EVENT.all(conn, row)[0][0])


def pending_events(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """Journal rows not yet in the audit log, oldest first."""
    return [dict(r) for r in conn.execute(_PENDING, {"n": limit}).mappings()]


def pending_ids(conn: Connection, limit: int) -> list[int]:
    """The ids of the journal rows not yet in the audit log, oldest first (the partial index alone)."""
    return [int(r[0]) for r in _PENDING_IDS.all(conn, {"n": limit})]


def read_pending_ids(store: Database, limit: int) -> list[int]:
    """:func:`pending_ids` as a read of its own (no BEGIN/ROLLBACK around it), on this thread's kept read
    connection (SQLite file databases) or a pooled driver connection."""
    return [int(r["id"]) for r in _PENDING_IDS.read(store.engine, {"n": limit}, plain=store.read_conn())]


def created_as_read(conn: Connection, created_at: Any) -> Any:
    """``created_at`` as a read of the stored row returns it (SQLite: naive UTC), for a row built in memory."""
    return stored_value(conn.dialect, events.c.created_at.type, created_at)


def set_audit_indices(conn: Connection, marks: Sequence[Mapping[str, int]]) -> None:
    """Record the audit-log index of journal rows (``{"jid": .., "idx": ..}`` each; one executemany)."""
    _SET_AUDIT_IDX.executemany(conn, list(marks))


def mark_appended_through(conn: Connection, journal_id: int) -> None:
    """Rows up to ``journal_id`` are in the log already (reconciled after a crash): mark them -1."""
    conn.execute(
        update(events).where(events.c.id <= journal_id).where(events.c.audit_idx.is_(None)).values(audit_idx=-1)
    )


def audit_index(conn: Connection, journal_id: int) -> int | None:
    """The audit-log index recorded for journal row ``journal_id`` (None: not yet; -1: reconciled)."""
    idx = conn.execute(select(events.c.audit_idx).where(events.c.id == journal_id)).scalar()
    return None if idx is None else int(idx)


def recent_events(
    conn: Connection, *, type_: str | None = None, item_id: str | None = None, text: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Journal rows, newest first, filtered by type, item and a substring of the body (at most ``limit``)."""
    q = select(events).order_by(desc(events.c.id))
    if type_:
        q = q.where(events.c.type == type_)
    if item_id:
        q = q.where(events.c.item_id == item_id)
    if text:
        q = q.where(events.c.body.contains(text, autoescape=True))
    return [dict(r) for r in conn.execute(q.limit(max(1, min(limit, 5000)))).mappings()]
