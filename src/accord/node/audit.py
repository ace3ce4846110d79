"""Feeding the node's custody trail into the tamper-evident audit log (issue 5, ``accord.audit``).

Every state change writes its events to the node's ``events`` table in the same transaction (atomic with
the change, durable before the answer). One process per nation -- the *audit writer* -- appends them, in
order, to the Merkle-tree audit log (``audit_*`` tables in the same database), from a background thread
woken after each operation (group commit: whatever is pending goes in one batch), which also picks up
events journaled by other processes of the nation (CLI commands, extra node processes). With
``audit_sync: true`` the node answers only once its events are in the signed log. Each leaf carries its
journal id, so that after a crash between the log's commit and the journal update, the journal is
reconciled from the log instead of appending twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.activity import Activity
from accord.node.db import events_sql as db_events
from accord.node.identity import write_secret

log = logging.getLogger("accord.node.audit")

AUDIT_KEY = "audit-note.key"
AUDIT_VKEY = "audit.vkey"
_TYPES = {
    "decision": "decision",
    "release": "release",
    "delivery_refused": "release",
    "delivery": "delivery",
    "replay": "delivery",
    "integrity_failure": "delivery",
    "receipt": "receipt",
    "consent": "consent",
    "consent_request": "consent",
    "consent_requested": "consent",
    "consent_decision": "consent",
    "audit_quarantine": "quarantine",
    "forged_origin": "delivery",
    "id_refused": "delivery",
    "consent_request_refused": "consent",
    "access": "access",  # issue 12: a person's read (allowed or refused), a JK-R17 attestation
    "person": "access",  # issue 12: register changes, sign-ins
    "visit": "access",
    "blind_relay": "release",  # issue 10: a hub forwarded an item it cannot open (ACC-R5)
    "inconsistent_relay": "delivery",  # issue 10: an item sealed to a hub outside its releasability
    "blind_hold": "consent",  # issue 10: a blind hub holds a sealed item for the originator's consent (T-R5)
    "blind_relay_refused": "release",  # issue 10: ... and drops it on denial
    "final_receipt": "receipt",  # issue 10: the final recipient's receipt, passed back by the hub
    "marked": "delivery",  # issue 8: the recipient's JK-R4 label signed into its stored container (flow/marking.py)
}

#: ``events.audit_idx`` of a journal row the audit format refused: kept out of the log, its quarantine event
#: (``audit_quarantine``, journaled after it) is in the log instead.
QUARANTINED = -2


_RECENT = 10_000
#: The longest a due batch waits for a gap in the node's release work (node/activity.py).
QUIET_WAIT = 0.1
_HANDED = 2048  # journal records kept in memory for the feeder's next stage (hand_over)


def origin(party: str) -> str:
    return f"accord.{party.lower()}.node/audit"


def init_audit_key(directory: Path, party: str) -> str:
    """Create the log's note signing key (0600) and its verifier key; returns the verifier key."""
    from accord.audit.note import NoteSigner

    signer = NoteSigner.generate(origin(party))
    write_secret(directory / AUDIT_KEY, (signer.skey + "\n").encode())
    (directory / AUDIT_VKEY).write_text(signer.vkey + "\n")
    return signer.vkey


