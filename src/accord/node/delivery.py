"""The outbox worker: claims due messages (leases; SKIP LOCKED on PostgreSQL) and delivers them.

Retries with exponential back-off and jitter on transport errors and 5xx answers; a 4xx answer is a
refusal (recorded, not retried). The idempotency key travels in the ``Idempotency-Key`` header and the
recipient deduplicates on (item id, sender), so a message re-sent after a crash is stored once.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import uuid

from accord.errors import AccordError
from accord.node.activity import activity_of
from accord.node.db import OutboxEntry
from accord.node.service import NodeService
from accord.node.transport import HttpsTransport, PeerTransport, TransportError

log = logging.getLogger("accord.node.delivery")

#: Delivery threads of a node (``--workers``): each has one delivery in flight at a time, its partner's answer
#: awaited on a blocking connection. Under sustained submissions a delivery takes far longer than its CPU (the
#: partner's work, three GIL hand-offs on each side, the acknowledgement's turn at the writer): with 4 threads
#: the hand-over sat at its cap and the outbox queued behind them (issue 8, docs/performance.md "Wave 6 — tput").
DELIVERY_THREADS = 8
BACKLOG = 4  # messages per delivery thread that may wait in the hand-over queue (see DeliveryWorker.reserve)
#: The longest a submitting thread waits for an idle delivery thread to take the message it handed over.
PICKUP_WAIT = 0.002


class DeliveryWorker:
    """One claimer thread and ``threads`` delivery threads sharing one :class:`PeerClients`.

    The claimer leases as many due messages as there are idle delivery threads and hands them over: up to
    ``threads`` deliveries are in flight at once, none waits behind another's slow peer, and an idle node
    polls the outbox from one thread only (with a plain read, see :meth:`Store.claim`). :meth:`wake` (called
    after a transaction that queued something) makes the claimer look at once instead of at the next poll.
    """

    def __init__(
        self, service: NodeService, *, threads: int = DELIVERY_THREADS, transport: PeerTransport | None = None
    ) -> None:
        self.service = service
        self.cfg = service.cfg
        self.transport: PeerTransport = transport or HttpsTransport(service.cfg, service.roster)
        self.size = max(1, threads)
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        # (entry, the monotonic time its lease runs out less a margin): a message still queued then is left to the
        # next claim instead of being delivered by a worker whose lease has gone (another may hold it by then).
        self._queue: queue.SimpleQueue[tuple[OutboxEntry, float] | None] = queue.SimpleQueue()
        self._picked = threading.Condition()  # notified each time a delivery thread takes a message
        self._picks = 0
        self._capacity = threading.Condition()
        self._in_flight = 0
        self._handed = threading.local()
        self.activity = activity_of(service)  # what the audit feeder's batch lets go first (node/activity.py)
        self.threads = [threading.Thread(target=self._claim_loop, daemon=True, name="accord-claim")] + [
            threading.Thread(target=self._deliver_loop, daemon=True, name=f"accord-delivery-{i}")
            for i in range(self.size)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake_event.set()
        with self._capacity:
            self._capacity.notify_all()
        for _ in range(self.size):
            self._queue.put(None)
        for t in self.threads:
            t.join(timeout=5)
        self.transport.close()

    def reserve(self) -> bool:
        """Reserve a place for a message about to be committed (see :meth:`hand_over`): an idle delivery thread
        or, when all are busy, a place in the hand-over queue (up to ``BACKLOG`` messages per thread), so that
        a burst of submissions goes straight to the delivery threads instead of through a claim transaction
        (one commit more per message). The queue is short against the lease: a queued message is delivered
        long before another claimer could take it over."""
        with self._capacity:
            self._handed.flag = False
            if self.stop_event.is_set() or self._in_flight >= self.size * (1 + BACKLOG):
                return False
            self._handed.idle = self._in_flight < self.size  # a delivery thread waits for this message
            self._in_flight += 1
            return True

    def hand_over(self, entry: OutboxEntry | None) -> None:
        """Give the reserved thread ``entry`` -- committed and leased to :attr:`worker` -- or give it back."""
        if entry is None:
            with self._capacity:
                self._in_flight -= 1
                self._capacity.notify()
            return
        self._handed.flag = True  # the caller's wake() that follows has nothing for the claimer
        if not getattr(self._handed, "idle", False):
            self._queue.put((entry, self._deadline()))
            return
        # An idle delivery thread takes it: let that thread run first (issue 8, latency). Both need the GIL; without
        # this wait the delivery started only once this thread had answered its client and the event loop had
        # written the answer (~0.4 ms of the release's path); now the answer follows the delivery's first send.
        with self._picked:
            picks = self._picks
            self._queue.put((entry, self._deadline()))
            self._picked.wait_for(lambda: self._picks != picks, PICKUP_WAIT)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll -- unless this thread has just handed its
        message over (an idle node would otherwise read the outbox once more per submission)."""
        if getattr(self._handed, "flag", False):
            self._handed.flag = False
            return
        self.wake_event.set()

    def _claim_loop(self) -> None:
        # Once a delivery thread is idle, the claimer fills the hand-over queue as far as submissions may fill it
        # (see reserve): one claim transaction for up to ``size * (1 + BACKLOG)`` messages, where claiming for the
        # idle threads alone took one transaction per message or two whenever submissions outran the partner
        # (issue 8: ~0.4 ms of the sender's CPU per release). A queued message waits behind at most BACKLOG others
        # per thread, as a handed-over one does.
        cap = self.size * (1 + BACKLOG)
        while not self.stop_event.is_set():
            with self._capacity:
                while self._in_flight >= self.size and not self.stop_event.is_set():
                    self._capacity.wait()
                free = cap - self._in_flight
            if self.stop_event.is_set():
                return
            self.wake_event.clear()  # a wake from now on is seen by the wait below
            try:
                entries = self.service.store.claim(self.worker, limit=free, lease_seconds=self.cfg.lease_seconds)
            except Exception:
                log.exception("outbox claim failed")
                entries = []
            if not entries:
                self.wake_event.wait(self.cfg.poll_seconds)
                continue
            with self._capacity:
                self._in_flight += len(entries)
            for e in entries:
                self._queue.put((e, self._deadline()))

    def _deadline(self) -> float:
        return time.monotonic() + 0.9 * self.cfg.lease_seconds

    def _deliver_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            e, deadline = item
            with self._picked:
                self._picks += 1
                self._picked.notify_all()
            try:
                if time.monotonic() > deadline:  # queued past its lease: the next claim takes it (no double send)
                    log.info("lease of %s %s ran out in the queue; left to the next claim", e.kind, e.item_id)
                elif not self.stop_event.is_set():  # else: the lease runs out and the message is claimed again
                    self.deliver(e, self.worker)
            except Exception:
                log.exception("delivery of %s %s failed", e.kind, e.item_id)
            finally:
                with self._capacity:
                    self._in_flight -= 1
                    self._capacity.notify()

    def deliver(self, e: OutboxEntry, worker: str) -> None:
        peer = self.service.roster.peers.get(e.recipient)
        if peer is None:
            self.service.refused_by_peer(e, worker, f"no peer {e.recipient} in the roster")
            return
        try:
            with self.activity.awaiting():  # the partner works: a gap for this node's background work
                r = self.transport.send(peer, e.kind, e.body, e.idem_key)
        except TransportError as ex:
            self._retry(e, worker, str(ex))
            return
        if r.status == 200:
            try:
                with self.activity.busy():
                    self.service.acknowledged(e, r.body)
            except (AccordError, ValueError, TypeError) as ex:
                # A bad receipt: keep the message pending; a later attempt gets the stored receipt again.
                self._retry(e, worker, f"bad acknowledgement: {ex}")
            return
        if 400 <= r.status < 500 and r.status not in (408, 425, 429):
            log.warning("%s refused %s %s: %s", e.recipient, e.kind, e.item_id, r.problem)
            self.service.refused_by_peer(e, worker, r.problem)
            return
        self._retry(e, worker, r.problem)

    def _retry(self, e: OutboxEntry, worker: str, error: str) -> None:
        delay = min(self.cfg.retry_max_seconds, self.cfg.retry_base_seconds * 2 ** min(e.attempts, 16))
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not crypto
        give_up = e.attempts + 1 >= self.cfg.max_attempts
        log.info(
            "delivery of %s %s to %s failed (%s); retry in %.2fs",
            e.kind,
            e.item_id,
            e.recipient,
            error,
            delay,
        )
        self.service.store.mark_retry(e.id, worker, error, delay, give_up=give_up)
