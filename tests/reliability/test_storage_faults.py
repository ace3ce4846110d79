"""Which database errors are a full volume, which a database that is away, and which neither (a bug: 500)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from accord.node.db.faults import StorageAlarm, storage_fault


def _raised(url: str, *statements: str) -> DBAPIError:
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            for s in statements:
                c.execute(text(s))
    except DBAPIError as e:
        return e
    finally:
        engine.dispose()
    raise AssertionError("no error")


def test_sqlite_full_from_max_page_count_is_full(tmp_path: Path) -> None:
    e = _raised(
        f"sqlite:///{tmp_path / 'x.db'}",
        "CREATE TABLE t (b BLOB)",
        "PRAGMA max_page_count=3",
        "INSERT INTO t VALUES (zeroblob(100000))",
    )
    assert isinstance(e.orig, sqlite3.Error)
    assert storage_fault(e) == "full"


def test_constraint_violation_and_syntax_error_are_not_storage_faults(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'y.db'}"
    dup = _raised(url, "CREATE TABLE t (k INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)")
    assert isinstance(dup, IntegrityError) and storage_fault(dup) is None
    bad = _raised(url, "SELEC 1")
    assert storage_fault(bad) is None
    assert storage_fault(ValueError("disk is full")) is None  # only what the database driver raised


def test_postgres_disk_full_and_lost_connection_by_sqlstate() -> None:
    class PgError(Exception):
        def __init__(self, sqlstate: str | None) -> None:
            super().__init__("x")
            self.sqlstate = sqlstate

    def wrapped(sqlstate: str | None, *, invalidated: bool = False) -> OperationalError:
        return OperationalError("INSERT", {}, PgError(sqlstate), connection_invalidated=invalidated)

    assert storage_fault(wrapped("53100")) == "full"  # disk_full
    assert storage_fault(wrapped("08006")) == "unavailable"  # connection_failure
    assert storage_fault(wrapped("57P01")) == "unavailable"  # admin_shutdown
    assert storage_fault(wrapped("57P03")) == "unavailable"  # cannot_connect_now (recovery)
    assert storage_fault(wrapped(None, invalidated=True)) == "unavailable"
    assert storage_fault(wrapped("23505")) is None  # unique_violation: a bug, answered 500


def test_postgres_server_gone_is_unavailable() -> None:
    psycopg = pytest.importorskip("psycopg")
    e = _raised("postgresql+psycopg://postgres@/postgres?host=/nonexistent-accord-socket-dir&port=1", "SELECT 1")
    assert isinstance(e.orig, psycopg.OperationalError)
    assert storage_fault(e) == "unavailable"


def test_storage_alarm_raises_once_counts_and_clears(caplog: pytest.LogCaptureFixture) -> None:
    alarm = StorageAlarm()
    err = RuntimeError("x")
    alarm.fault("full", err)
    alarm.fault("full", err)
    h = alarm.health()
    assert (h["alarm"], h["refused"], h["raised"]) == ("full", 2, 1)
    assert sum("ALARM storage full" in r.message for r in caplog.records) == 1
    alarm.ok()
    h = alarm.health()
    assert (h["alarm"], h["refused"], h["since"]) == (None, 0, None)
    alarm.fault("unavailable", err)
    assert alarm.health()["raised"] == 2
