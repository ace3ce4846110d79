"""How many deliveries a node keeps in flight (issue 8, throughput): under sustained submissions each delivery
waits mostly on its partner and on hand-offs, so the node's default keeps eight in flight at once -- and a
partner's default connection cap still admits them (one keep-alive connection per delivery thread)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from accord.node import db as st
from accord.node.config import NodeConfig
from accord.node.delivery import DELIVERY_THREADS, DeliveryWorker
from accord.node.transport import InMemoryTransport, PeerAnswer
from tests.node.helpers import Net, label


class _Gate:
    """A partner that answers only once ``want`` deliveries are waiting for it at the same time."""

    def __init__(self, inner: InMemoryTransport, want: int) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(want, timeout=10)
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.broken = False

    def send(self, peer: Any, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            self.broken = True
        finally:
            with self.lock:
                self.now -= 1
        return self.inner.send(peer, kind, body, idem_key)

    def close(self) -> None:
        self.inner.close()


def test_a_node_keeps_eight_deliveries_in_flight_by_default(tmp_path: Path) -> None:
    net = Net(tmp_path, parties=("KOR", "JPN"))
    kor = net.nodes["KOR"]
    gate = _Gate(InMemoryTransport("KOR", net.nodes), 8)
    worker = DeliveryWorker(kor, transport=gate)
    kor.courier = worker
    worker.start()
    try:
        for i in range(8):
            net.submit("KOR", label(f"kor-inflight-{i}", rel=("JPN",)), "JPN", "2017-02-12")
        deadline = time.monotonic() + 30
        while len(kor.store.rows(st.receipts)) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert worker.size == DELIVERY_THREADS >= 8
    assert not gate.broken and gate.most == 8  # all eight waited for the partner together
    assert len(kor.store.rows(st.receipts)) == 8
    assert {r["state"] for r in kor.store.outbox_rows()} == {"delivered"}


def test_the_app_and_the_server_deliver_with_the_default_thread_count(tmp_path: Path) -> None:
    import inspect

    from accord.node.app import create_app, serve

    net = Net(tmp_path, parties=("KOR", "JPN"))
    kor = net.nodes["KOR"]
    create_app(kor)
    assert isinstance(kor.courier, DeliveryWorker) and kor.courier.size == DELIVERY_THREADS
    assert inspect.signature(serve).parameters["workers"].default == DELIVERY_THREADS


def test_a_partners_default_connection_cap_admits_the_delivery_threads_of_several_processes() -> None:
    # one keep-alive connection per delivery thread and partner; a nation may serve from several processes
    assert NodeConfig.max_peer_connections >= 4 * DELIVERY_THREADS
