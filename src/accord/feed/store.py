"""Durable per-stream logs of the feed (SQLite, WAL): what a node published, relayed or received.

One row per record, keyed by (stream, seq). Appends are committed by a writer thread (SQLite releases the
GIL while it writes, so the event loop keeps serving), several pending appends in one transaction; the
caller's callback runs on its event loop once the records are durable, and only then does a node
acknowledge them. ``synchronous=NORMAL`` survives a process crash (``kill -9``); ``sync="full"`` also a
power loss (slower).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("accord.feed.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (stream TEXT NOT NULL, seq INTEGER NOT NULL, rtype INTEGER NOT NULL,
                                    body BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
"""
Row = tuple[str, int, int, bytes]
CHECKPOINT_INTERVAL = 0.5  # seconds between WAL checkpoints (a background thread)


def _connect(path: Path, sync: str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
    db.execute("PRAGMA wal_autocheckpoint=0")  # see FeedStore._checkpointer
    return db


class FeedStore:
    """Stream logs and a small key-value table (offers, epochs, the node's own offer)."""

    def __init__(self, path: Path, *, sync: str = "normal") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = _connect(path, sync)  # the event loop's connection: reads and the key-value table
        self.db.executescript(_SCHEMA)
        self._wdb = _connect(path, sync)  # the writer thread's connection
        self._heads: dict[str, int] = {
            s: int(h) for s, h in self.db.execute("SELECT stream, max(seq) FROM records GROUP BY stream")
        }
        self._q: queue.Queue[tuple[list[Row], Callable[[], None] | None, asyncio.AbstractEventLoop | None] | None] = (
            queue.Queue()
        )
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._writer, daemon=True, name="accord-feed-store")
        self._thread.start()
        self.failed: BaseException | None = None
        # WAL checkpoints (they fsync) run here, off the commit path: in the committing connection they put
        # a 2-40 ms stall on one commit in a thousand, i.e. on the feed's p99 latency.
        self._cdb = _connect(path, sync)
        self._stop = threading.Event()
        self._ckpt = threading.Thread(target=self._checkpointer, daemon=True, name="accord-feed-checkpoint")
        self._ckpt.start()

    def _checkpointer(self) -> None:
        while not self._stop.wait(CHECKPOINT_INTERVAL):
            try:
                self._cdb.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as e:  # busy or I/O: the next round tries again; commits are unaffected
                log.warning("feed store: checkpoint failed: %s", e)

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=30)
        self._stop.set()
        self._ckpt.join(timeout=30)
        with contextlib.suppress(sqlite3.Error):
            self._cdb.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._cdb.close()
        self._wdb.close()
        self.db.close()

    def head(self, stream: str) -> int:
        """The last sequence number durably held for ``stream`` (0: none)."""
        return self._heads.get(stream, 0)

    def streams(self) -> list[str]:
        return sorted(self._heads)

    def append_async(
        self, rows: list[Row], done: Callable[[], None] | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Queue records ``(stream, seq, rtype, raw)`` for the writer thread (relayed streams: forwarded
        first, acknowledged once durable); ``done`` runs on ``loop`` once they are committed."""
        self._q.put((rows, done, loop))

    def append(self, rows: Iterable[Row]) -> None:
        """Commit records now, on the caller's connection (a node's own streams: their numbers are
        assigned here, so they are durable before they leave). A stream is appended to by one path only."""
        rows = list(rows)
        self._check(rows)
        if rows:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        self._advance(rows)

    def _check(self, rows: list[Row]) -> None:
        heads: dict[str, int] = {}
        for stream, seq, _, _ in rows:
            last = heads.get(stream, self._heads.get(stream, 0))
            if seq != last + 1:
                raise ValueError(f"{stream}: record {seq} does not follow {last}")
            heads[stream] = seq

    def _advance(self, rows: list[Row]) -> None:
        with self._lock:
            for stream, seq, _, _ in rows:
                self._heads[stream] = seq

    def _writer(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < 256:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            rows = [r for rs, _, _ in batch for r in rs]
            try:
                self._check(rows)
                if rows:
                    self._wdb.execute("BEGIN IMMEDIATE")
                    try:
                        self._wdb.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
                        self._wdb.execute("COMMIT")
                    except BaseException:
                        self._wdb.execute("ROLLBACK")
                        raise
                self._advance(rows)
            except Exception as e:  # nothing is acknowledged; the senders resend after a reconnect
                self.failed = e
                log.exception("feed store: commit failed; %d records not acknowledged", len(rows))
                for _, done, loop in batch:
                    if done is not None and loop is None:
                        done()
                if stop:
                    return
                continue
            for _, done, loop in batch:
                if done is None:
                    continue
                if loop is None:
                    done()
                else:
                    with contextlib.suppress(RuntimeError):  # a closed loop (shutting down): durable anyway
                        loop.call_soon_threadsafe(done)
            if stop:
                return

    def read(self, stream: str, first: int, limit: int = 512) -> list[tuple[int, bytes]]:
        last = self.head(stream)
        cur = self.db.execute(
            "SELECT seq, body FROM records WHERE stream = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?",
            (stream, first, last, limit),
        )
        return [(int(s), bytes(b)) for s, b in cur]

    def last_of_type(self, stream: str, rtype: int, before: int) -> int:
        """The sequence number of the last record of ``rtype`` before ``before`` (0: none)."""
        row = self.db.execute(
            "SELECT max(seq) FROM records WHERE stream = ? AND rtype = ? AND seq < ?", (stream, rtype, before)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def get(self, key: str) -> bytes | None:
        row = self.db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def put(self, key: str, value: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))
