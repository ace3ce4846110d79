"""Durable storage of a node through SQLAlchemy Core: SQLite by default, PostgreSQL with the same code.

Tables: ``items`` (what this node holds), ``outbox`` (messages to deliver, with idempotency keys, attempts,
back-off and leases), ``inbox`` (what was received, unique on item id + sender so a replay stores once),
``receipts`` (signed receipts from recipients), ``consents`` and ``consent_requests``.

Every state change is committed before it is acknowledged (SQLite: WAL, ``synchronous=FULL``).
Several processes of one nation may share one database and the outbox: on PostgreSQL a claim is
``SELECT ... FOR UPDATE SKIP LOCKED`` plus a lease; on SQLite every transaction starts with
``BEGIN IMMEDIATE``, which serialises writers, so the same claim is safe there too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as DBIntegrityError

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("item_id", String(200), primary_key=True),
    Column("originator", String(3), nullable=False),
    Column("label_json", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("origin", String(16), nullable=False),  # "local" (submitted here) | "received"
    Column("sender", String(3)),
    Column("marking", Text),  # this node's national marking for the item (alternative label)
    Column("alt_label_xml", Text),  # STANAG 4774 alternativeConfidentialityLabel added here
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idem_key", String(300), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),  # delivery | consent_request | consent_decision | consent
    Column("item_id", String(200)),
    Column("recipient", String(3), nullable=False),  # next hop
    Column("final_recipient", String(3)),
    Column("at_date", String(10), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False, index=True),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("leased_by", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("sender", String(3), nullable=False),
    Column("idem_key", String(300), nullable=False),
    Column("final_recipient", String(3), nullable=False),
    Column("at_date", String(10), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # stored | held | relayed | denied
    Column("receipt_json", Text, nullable=False),
    Column("receipt_sig", String(200), nullable=False),
    Column("journal_id", Integer),  # the journal event of this delivery (for receipt evidence)
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_id", "sender", name="uq_inbox_item_sender"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("recipient", String(3), nullable=False),
    Column("receipt_json", Text, nullable=False),
    Column("receipt_sig", String(200), nullable=False),
    Column("evidence", Text),  # the recipient's audit checkpoint + inclusion proof of its delivery event
    Column("stored_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_id", "recipient", name="uq_receipt_item_recipient"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consent_id", String(200), nullable=False, unique=True),
    Column("originator", String(3), nullable=False),
    Column("holder", String(3), nullable=False),
    Column("recipient", String(3), nullable=False),
    Column("item_id", String(200)),  # NULL: a standing consent for the topics below
    Column("topics_json", Text, nullable=False),
    Column("standing", Boolean, nullable=False),
    Column("granted_by", String(200), nullable=False),
    Column("valid_from", String(10)),
    Column("valid_until", String(10)),
    Column("doc", Text, nullable=False),  # the signed consent document (JSON)
    Column("created_at", DateTime(timezone=True), nullable=False),
)

consent_requests = Table(
    "consent_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(200), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # outgoing (we hold the item) | incoming (we originated)
    Column("item_id", String(200), nullable=False),
    Column("originator", String(3), nullable=False),
    Column("holder", String(3), nullable=False),
    Column("recipient", String(3), nullable=False),
    Column("label_json", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("at_date", String(10), nullable=False),
    Column("state", String(16), nullable=False),  # pending | approved | denied
    Column("decided_by", String(200)),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("item_id", String(200)),
    Column("body", Text, nullable=False),  # canonical JSON: label, decision, digest -- never content
    Column("audit_idx", Integer),  # index in the audit log once appended (-1: appended, index not kept)
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def _due(t: Any) -> Any:
    """Outbox messages that are pending, due at ``t`` and not leased (or whose lease ran out)."""
    return (
        (outbox.c.state == "pending")
        & (outbox.c.next_attempt_at <= t)
        & ((outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < t))
    )


_ANY_DUE = select(outbox.c.id).where(_due(bindparam("t", type_=DateTime(timezone=True)))).limit(1)
_CLAIM = (
    select(outbox)
    .where(_due(bindparam("t", type_=DateTime(timezone=True))))
    .order_by(outbox.c.id)
    .limit(bindparam("n", type_=Integer))
)
_CLAIM_SKIP_LOCKED = _CLAIM.with_for_update(skip_locked=True)
_LEASE = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(leased_by=bindparam("worker"), lease_until=bindparam("until", type_=DateTime(timezone=True)))
)
_OUTBOX_BY_KEY = select(outbox.c.id).where(outbox.c.idem_key == bindparam("idem_key"))
_INSERT_OUTBOX = insert(outbox)
_MARK_DELIVERED = (
    update(outbox)
    .where(outbox.c.id == bindparam("entry_id"))
    .values(
        state="delivered",
        delivered_at=bindparam("t", type_=DateTime(timezone=True)),
        lease_until=None,  # leased_by is kept: which worker delivered it
        attempts=outbox.c.attempts + 1,
        last_error=None,
    )
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes: they were stored as UTC."""
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    return t


GROUP_MAX = 32  # most transactions sharing one COMMIT


