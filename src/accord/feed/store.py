"""Durable per-stream logs of the feed (SQLite, WAL): what a node published, relayed or received.

One row per record, keyed by (stream, seq); a record is committed before it is forwarded or
acknowledged, so a restart (even ``kill -9``) resumes from the log with no loss and no duplicate.
``synchronous=NORMAL`` survives a process crash; ``sync="full"`` also a power loss (slower).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (stream TEXT NOT NULL, seq INTEGER NOT NULL, rtype INTEGER NOT NULL,
                                    body BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
"""


class FeedStore:
    """Stream logs and a small key-value table (offers, epochs, high-water marks)."""

    def __init__(self, path: Path, *, sync: str = "normal") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        self.db.executescript(_SCHEMA)
        self._heads: dict[str, int] = {
            s: int(h) for s, h in self.db.execute("SELECT stream, max(seq) FROM records GROUP BY stream")}

    def close(self) -> None:
        self.db.close()

    def head(self, stream: str) -> int:
        """The last sequence number held for ``stream`` (0: none)."""
        return self._heads.get(stream, 0)

    def streams(self) -> list[str]:
        return sorted(self._heads)

    def append(self, rows: Iterable[tuple[str, int, int, bytes]]) -> None:
        """Commit records ``(stream, seq, rtype, raw)`` in one transaction; each must follow its head."""
        rows = list(rows)
        if not rows:
            return
        heads = dict(self._heads)
        for stream, seq, _, _ in rows:
            if seq != heads.get(stream, 0) + 1:
                raise ValueError(f"{stream}: record {seq} does not follow {heads.get(stream, 0)}")
            heads[stream] = seq
        self.db.execute("BEGIN")
        try:
            self.db.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self._heads = heads

    def read(self, stream: str, first: int, limit: int = 512) -> list[tuple[int, bytes]]:
        cur = self.db.execute("SELECT seq, body FROM records WHERE stream = ? AND seq >= ? ORDER BY seq LIMIT ?",
                              (stream, first, limit))
        return [(int(s), bytes(b)) for s, b in cur]

    def last_of_type(self, stream: str, rtype: int, before: int) -> int:
        """The sequence number of the last record of ``rtype`` before ``before`` (0: none)."""
        row = self.db.execute("SELECT max(seq) FROM records WHERE stream = ? AND rtype = ? AND seq < ?",
                              (stream, rtype, before)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def get(self, key: str) -> bytes | None:
        row = self.db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def put(self, key: str, value: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))
