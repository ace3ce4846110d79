"""Issue 8 (latency): background work lets a release in flight go first, and a handed-over delivery starts at once.

- The audit feeder's batch waits, a bounded time, for a gap in the node's release work (node/activity.py):
  never while a submit, an inbound delivery or an acknowledgement runs -- unless the node is never quiet, then
  after the bound, as before (nothing is skipped).
- An idle delivery thread takes a message handed over by a submit before the submitting thread goes on to
  answer its client; a message queued behind busy threads costs the submitter no wait.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from accord.node import audit, delivery
from accord.node import db as st
from accord.node.activity import NO_ACTIVITY, Activity, activity_of
from accord.node.audit import AuditFeeder
from accord.node.delivery import DeliveryWorker
from tests.node.helpers import Net, label


def test_a_quiet_node_is_quiet_at_once() -> None:
    a = Activity()
    t = time.monotonic()
    assert a.wait_quiet(1.0) is True
    assert time.monotonic() - t < 0.1


def test_background_work_waits_while_release_work_runs_and_goes_when_it_ends() -> None:
    a = Activity()
    entered, release = threading.Event(), threading.Event()

    def work() -> None:
        with a.busy():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=work)
    t.start()
    entered.wait(5)
    assert a.in_progress == 1
    assert a.wait_quiet(0.05) is False  # bounded: a node that is never quiet still runs the batch
    waited: list[float] = []

    def waiter() -> None:
        t0 = time.monotonic()
        assert a.wait_quiet(5.0)
        waited.append(time.monotonic() - t0)

    w = threading.Thread(target=waiter)
    w.start()
    time.sleep(0.1)
    assert not waited  # still waiting: the release work runs
    release.set()
    t.join(5)
    w.join(5)
    assert waited and 0.09 < waited[0] < 2.0 and a.in_progress == 0


def test_a_sender_prefers_the_moment_its_partner_works_on_a_delivery() -> None:
    a = Activity()
    sent, answer = threading.Event(), threading.Event()

    def delivery() -> None:
        with a.awaiting():
            sent.set()
            answer.wait(5)
        with a.busy():  # the acknowledgement: release work again
            time.sleep(0.2)

    t = threading.Thread(target=delivery)
    t.start()
    sent.wait(5)
    assert a.wait_quiet(1.0) is True  # in flight, nothing else runs: go now
    answer.set()
    time.sleep(0.05)
    t0 = time.monotonic()
    assert a.wait_quiet(1.0) is True  # a recent sender with nothing in flight: after the acknowledgement
    assert time.monotonic() - t0 > 0.1
    t.join(5)


def test_a_partner_s_work_is_taken_as_a_gap_only_at_its_start() -> None:
    a = Activity()
    first, second, stop = threading.Event(), threading.Event(), threading.Event()

    def delivery(sent: threading.Event) -> None:
        with a.awaiting():
            sent.set()
            stop.wait(5)

    t1 = threading.Thread(target=delivery, args=(first,))
    t1.start()
    first.wait(5)
    time.sleep(0.05)  # late in the partner's work: a batch begun now would outlast it
    got: list[float] = []
    w = threading.Thread(target=lambda: got.append(time.monotonic()) if a.wait_quiet(2.0) else None)
    w.start()
    time.sleep(0.1)
    assert not got  # not taken: waiting for the next delivery's start
    sent_at = time.monotonic()
    t2 = threading.Thread(target=delivery, args=(second,))
    t2.start()
    w.join(5)
    assert got and got[0] >= sent_at and got[0] - sent_at < 0.5
    stop.set()
    t1.join(5)
    t2.join(5)


def test_a_node_without_a_feeder_shares_the_no_op_activity(tmp_path: Path) -> None:
    net = Net(tmp_path, ("KOR", "JPN"), audit=False)
    assert activity_of(net.nodes["KOR"]) is NO_ACTIVITY
    net = Net(tmp_path / "b", ("KOR", "JPN"), audit=True)
    feeder = net.nodes["KOR"].feeder
    assert feeder is not None and activity_of(net.nodes["KOR"]) is feeder.activity


def _feeder_net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: float) -> tuple[Net, list[float]]:
    net = Net(tmp_path, ("KOR", "JPN"), audit=True)
    kor = net.nodes["KOR"]
    feeder = kor.feeder
    assert feeder is not None
    kor.cfg.audit_sync = False  # events left to the feeder's thread (a node without audit_sync)
    feeder.poll_seconds = 30.0  # no timer during the test: the batch is started by wake()
    monkeypatch.setattr(audit, "QUIET_WAIT", bound)
    flushed: list[float] = []
    real_flush = feeder.flush

    def flush(limit: int = 2000) -> int:
        flushed.append(time.monotonic())
        return real_flush(limit)

    monkeypatch.setattr(feeder, "flush", flush)
    return net, flushed


def _stop(feeder: AuditFeeder) -> None:
    feeder._stop.set()
    feeder._wake.set()
    assert feeder._thread is not None
    feeder._thread.join(5)


def test_the_feeder_batch_waits_for_the_release_in_progress_then_appends_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, flushed = _feeder_net(tmp_path, monkeypatch, bound=3.0)
    kor = net.nodes["KOR"]
    feeder = kor.feeder
    assert feeder is not None
    net.submit("KOR", label("kor-act-1", rel=("JPN",)), "JPN", "2017-02-12")
    pending = st.events.c.audit_idx.is_(None)
    assert kor.store.count(st.events, pending) > 0
    feeder.start()
    try:
        with feeder.activity.busy():  # a release in progress
            t0 = time.monotonic()
            feeder.wake()  # the batch is due
            time.sleep(0.2)
            assert not flushed  # ...but waits for the gap
        released = time.monotonic()
        deadline = released + 2.5
        while not flushed and time.monotonic() < deadline:
            time.sleep(0.005)
        assert flushed and released <= flushed[0] < released + 1.5 and flushed[0] - t0 < 3.0
        deadline = time.monotonic() + 5
        while kor.store.count(st.events, pending) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert kor.store.count(st.events, pending) == 0  # nothing skipped
    finally:
        _stop(feeder)


def test_a_feeder_batch_on_a_node_that_is_never_quiet_runs_after_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, flushed = _feeder_net(tmp_path, monkeypatch, bound=0.1)
    feeder = net.nodes["KOR"].feeder
    assert feeder is not None
    feeder.start()
    try:
        with feeder.activity.busy():
            t0 = time.monotonic()
            feeder.wake()
            deadline = t0 + 5
            while not flushed and time.monotonic() < deadline:
                time.sleep(0.005)
            assert flushed and 0.09 <= flushed[0] - t0 < 5  # the bound, not the end of the work
    finally:
        _stop(feeder)


class _SlowTransport:
    """Records when a delivery thread starts sending; answers like a partner that is unreachable."""

    def __init__(self) -> None:
        self.started: list[float] = []

    def send(self, *a: object, **k: object) -> object:
        from accord.node.transport import TransportError

        self.started.append(time.monotonic())
        raise TransportError("transport: unreachable")

    def close(self) -> None:
        return None


@pytest.fixture
def worker(tmp_path: Path) -> DeliveryWorker:
    net = Net(tmp_path, ("KOR", "JPN"), audit=False)
    return DeliveryWorker(net.nodes["KOR"], threads=1, transport=_SlowTransport())  # type: ignore[arg-type]


def _entry(worker: DeliveryWorker, item: str) -> st.OutboxEntry:
    svc = worker.service
    svc.submit(label(item, rel=("JPN",)), b"x" * 64, "JPN", "2017-02-12")
    (e,) = [x for x in svc.store.claim("test", limit=10, lease_seconds=30) if x.item_id == item]
    return e


def test_an_idle_delivery_thread_takes_the_handed_over_message_before_the_submitter_goes_on(
    worker: DeliveryWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "PICKUP_WAIT", 5.0)  # a loaded machine may take a while to schedule the thread
    e = _entry(worker, "kor-act-2")
    worker.threads[1].start()  # the delivery thread only: no claimer
    try:
        assert worker.reserve()  # idle thread
        t0 = time.monotonic()
        worker.hand_over(e)
        assert worker._picks == 1, "the delivery thread had not taken the message when hand_over returned"
        assert time.monotonic() - t0 < 4.0
        deadline = time.monotonic() + 5
        while not worker.transport.started and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.005)
        assert worker.transport.started  # type: ignore[attr-defined]
    finally:
        worker.stop_event.set()
        worker._queue.put(None)
        worker.threads[1].join(5)


def test_a_message_queued_behind_a_busy_thread_costs_the_submitter_no_wait(
    worker: DeliveryWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "PICKUP_WAIT", 5.0)
    e = _entry(worker, "kor-act-3")
    assert worker.reserve()  # the one thread, reserved (never started: busy)
    assert worker.reserve()  # a place in the hand-over queue
    t0 = time.monotonic()
    worker.hand_over(e)
    assert time.monotonic() - t0 < 2.0  # not waited for: nobody idle would take it
    assert worker._queue.qsize() == 1 and worker._picks == 0
