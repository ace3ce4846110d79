"""The durable, tamper-evident audit log of one node (JK-R11: inventory and custody trail).

- Leaves are canonical JSON events (:mod:`accord.audit.events`); the tree is RFC 6962.
- Group commit: one writer thread drains a queue of appends and writes many events, plus one
  signed checkpoint for the new tree size, in one transaction. ``append`` returns only after
  that transaction committed (SQLite ``synchronous=FULL`` / PostgreSQL commit), so an index that
  was acknowledged is durable and covered by a signed checkpoint.
- ``verify`` recomputes everything from the stored events: contiguous indices, leaf hashes,
  canonical encoding, and every checkpoint's signature (against trusted keys, not the database's
  own record of its key) and root. Rows not covered by a trusted checkpoint are a failure.

This module is the writer (append, stage, group commit) and the proofs; verification lives in
:mod:`accord.audit.verify` and the export file in :mod:`accord.audit.export` (both re-exported here).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from accord.audit import store
from accord.audit.export import EXPORT_FORMAT, Export, load_export, read_export, verify_export, write_export
from accord.audit.leaves import PreparedEvent, driver_checkpoint_sql, driver_insert_sql, prepare_event
from accord.audit.merkle import MerkleTree
from accord.audit.note import Checkpoint, NoteSigner, Verifier, sign_note
from accord.audit.receipt import ReceiptEvidence, receipt_evidence
from accord.audit.verify import (
    VerifyReport,
    check_consistent,
    db_checkpoints,
    db_rows,
    verify_database,
    verify_entries,
)
from accord.errors import AccordError, InputError

__all__ = [  # verification and export live in accord.audit.verify / .export; re-exported for callers
    "EXPORT_FORMAT",
    "AuditLog",
    "Export",
    "PreparedEvent",
    "VerifyReport",
    "check_consistent",
    "prepare_event",
    "read_export",
    "verify_database",
    "verify_entries",
    "verify_export",
]

_FRESH = 1024  # events kept in memory after a stage() for receipt evidence


def _cursor(conn: Connection) -> Any:
    raw: Any = conn.connection.driver_connection
    return raw.cursor()


@dataclass
class _Request:
    events: list[PreparedEvent]
    done: threading.Event = field(default_factory=threading.Event)
    first: int = -1
    error: BaseException | None = None


class AuditLog:
    """A node's audit log on SQLAlchemy Core (SQLite file/URL or PostgreSQL URL).

    Args:
        db: an SQLAlchemy URL, an SQLite file path, or an Engine.
        origin: the log's origin (checkpoint line 1), e.g. ``accord.kor.example/audit``.
        signer: the log's note signer; without it the log is read-only (verify, prove).
        verifiers: trusted log keys for :meth:`verify` (default: the signer's own key).
        max_batch: most events in one transaction.
    """

    def __init__(
        self,
        db: str | Path | Engine,
        *,
        origin: str,
        signer: NoteSigner | None = None,
        verifiers: Sequence[Verifier] | None = None,
        max_batch: int = 10_000,
        cache_from_level: int = 4,
    ) -> None:
        Checkpoint(origin, 0, b"\0" * 32)  # validates the origin
        self.origin = origin
        self.engine = store.make_engine(db)
        self._signer = signer
        if verifiers is None:
            verifiers = [signer.verifier()] if signer is not None else []
        self._verifiers = list(verifiers)
        self._max_batch = max_batch
        self._tree = MerkleTree(cache_from_level=cache_from_level)
        self._tree_lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._committed = 0
        self._latest_note: bytes | None = None
        self._fresh: dict[int, bytes] = {}  # index -> event of the latest staged-and-committed events
        self._staged_note: tuple[int, bytes] | None = None  # checkpoint_staged()'s, until its commit's outcome
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._insert_sql = driver_insert_sql(self.engine)
        self._checkpoint_sql = driver_checkpoint_sql(self.engine)
        self._closed = False
        self._load()

    # -- opening -------------------------------------------------------------------------------
    def _load(self) -> None:
        with self.engine.begin() as conn:
            metas = dict(conn.execute(select(store.meta.c.key, store.meta.c.value)).all())
            if "origin" in metas and metas["origin"] != self.origin:
                raise InputError(f"database holds the log {metas['origin']!r}, not {self.origin!r}", source="audit log")
            if self._signer is not None and metas.get("vkey", self._signer.vkey) != self._signer.vkey:
                raise InputError("the signer's key is not the key this log was created with", source="audit log")
            new = {"origin": self.origin}
            if self._signer is not None:
                new["vkey"] = self._signer.vkey
            for k, v in new.items():
                if k not in metas:
                    conn.execute(insert(store.meta), {"key": k, "value": v})
            buf = bytearray()
            result = conn.execution_options(stream_results=True).execute(
                select(store.leaves.c.idx, store.leaves.c.leaf_hash).order_by(store.leaves.c.idx)
            )
            for expected, (idx, h) in enumerate(result):
                if idx != expected:
                    raise InputError(
                        f"audit log rows are not contiguous at {expected}; run `accord audit verify`",
                        source="audit log",
                    )
                buf += h
            self._tree.extend_flat(buf)
            self._committed = self._tree.size
            row = conn.execute(
                select(store.checkpoints.c.note).order_by(store.checkpoints.c.size.desc()).limit(1)
            ).first()
            self._latest_note = bytes(row[0]) if row else None

    @property
    def vkey(self) -> str | None:
        """The log's verifier key (``name+keyid+base64``)."""
        return self._signer.vkey if self._signer is not None else None

    @property
    def size(self) -> int:
        """Number of committed (acknowledged) events."""
        return self._committed

    # -- appending -----------------------------------------------------------------------------
    def append(self, event: Mapping[str, Any] | PreparedEvent) -> int:
        """Append one event; returns its index once it is durable and checkpointed."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Mapping[str, Any] | PreparedEvent]) -> list[int]:
        """Append events (one transaction or part of one); returns their indices once durable.

        Events are dicts (validated and encoded here) or :class:`PreparedEvent` from
        :func:`prepare_event` (validated and encoded by the caller, e.g. in its own thread).

        Raises:
            InputError: an event is malformed (nothing is written).
            AccordError: the log is read-only or closed, or the commit failed.
        """
        if self._signer is None:
            raise AccordError("this audit log was opened without a signer (read-only)")
        if not events:
            return []
        prepared = [e if isinstance(e, PreparedEvent) else prepare_event(e) for e in events]
        req = _Request(prepared)
        self._submit(req)
        return list(range(req.first, req.first + len(prepared)))

    def stage(
        self, conn: Connection, events: Sequence[PreparedEvent], *, checkpoint: bool = True
    ) -> tuple[list[int], Callable[[bool], None]]:
        """Write ``events`` and their signed checkpoint in the caller's open transaction ``conn`` (one commit
        with the caller's own rows, issue 8); returns their indices and the hook to call with the outcome
        (True: committed -- the log then serves them; False: rolled back -- the in-memory tree is undone).
        ``checkpoint=False``: the caller signs one checkpoint for all the stages of its commit instead, with
        :meth:`checkpoint_staged` just before it (a group commit: one signature per group, issue 8, wave 7).

        The caller serialises writers (the node's writer lock) and calls the hook before the next stage,
        or after stages made since, in reverse order (see :meth:`accord.node.db.Database.on_outcome`).
        """
        if self._signer is None:
            raise AccordError("this audit log was opened without a signer (read-only)")
        with self._write_lock:
            start = self._tree.size  # after any staged, not yet committed, events of the same group
            hashes = b"".join(e.leaf_hash for e in events)
            rows = [(start + k, e.leaf_hash, e.leaf, e.kind, e.item) for k, e in enumerate(events)]
            end = start + len(rows)
            with self._tree_lock:
                self._tree.extend_flat(hashes)
            try:
                # On the caller's transaction's DB-API connection (issue 8, wave 5); ints, bytes, str as they are.
                cur = _cursor(conn)
                try:
                    cur.executemany(self._insert_sql, rows)
                finally:
                    cur.close()
                note = self._checkpoint_in(conn, end) if checkpoint else None
            except BaseException:
                with self._tree_lock:
                    self._tree.truncate(start)
                raise

        def outcome(committed: bool) -> None:
            with self._write_lock:
                if committed:
                    signed = (end, note) if note is not None else self._staged_note
                    if signed is not None and signed[0] > self._committed:
                        self._committed, self._latest_note = signed
                    for k, e in enumerate(events):  # receipt evidence for them is asked for at once
                        self._fresh[start + k] = e.leaf
                    while len(self._fresh) > _FRESH:
                        del self._fresh[next(iter(self._fresh))]
                else:
                    self._staged_note = None
                    with self._tree_lock:
                        if self._tree.size > start:
                            self._tree.truncate(start)

        return list(range(start, end)), outcome

    def checkpoint_staged(self, conn: Connection) -> None:
        """Sign and write, in ``conn``'s transaction, the checkpoint of every event staged with
        ``checkpoint=False`` (the tree as it is: a rolled-back stage is already undone); nothing when no event
        is staged past the last checkpoint. The stages' outcome hooks then publish it."""
        with self._write_lock:
            self._staged_note = None
            end = self._tree.size
            if end > self._committed:
                self._staged_note = (end, self._checkpoint_in(conn, end))

    def _checkpoint_in(self, conn: Connection, end: int) -> bytes:
        """The signed checkpoint of size ``end``, written in ``conn``'s transaction (the write lock held)."""
        assert self._signer is not None
        with self._tree_lock:
            root = self._tree.root(end)
        note = sign_note(Checkpoint(self.origin, end, root).text(), [self._signer])
        cur = _cursor(conn)
        try:
            cur.execute(self._checkpoint_sql, (end, note, int(time.time() * 1000)))
        finally:
            cur.close()
        return note

    def _submit(self, req: _Request) -> None:
        if self._closed:
            raise AccordError("audit log is closed")
        self._ensure_writer()
        self._queue.put(req)
        req.done.wait()
        if req.error is not None:
            raise AccordError("audit log commit failed") from req.error

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._write_lock:
                if self._writer is None:
                    t = threading.Thread(target=self._writer_loop, name="audit-writer", daemon=True)
                    t.start()
                    self._writer = t

    def _writer_loop(self) -> None:
        while True:
            req = self._queue.get()
            if req is None:
                return
            batch = [req]
            n = len(req.events)
            stop = False
            while n < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                n += len(nxt.events)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Request]) -> None:
        assert self._signer is not None
        with self._write_lock:
            start = self._committed
            rows: list[tuple[int, bytes, bytes, str, str | None]] = []
            hashes = bytearray()
            i = start
            for req in batch:
                req.first = i
                for e in req.events:
                    hashes += e.leaf_hash
                    rows.append((i, e.leaf_hash, e.leaf, e.kind, e.item))
                    i += 1
            if self._tree.size != start:  # a stage() not yet committed (its writer must hold the node's lock)
                for req in batch:
                    req.error = AccordError("audit log: staged events not yet committed")
                    req.done.set()
                return
            try:
                with self._tree_lock:
                    self._tree.extend_flat(hashes)
                    root = self._tree.root(i)
                note = sign_note(Checkpoint(self.origin, i, root).text(), [self._signer])
                with self.engine.begin() as conn:
                    # The hot path: one DB-API executemany (psycopg pipelines it), placeholders in
                    # the dialect's own paramstyle; everything else goes through SQLAlchemy Core.
                    conn.exec_driver_sql(self._insert_sql, rows)
                    conn.execute(
                        insert(store.checkpoints),
                        {"size": i, "note": note, "created_ms": int(time.time() * 1000)},
                    )
            except BaseException as e:  # roll the in-memory tree back; nothing was acknowledged
                with self._tree_lock:
                    self._tree.truncate(start)
                for req in batch:
                    req.error = e
                    req.done.set()
                return
            self._committed = i
            self._latest_note = note
        for req in batch:
            req.done.set()

    def close(self) -> None:
        """Stop the writer (after it drained the queue) and dispose of the engine."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
        # An append that raced with close() and queued behind the stop marker is refused, not hung.
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                left.error = AccordError("audit log is closed")
                left.done.set()
        self.engine.dispose()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoints and proofs ----------------------------------------------------------------
    def checkpoint(self) -> bytes:
        """The latest signed checkpoint (signing one for the empty log if none exists yet)."""
        with self._write_lock:
            if self._latest_note is not None:
                return self._latest_note
            if self._signer is None:
                raise AccordError("the log has no checkpoint and no signer")
            note = sign_note(Checkpoint(self.origin, 0, self._tree.root(0)).text(), [self._signer])
            with self.engine.begin() as conn:
                conn.execute(
                    insert(store.checkpoints),
                    {"size": 0, "note": note, "created_ms": int(time.time() * 1000)},
                )
            self._latest_note = note
            return note

    def checkpoint_at(self, size: int) -> bytes | None:
        """The stored signed checkpoint for ``size``, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(store.checkpoints.c.note).where(store.checkpoints.c.size == size)).first()
        return bytes(row[0]) if row else None

    def _size_arg(self, size: int | None) -> int:
        n = self._committed if size is None else size
        if not 0 <= n <= self._committed:
            raise InputError(f"tree size {n} out of range (log has {self._committed})", source="audit log")
        return n

    def root(self, size: int | None = None) -> bytes:
        with self._tree_lock:
            return self._tree.root(self._size_arg(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of leaf ``index`` in the tree of ``size`` (default: current)."""
        n = self._size_arg(size)
        if not 0 <= index < n:
            raise InputError(f"leaf index {index} out of range for size {n}", source="audit log")
        with self._tree_lock:
            return self._tree.inclusion_proof(index, n)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """Consistency proof from ``old`` to ``new`` (default: current)."""
        n = self._size_arg(new)
        if not 0 <= old <= n:
            raise InputError(f"old size {old} out of range for size {n}", source="audit log")
        with self._tree_lock:
            return self._tree.consistency_proof(old, n)

    def leaf_hash(self, index: int) -> bytes:
        with self._tree_lock:
            return self._tree.leaf_hash(index)

    def event(self, index: int) -> bytes:
        """The stored event bytes of leaf ``index``."""
        fresh = self._fresh.get(index)
        if fresh is not None:
            return fresh
        with self.engine.connect() as conn:
            row = conn.execute(select(store.leaves.c.event).where(store.leaves.c.idx == index)).first()
        if row is None:
            raise InputError(f"no event at index {index}", source="audit log")
        return bytes(row[0])

    def receipt_evidence(self, index: int) -> ReceiptEvidence:
        """The latest checkpoint and the inclusion proof of event ``index`` (offline-verifiable)."""
        return receipt_evidence(self, index)

    def find(self, item: str) -> list[int]:
        """Indices of the events about ``item``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(store.leaves.c.idx).where(store.leaves.c.item == item).order_by(store.leaves.c.idx)
            ).all()
        return [int(r[0]) for r in rows if int(r[0]) < self._committed]

    # -- verification --------------------------------------------------------------------------
    def _rows(self) -> Iterator[tuple[int, bytes, bytes | None]]:
        return db_rows(self.engine)

    def _checkpoint_rows(self) -> list[tuple[int, bytes]]:
        with self.engine.connect() as conn:
            return db_checkpoints(conn)

    def checkpoints(self) -> list[tuple[int, bytes]]:
        """The stored signed checkpoints as (size, note), by size (e.g. to prove consistency between two)."""
        return self._checkpoint_rows()

    def verify(
        self, *, trusted: Sequence[Verifier] | None = None, known_checkpoints: Sequence[bytes] = ()
    ) -> VerifyReport:
        """Recompute the whole log from the database and check it (see :func:`verify_database`)."""
        verifiers = list(trusted) if trusted is not None else self._verifiers
        return verify_database(self.engine, trusted=verifiers, known_checkpoints=known_checkpoints)

    # -- export / import -----------------------------------------------------------------------
    def export(self, path: str | Path) -> int:
        """Write the log (events and checkpoints) as JSON lines; returns the number of events."""
        return write_export(
            path,
            origin=self.origin,
            vkey=self.vkey,
            size=self._committed,
            rows=self._rows(),
            checkpoints=self._checkpoint_rows(),
        )

    @classmethod
    def import_file(
        cls,
        path: str | Path,
        db: str | Path | Engine,
        *,
        trusted: Sequence[Verifier],
        signer: NoteSigner | None = None,
    ) -> AuditLog:
        """Verify an exported log and load it into an empty database.

        Raises:
            AuditIntegrityError: the export does not verify against ``trusted``.
            InputError: malformed file, or the target database is not empty.
        """
        engine = store.make_engine(db)
        origin = load_export(path, engine, trusted=trusted, target=str(db))
        return cls(engine, origin=origin, signer=signer, verifiers=list(trusted))
