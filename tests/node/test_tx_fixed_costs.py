"""Issue 8, wave 6 (leantx): the fixed costs of a transaction, cut without changing what a commit means.

- SQLite: the group commit keeps its connection from one transaction to the next (no pool checkout and return
  per transaction); a group that failed to commit never hands its connection to the next one; an
  ``engine.dispose()`` (fresh connections wanted) drops it too.
- ``BEGIN IMMEDIATE`` runs on the driver connection; a database held by another writer past the busy timeout is
  still a storage fault (503), and the transaction still takes the write lock at once.
- Both dialects: transactions commit, roll back and group exactly as before (the ``store`` fixture).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import DBAPIError

from accord.node import db as st
from accord.node.db.faults import storage_fault


def _checkouts(store: st.Store) -> list[int]:
    seen: list[int] = []

    @event.listens_for(store.engine, "checkout")
    def _count(*_a: Any) -> None:
        seen.append(1)

    return seen


def _writer(store: st.Store) -> Any:
    """The group commit's kept connection (None: none kept)."""
    return store._writer


def _enqueue(store: st.Store, conn: Any, key: str) -> None:
    store.enqueue(conn, idem_key=key, kind="delivery", recipient="JPN", body=b"{}", at_date="2017-02-12")


def test_sqlite_group_commit_keeps_its_connection_between_transactions(tmp_path: Path) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    seen = _checkouts(s)
    for i in range(20):
        with s.tx() as conn:
            _enqueue(s, conn, f"kor-k{i}")
    assert len(seen) <= 1  # one checkout for 20 transactions (was one each)
    assert len(s.outbox_rows()) == 20  # every one committed (a fresh connection reads them)
    s.dispose()


def test_a_rolled_back_transaction_leaves_nothing_for_the_next_on_the_kept_connection(tmp_path: Path) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")

    def refused() -> None:
        with s.tx() as conn:
            _enqueue(s, conn, "kor-gone")
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        refused()
    with s.tx() as conn:
        assert not conn.in_nested_transaction()
        _enqueue(s, conn, "kor-kept")
    assert [r["idem_key"] for r in s.outbox_rows()] == ["kor-kept"]
    s.dispose()


def test_a_failed_commit_never_hands_its_connection_to_the_next_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    with s.tx() as conn:
        _enqueue(s, conn, "kor-a")
    kept = _writer(s)
    assert kept is not None
    real = type(kept).commit

    def failing(self: Any) -> None:
        if self is kept:
            raise DBAPIError.instance("COMMIT", None, sqlite3.OperationalError("disk I/O error"), sqlite3.Error)
        real(self)

    monkeypatch.setattr(type(kept), "commit", failing)

    def fails() -> None:
        with s.tx() as conn:
            _enqueue(s, conn, "kor-b")

    with pytest.raises(DBAPIError):
        fails()
    monkeypatch.undo()
    assert _writer(s) is None and kept.closed  # dropped, never reused
    with s.tx() as conn:
        _enqueue(s, conn, "kor-c")
    assert _writer(s) is not None and _writer(s) is not kept
    assert sorted(r["idem_key"] for r in s.outbox_rows()) == ["kor-a", "kor-c"]  # kor-b was rolled back
    s.dispose()


def test_engine_dispose_drops_the_kept_connection(tmp_path: Path) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    with s.tx() as conn:
        _enqueue(s, conn, "kor-a")
    kept = _writer(s)
    s.engine.dispose()  # e.g. new pragmas for every connection from now on
    with s.tx() as conn:
        _enqueue(s, conn, "kor-b")
    assert _writer(s) is not kept and kept is not None and kept.closed
    s.dispose()


