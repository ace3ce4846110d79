"""Storage details on SQLite: durability pragmas, idempotent enqueue, leases."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from accord.node import store as st


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
            assert st.Store.enqueue(c, idem_key=f"k{i}", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
        assert not st.Store.enqueue(c, idem_key="k0", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
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
        st.Store.enqueue(c, idem_key="a", kind="delivery", recipient="JPN", body=b"{}", at_date="x")
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
