"""When the database cannot take a write: a full volume, or a database that is away (issue 9, reliability).

:func:`storage_fault` tells the two apart from what SQLAlchemy raised:

- ``"full"``: SQLite's ``SQLITE_FULL`` ("database or disk is full": the volume, or ``max_page_count``) or
  PostgreSQL's ``disk_full`` (SQLSTATE 53100) / ``out_of_memory`` class 53 -- the node answers 507 (Insufficient
  Storage, RFC 4918) and raises the storage alarm;
- ``"unavailable"``: the connection to the database is gone or refused (PostgreSQL restarting, killed, in
  recovery: class 08, 57P0x; SQLite ``SQLITE_IOERR``/``SQLITE_CANTOPEN``/busy past the timeout) -- the node
  answers 503 with ``Retry-After``; the engine's pool reconnects (``pool_pre_ping``) once it is back.

Either way the transaction was rolled back: nothing is acknowledged that was not stored (every state change
is committed before it is acknowledged; a failed COMMIT fails the request). :class:`StorageAlarm` is the
alarm the node's own systems see in ``GET /v1/health`` (``storage``) and the log: raised by the first
refusal, cleared by the next submit or delivery that is stored (``node/api/fast.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError

log = logging.getLogger("accord.node")

Fault = Literal["full", "unavailable"]

_SQLITE_FULL = 13
_SQLITE_UNAVAILABLE = {5, 6, 10, 14}  # BUSY, LOCKED (past the busy timeout), IOERR, CANTOPEN

#: How long a client should wait before it retries (seconds): a full volume needs an operator.
RETRY_AFTER = {"full": 60, "unavailable": 2}


def storage_fault(e: BaseException) -> Fault | None:
    """``"full"``, ``"unavailable"`` or None (another error: a bug, not the storage)."""
    if not isinstance(e, DBAPIError):
        return None
    orig: Any = e.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if (code is not None and code & 0xFF == _SQLITE_FULL) or "disk is full" in str(orig):
            return "full"
        if code is not None and code & 0xFF in _SQLITE_UNAVAILABLE:
            return "unavailable"
        return None
    state = str(getattr(orig, "sqlstate", None) or "")
    if state.startswith("53"):  # insufficient resources: disk_full 53100, out_of_memory 53200...
        return "full"
    if state.startswith(("08", "57P")) or e.connection_invalidated:
        return "unavailable"
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if isinstance(orig, psycopg.OperationalError) and not state:  # no answer at all: connection refused or lost
        return "unavailable"
    return None


class StorageAlarm:
    """The storage alarm of one node process: state, since when, how many requests it refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state: Fault | None = None
        self.since: dt.datetime | None = None
        self.refused = 0  # requests refused since the alarm was raised
        self.raised = 0  # how many times it was raised (all time)

    def fault(self, kind: Fault, error: BaseException) -> None:
        with self._lock:
            self.refused += 1
            if self.state == kind:
                return
            self.state, self.since = kind, dt.datetime.now(dt.UTC)
            self.raised += 1
        # once per transition; the driver's message names the condition, never a row's content
        log.error("ALARM storage %s: writes refused until it clears (%s)", kind, type(error).__name__)

    def ok(self) -> None:
        with self._lock:
            was, refused = self.state, self.refused
            if was is None:
                return
            self.state, self.since, self.refused = None, None, 0
        log.warning("storage alarm cleared (was %s; %d requests refused meanwhile)", was, refused)

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "alarm": self.state,
                "since": self.since.isoformat() if self.since else None,
                "refused": self.refused,
                "raised": self.raised,
            }
