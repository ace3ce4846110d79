"""The release path's shortcuts keep the outbox's guarantees: a message handed from the submit transaction
straight to a delivery thread is leased in that same commit (no other worker claims it, and it is claimed
again once the lease runs out if the process dies), and a refused or failed submit gives the thread back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accord.node import db as st
from accord.node.errors import Refused
from accord.node.service import NodeService
from tests.node.helpers import Net, label


class FakeCourier:
    """Records what the service hands over instead of delivering it (a process that dies right after)."""

    def __init__(self, free: int = 1) -> None:
        self.worker = "host:1:courier"
        self.free = free
        self.handed: list[st.OutboxEntry | None] = []

    def reserve(self) -> bool:
        if self.free == 0:
            return False
        self.free -= 1
        return True

    def hand_over(self, entry: st.OutboxEntry | None) -> None:
        self.handed.append(entry)
        if entry is None:
            self.free += 1


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path, parties=("KOR", "JPN"))


def _kor(net: Net, courier: FakeCourier) -> NodeService:
    svc = net.nodes["KOR"]
    svc.courier = courier
    return svc


def test_a_handed_over_message_is_leased_in_the_submit_commit_and_reclaimed_after_the_lease(net: Net) -> None:
    kor = _kor(net, FakeCourier())
    kor.cfg.lease_seconds = 0.3
    out = kor.submit(label("kor-h1", rel=("JPN",)), b"x" * 64, "JPN", "2017-02-12")
    assert out.status == "queued"
    (entry,) = kor.courier.handed  # type: ignore[union-attr]
    assert entry is not None and entry.item_id == "kor-h1" and entry.kind == "delivery"
    (row,) = kor.store.rows(st.outbox)
    assert row["id"] == entry.id and row["leased_by"] == "host:1:courier" and row["state"] == "pending"
    assert kor.store.claim("other", limit=10, lease_seconds=30) == []  # nobody else takes it meanwhile
    time.sleep(0.35)  # the courier's process died: the lease runs out, the outbox still has the message
    (again,) = kor.store.claim("other", limit=10, lease_seconds=30)
    assert again.id == entry.id and again.body == entry.body
    # "other" delivers it, as any worker of the nation would
    answer = net.dispatch("KOR", again.kind, again.recipient, again.body, again.idem_key)
    kor.acknowledged(again, answer)
    assert kor.store.rows(st.outbox)[0]["state"] == "delivered"
    assert len(kor.store.rows(st.receipts)) == 1


def test_a_refused_submit_gives_the_reserved_thread_back_JK_R3(net: Net) -> None:
    courier = FakeCourier()
    kor = _kor(net, courier)
    with pytest.raises(Refused):
        kor.submit(label("kor-h2", rel=("USA",)), b"x" * 64, "JPN", "2017-02-12")  # not releasable to Japan
    assert courier.handed == [None] and courier.free == 1
    assert kor.store.rows(st.outbox) == []


def test_a_resubmission_hands_nothing_over_and_busy_threads_leave_it_to_the_claimer(net: Net) -> None:
    courier = FakeCourier(free=5)
    kor = _kor(net, courier)
    lab = label("kor-h3", rel=("JPN",))
    kor.submit(lab, b"x" * 64, "JPN", "2017-02-12")
    assert kor.submit(lab, b"x" * 64, "JPN", "2017-02-12").status == "already-queued"
    assert [e is not None for e in courier.handed] == [True, False]
    courier.free = 0  # every delivery thread busy: not leased, the claimer finds it
    kor.submit(label("kor-h4", rel=("JPN",)), b"x" * 64, "JPN", "2017-02-12")
    assert len(courier.handed) == 2 and courier.free == 0
    assert [e.item_id for e in kor.store.claim("w", limit=10, lease_seconds=30)] == ["kor-h4"]


def test_delivery_worker_reserve_and_hand_back_keep_its_capacity(net: Net) -> None:
    from accord.node.delivery import BACKLOG, DeliveryWorker

    w = DeliveryWorker(net.nodes["KOR"], threads=2)
    places = 2 * (1 + BACKLOG)  # two threads and their hand-over queue
    assert all(w.reserve() for _ in range(places)) and not w.reserve()  # all reserved
    w.hand_over(None)
    assert w.reserve()
    w.stop_event.set()
    assert not w.reserve()  # stopping: nothing new is taken
    w.transport.close()


def test_receipt_evidence_without_audit_sync_is_appended_by_the_request_and_checks_out(tmp_path: Path) -> None:
    net = Net(tmp_path, parties=("KOR", "JPN"))
    jpn = net.nodes["JPN"]
    jpn.cfg.audit_sync = False
    assert jpn.feeder is not None
    jpn.feeder.poll_seconds = 30  # the feeder's thread would not append in time: the request leads the append
    jpn.feeder.start()
    try:
        net.submit("KOR", label("kor-h5", rel=("JPN",)), "JPN", "2017-02-12")
        (e,) = net.nodes["KOR"].store.claim("w", limit=5, lease_seconds=30)
        t = time.monotonic()
        answer = net.dispatch("KOR", e.kind, e.recipient, e.body, e.idem_key)
        assert time.monotonic() - t < 10
        assert answer["evidence"]["format"] == "accord-audit-receipt/1"
        net.nodes["KOR"].acknowledged(e, answer)  # the sender checks the proof against JPN's audit key
        (rec,) = net.nodes["KOR"].store.rows(st.receipts)
        assert rec["evidence"] is not None
    finally:
        jpn.feeder.stop()


def test_concurrent_evidence_requests_share_appends_and_each_gets_its_own_event(tmp_path: Path) -> None:
    """Leader and followers: several requests waiting for their events at once each get the right index."""
    import json
    import threading

    net = Net(tmp_path, parties=("KOR", "JPN"))
    jpn = net.nodes["JPN"]
    jpn.cfg.audit_sync = False
    feeder = jpn.feeder
    assert feeder is not None
    ids = []
    for i in range(12):
        with jpn.store.tx() as conn:
            ids.append(jpn._event(conn, "delivery", f"e{i}", {"sender": "KOR", "digest": "0" * 64}))
    got: dict[int, int | None] = {}

    def wait(jid: int) -> None:
        got[jid] = feeder.index_of(jid, timeout=10)

    threads = [threading.Thread(target=wait, args=(j,)) for j in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert set(got) == set(ids) and all(v is not None for v in got.values())
    for jid, idx in got.items():
        assert idx is not None and json.loads(feeder.log.event(idx))["journal"] == jid
    feeder.flush()  # settles the journal's indices
    rows = {r["id"]: r["audit_idx"] for r in jpn.store.rows(st.events)}
    assert all(rows[j] == got[j] for j in ids)
    feeder.stop()


def test_an_inbound_delivery_commits_its_audit_events_and_checkpoint_with_its_state_change(tmp_path: Path) -> None:
    """Issue 8: one commit for the delivery, its custody events in the audit log, their signed checkpoint and
    the journal's indices; the evidence is answered from that commit (no second transaction)."""
    from sqlalchemy import event as sa_event

    net = Net(tmp_path, parties=("KOR", "JPN"))
    jpn = net.nodes["JPN"]
    jpn.cfg.audit_sync = False
    assert jpn.feeder is not None
    jpn.feeder.poll_seconds = 30  # the feeder's thread stays out of it
    size = jpn.feeder.log.size
    net.submit("KOR", label("kor-h6", rel=("JPN",)), "JPN", "2017-02-12")
    (e,) = net.nodes["KOR"].store.claim("w", limit=5, lease_seconds=30)
    commits: list[int] = []
    sa_event.listen(jpn.store.engine, "commit", lambda _conn: commits.append(1))
    answer = net.dispatch("KOR", e.kind, e.recipient, e.body, e.idem_key)
    assert len(commits) == 1
    assert answer["evidence"]["format"] == "accord-audit-receipt/1"
    assert jpn.feeder.log.size > size  # in the log, before any feeder append
    assert all(r["audit_idx"] is not None for r in jpn.store.rows(st.events))  # journal indices, same commit
    assert jpn.feeder.log.verify().ok  # every row covered by a signed checkpoint
    net.nodes["KOR"].acknowledged(e, answer)
    (rec,) = net.nodes["KOR"].store.rows(st.receipts)
    assert rec["evidence"] is not None