class _Group:
    """Transactions sharing one COMMIT: their connection, how many, and the outcome."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.members = 0
        self.error: BaseException | None = None
        self.done = threading.Event()


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


class Store:
    """The node's database. Thread-safe (one engine, a connection per transaction)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._wlock: threading.RLock | contextlib.nullcontext[None] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext()
        )
        if self.is_sqlite:
            self.engine: Engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            _sqlite_setup(self.engine)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        self._group = threading.Lock()  # guards _queued
        self._queued = 0  # threads waiting for the writer lock in tx()
        self._current: _Group | None = None  # the open group transaction (the writer lock guards it)
        self._local = threading.local()
        if create:
            metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One transaction, durable when the ``with`` block exits (before the caller acknowledges anything).

        SQLite has one writer at a time: threads of this process queue on a lock (fast hand-over) instead of
        SQLite's busy handler, which sleeps in steps of milliseconds (other processes still wait there). And
        they share commits (group commit): a thread that finds others queued behind it leaves the transaction
        open for them, its own work in a SAVEPOINT; the last of the queue (or the ``GROUP_MAX``-th) commits,
        and every member's ``tx()`` returns only after that COMMIT (``synchronous=FULL``). A member whose block
        raises rolls back its SAVEPOINT only; a failed COMMIT fails every member.
        """
        if not self.is_sqlite or int(getattr(self._local, "held", 0)) > 0:
            # PostgreSQL (concurrent transactions), or inside write_lock(): a transaction of its own.
            with self.engine.connect().execution_options(accord_write=True) as conn, conn.begin():
                yield conn
            return
        with self._group:
            self._queued += 1
        self._wlock.acquire()  # type: ignore[union-attr]
        with self._group:
            self._queued -= 1
        group = self._open_group()
        failed = False
        try:
            # The group's first member needs no SAVEPOINT: should it fail, the transaction holds its work only.
            sp = group.conn.begin_nested() if group.members else None
            try:
                yield group.conn
            except BaseException:
                failed = True
                if sp is None:
                    self._commit_group(discard=True)
                else:
                    try:
                        sp.rollback()
                    except Exception as e:  # the connection is unusable: the whole group fails
                        group.error = e
                raise
            else:
                if sp is not None:
                    sp.commit()
        finally:
            if self._current is group:
                group.members += 1
                with self._group:
                    last = self._queued == 0
                if last or group.members >= GROUP_MAX or group.error is not None:
                    self._commit_group()
            self._wlock.release()  # type: ignore[union-attr]
        if not failed:
            group.done.wait()
            if group.error is not None:
                raise group.error

    def _open_group(self) -> _Group:
        if self._current is None:
            conn = self.engine.connect().execution_options(accord_write=True)
            conn.begin()  # BEGIN IMMEDIATE
            self._current = _Group(conn)
        return self._current

    def _commit_group(self, *, discard: bool = False) -> None:
        """Commit the open group (the writer lock held) and release its members; ``discard``: roll it back
        (its only member failed)."""
        group, self._current = self._current, None
        if group is None:
            return
        try:
            if group.error is None and not discard:
                group.conn.commit()
            else:
                group.conn.rollback()
        except Exception as e:
            group.error = e
        finally:
            try:
                group.conn.close()
            finally:
                group.done.set()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """The in-process writer lock of :meth:`tx` (SQLite; a no-op on PostgreSQL), for another writer on
        the same database file -- the audit log's own engine -- so that it queues here too instead of
        meeting this process's transactions in SQLite's busy handler (sleeps of 1-100 ms). An open group is
        committed first; :meth:`tx` inside it runs a transaction of its own."""
        if not self.is_sqlite:
            yield
            return
        with self._wlock:
            self._commit_group()
            self._local.held = getattr(self._local, "held", 0) + 1
            try:
                yield
            finally:
                self._local.held -= 1

    # -- outbox ---------------------------------------------------------------------------------------

    @staticmethod
    def enqueue(
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
        return Store.enqueue_entry(
            conn,
            idem_key=idem_key,
            kind=kind,
            recipient=recipient,
            body=body,
            at_date=at_date,
            item_id=item_id,
            final_recipient=final_recipient,
        ) is not None

    @staticmethod
    def enqueue_entry(
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
        exists = conn.execute(_OUTBOX_BY_KEY, {"idem_key": idem_key}).first()
        if exists:
            return None
        t = now()
        res = conn.execute(
            _INSERT_OUTBOX,
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
            id=int(res.inserted_primary_key[0]),  # type: ignore[index]
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
        with self.engine.connect() as conn:
            if conn.execute(_ANY_DUE, {"t": t}).first() is None:
                return []
        with self.tx() as conn:
            q = _CLAIM if self.is_sqlite else _CLAIM_SKIP_LOCKED
            rows = conn.execute(q, {"t": t, "n": limit}).mappings().all()
            if not rows:
                return []
            ids = [r["id"] for r in rows]
            conn.execute(_LEASE, {"ids": ids, "worker": worker, "until": t + dt.timedelta(seconds=lease_seconds)})
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

    @staticmethod
    def mark_delivered(conn: Connection, entry_id: int) -> None:
        conn.execute(_MARK_DELIVERED, {"entry_id": entry_id, "t": now()})

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

    def rows(self, table: Table, *where: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = select(table)
            for w in where:
                q = q.where(w)
            out = []
            for r in conn.execute(q).mappings():
                d = dict(r)
                for k, v in d.items():
                    if isinstance(v, dt.datetime):
                        d[k] = _aware(v)
                out.append(d)
            return out

    def count(self, table: Table, *where: Any) -> int:
        return len(self.rows(table, *where))


def insert_ignore_duplicate(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row inside a SAVEPOINT; False (and nothing changed) if a unique key already holds it."""
    try:
        with conn.begin_nested():
            conn.execute(insert(table), values)
    except DBIntegrityError:
        return False
    return True


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        # Let SQLAlchemy (not pysqlite) issue BEGIN, so that we can make it BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Write transactions take the write lock at once (no lock upgrade, no SQLITE_BUSY mid-way);
        # reads stay deferred so that they never block the writers (WAL).
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("accord_write") else "BEGIN")


__all__: Sequence[str] = [
    "OutboxEntry",
    "Store",
    "consent_requests",
    "consents",
    "events",
    "inbox",
    "insert_ignore_duplicate",
    "items",
    "metadata",
    "now",
    "outbox",
    "receipts",
]
