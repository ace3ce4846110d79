"""The same node code on PostgreSQL: storage, the service, and two processes sharing one outbox."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from accord.node import db as st
from accord.node.cluster import NodeProcess, free_port, init_node, pin_each_other
from accord.node.wiring import load_service
from tests.node.helpers import Net, label
from tests.node.test_integration import FAST, rows, wait_for

pytestmark = pytest.mark.integration


def test_claims_never_overlap_under_concurrency_skip_locked(node_pg_url: str) -> None:
    store = st.Store(node_pg_url)
    with store.tx() as conn:
        for i in range(200):
            store.enqueue(conn, idem_key=f"k{i}", kind="delivery", recipient="JPN", body=b"{}", at_date="2017-01-01")
    claimed: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        mine = claimed.setdefault(name, [])
        while True:
            got = store.claim(name, limit=7, lease_seconds=60)
            if not got:
                return
            mine.extend(e.id for e in got)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == 200
    assert len(set(every)) == 200  # no message leased twice
    assert sum(1 for ids in claimed.values() if ids) >= 2
    store.dispose()


def test_expired_lease_is_claimed_again(node_pg_url: str) -> None:
    store = st.Store(node_pg_url)
    with store.tx() as conn:
        store.enqueue(conn, idem_key="a", kind="delivery", recipient="JPN", body=b"{}", at_date="2017-01-01")
    assert len(store.claim("dead-worker", limit=5, lease_seconds=0.2)) == 1
    assert store.claim("other", limit=5, lease_seconds=30) == []
    time.sleep(0.3)
    assert [e.idem_key for e in store.claim("other", limit=5, lease_seconds=30)] == ["a"]
    store.dispose()


def test_relay_consent_and_replay_with_the_hub_on_postgres(tmp_path: Path, node_pg_url: str) -> None:
    net = Net(tmp_path, dbs={"USA": node_pg_url})
    net.nodes["KOR"].store.prune_delivered = False  # keep the delivered envelope to replay it
    net.submit("KOR", label("kor-pg-1"), "JPN", "2015-04-12")
    net.pump()
    assert net.nodes["JPN"].item_status("kor-pg-1")["sender"] == "USA"
    assert [i["state"] for i in net.nodes["USA"].item_status("kor-pg-1")["inbox"]] == ["relayed"]
    net.submit("KOR", label("kor-pg-2", topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    assert net.nodes["USA"].forward("kor-pg-2", "JPN", "2015-06-22").status == "held"
    net.pump()
    req = net.nodes["KOR"].consent_requests("pending")[0]
    net.nodes["KOR"].decide_consent(req["request_id"], True, "officer")
    net.pump()
    assert net.nodes["JPN"].item_status("kor-pg-2")["sender"] == "USA"
    body = net.nodes["KOR"].store.rows(st.outbox, st.outbox.c.item_id == "kor-pg-1")[0]
    again = net.dispatch("KOR", "delivery", "USA", bytes(body["body"]), body["idem_key"])
    assert again["replay"]
    assert len(net.nodes["USA"].store.rows(st.inbox, st.inbox.c.item_id == "kor-pg-1")) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_of_one_nation_share_the_outbox(tmp_path: Path, backend: str, request: Any) -> None:
    db = request.getfixturevalue("node_pg_url") if backend == "postgresql" else None
    kor = init_node(tmp_path / "kor", "KOR", db=db, **FAST)  # type: ignore[arg-type]
    jpn = init_node(tmp_path / "jpn", "JPN", **FAST)  # type: ignore[arg-type]
    pin_each_other([kor, jpn])
    n = 80
    pj = NodeProcess(jpn, workers=2).start()
    pk1 = NodeProcess(kor, workers=2)
    pk2 = NodeProcess(kor, workers=2, port=free_port(), audit=False)  # one audit writer per nation
    try:
        pk1.start()
        pk2.start()
        svc = load_service(kor.dir)  # this nation's system queues while both processes serve
        for i in range(n):
            svc.submit(label(f"kor-sh-{i:03d}", rel=("JPN",)), b"y" * 1024, "JPN", "2017-02-12")
        svc.store.dispose()
        wait_for(lambda: all(r["state"] == "delivered" for r in rows(kor, st.outbox)), timeout=60, what="delivered")
    finally:
        pk1.stop()
        pk2.stop()
        pj.stop()
    assert sorted(r["item_id"] for r in rows(jpn, st.inbox)) == [f"kor-sh-{i:03d}" for i in range(n)]
    assert [r for r in rows(jpn, st.events) if r["type"] == "replay"] == []  # no message was sent twice
    pids = {str(r["leased_by"]).split(":")[1] for r in rows(kor, st.outbox)}
    assert len(pids) == 2, pids  # both processes delivered part of the outbox
    assert len(rows(kor, st.receipts)) == n


def test_concurrent_duplicate_deliveries_store_once_on_postgres(tmp_path: Path, node_pg_url: str) -> None:
    # the same delivery arriving twice at the same moment (a retry racing the original): one stores it,
    # the other is told to retry (503) or gets the replayed receipt; never a second copy
    from accord.node.errors import Busy

    net = Net(tmp_path, parties=("KOR", "JPN"), dbs={"JPN": node_pg_url})
    net.submit("KOR", label("kor-cc-1", rel=("JPN",)), "JPN", "2017-02-12")
    (entry,) = net.nodes["KOR"].store.claim("w", limit=5, lease_seconds=60)
    outcomes: list[str] = []

    def deliver() -> None:
        try:
            a = net.dispatch("KOR", "delivery", "JPN", entry.body, entry.idem_key)
            outcomes.append("replay" if a["replay"] else "stored")
        except Busy:
            outcomes.append("busy")

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("stored") == 1, outcomes
    assert len(net.nodes["JPN"].store.rows(st.inbox)) == 1
    assert len(net.nodes["JPN"].store.rows(st.items)) == 1
