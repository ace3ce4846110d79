"""Durable per-stream logs of the feed (SQLite, WAL): what a node published, relayed or received.

One row per **segment** (a run of consecutive records of one stream, ``(len u32 | record)*``: the body
of a RECS frame, see :func:`accord.feed.frame.scan_segment`), keyed by (stream, first seq), plus one
row per HS and BSIG record in ``marks`` (where sessions and batch signatures are, without reading the
segments). A burst of messages costs one row per stream, not one per message.

Appends are committed by a writer thread (SQLite releases the GIL while it writes, so the event loop
keeps serving), everything queued while the previous commit ran in one transaction; the caller's
callback runs on its event loop once the segments are durable, and only then does a node acknowledge
them. ``synchronous=NORMAL`` survives a process crash (``kill -9``); ``sync="full"`` also a power loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from accord.feed import frame as ff

log = logging.getLogger("accord.feed.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segs (stream TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
                                 body BLOB NOT NULL, PRIMARY KEY (stream, first));
CREATE TABLE IF NOT EXISTS marks (stream TEXT NOT NULL, seq INTEGER NOT NULL, rtype INTEGER NOT NULL,
                                  PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY, event BLOB NOT NULL);
"""
#: Segments are rows of up to 64 KiB: in a rowid table (a WITHOUT ROWID table suits rows under 1/20 of a
#: page) a 2-row commit of 30 KB segments costs ~175 µs of CPU against ~250 µs before, and a commit of two
#: small segments (one message each, paced rates) ~40 µs as before; 16 KiB pages did better on large
#: segments (~130 µs) but worse on small ones (~53 µs). Logs created before keep their layout.
PAGE_SIZE = 4096
CHECKPOINT_INTERVAL = 0.5  # seconds between WAL checkpoints (a background thread)
MAX_SEGMENT = ff.MAX_FRAME  # a segment is at most one frame body


@dataclass(slots=True)
class SegRow:
    """A segment to append: ``marks`` lists its HS and BSIG records as ``(seq, rtype)``."""

    stream: str
    first: int
    last: int
    body: bytes
    marks: list[tuple[int, int]]


