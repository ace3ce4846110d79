"""The feed's audit trail: refusals, cut-offs and every signed batch, in a node's tamper-evident log.

Uses :class:`accord.audit.log.AuditLog` as a library (a log of its own, ``feed-audit.db`` with origin
``accord.<party>.node/feed``, signed by a note key kept 0600 in the feed state directory). Appends go
through a background thread so that the event loop never waits for a commit, grouped over
:data:`GROUP` seconds (one checkpoint per group); :meth:`flush` waits. The feed's records and batch
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
import queue
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
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, daemon=True, name="accord-feed-audit")
        self._thread.start()

    def event(self, ev_type: str, item: str, digest_hex: str, **extra: Any) -> None:
        """Queue one event (``digest_hex``: SHA-256 hex of what it is about; never content)."""
        self._idle.clear()
        self._q.put(
            {
                "type": ev_type,
                "item": item,
                "digest": f"sha256:{digest_hex}",
                "at": now_iso(),
                "node": self.party,
                **extra,
            }
        )

    def _run(self) -> None:
        while True:
            ev = self._q.get()
            if ev is None:
                return
            batch = [ev]
            until = time.monotonic() + GROUP
            while len(batch) < 1000:
                try:
                    nxt = self._q.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    break
                batch.append(nxt)
            try:
                self.log.append_many(batch)
                done = max((int(e["journal"]) for e in batch if "journal" in e), default=0)
                if done:
                    self._journal_done(done)
            except Exception:
                log.exception("feed audit append failed (%d events)", len(batch))
            if self._q.empty():
                self._idle.set()

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
        return self._idle.wait(timeout)

    def close(self) -> None:
        self.flush()
        self._q.put(None)
        self._thread.join(timeout=10)
        if self._jdb is not None:
            self._jdb.close()
        self.log.close()
