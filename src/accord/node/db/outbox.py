"""The durable outbox: enqueue with an idempotency key, claim with leases (SKIP LOCKED on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from accord.errors import Busy
from accord.node.db.driver import DriverSql
from accord.node.db.engine import Database
from accord.node.db.schema import now, outbox


def _due(t: Any) -> Any:
    """Outbox messages that are pending, due at ``t`` and not leased (or whose lease ran out)."""
    return (
        (outbox.c.state == "pending")
        & (outbox.c.next_attempt_at <= t)
        & ((outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < t))
    )


# The idle poll on SQLite, as plain SQL on a connection of the polling thread's own (issue 8: through SQLAlchemy
# -- a pooled connection, BEGIN, the statement, ROLLBACK -- each poll cost ~0.5 ms of CPU, 20 times a second).
_ANY_DUE_SQL = (
    "SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? "
    "AND (lease_until IS NULL OR lease_until < ?) LIMIT 1"
)
_ANY_DUE = select(outbox.c.id).where(_due(bindparam("t", type_=DateTime(timezone=True)))).limit(1)
_CLAIM = (
    select(outbox)
    .where(_due(bindparam("t", type_=DateTime(timezone=True))))
    .order_by(outbox.c.id)
    .limit(bindparam("n", type_=Integer))
)
_CLAIM_SKIP_LOCKED = _CLAIM.with_for_update(skip_locked=True)
# The claim at the driver (issue 8, wave 5): the same SELECT (FOR UPDATE SKIP LOCKED on PostgreSQL), and the
# lease one row at a time in one executemany, where the expanding IN list was compiled on every call.
_CLAIM_DRIVER = DriverSql(_CLAIM)
_CLAIM_SKIP_LOCKED_DRIVER = DriverSql(_CLAIM_SKIP_LOCKED)
_LEASE_ONE = DriverSql(
    update(outbox)
    .where(outbox.c.id == bindparam("id"))
    .values(leased_by=bindparam("worker"), lease_until=bindparam("until", type_=DateTime(timezone=True)))
)
_BY_KEY = select(outbox.c.id).where(outbox.c.idem_key == bindparam("idem_key"))
_OUTBOX_BY_KEY = DriverSql(_BY_KEY)
_OUTBOX_COLUMNS = (
    "leased_by",
    "lease_until",
    "idem_key",
    "kind",
    "item_id",
    "recipient",
    "final_recipient",
    "at_date",
    "body",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
)
_INSERT_OUTBOX = DriverSql(insert(outbox).returning(outbox.c.id), keys=_OUTBOX_COLUMNS)
_DELIVERED = {
    "state": "delivered",
    "delivered_at": bindparam("t", type_=DateTime(timezone=True)),
    "lease_until": None,  # leased_by is kept: which worker delivered it
    "attempts": outbox.c.attempts + 1,
    "last_error": None,
}
_MARK_DELIVERED = DriverSql(update(outbox).where(outbox.c.id == bindparam("entry_id")).values(**_DELIVERED))
# Pruning: once the receipt is stored (same transaction), the envelope (the sealed item, base64) is dropped;
# the row, the receipt and the custody trail (events, audit log) stay.
_MARK_DELIVERED_PRUNED = DriverSql(
    update(outbox).where(outbox.c.id == bindparam("entry_id")).values(**_DELIVERED, body=b"")
)
_PENDING_FOR = select(func.count()).select_from(
    select(outbox.c.id)
    .where((outbox.c.state == "pending") & (outbox.c.recipient == bindparam("recipient")))
    .limit(bindparam("cap", type_=Integer))
    .subquery()
)
# The idempotency key's look-up and the backpressure count in ONE statement (issue 8, wave 5: the count was a
# second statement on every release): the count is read only when the key is new, as before.
_BY_KEY_AND_PENDING = DriverSql(
    select(_BY_KEY.scalar_subquery().label("existing"), _PENDING_FOR.scalar_subquery().label("pending"))
)


def _stored_time(engine: Any, t: dt.datetime) -> Any:
    """A timestamp in the form SQLAlchemy stores it on ``engine`` (its DateTime bind processor)."""
    dialect = engine.dialect
    proc = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    return proc(t) if proc is not None else t


class OutboxFull(Busy):
    """The outbox towards one partner holds ``outbox_max_pending`` messages: the caller retries later (503 with
    ``Retry-After``); nothing was stored."""

    kind = "outbox-full"

    def __init__(self, recipient: str, pending: int, retry_after: int) -> None:
        super().__init__(f"the outbox towards {recipient} is full ({pending} pending); retry later")
        self.recipient = recipient
        self.retry_after = retry_after

    def extensions(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "retry_after": self.retry_after}


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    idem_key: str
    kind: str
    item_id: str | None
    recipient: str
    final_recipient: str | None
    at_date: str
    body: bytes
    attempts: int


class Outbox(Database):
    """The outbox operations of :class:`accord.node.db.Store`.

    ``outbox_max_pending``: the most pending deliveries towards one recipient (backpressure: past it, a new
    delivery is refused with :class:`OutboxFull`); ``prune_delivered``: drop delivered envelopes.
    """

    outbox_max_pending: int | None = None
    prune_delivered: bool = False

    def enqueue(
        self,
        conn: Connection,
        *,
        idem_key: str,
        kind: str,
        recipient: str,
        body: bytes,
        at_date: str,
        item_id: str | None = None,
        final_recipient: str | None = None,
    ) -> bool:
        """Add a message to the outbox within ``conn``'s transaction. False if the key was already queued."""
        return (
            self.enqueue_entry(
                conn,
                idem_key=idem_key,
                kind=kind,
                recipient=recipient,
                body=body,
                at_date=at_date,
                item_id=item_id,
                final_recipient=final_recipient,
            )
            is not None
        )

    def enqueue_entry(
        self,
        conn: Connection,
        *,
        idem_key: str,
        kind: str,
        recipient: str,
        body: bytes,
        at_date: str,
        item_id: str | None = None,
        final_recipient: str | None = None,
        lease: tuple[str, float] | None = None,
    ) -> OutboxEntry | None:
        """:meth:`enqueue`, returning the entry (None if the key was already queued).

        ``lease=(worker, seconds)``: the message is inserted already leased to ``worker`` -- the caller hands it
        to that worker in memory once the transaction has committed (no claim, no poll). Should the process die
        first, the lease runs out and any worker claims the message as usual.
        """
        cap = self.outbox_max_pending
        if cap is not None and kind == "delivery":  # only new releases wait; receipts and consents always flow
            row = _BY_KEY_AND_PENDING.first(conn, {"idem_key": idem_key, "recipient": recipient, "cap": cap})
            assert row is not None  # a SELECT of two scalar subqueries: one row
            if row[0] is not None:
                return None
            pending = int(row[1])
            if pending >= cap:
                raise OutboxFull(recipient, pending, retry_after=5)
        elif _OUTBOX_BY_KEY.first(conn, {"idem_key": idem_key}) is not None:
            return None
        t = now()
        res = _INSERT_OUTBOX.all(
            conn,
            {
                "leased_by": lease[0] if lease else None,
                "lease_until": t + dt.timedelta(seconds=lease[1]) if lease else None,
                "idem_key": idem_key,
                "kind": kind,
                "item_id": item_id,
                "recipient": recipient,
                "final_recipient": final_recipient,
                "at_date": at_date,
                "body": body,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": t,
                "created_at": t,
            },
        )
        return OutboxEntry(
            id=int(res[0][0]),
            idem_key=idem_key,
            kind=kind,
            item_id=item_id,
            recipient=recipient,
            final_recipient=final_recipient,
            at_date=at_date,
            body=body,
            attempts=0,
        )

    def claim(self, worker: str, *, limit: int, lease_seconds: float) -> list[OutboxEntry]:
        """Lease up to ``limit`` due outbox messages to ``worker``; other workers skip them.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets concurrent claimers pass over each other's rows.
        SQLite: the transaction began with ``BEGIN IMMEDIATE`` so claims are serialised.
        """
        t = now()
        # An idle poll is a plain read (WAL: it neither waits for nor blocks the writers), built once; only when
        # something is due does the claim take the write lock, and it re-checks everything under that lock.
        due = self._any_due_sqlite(t)
        if due is False:
            return []
        if due is None:
            with self.engine.connect() as conn:
                if conn.execute(_ANY_DUE, {"t": t}).first() is None:
                    return []
        with self.tx() as conn:
            q = _CLAIM_DRIVER if self.is_sqlite else _CLAIM_SKIP_LOCKED_DRIVER
            rows = q.mappings(conn, {"t": t, "n": limit})
            if not rows:
                return []
            until = t + dt.timedelta(seconds=lease_seconds)
            _LEASE_ONE.executemany(conn, [{"id": r["id"], "worker": worker, "until": until} for r in rows])
        return [
            OutboxEntry(
                id=r["id"],
                idem_key=r["idem_key"],
                kind=r["kind"],
                item_id=r["item_id"],
                recipient=r["recipient"],
                final_recipient=r["final_recipient"],
                at_date=r["at_date"],
                body=bytes(r["body"]),
                attempts=r["attempts"],
            )
            for r in rows
        ]

    def _any_due_sqlite(self, t: dt.datetime) -> bool | None:
        """Whether a message is due (SQLite file databases: this thread's plain read connection, :meth:`read_conn`);
        None elsewhere (the caller asks through SQLAlchemy)."""
        c = self.read_conn()
        if c is None:
            return None
        ts = _stored_time(self.engine, t)
        return c.execute(_ANY_DUE_SQL, (ts, ts)).fetchone() is not None

    def mark_delivered(self, conn: Connection, entry_id: int) -> None:
        q = _MARK_DELIVERED_PRUNED if self.prune_delivered else _MARK_DELIVERED
        q.execute(conn, {"entry_id": entry_id, "t": now()})

    def mark_retry(self, entry_id: int, worker: str, error: str, delay: float, *, give_up: bool) -> None:
        with self.tx() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == entry_id)
                .where(outbox.c.leased_by == worker)
                .values(
                    state="failed" if give_up else "pending",
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=now() + dt.timedelta(seconds=delay),
                    leased_by=None,
                    lease_until=None,
                    last_error=error[:500],
                )
            )

    def outbox_rows(self, *, state: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = select(
                outbox.c.id,
                outbox.c.idem_key,
                outbox.c.kind,
                outbox.c.item_id,
                outbox.c.recipient,
                outbox.c.final_recipient,
                outbox.c.state,
                outbox.c.attempts,
                outbox.c.last_error,
                outbox.c.leased_by,
            ).order_by(outbox.c.id)
            if state:
                q = q.where(outbox.c.state == state)
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- simple reads ---------------------------------------------------------------------------------