def test_a_refused_inbound_delivery_leaves_the_audit_log_tree_as_the_database_has_it(tmp_path: Path) -> None:
    """A staged append whose transaction rolls back is undone in memory: the log serves only durable events."""
    from accord.node.db.engine import Database

    net = Net(tmp_path, parties=("KOR", "JPN"))
    jpn = net.nodes["JPN"]
    feeder = jpn.feeder
    assert feeder is not None
    size = feeder.log.size
    seen: list[int] = []

    def refused_after_staging() -> None:
        with jpn.store.tx() as conn:
            jpn._event(conn, "delivery", "gone", {"sender": "KOR", "digest": "0" * 64})
            feeder.stage(conn)
            seen.extend([feeder.log._tree.size, feeder.log.size])  # staged, not yet served
            raise RuntimeError("refused after staging")

    with pytest.raises(RuntimeError):
        refused_after_staging()
    assert seen == [size + 1, size]
    assert feeder.log._tree.size == size and feeder.log.size == size
    assert jpn.store.rows(st.events, st.events.c.item_id == "gone") == []
    assert feeder.log.verify().ok
    with pytest.raises(RuntimeError):
        Database.on_outcome(jpn.store, lambda ok: None)  # outside a transaction


def test_a_message_queued_past_its_lease_is_left_to_the_next_claim_not_sent(net: Net) -> None:
    """Issue 8: the claimer fills the hand-over queue; a message still queued when its lease runs out may be held
    by another worker by then, so this one never sends it (the next claim takes it, once)."""
    import threading

    from accord.node.delivery import DeliveryWorker
    from accord.node.transport import PeerAnswer

    kor = net.nodes["KOR"]
    net.submit("KOR", label("kor-lease1", rel=("JPN",)), "JPN", "2017-02-12")
    (entry,) = kor.store.claim("host:1:w", limit=5, lease_seconds=30)
    sent: list[str] = []

    class Recording:
        def send(self, peer: object, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
            sent.append(idem_key)
            raise AssertionError("sent after its lease")

        def close(self) -> None:
            return None

    w = DeliveryWorker(kor, threads=1, transport=Recording())
    w._in_flight = 1
    w._queue.put((entry, time.monotonic() - 0.001))  # its lease ran out while it waited
    w._queue.put(None)
    t = threading.Thread(target=w._deliver_loop)
    t.start()
    t.join(5)
    assert sent == [] and w._in_flight == 0
    assert [r["state"] for r in kor.store.outbox_rows()] == ["pending"]  # still there for the next claim