def to_audit_event(row: dict[str, Any], party: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A journal row as an audit event: label, decision and digests, never content. ``body``: the row's body
    already decoded (the record it was encoded from, kept in memory by the journal: issue 8); the row's ``body``
    text is then its canonical encoding, as :meth:`accord.node.flow.journal.Journal._event` writes it."""
    encoded: bytes | None = None
    if body is None:
        body = json.loads(str(row["body"]))
    elif isinstance(row.get("body"), str):
        # The journal wrote the row's body as canonical_json(record) (Journal._event): its bytes are that encoding,
        # so a digest of the event needs no second one (issue 8, wave 6).
        encoded = row["body"].encode()
    kind = str(row["type"])
    ev: dict[str, Any] = {k: v for k, v in body.items() if k not in ("type", "item_id", "digest")}
    digest = body.get("digest")
    if isinstance(digest, str) and len(digest) == 64:
        ev["digest"] = f"sha256:{digest}"
    else:  # nothing sealed yet (e.g. a refused release): the digest of the event itself
        ev["digest"] = "sha256:" + hashlib.sha256(encoded or canonical_json(body)).hexdigest()
        ev["digest_of"] = "event"
    ev["type"] = _TYPES.get(kind, "decision")
    ev["node_event"] = kind
    ev["node"] = party
    ev["journal"] = int(row["id"])
    consent = body.get("consent")
    ev["item"] = str(row.get("item_id") or (consent.get("id") if isinstance(consent, dict) else None) or party)
    created = row["created_at"]
    ev["at"] = (created if isinstance(created, dt.datetime) else st.now()).isoformat()
    return ev


def journal_health(store: st.Store) -> dict[str, int]:
    """Journal events quarantined (the audit format refused them; all time) and still waiting for the log."""
    from sqlalchemy import func, select

    with store.engine.connect() as conn:
        q = conn.execute(select(func.count()).select_from(st.events).where(st.events.c.audit_idx == QUARANTINED))
        quarantined = int(q.scalar() or 0)
        p = conn.execute(select(func.count()).select_from(st.events).where(st.events.c.audit_idx.is_(None)))
        pending = int(p.scalar() or 0)
    return {"quarantined": quarantined, "pending": pending}


class AuditFeeder:
    """The audit writer of one nation: drains the journal into the audit log."""

    def __init__(self, store: st.Store, directory: Path, party: str, *, poll_seconds: float = 0.5) -> None:
        from accord.audit.log import AuditLog
        from accord.audit.note import NoteSigner

        signer = NoteSigner.from_skey((directory / AUDIT_KEY).read_text())
        if not isinstance(signer, NoteSigner):
            raise TypeError("not a note signer key")
        # One storage engine for the node's and the audit log's tables (issue 8): the log writes through the
        # node's engine, its pragmas and its writer lock; no second pool on the same database.
        self.log = AuditLog(store.engine, origin=origin(party), signer=signer)
        self.store = store
        self.party = party
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        # journal id -> log index of the latest appends, kept from the log's commit on (before the journal's
        # own update), so that a waiter for receipt evidence is answered as soon as its event is durable.
        self._recent: OrderedDict[int, int] = OrderedDict()
        self._appended = threading.Condition()
        self._lock_handed = threading.Lock()
        self._handed: OrderedDict[int, tuple[dict[str, Any], dict[str, Any]]] = OrderedDict()  # see hand_over()
        self._marks: list[dict[str, int]] = []  # journal id -> index of the last batch, not yet in the journal
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.activity = Activity()  # the node's release work, which the batch lets go first (node/activity.py)
        self.quarantined = 0  # events quarantined by this process (the journal keeps the total: health())
        self.reconcile()

    def reconcile(self) -> None:
        """Mark journal rows the log already holds (a crash after the log's commit) as appended."""
        size = self.log.size
        if size == 0:
            return
        last = json.loads(self.log.event(size - 1))
        journal = last.get("journal")
        if isinstance(journal, int):
            with self.store.tx() as conn:
                db_events.mark_appended_through(conn, journal)

    def flush(self, limit: int = 2000) -> int:
        """Append every journal row not yet in the log and record the indices in the journal; returns how many.
        Durable when it returns."""
        with self._lock:
            n = self._append_pending(limit)
            self._settle()
            return n

    def _settle(self) -> None:
        """Record in the journal the log indices of the last batch (one executemany). Called with the lock."""
        if self._marks:
            with self.store.tx() as conn:
                db_events.set_audit_indices(conn, self._marks)
            self._marks = []

    def stage(self, conn: Connection, limit: int = 2000) -> int:
        """Append the journal's pending events -- the caller's own, just written, and any other process's --
        to the log inside the caller's open write transaction ``conn``, with their journal indices: the hop's
        state change, its custody events and their signed checkpoint in ONE commit (issue 8: no second
        transaction, no hand-over to the log's writer thread, receipt evidence ready at once).

        SQLite only: the node's writer lock serialises this with every other append (PostgreSQL's concurrent
        transactions keep the feeder's path). A malformed journal row is left to the feeder's path (which
        reports it) rather than failing the caller's transaction. Returns how many events were staged (-1: none,
        a malformed row among them).
        """
        from accord.audit.log import prepare_event

        skip = {m["jid"] for m in self._marks}  # in the log already, the journal not yet updated (feeder)
        mine = {jid: (row, record) for c, jid, row, record in self.store.fresh() or () if c is conn}
        with self._lock_handed:
            handed = bool(self._handed)
        try:
            rows: list[dict[str, Any]] = []
            prepared: list[Any] = []
            if mine or handed:  # the ids first: the records may all be in memory (issue 8, wave 5)
                ids = [i for i in db_events.pending_ids(conn, limit) if i not in skip]
                if not ids:
                    return 0
                rows, prepared = self._fresh_rows(conn, ids, mine)
            if not rows:  # another writer's events among them: read them all from the journal
                rows = [r for r in db_events.pending_events(conn, limit) if int(r["id"]) not in skip]
                if not rows:
                    return 0
                prepared = [prepare_event(to_audit_event(r, self.party)) for r in rows]
        except Exception:
            log.exception("%s: journal events not appended in the transaction; left to the audit feeder", self.party)
            return -1
        # One signed checkpoint per commit, for every stage of its group (issue 8, wave 7), signed just before it.
        idx, outcome = self.log.stage(conn, prepared, checkpoint=False)
        self.store.before_commit(self.log, self.log.checkpoint_staged)
        db_events.set_audit_indices(conn, [{"jid": r["id"], "idx": i} for r, i in zip(rows, idx, strict=True)])

        def published(committed: bool) -> None:
            outcome(committed)
            if committed:
                self._remember(rows, idx)
                with self._lock_handed:
                    for r in rows:
                        self._handed.pop(int(r["id"]), None)

        self.store.on_outcome(published)
        return len(rows)

    def hand_over(self, entries: list[tuple[Any, int, dict[str, Any], dict[str, Any]]]) -> None:
        """Keep the records of a committed transaction's journal events (``Journal._event``'s entries) for the
        stage that appends them (the feeder's, within ``audit_poll_seconds``): their leaves are built from them,
        not read back (issue 8, wave 5). Journal rows are never deleted, so a committed id names its record for
        good; at most :data:`_HANDED` are kept (the oldest dropped: read back instead)."""
        with self._lock_handed:
            for _, jid, row, record in entries:
                self._handed[jid] = (row, record)
            while len(self._handed) > _HANDED:
                self._handed.popitem(last=False)

    def _fresh_rows(
        self, conn: Connection, ids: list[int], mine: dict[int, tuple[dict[str, Any], dict[str, Any]]]
    ) -> tuple[list[dict[str, Any]], list[Any]]:
        """The pending journal rows ``ids`` and their prepared leaves, built from the records journaled in memory
        -- by this transaction (``mine``), or by committed ones handed over (:meth:`hand_over`) -- instead of
        read back and decoded (issue 8: the leaf is encoded once); nothing when one of them is neither."""
        from accord.audit.log import prepare_event

        with self._lock_handed:
            found = {i: mine.get(i) or self._handed.get(i) for i in ids}
        if any(v is None for v in found.values()):
            return [], []
        rows: list[dict[str, Any]] = []
        prepared: list[Any] = []
        for i in ids:
            entry = found[i]
            assert entry is not None
            row, record = entry
            # created_at as a read of the row gives it (SQLite: naive UTC), so the leaf is the one read back.
            r = {**row, "id": i, "audit_idx": None, "created_at": db_events.created_as_read(conn, row["created_at"])}
            rows.append(r)
            prepared.append(prepare_event(to_audit_event(r, self.party, record)))
        return rows, prepared

    def _remember(self, rows: list[dict[str, Any]], idx: list[int]) -> None:
        with self._appended:
            for r, i in zip(rows, idx, strict=True):
                self._recent[int(r["id"])] = i
            while len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
            self._appended.notify_all()

    def _prepare(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
        """Prepare each row; a row the audit format refuses is quarantined (issue 9: one bad event never stalls
        the log): set aside (``audit_idx`` = :data:`QUARANTINED`) with an ``audit_quarantine`` event of its own
        journaled in the same transaction (it reaches the log on the next pass), an ERROR log line and the
        counter :attr:`quarantined`. Returns the good rows and their prepared events."""
        from accord.audit.log import prepare_event
        from accord.core.ids import is_id

        good: list[dict[str, Any]] = []
        prepared: list[Any] = []
        bad: list[tuple[dict[str, Any], str]] = []
        for r in rows:
            try:
                prepared.append(prepare_event(to_audit_event(r, self.party)))
                good.append(r)
            except Exception as e:
                bad.append((r, str(e)[:300] or type(e).__name__))
        if bad:
            with self.store.tx() as conn:
                for r, problem in bad:
                    conn.execute(st.events.update().where(st.events.c.id == r["id"]).values(audit_idx=QUARANTINED))
                    if r["type"] == "audit_quarantine":
                        continue  # never quarantine a quarantine record in a loop
                    item = r.get("item_id")
                    db_events.insert_event(
                        conn,
                        {
                            "type": "audit_quarantine",
                            "item_id": item if is_id(item) else None,
                            "body": canonical_json(
                                {
                                    "type": "audit_quarantine",
                                    "node": self.party,
                                    "quarantined_journal": int(r["id"]),
                                    "refused_type": str(r["type"])[:32],
                                    "refused_digest": "sha256:" + hashlib.sha256(str(r["body"]).encode()).hexdigest(),
                                    "problem": problem,
                                }
                            ).decode(),
                            "created_at": st.now(),
                        },
                    )
            for r, problem in bad:
                self.quarantined += 1
                log.error(
                    "%s: audit event %s (journal %s) quarantined: the audit format refuses it: %s",
                    self.party,
                    r["type"],
                    r["id"],
                    problem,
                )
        return good, prepared

    def _append_pending(self, limit: int = 2000) -> int:
        """Append the journal rows not yet in the log (the lock held). The last batch's indices may be left
        for :meth:`_settle` (the next append settles them first, so nothing is appended twice).

        SQLite: each batch is one transaction of the node's (group commit with its writers): the events, their
        signed checkpoint and the journal's indices in one commit (:meth:`stage`), where the log's writer
        thread took two (the log's, then the journal's) and ended the open group early (issue 8). A batch
        with a row the audit format refuses goes the general way below, which quarantines it."""
        total = 0
        while self.store.is_sqlite:
            self._settle()
            if not db_events.read_pending_ids(self.store, 1):  # a plain read first: usually nothing
                return total
            with self.store.tx() as conn:
                n = self.stage(conn, limit)
            if n < 0:
                break
            total += n
            if n < limit:
                return total
        while True:
            self._settle()
            with self.store.engine.connect() as conn:  # a plain read first: usually nothing (see stage())
                if not db_events.pending_events(conn, 1):
                    return total
            # The log's commit takes this process's writer lock, so that it does not meet the node's
            # transactions in SQLite's busy handler (sleeps of milliseconds); the rows are read under it, so
            # that none a node transaction has staged meanwhile (see stage()) is appended twice.
            with self.store.write_lock():
                with self.store.engine.connect() as conn:
                    fetched = db_events.pending_events(conn, limit)
                if not fetched:
                    return total
                rows, prepared = self._prepare(fetched)
                if not rows:
                    total += len(fetched)
                    continue
                idx = self.log.append_many(prepared)
                self._marks = [{"jid": r["id"], "idx": i} for r, i in zip(rows, idx, strict=True)]
            self._remember(rows, idx)
            total += len(rows)
            if len(fetched) < limit:
                return total

    def health(self) -> dict[str, int]:
        """The audit alarm: events quarantined (all time), events still waiting for the log, the log's size."""
        return journal_health(self.store) | {"log_size": int(self.log.size)}

    def index_of(self, journal_id: int, *, timeout: float = 10.0) -> int | None:
        """The log index of journal event ``journal_id`` once it is durable in the log (None: not in time).

        Group commit, leader and followers: a caller that finds no append in progress appends everything
        pending itself (its own event and any other caller's); one that finds an append in progress waits
        for it and is answered as soon as the log has committed -- before the journal records the indices
        (a crash in between is reconciled at start) -- or, if its event came too late for that batch, leads
        the next one. No hand-over to the feeder's thread on the way.
        """
        with self._appended:  # staged in the event's own transaction (see stage()): known without a read
            if journal_id in self._recent:
                return self._recent[journal_id]
        with self.store.engine.connect() as conn:
            idx = db_events.audit_index(conn, journal_id)
        if idx is not None:
            return int(idx) if idx >= 0 else None
        deadline = time.monotonic() + timeout
        while True:
            with self._appended:
                if journal_id in self._recent:
                    return self._recent[journal_id]
            if self._lock.acquire(blocking=False):
                try:
                    self._append_pending()
                finally:
                    self._lock.release()
                self.wake()  # the feeder's thread records the indices in the journal, off this caller's path
                continue
            with self._appended:
                if journal_id in self._recent:
                    return self._recent[journal_id]
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return None
                self._appended.wait(min(left, 0.05))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="accord-audit")
        self._thread.start()

    def wake(self) -> None:
        """Events were journaled: append them now (group commit: whatever is pending goes in one batch)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if not self._stop.is_set():  # a gap in the release work, waited for a bounded time (issue 8, p99)
                self.activity.wait_quiet(min(self.poll_seconds, QUIET_WAIT))
            try:
                self.flush()
            except Exception:
                log.exception("audit flush failed; the events stay in the journal")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.flush()
        finally:
            self.log.close()


#: Journal events younger than this may still be on their way to the log (the writer appends every
#: ``audit_poll_seconds``); ``accord audit verify`` reports them as pending, not missing.
PENDING_GRACE = dt.timedelta(seconds=60)


def compare_journal(engine: Any, *, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Compare a node database's journal (``events``) with its audit log (issue 9).

    Every journal row must be in the log (a leaf whose ``journal`` is its id), or be quarantined (its
    ``audit_quarantine`` leaf names it). Returns None when the database holds no node journal (a bare audit
    database); otherwise ``{"events", "missing", "quarantined", "pending"}`` (lists of journal ids, except
    ``events``; ``quarantined`` lists ``{"journal", "type", "problem"}``).
    """
    from sqlalchemy import inspect, select

    from accord.audit import store as audit_store

    if "events" not in inspect(engine).get_table_names():
        return None
    now = now or st.now()
    in_log: set[int] = set()
    quarantined_in_log: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for (raw,) in conn.execute(select(audit_store.leaves.c.event)).yield_per(2000):
            try:
                ev = json.loads(bytes(raw))
            except ValueError:
                continue  # the log's own verification reports a malformed leaf
            j = ev.get("journal")
            if isinstance(j, int):
                in_log.add(j)
            q = ev.get("quarantined_journal")
            if ev.get("node_event") == "audit_quarantine" and isinstance(q, int):
                quarantined_in_log[q] = {"journal": q, "type": ev.get("refused_type"), "problem": ev.get("problem")}
        rows = conn.execute(select(st.events.c.id, st.events.c.audit_idx, st.events.c.created_at)).all()
    missing: list[int] = []
    pending: list[int] = []
    quarantined: list[dict[str, Any]] = []
    for jid, idx, created in rows:
        if jid in in_log:
            continue
        if jid in quarantined_in_log:
            quarantined.append(quarantined_in_log[jid])
            continue
        if idx is None and created is not None:
            c = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
            if now - c < PENDING_GRACE:
                pending.append(int(jid))
                continue
        missing.append(int(jid))
    return {"events": len(rows), "missing": missing, "quarantined": quarantined, "pending": pending}
