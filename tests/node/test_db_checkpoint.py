"""Issue 8, wave 7 (inbound): WAL checkpoints run on a thread of their own, never inside a commit.

A COMMIT that took the log past ``wal_autocheckpoint`` pages copied the log into the database file and fsync'd
it: one commit in ~45 at the recipient took 2-7 ms (the commit tail). The node's connections now leave that to
:class:`accord.node.db.checkpoint.Checkpointer`; what a commit means (durable when it returns, WAL with
``synchronous=FULL``) does not change.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from accord.node import db as st
from accord.node.db import checkpoint


def _wal_frames(path: Path) -> int:
    """Frames in the WAL file past its header (a file kept after a restart may hold stale ones: an upper bound)."""
    wal = Path(f"{path}-wal")
    return max(0, (wal.stat().st_size - 32) // (4096 + 24)) if wal.exists() else 0


def _fill(s: st.Store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with s.tx() as conn:
            conn.exec_driver_sql("INSERT INTO blobs (k, v) VALUES (?, ?)", (i, b"\xa5" * 10_240))


def _store(tmp_path: Path) -> tuple[st.Store, Path]:
    path = tmp_path / "n.db"
    s = st.Store(f"sqlite:///{path}")
    with s.tx() as conn:
        conn.exec_driver_sql("CREATE TABLE blobs (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    return s, path


def _wait_checkpoints(s: st.Store, n: int) -> None:
    assert s.checkpointer is not None
    deadline = time.monotonic() + 10
    while s.checkpointer.checkpoints < n and time.monotonic() < deadline:
        time.sleep(0.002)


def test_jpn_commits_never_checkpoint_the_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The committing connection's autocheckpoint is the backstop, far above SQLite's 1000 pages: with the
    thread kept from running, 1,200+ pages of commits stay in the log (a commit would have copied them)."""
    monkeypatch.setattr(checkpoint, "EVERY", 10**9)  # no background checkpoint in this test
    s, path = _store(tmp_path)
    with s.tx() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == checkpoint.BACKSTOP
    _fill(s, 400)  # 400 x (3 overflow pages + leaves)
    assert _wal_frames(path) > 1200
    assert s.checkpointer is not None and s.checkpointer.checkpoints == 0
    s.dispose()


def test_jpn_the_checkpointer_keeps_the_wal_small_and_loses_nothing(tmp_path: Path) -> None:
    s, path = _store(tmp_path)
    rounds = 12
    n = rounds * checkpoint.EVERY
    for r in range(rounds):  # as releases come: a few commits, then a gap in which the checkpoint runs
        _fill(s, checkpoint.EVERY, r * checkpoint.EVERY)
        _wait_checkpoints(s, r + 1)
    assert s.checkpointer is not None and s.checkpointer.checkpoints == rounds
    # The log restarts from its beginning after each: a few rounds' frames, not every commit's (~5 each).
    assert _wal_frames(path) < 3 * 6 * checkpoint.EVERY < 5 * n
    # Every committed row is there, read by a connection of another "process" (a plain sqlite3 one).
    other = sqlite3.connect(path)
    assert other.execute("SELECT count(*), min(k), max(k) FROM blobs").fetchone() == (n, 0, n - 1)
    other.close()
    s.dispose()
    # After the store's disposal, the database file itself holds everything once the log is gone.
    Path(f"{path}-wal").unlink(missing_ok=True)
    Path(f"{path}-shm").unlink(missing_ok=True)
    again = sqlite3.connect(path)
    assert again.execute("SELECT count(*) FROM blobs").fetchone() == (n,)
    again.close()


def test_jpn_the_checkpoint_waits_for_a_gap_between_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked for after the EVERY-th commit, the checkpoint starts only once no commit came for QUIET seconds
    (bounded by MAX_WAIT): not in the middle of the rest of a release."""
    monkeypatch.setattr(checkpoint, "QUIET", 0.5)
    monkeypatch.setattr(checkpoint, "MAX_WAIT", 5.0)
    s, _ = _store(tmp_path)
    assert s.checkpointer is not None
    _fill(s, checkpoint.EVERY)
    end = time.monotonic() + 0.3
    i = checkpoint.EVERY
    while time.monotonic() < end:  # commits keep coming: no gap of QUIET yet
        _fill(s, 1, i)
        i += 1
        assert s.checkpointer.checkpoints == 0
    _wait_checkpoints(s, 1)
    assert s.checkpointer.checkpoints >= 1  # then it ran (a second may follow: commits kept coming)
    s.dispose()


def test_jpn_memory_databases_have_no_checkpointer() -> None:
    s = st.Store("sqlite://")
    assert s.checkpointer is None
    s.dispose()


def test_jpn_a_checkpointer_thread_gone_is_started_again(tmp_path: Path) -> None:
    """A process forked from a node keeps the Checkpointer object but not its thread: the next round starts one."""
    s, _ = _store(tmp_path)
    assert s.checkpointer is not None
    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join()
    s.checkpointer._thread = gone
    _fill(s, checkpoint.EVERY)
    _wait_checkpoints(s, 1)
    assert s.checkpointer.checkpoints == 1
    s.dispose()
