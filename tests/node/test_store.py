"""Storage details on SQLite: durability pragmas, idempotent enqueue, leases."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from accord.node import db as st


def test_sqlite_runs_in_wal_with_synchronous_full(tmp_path: Path) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    s.dispose()


def test_enqueue_is_idempotent_and_claims_do_not_overlap(tmp_path: Path) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    with s.tx() as c:
        for i in range(50):
            assert s.enqueue(c, idem_key=f"k{i}", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
        assert not s.enqueue(c, idem_key="k0", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
    got: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        mine = got.setdefault(name, [])
        while batch := s.claim(name, limit=3, lease_seconds=60):
            mine.extend(e.id for e in batch)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for v in got.values() for i in v]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 50
    s.dispose()


def test_a_lease_runs_out_and_a_retry_waits_for_its_back_off(tmp_path: Path) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    with s.tx() as c:
        s.enqueue(c, idem_key="a", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
    (e,) = s.claim("dead", limit=5, lease_seconds=0.2)
    assert s.claim("other", limit=5, lease_seconds=60) == []
    time.sleep(0.25)
    (e,) = s.claim("other", limit=5, lease_seconds=60)
    s.mark_retry(e.id, "other", "transport", 0.3, give_up=False)
    assert s.claim("other", limit=5, lease_seconds=60) == []  # backing off
    time.sleep(0.35)
    (e,) = s.claim("other", limit=5, lease_seconds=60)
    assert e.attempts == 1
    s.mark_retry(e.id, "someone-else", "late", 0, give_up=True)  # not the lease holder: no effect
    assert s.outbox_rows()[0]["state"] == "pending"
    s.mark_retry(e.id, "other", "refused", 0, give_up=True)
    assert s.outbox_rows()[0]["state"] == "failed"
    s.dispose()


def test_group_commit_shares_one_commit_and_returns_only_once_durable(tmp_path: Path) -> None:
    """Queued writers share a COMMIT; each tx() returns only after it; a failing member rolls back alone."""
    from sqlalchemy import event as sa_event
    from sqlalchemy import select

    s = st.Store(f"sqlite:///{tmp_path / 'n.db'}")
    commits: list[int] = []
    sa_event.listen(s.engine, "commit", lambda _conn: commits.append(1))
    inside = threading.Event()
    go = threading.Event()
    seen: dict[str, bool] = {}

    def visible(key: str) -> bool:
        with s.engine.connect() as c:  # another connection: sees only what is committed
            return c.execute(select(st.outbox.c.id).where(st.outbox.c.idem_key == key)).first() is not None

    def writer(key: str, *, block: bool = False, fail: bool = False) -> None:
        try:
            with s.tx() as c:
                s.enqueue(c, idem_key=key, kind="delivery", recipient="JPN", body=b"{}", at_date="x")
                if block:
                    inside.set()
                    go.wait(5)
                if fail:
                    raise RuntimeError("refused")
        except RuntimeError:
            seen[key] = visible(key)
            return
        seen[key] = visible(key)  # durable before tx() returned

    first = threading.Thread(target=writer, args=("a",), kwargs={"block": True})
    first.start()
    assert inside.wait(5)
    others = [
        threading.Thread(target=writer, args=("b",)),
        threading.Thread(target=writer, args=("c",), kwargs={"fail": True}),
        threading.Thread(target=writer, args=("d",)),
    ]
    for t in others:
        t.start()
    deadline = time.monotonic() + 5
    while s._queued < 3 and time.monotonic() < deadline:  # all three wait behind the first
        time.sleep(0.01)
    go.set()
    for t in [first, *others]:
        t.join(10)
    assert seen == {"a": True, "b": True, "c": False, "d": True}
    assert sorted(r["idem_key"] for r in s.outbox_rows()) == ["a", "b", "d"]  # b and d queue in thread order
    assert len(commits) == 1  # four transactions, one COMMIT
    with s.tx() as c:  # alone: a commit of its own, at once
        s.enqueue(c, idem_key="e", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
    assert len(commits) == 2

    # the group's first member fails while others wait behind it: it alone is rolled back
    inside.clear()
    go.clear()
    seen.clear()
    first = threading.Thread(target=writer, args=("f",), kwargs={"block": True, "fail": True})
    first.start()
    assert inside.wait(5)
    others = [threading.Thread(target=writer, args=(k,)) for k in ("g", "h")]
    for t in others:
        t.start()
    deadline = time.monotonic() + 5
    while s._queued < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.set()
    for t in [first, *others]:
        t.join(10)
    assert seen == {"f": False, "g": True, "h": True}
    # g and h queue in whatever order the scheduler starts them
    assert sorted(r["idem_key"] for r in s.outbox_rows()) == ["a", "b", "d", "e", "g", "h"]
    s.dispose()
