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
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Engine,
    Table,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.pool import QueuePool

from accord.node.db.checkpoint import BACKSTOP, Checkpointer
from accord.node.db.driver import DriverSql
from accord.node.db.schema import _aware, events_pending, metadata

GROUP_MAX = 32  # most transactions sharing one COMMIT


class _Group:
    """Transactions sharing one COMMIT: their connection, how many, and the outcome."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.members = 0
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.hooks: list[Callable[[bool], None]] = []  # members' outcome hooks, in order (see Database.on_outcome)
        self.pre: dict[object, Callable[[Connection], None]] = {}  # run once before its COMMIT (before_commit)


class Database:
    """The node's database. Thread-safe (one engine, a connection per transaction)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._wlock: threading.RLock | contextlib.nullcontext[None] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext()
        )
        # A file database's WAL checkpoints run on a thread of their own, off the commit path (db/checkpoint.py).
        self.checkpointer: Checkpointer | None = None
        if self.is_sqlite:
            self.engine: Engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            path = self.engine.url.database
            if path and path != ":memory:" and not path.startswith("file:"):
                self.checkpointer = Checkpointer(path)
            _sqlite_setup(self.engine, autocheckpoint=BACKSTOP if self.checkpointer is not None else None)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        self._group = threading.Lock()  # guards _queued
        self._queued = 0  # threads waiting for the writer lock in tx()
        self._current: _Group | None = None  # the open group transaction (the writer lock guards it)
        # SQLite file databases: the group commit's connection, kept from one group to the next (the writer lock
        # guards it) instead of a pool checkout and return per transaction (issue 8, wave 6); dropped on any error.
        self._writer: Connection | None = None
        self._writer_pool: Any = None  # the pool it came from: an engine.dispose() (new pool) drops it too
        self._keep_writer = self.is_sqlite and isinstance(self.engine.pool, QueuePool)
        self._local = threading.local()
        self._poll_local = threading.local()  # plain sqlite3 read connections, one per thread (read_conn)
        self._poll_open: list[Any] = []
        self._poll_lock = threading.Lock()
        if create:
            metadata.create_all(self.engine)
            events_pending.create(self.engine, checkfirst=True)  # databases made before the index existed

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with self._poll_lock:
            for c in self._poll_open:
                c.close()
            self._poll_open.clear()
        with self._wlock:
            self._drop_writer()
        self.engine.dispose()

    def read_conn(self) -> sqlite3.Connection | None:
        """SQLite file databases: this thread's own plain sqlite3 connection for reads outside any transaction
        (autocommit: each SELECT is a read transaction of its own; WAL: it neither waits for nor blocks a
        writer), kept open until :meth:`dispose` -- the outbox's idle poll and the driver's reads
        (:meth:`accord.node.db.driver.DriverSql.read`: the freeze gate before a delivery, the audit feeder's
        check for pending events) without a pool checkout and return per read (issue 8). None elsewhere."""
        c: sqlite3.Connection | None = getattr(self._poll_local, "conn", None)
        if c is not None:
            return c
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        c = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._poll_local.conn = c
        with self._poll_lock:
            self._poll_open.append(c)
        return c

    def _drop_writer(self) -> None:
        """Close the kept writer connection (the writer lock held): a failed group's, or at dispose."""
        conn, self._writer = self._writer, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already unusable: the pool discards it
                conn.close()

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
        outer = getattr(self._local, "hooks", None)
        outer_fresh = getattr(self._local, "fresh", None)
        outer_pre = getattr(self._local, "pre", None)
        hooks: list[Callable[[bool], None]] = []
        self._local.hooks = hooks
        self._local.fresh = []
        try:
            if not self.is_sqlite or int(getattr(self._local, "held", 0)) > 0:
                # PostgreSQL (concurrent transactions), or inside write_lock(): a transaction of its own.
                pre: dict[object, Callable[[Connection], None]] = {}
                self._local.pre = pre
                try:
                    with self.engine.connect().execution_options(accord_write=True) as conn, conn.begin():
                        yield conn
                        for hook in list(pre.values()):
                            hook(conn)
                except BaseException:
                    _run_hooks(hooks, ok=False)
                    raise
                _run_hooks(hooks, ok=True)
                return
            yield from self._group_tx(hooks)
        finally:
            self._local.hooks = outer
            self._local.fresh = outer_fresh
            self._local.pre = outer_pre

    def fresh(self) -> list[Any] | None:
        """The current transaction's (this thread's innermost :meth:`tx`) list of what its writers keep in
        memory for a later step of the same transaction -- the journal's events, appended by
        :meth:`accord.node.flow.journal.Journal._event` and turned into audit leaves by
        :meth:`accord.node.audit.AuditFeeder.stage` without reading them back (issue 8). None outside one."""
        fresh: list[Any] | None = getattr(self._local, "fresh", None)
        return fresh

    def on_outcome(self, hook: Callable[[bool], None]) -> None:
        """Call ``hook(committed)`` once the current transaction (of this thread's innermost :meth:`tx`) is
        committed (True) or rolled back (False) -- e.g. to publish or undo in-memory state that mirrors rows
        written in it. With group commit the hooks run when the group commits, in the order registered; a
        member whose block raised runs its own with False at once (its SAVEPOINT is rolled back)."""
        hooks = getattr(self._local, "hooks", None)
        if hooks is None:
            raise RuntimeError("on_outcome() outside a transaction")
        hooks.append(hook)

    def before_commit(self, key: object, hook: Callable[[Connection], None]) -> None:
        """Call ``hook(conn)`` in the current transaction just before its COMMIT, once per ``key`` however many
        members of a group commit ask for it (e.g. one signed audit checkpoint for all their events: issue 8,
        wave 7). Not called when the transaction is rolled back; should it raise, the transaction fails (every
        member of its group, as a failed COMMIT does)."""
        pre: dict[object, Callable[[Connection], None]] | None = getattr(self._local, "pre", None)
        if pre is None:
            raise RuntimeError("before_commit() outside a transaction")
        pre.setdefault(key, hook)

    def _group_tx(self, hooks: list[Callable[[bool], None]]) -> Iterator[Connection]:
        with self._group:
            self._queued += 1
        self._wlock.acquire()  # type: ignore[union-attr]
        with self._group:
            self._queued -= 1
        group = self._open_group()
        self._local.pre = group.pre
        failed = False
        try:
            # The group's first member needs no SAVEPOINT: should it fail, the transaction holds its work only.
            sp = _Savepoint(group.conn, group.members) if group.members else None
            try:
                yield group.conn
            except BaseException:
                failed = True
                _run_hooks(hooks, ok=False)  # this member's work is rolled back (below), whatever the group does
                hooks.clear()
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
                    try:
                        sp.commit()
                    except BaseException:
                        _run_hooks(hooks, ok=False)
                        raise
                group.hooks.extend(hooks)
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
            conn = self._writer
            if conn is not None and (conn.closed or conn.invalidated or self._writer_pool is not self.engine.pool):
                self._drop_writer()
                conn = None
            if conn is None:
                conn = self.engine.connect().execution_options(accord_write=True)
                if self._keep_writer:
                    self._writer, self._writer_pool = conn, self.engine.pool
            try:
                conn.begin()  # BEGIN IMMEDIATE
            except BaseException:
                if conn is self._writer:
                    self._drop_writer()
                else:
                    conn.close()
                raise
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
                for hook in list(group.pre.values()):
                    hook(group.conn)
                group.conn.commit()
                if self.checkpointer is not None:
                    self.checkpointer.committed()
            else:
                group.conn.rollback()
        except Exception as e:
            group.error = e
        finally:
            try:
                if group.conn is not self._writer:
                    group.conn.close()
                elif group.error is not None or group.conn.in_transaction():
                    self._drop_writer()  # a failed group's connection is never reused
            finally:
                # Outcome hooks before the members are released: what they publish is there when tx() returns.
                _run_hooks(group.hooks, ok=group.error is None and not discard)
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