def _connect(path: Path, sync: str, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("PRAGMA busy_timeout=2000")
        return db
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new log only (an existing one keeps its pages)
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
    db.execute("PRAGMA wal_autocheckpoint=0")  # see FeedStore._checkpointer
    return db


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to a feed log (displays: :mod:`accord.feed.view`)."""
    return _connect(path, "normal", readonly=True)


def heads_of(db: sqlite3.Connection) -> dict[str, int]:
    return {str(s): int(h) for s, h in db.execute("SELECT stream, max(last) FROM segs GROUP BY stream")}


def read_records(db: sqlite3.Connection, stream: str, first: int, last: int, limit: int) -> list[tuple[int, bytes]]:
    """Records ``first..last`` of ``stream`` (at most ``limit``), in order."""
    out: list[tuple[int, bytes]] = []
    if first > last:
        return out
    start = db.execute("SELECT max(first) FROM segs WHERE stream = ? AND first <= ?", (stream, first)).fetchone()
    lo = int(start[0]) if start and start[0] is not None else first
    cur = db.execute(
        "SELECT first, body FROM segs WHERE stream = ? AND first >= ? AND first <= ? ORDER BY first",
        (stream, lo, last),
    )
    for _, body in cur:
        for seq, raw in ff.segment_records(body):
            if first <= seq <= last:
                out.append((seq, raw))
                if len(out) >= limit:
                    return out
    return out


def marks_of(db: sqlite3.Connection, stream: str, rtype: int) -> list[int]:
    return [
        int(s)
        for (s,) in db.execute("SELECT seq FROM marks WHERE stream = ? AND rtype = ? ORDER BY seq", (stream, rtype))
    ]


class FeedStore:
    """Stream logs, marks, a small key-value table (offers, epochs, windows) and the audit journal."""

    def __init__(self, path: Path, *, sync: str = "normal") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sync = sync  # "full": every commit fsyncs (relays then group-commit in the writer thread)
        self.db = _connect(path, sync)  # the event loop's connection: reads and the key-value table
        self.db.executescript(_SCHEMA)
        self._migrate()
        self._wdb = _connect(path, sync)  # the writer thread's connection
        self._heads: dict[str, int] = heads_of(self.db)
        self._q: queue.Queue[
            tuple[list[SegRow], Callable[[], None] | None, asyncio.AbstractEventLoop | None] | None
        ] = queue.Queue()
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

    def _migrate(self) -> None:
        """Logs written before segments (one row per record) become one segment per record."""
        has = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'").fetchone()
        if not has:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for stream, seq, rtype, body in self.db.execute("SELECT stream, seq, rtype, body FROM records").fetchall():
                self.db.execute(
                    "INSERT OR IGNORE INTO segs VALUES (?, ?, ?, ?)", (stream, seq, seq, ff.prefixed(bytes(body)))
                )
                if rtype != ff.DATA:
                    self.db.execute("INSERT OR IGNORE INTO marks VALUES (?, ?, ?)", (stream, seq, rtype))
            self.db.execute("DROP TABLE records")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

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
        self, rows: list[SegRow], done: Callable[[], None] | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Queue segments for the writer thread; ``done`` runs on ``loop`` once they are committed."""
        self._q.put((rows, done, loop))

    def append(self, rows: Iterable[SegRow]) -> None:
        """Commit segments now, on the caller's connection (tests and tools)."""
        rows = list(rows)
        self._check(rows)
        if rows:
            self._insert(self.db, rows)
        self._advance(rows)

    @staticmethod
    def _insert(db: sqlite3.Connection, rows: list[SegRow]) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO segs VALUES (?, ?, ?, ?)", [(r.stream, r.first, r.last, r.body) for r in rows])
            marks = [(r.stream, q, t) for r in rows for q, t in r.marks]
            if marks:
                db.executemany("INSERT INTO marks VALUES (?, ?, ?)", marks)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _check(self, rows: list[SegRow]) -> None:
        heads: dict[str, int] = {}
        for r in rows:
            last = heads.get(r.stream, self._heads.get(r.stream, 0))
            if r.first != last + 1 or r.last < r.first:
                raise ValueError(f"{r.stream}: segment {r.first}-{r.last} does not follow {last}")
            heads[r.stream] = r.last

    def _advance(self, rows: list[SegRow]) -> None:
        with self._lock:
            for r in rows:
                self._heads[r.stream] = r.last

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
                    self._insert(self._wdb, rows)
                self._advance(rows)
            except Exception as e:  # nothing is acknowledged; the senders resend after a reconnect
                self.failed = e
                log.exception("feed store: commit failed; %d segments not acknowledged", len(rows))
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
        """Durable records of ``stream`` from ``first`` on (at most ``limit``)."""
        return read_records(self.db, stream, first, self.head(stream), limit)

    def read_segments(self, stream: str, first: int, max_bytes: int = 1 << 20) -> list[tuple[int, int, bytes]]:
        """Durable segments ``(first, last, body)`` from record ``first`` on (the first one trimmed to start
        there), about ``max_bytes`` at most: what a subscriber behind is served from."""
        head = self.head(stream)
        if first > head:
            return []
        start = self.db.execute(
            "SELECT max(first) FROM segs WHERE stream = ? AND first <= ?", (stream, first)
        ).fetchone()
        lo = int(start[0]) if start and start[0] is not None else first
        out: list[tuple[int, int, bytes]] = []
        size = 0
        cur = self.db.execute(
            "SELECT first, last, body FROM segs WHERE stream = ? AND first >= ? AND first <= ? ORDER BY first",
            (stream, lo, head),
        )
        for f0, l0, b0 in cur:
            f, last, body = int(f0), int(l0), bytes(b0)
            if last < first:
                continue
            if f < first:
                body, f = body[ff.segment_offset(body, f, first) :], first
            out.append((f, last, body))
            size += len(body)
            if size >= max_bytes:
                break
        return out

    def last_of_type(self, stream: str, rtype: int, before: int) -> int:
        """The sequence number of the last record of ``rtype`` (HS or BSIG) before ``before`` (0: none)."""
        row = self.db.execute(
            "SELECT max(seq) FROM marks WHERE stream = ? AND rtype = ? AND seq < ?", (stream, rtype, before)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def marks_desc(self, stream: str, rtype: int) -> Iterator[int]:
        """Sequence numbers of the HS or BSIG records of ``stream``, newest first (read lazily)."""
        cur = self.db.cursor()
        cur.execute("SELECT seq FROM marks WHERE stream = ? AND rtype = ? ORDER BY seq DESC", (stream, rtype))
        for (s,) in cur:
            yield int(s)

    def marks_after(self, stream: str, rtype: int, after: int) -> list[int]:
        return [
            int(s)
            for (s,) in self.db.execute(
                "SELECT seq FROM marks WHERE stream = ? AND rtype = ? AND seq > ? ORDER BY seq", (stream, rtype, after)
            )
        ]

    def get(self, key: str) -> bytes | None:
        row = self.db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def put(self, key: str, value: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    # -- the audit journal: audit events that exist nowhere else, durable before they are acted on --------
    def journal_add(self, event: bytes) -> int:
        cur = self.db.execute("INSERT INTO journal (event) VALUES (?)", (event,))
        return int(cur.lastrowid or 0)

    def journal(self) -> list[tuple[int, bytes]]:
        return [(int(i), bytes(e)) for i, e in self.db.execute("SELECT id, event FROM journal ORDER BY id")]

    def journal_done(self, upto: int, db: sqlite3.Connection | None = None) -> None:
        (db or self.db).execute("DELETE FROM journal WHERE id <= ?", (upto,))

    def connect(self) -> sqlite3.Connection:
        """A connection of its own (another thread)."""
        return _connect(self.path, "normal")
