"""WAL checkpoints of a node's SQLite database off the commit path (issue 8, the commit tail).

In WAL mode SQLite copies the log back into the database file (a *checkpoint*: the pages written, then an
fsync of the database file) inside the COMMIT that takes the log past ``wal_autocheckpoint`` pages (1000 by
default). A release writes ~22 pages at the recipient, so one commit in ~45 took 2-7 ms instead of 0.4: the
recipient's commit tail (issue 8, wave 7: 11-19 of 400 commits over 1 ms, p99 4 ms, all of them checkpoints).

Here the committing connections leave checkpoints to a :class:`Checkpointer` thread (``wal_autocheckpoint``
set to :data:`BACKSTOP`, a bound the thread keeps the log far below): every :data:`EVERY` commits it waits for
a gap of :data:`QUIET` seconds without a commit (at most :data:`MAX_WAIT`), then runs a ``PASSIVE`` checkpoint
on its own connection -- it neither waits for nor blocks readers and writers. Durability does not move: a
commit is durable when its WAL frames are fsync'd (``synchronous=FULL``), before and after this change; a
checkpoint only copies committed pages, and a crash in the middle of one is recovered from the log.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time

log = logging.getLogger("accord.node.db")

#: ``wal_autocheckpoint`` of the node's connections: a backstop only (16 MiB of log), should the thread fall
#: behind or not run (a process that writes a handful of transactions and exits checkpoints at its close).
BACKSTOP = 4000
#: Commits between two checkpoints: about as often as SQLite's own 1000 pages at a recipient (~22 pages a commit, of
#: which fewer distinct ones: a checkpoint copies each page once), so no more fsyncs than before, none in a COMMIT.
EVERY = 32
#: The checkpoint waits for this long without a commit of this process (the rest of a release: the answer,
#: the partner's acknowledgement), so that its writes and fsync meet no commit on the serial path ...
QUIET = 0.002
#: ... but not longer than this (sustained load has no gaps: then it runs alongside, off the commit path).
MAX_WAIT = 0.05
#: An idle thread closes its connection and ends after this long; the next commits start another.
IDLE = 30.0


class Checkpointer:
    """The background checkpoints of one SQLite database file (see the module's docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.checkpoints = 0  # PASSIVE checkpoints run (tests, diagnostics)
        self._cv = threading.Condition()
        self._commits = 0  # since the last checkpoint was asked for
        self._due = False
        self._last_commit = 0.0
        self._stopped = False
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """A commit of this process (called by the group commit after each COMMIT, the writer lock held)."""
        self._last_commit = time.monotonic()
        self._commits += 1
        if self._commits < EVERY:
            return
        self._commits = 0
        with self._cv:
            if self._stopped:
                return
            self._due = True
            if self._thread is None or not self._thread.is_alive():  # none yet, or not in this process (a fork)
                self._thread = threading.Thread(target=self._run, daemon=True, name="accord-db-checkpoint")
                self._thread.start()
            else:
                self._cv.notify()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                with self._cv:
                    if not self._due and not self._stopped:
                        self._cv.wait(IDLE)
                    if self._stopped or not self._due:  # stopped, or idle for IDLE seconds
                        self._thread = None
                        return
                    self._due = False
                self._wait_quiet()
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as e:  # busy or I/O: the next round tries again; commits are unaffected
                    log.warning("checkpoint of %s failed: %s", self.path, e)
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def _wait_quiet(self) -> None:
        deadline = time.monotonic() + MAX_WAIT
        while not self._stopped:
            now = time.monotonic()
            left = QUIET - (now - self._last_commit)
            if left <= 0 or now >= deadline:
                return
            time.sleep(min(left, deadline - now))

    def stop(self) -> None:
        """End the thread (after the checkpoint it may be running); no more are started."""
        with self._cv:
            self._stopped = True
            thread = self._thread
            self._cv.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