def test_begin_immediate_on_a_database_another_writer_holds_is_a_storage_fault(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    s = st.Store(f"sqlite:///{path}")

    @event.listens_for(s.engine, "connect")
    def _short(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    s.engine.dispose()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer
    try:
        with pytest.raises(DBAPIError) as e:
            s.tx().__enter__()
        assert storage_fault(e.value) == "unavailable"  # answered 503, as before
        assert "BEGIN IMMEDIATE" in str(e.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with s.tx() as conn:  # free again: the next transaction goes through
        _enqueue(s, conn, "kor-a")
    assert len(s.outbox_rows()) == 1
    s.dispose()


def test_the_write_transaction_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE, not a deferred BEGIN: while a transaction is open (before any statement of its own),
    another connection cannot begin writing."""
    path = tmp_path / "n.db"
    s = st.Store(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    try:
        with s.tx(), pytest.raises(sqlite3.OperationalError):
            other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
    s.dispose()


def test_transactions_commit_roll_back_and_group_on_both_dialects(store: st.Store) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                try:
                    with store.tx() as conn:
                        _enqueue(store, conn, f"kor-t{n}-{i}")
                        if i % 3 == 0:
                            raise ValueError("this member only")
                except ValueError:
                    pass
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with store.engine.connect() as c:
        keys = sorted(r[0] for r in c.execute(select(st.outbox.c.idem_key)))
    assert keys == sorted(f"kor-t{n}-{i}" for n in range(4) for i in range(10) if i % 3)


def _notice(store: st.Store, n: int, kind: str) -> None:
    from accord.node.db import notices_sql

    with store.tx() as conn:
        conn.execute(
            insert(notices_sql.custody_notices),
            {
                "digest": f"{n:064x}",
                "role": "received",
                "kind": kind,
                "item_id": "kor-fx-1",
                "originator": "KOR",
                "holder": "JPN",
                "signer": "KOR",
                "peer": "KOR",
                "doc": json.dumps({"sequence": n}),
                "applied": "[]",
                "created_at": st.now(),
            },
        )


def test_reads_outside_a_transaction_take_no_pool_connection_and_see_the_last_commit(tmp_path: Path) -> None:
    """The freeze gate's read and the feeder's pending check run on this thread's kept plain connection (no
    checkout, no reset on return), and each read sees what was committed just before it (no stale snapshot)."""
    from accord.node.db import events_sql, notices_sql

    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    with s.tx():
        pass  # the writer's one checkout
    seen = _checkouts(s)
    for n in range(1, 6):
        _notice(s, n, "freeze" if n % 2 else "unfreeze")
        rows = notices_sql.read_notices_for(s, "kor-fx-1")
        assert [r["kind"] for r in rows][-1] == ("freeze" if n % 2 else "unfreeze") and len(rows) == n
        assert events_sql.read_pending_ids(s, 5) == []
    assert seen == []  # none: was two per round (the two reads)
    conn = s.read_conn()
    assert conn is not None and conn is s.read_conn()  # kept, per thread
    other: list[Any] = []
    t = threading.Thread(target=lambda: other.append(s.read_conn()))
    t.start()
    t.join()
    assert other[0] is not None and other[0] is not conn
    s.dispose()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the store
        conn.execute("SELECT 1")


def test_the_reads_outside_a_transaction_on_both_dialects(store: st.Store) -> None:
    """The same rows through the kept read connection (SQLite) or a pooled one (PostgreSQL: none kept)."""
    from accord.node.db import events_sql, notices_sql

    assert (store.read_conn() is not None) == store.is_sqlite
    _notice(store, 1, "freeze")
    rows = notices_sql.read_notices_for(store, "kor-fx-1")
    assert [(r["kind"], r["originator"], r["digest"]) for r in rows] == [("freeze", "KOR", f"{1:064x}")]
    assert events_sql.read_pending_ids(store, 5) == []


def test_driver_statements_bind_and_read_as_sqlalchemy_with_literals_and_repeated_binds(store: st.Store) -> None:
    """The driver's parameter building (no copy unless the statement has literals; bind processors by position,
    a name bound twice processed at each place) and its row reading (no processing when no column has a
    result processor) give what ``Connection.execute`` gives, on both dialects."""
    import datetime as dt

    from sqlalchemy import and_, bindparam, literal, or_

    from accord.node.db.driver import DriverSql

    t = dt.datetime(2026, 11, 30, 8, 30, 1, 250000, tzinfo=dt.UTC)
    with store.tx() as conn:
        for i in range(3):
            store.enqueue(conn, idem_key=f"kor-d{i}", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
        conn.execute(st.outbox.update().values(next_attempt_at=t))
    when = bindparam("t", type_=st.outbox.c.next_attempt_at.type)
    q = (
        select(st.outbox.c.id, st.outbox.c.next_attempt_at, literal("kor").label("tag"))
        .where(or_(st.outbox.c.next_attempt_at == when, st.outbox.c.created_at == when))
        .where(and_(st.outbox.c.kind == literal("delivery"), st.outbox.c.recipient == bindparam("to")))
        .order_by(st.outbox.c.id)
    )
    ids = select(st.outbox.c.id).where(st.outbox.c.recipient == bindparam("to")).order_by(st.outbox.c.id)
    params = {"t": t, "to": "JPN"}
    with store.tx() as conn:
        want = [tuple(r) for r in conn.execute(q, params)]
        assert DriverSql(q).all(conn, params) == want and len(want) == 3
        assert DriverSql(ids).all(conn, {"to": "JPN"}) == [tuple(r) for r in conn.execute(ids, {"to": "JPN"})]
    assert params == {"t": t, "to": "JPN"}  # the caller's parameters untouched


def test_the_delivery_envelope_is_the_canonical_json_of_its_fields() -> None:
    """``envelope_json`` (the sealed container's base64 placed between quotes, not scanned by the encoder) gives
    byte for byte ``canonical_json`` of the envelope: what the recipient parses and the receipt check keeps."""
    import base64

    from hypothesis import given, settings
    from hypothesis import strategies as hs

    from accord.formats.canonical import canonical_json
    from accord.node.flow.outbound import envelope_json

    scalars = hs.one_of(hs.none(), hs.booleans(), hs.integers(-(2**40), 2**40), hs.text(max_size=12))
    values = hs.recursive(
        scalars, lambda c: hs.lists(c, max_size=3) | hs.dictionaries(hs.text(max_size=8), c, max_size=3)
    )
    envs = hs.dictionaries(hs.text(max_size=16), values, max_size=7)

    @settings(max_examples=300, deadline=None)
    @given(envs, hs.binary(max_size=64))
    def check(env: dict[str, Any], sealed: bytes) -> None:
        want = canonical_json({**env, "sealed": base64.b64encode(sealed).decode()})
        assert envelope_json(env, sealed) == want

    check()
    real = {"item_id": "kor-1", "sender": "KOR", "final_recipient": "JPN", "at": "2017-02-12", "consents": []}
    sealed = bytes(range(256)) * 60
    assert envelope_json(real, sealed) == canonical_json({**real, "sealed": base64.b64encode(sealed).decode()})
    assert json.loads(envelope_json(real, sealed))["sealed"] == base64.b64encode(sealed).decode()


def test_a_partners_audit_key_is_parsed_once_and_a_malformed_one_refused_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from accord.audit import note
    from accord.audit.errors import MalformedNoteError
    from accord.node.flow import receipts

    calls: list[str] = []
    real = note.parse_vkey

    def counted(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(note, "parse_vkey", counted)
    receipts._vkey.cache_clear()
    vkey = note.NoteSigner.generate("accord.jpn.node/audit").vkey
    assert receipts._vkey(vkey) is receipts._vkey(vkey)
    assert calls == [vkey]
    for _ in range(2):
        with pytest.raises(MalformedNoteError):
            receipts._vkey("jpn+00+bad")
    assert calls == [vkey, "jpn+00+bad", "jpn+00+bad"]
    receipts._vkey.cache_clear()