class _Savepoint:
    """A group member's SAVEPOINT, as plain SQL on the driver connection: SQLAlchemy's nested transaction took
    ~70 us per member (issue 8). SQLAlchemy's own nested transactions inside the member nest in it as usual
    (each is closed by its ``with`` block before this one is released or rolled back)."""

    def __init__(self, conn: Connection, n: int) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        self.raw: Any = raw
        self.name = f"accord_member_{n}"
        raw.execute(f"SAVEPOINT {self.name}")

    def commit(self) -> None:
        self.raw.execute(f"RELEASE {self.name}")

    def rollback(self) -> None:
        self.raw.execute(f"ROLLBACK TO {self.name}")
        self.raw.execute(f"RELEASE {self.name}")


def _run_hooks(hooks: list[Callable[[bool], None]], *, ok: bool) -> None:
    """Run outcome hooks: in order after a commit, in reverse after a rollback (undo the latest first)."""
    for hook in hooks if ok else reversed(hooks):
        hook(ok)


_IGNORING: dict[tuple[str, str, tuple[str, ...]], DriverSql] = {}


def insert_ignore_duplicate(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row; False (and nothing changed) if a unique key already holds it.

    ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL), built once per table, columns and dialect and
    run at the driver (:mod:`accord.node.db.driver`): one statement, where a SAVEPOINT around a plain INSERT cost
    three (issue 8). Other dialects keep the SAVEPOINT.
    """
    name = conn.dialect.name
    keys = tuple(values)
    stmt = _IGNORING.get((name, table.name, keys))
    if stmt is None:
        if name == "sqlite":
            from sqlalchemy.dialects import sqlite

            stmt = DriverSql(sqlite.insert(table).on_conflict_do_nothing(), keys=keys)
        elif name == "postgresql":
            from sqlalchemy.dialects import postgresql

            stmt = DriverSql(postgresql.insert(table).on_conflict_do_nothing(), keys=keys)
        else:
            try:
                with conn.begin_nested():
                    conn.execute(insert(table), values)
            except DBIntegrityError:
                return False
            return True
        _IGNORING[(name, table.name, keys)] = stmt
    return stmt.execute(conn, values) > 0


def _sqlite_setup(engine: Engine, *, autocheckpoint: int | None = None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        # Let SQLAlchemy (not pysqlite) issue BEGIN, so that we can make it BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        if autocheckpoint is not None:  # checkpoints by the Checkpointer's thread, not in a COMMIT (issue 8)
            cur.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Write transactions take the write lock at once (no lock upgrade, no SQLITE_BUSY mid-way);
        # reads stay deferred so that they never block the writers (WAL). On the driver connection (issue 8,
        # wave 6: SQLAlchemy's execute path cost more than the statement); an error as SQLAlchemy raises it
        # (a busy database past the timeout is a storage fault: 503, db/faults.py).
        sql = "BEGIN IMMEDIATE" if conn.get_execution_options().get("accord_write") else "BEGIN"
        raw: Any = conn.connection.driver_connection
        try:
            raw.execute(sql)
        except sqlite3.Error as e:
            err: Any = e
            gone = bool(engine.dialect.is_disconnect(err, raw, None))
            raise DBAPIError.instance(
                sql, None, e, sqlite3.Error, hide_parameters=True, connection_invalidated=gone, dialect=engine.dialect
            ) from e
