"""The feed's audit trail: refusals, cut-offs and every signed batch, in a node's tamper-evident log.

Uses :class:`accord.audit.log.AuditLog` as a library (a log of its own, ``feed-audit.db`` with origin
``accord.<party>.node/feed``, signed by a note key kept 0600 in the feed state directory). Appends go
through a background thread so that the event loop never waits for a commit: every :data:`GROUP`
seconds it commits what was queued meanwhile (one checkpoint per group), and queuing an event wakes
no thread; :meth:`flush` waits. The feed's records and batch
signatures are durable in the stream logs before anything is acknowledged; the audit trail follows
within ``GROUP``. What a crash loses of it is rebuilt at the next start
(:meth:`accord.feed.node.FeedNode._rebuild_audit`): batch signatures from the BSIG records of the stream
logs, refusals and cut-offs from the journal in the feed log (written before the refusal is answered;
an entry is deleted once its audit event is committed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from accord.audit.events import now_iso
from accord.audit.log import AuditLog
from accord.audit.note import NoteSigner

log = logging.getLogger("accord.feed.audit")
KEY_FILE = "feed-audit.key"
# Events of this many seconds go into one audit commit (one Merkle checkpoint, one signature): each
# stream signs a batch every 10 ms, and a commit per batch signature cost more CPU than the feed itself.
GROUP = float(os.environ.get("ACCORD_FEED_AUDIT_GROUP", "0.05"))  # the kill -9 test widens it
TAIL = 4000  # events read back at start to find the journal entries already audited (> one group)


def origin(party: str) -> str:
    return f"accord.{party.lower()}.node/feed"


class FeedAudit:
    def __init__(self, state_dir: Path, party: str, journal_db: Path | None = None) -> None:
        from accord.sealed.keys import write_private

        key_path = state_dir / KEY_FILE
        if not key_path.exists():
            write_private(key_path, (NoteSigner.generate(origin(party)).skey + "\n").encode())
        signer = NoteSigner.from_skey(key_path.read_text())
        if not isinstance(signer, NoteSigner):
            raise TypeError("not a note signer key")
        self.log = AuditLog(state_dir / "feed-audit.db", origin=origin(party), signer=signer)
        self.party = party
        self._journal_db = journal_db
        self._jdb: sqlite3.Connection | None = None
        # Events wait in a list the thread takes every GROUP seconds: queuing one wakes no thread. (A
        # queue.Queue woke the thread for every batch signature, ~100-200 a second per node, and each
        # wake-up handed the GIL to it while the event loop was relaying: docs/feed.md, tail pass.)
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending and _queued (never held across a commit)
        self._queued = 0  # events queued so far
        self._done = 0  # events committed (or given up) so far
        self._kick = threading.Event()  # flush() and close(): take what is pending now
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="accord-feed-audit")
        self._thread.start()

    def event(self, ev_type: str, item: str, digest_hex: str, **extra: Any) -> None:
        """Queue one event (``digest_hex``: SHA-256 hex of what it is about; never content); it is committed
        with the others of its group within :data:`GROUP` seconds."""
        ev = {
            "type": ev_type,
            "item": item,
            "digest": f"sha256:{digest_hex}",
            "at": now_iso(),
            "node": self.party,
            **extra,
        }
        with self._lock:
            self._pending.append(ev)
            self._queued += 1

    def _run(self) -> None:
        while True:
            self._kick.wait(GROUP)
            self._kick.clear()
            with self._lock:
                batch, self._pending = self._pending, []
                stop = self._stop
            for i in range(0, len(batch), 1000):
                part = batch[i : i + 1000]
                try:
                    self.log.append_many(part)
                    done = max((int(e["journal"]) for e in part if "journal" in e), default=0)
                    if done:
                        self._journal_done(done)
                except Exception:
                    log.exception("feed audit append failed (%d events)", len(part))
            with self._lock:
                self._done += len(batch)
            if stop:
                return

    def _journal_done(self, upto: int) -> None:
        if self._journal_db is None:
            return
        if self._jdb is None:
            self._jdb = sqlite3.connect(str(self._journal_db), isolation_level=None, check_same_thread=False)
            self._jdb.execute("PRAGMA busy_timeout=10000")
        self._jdb.execute("DELETE FROM journal WHERE id <= ?", (upto,))

    def audited(self, item: str) -> bool:
        return bool(self.log.find(item))

    def journaled(self) -> set[int]:
        """Journal ids among the last :data:`TAIL` events (a crash may have come between an audit
        commit and the deletion of its journal entries: those must not be replayed twice)."""
        out: set[int] = set()
        size = self.log.size
        for i in range(max(0, size - TAIL), size):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                ev = json.loads(self.log.event(i))
                if "journal" in ev:
                    out.add(int(ev["journal"]))
        return out

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event queued so far is committed (False: not within ``timeout``)."""
        with self._lock:
            target = self._queued
        until = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._done >= target:
                    return True
            if time.monotonic() >= until or not self._thread.is_alive():
                return False
            self._kick.set()
            time.sleep(0.002)

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._stop = True
        self._kick.set()
        self._thread.join(timeout=10)
        if self._jdb is not None:
            self._jdb.close()
        self.log.close()
