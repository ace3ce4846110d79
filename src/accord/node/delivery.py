"""The outbox worker: claims due messages (leases; SKIP LOCKED on PostgreSQL) and delivers them.

Retries with exponential back-off and jitter on transport errors and 5xx answers; a 4xx answer is a
refusal (recorded, not retried). The idempotency key travels in the ``Idempotency-Key`` header and the
recipient deduplicates on (item id, sender), so a message re-sent after a crash is stored once.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import deque
from typing import Any

from accord.errors import AccordError
from accord.node.activity import activity_of
from accord.node.db import OutboxEntry
from accord.node.service import NodeService
from accord.node.transport import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ITEMS,
    HttpsTransport,
    PeerAnswer,
    PeerTransport,
    TransportError,
)

log = logging.getLogger("accord.node.delivery")

#: Delivery threads of a node (``--workers``): each has one delivery in flight at a time, its partner's answer
#: awaited on a blocking connection. Under sustained submissions a delivery takes far longer than its CPU (the
#: partner's work, three GIL hand-offs on each side, the acknowledgement's turn at the writer): with 4 threads
#: the hand-over sat at its cap and the outbox queued behind them (issue 8, docs/performance.md "Wave 6 — tput").
DELIVERY_THREADS = 8
BACKLOG = 4  # messages per delivery thread that may wait in the hand-over queue (see DeliveryWorker.reserve)
#: The longest a submitting thread waits for an idle delivery thread to take the message it handed over.
PICKUP_WAIT = 0.002
#: A partner that answered 404/405 to the batch route (an older node) gets single deliveries for this long.
NO_BATCH_SECONDS = 600.0
#: What a delivery's place in a batch's body adds to its envelope (the idempotency key's JSON and the framing).
_ITEM_OVERHEAD = 64


class _HandOver:
    """The hand-over queue of the delivery threads: first in, first out -- and, for a thread that takes a
    delivery, the other deliveries to the same partner already queued behind it (:meth:`take_batch`)."""

    def __init__(self) -> None:
        self._items: deque[tuple[OutboxEntry, float] | None] = deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, item: tuple[OutboxEntry, float] | None) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def qsize(self) -> int:
        return len(self._items)

    def get(self) -> tuple[OutboxEntry, float] | None:
        with self._ready:
            while not self._items:
                self._ready.wait()
            return self._items.popleft()

    def take_batch(self, first: OutboxEntry, *, count: int, max_bytes: int) -> list[tuple[OutboxEntry, float]]:
        """Up to ``count`` queued deliveries to ``first``'s recipient, without waiting for any: in queue order,
        each with its lease still running, no item id or idempotency key twice, the batch's envelopes (with
        ``first``'s) within ``max_bytes``. Those taken leave the queue; the others keep their places."""
        with self._ready:
            if not self._items or count <= 0:
                return []
            now = time.monotonic()
            size = len(first.body) + len(first.idem_key) + _ITEM_OVERHEAD
            ids, keys = {first.item_id}, {first.idem_key}
            taken: list[tuple[OutboxEntry, float]] = []
            kept: deque[tuple[OutboxEntry, float] | None] = deque()
            for item in self._items:
                e = item[0] if item is not None else None
                grow = len(e.body) + len(e.idem_key) + _ITEM_OVERHEAD if e is not None else 0
                if (
                    item is None
                    or e is None
                    or len(taken) >= count
                    or e.kind != "delivery"
                    or e.recipient != first.recipient
                    or item[1] <= now
                    or e.item_id in ids
                    or e.idem_key in keys
                    or size + grow > max_bytes
                ):
                    kept.append(item)
                    continue
                taken.append(item)
                size += grow
                ids.add(e.item_id)
                keys.add(e.idem_key)
            if taken:
                self._items = kept
            return taken


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
        self._queue = _HandOver()
        self._picked = threading.Condition()  # notified each time a delivery thread takes a message
        self._picks = 0
        self._capacity = threading.Condition()
        self._in_flight = 0
        self._handed = threading.local()
        self.activity = activity_of(service)  # what the audit feeder's batch lets go first (node/activity.py)
        self._no_batch: dict[str, float] = {}  # partner -> until when it gets single deliveries (404/405)
        self.requests = self.batched = 0  # delivery requests sent, and deliveries they carried (batches: > 1)
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
        log.info("%s: %d delivery requests carried %d messages", self.service.party, self.requests, self.batched)

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
            taken = 1
            try:
                if time.monotonic() > deadline:  # queued past its lease: the next claim takes it (no double send)
                    log.info("lease of %s %s ran out in the queue; left to the next claim", e.kind, e.item_id)
                elif not self.stop_event.is_set():  # else: the lease runs out and the message is claimed again
                    more = [m for m, _ in self._companions(e)]
                    taken += len(more)
                    if more:
                        self.deliver_batch([e, *more], self.worker)
                    else:
                        self.deliver(e, self.worker)
            except Exception:
                log.exception("delivery of %s %s failed", e.kind, e.item_id)
            finally:
                with self._capacity:
                    self._in_flight -= taken
                    self._capacity.notify_all()

    def _companions(self, e: OutboxEntry) -> list[tuple[OutboxEntry, float]]:
        """The deliveries to take with ``e`` in one batch: those already queued for its partner (none when the
        transport cannot batch, or the partner answered the batch route 404/405 lately)."""
        if e.kind != "delivery" or getattr(self.transport, "send_batch", None) is None:
            return []
        until = self._no_batch.get(e.recipient)
        if until is not None and time.monotonic() < until:
            return []
        limit = min(BATCH_MAX_BYTES, self.cfg.max_body_bytes)
        return self._queue.take_batch(e, count=BATCH_MAX_ITEMS - 1, max_bytes=limit)

    def deliver(self, e: OutboxEntry, worker: str) -> None:
        peer = self.service.roster.peers.get(e.recipient)
        if peer is None:
            self.service.refused_by_peer(e, worker, f"no peer {e.recipient} in the roster")
            return
        try:
            with self.activity.awaiting():  # the partner works: a gap for this node's background work
                self.requests += 1
                self.batched += 1
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

    def deliver_batch(self, entries: list[OutboxEntry], worker: str) -> None:
        """Deliveries to one partner in ONE request (``POST /v1/deliveries/batch``, issue 8, wave 8): each
        envelope's result is treated as a single delivery's answer (stored and acknowledged, refused, or retried)
        and all the receipts of the answer are stored in ONE transaction. A partner without the route (404/405)
        gets them one by one, and single deliveries for :data:`NO_BATCH_SECONDS`; a batch refused as a whole
        (another 4xx) goes one by one too, so each envelope gets its own answer; a failure to reach the partner
        or a 5xx/408/425/429 for the whole batch is retried for each message as a single delivery's would be."""
        peer = self.service.roster.peers.get(entries[0].recipient)
        send_batch: Any = getattr(self.transport, "send_batch", None)
        if peer is None or send_batch is None:
            for e in entries:
                self.deliver(e, worker)
            return
        try:
            with self.activity.awaiting():
                self.requests += 1
                self.batched += len(entries)
                r: PeerAnswer = send_batch(peer, [(e.body, e.idem_key) for e in entries])
        except TransportError as ex:
            for e in entries:
                self._retry(e, worker, str(ex))
            return
        if r.status != 200:
            if r.status in (404, 405):  # an older node: no batch route
                log.info("%s has no batch route (%s): single deliveries", peer.party, r.status)
                self._no_batch[peer.party] = time.monotonic() + NO_BATCH_SECONDS
            if 400 <= r.status < 500 and r.status not in (408, 425, 429):
                log.warning("%s refused a batch of %d: %s; one by one", peer.party, len(entries), r.problem)
                for e in entries:
                    self.deliver(e, worker)
                return
            for e in entries:
                self._retry(e, worker, r.problem)
            return
        self._settle(entries, batch_results(r.body, entries), worker)

    def _settle(self, entries: list[OutboxEntry], results: list[PeerAnswer] | None, worker: str) -> None:
        """Each envelope's result as a single delivery's answer; the acknowledgements in one transaction."""
        if results is None:  # not one result per envelope: nothing in it is trusted
            for e in entries:
                self._retry(e, worker, "bad batch answer")
            return
        acks: list[tuple[OutboxEntry, dict[str, Any]]] = []
        for e, r in zip(entries, results, strict=True):
            if r.status == 200:
                acks.append((e, r.body))
            elif 400 <= r.status < 500 and r.status not in (408, 425, 429):
                log.warning("%s refused %s %s: %s", e.recipient, e.kind, e.item_id, r.problem)
                self.service.refused_by_peer(e, worker, r.problem)
            else:
                self._retry(e, worker, r.problem)
        if not acks:
            return
        try:
            with self.activity.busy():
                bad = self.service.acknowledged_many(acks)
        except (AccordError, ValueError, TypeError) as ex:
            bad = [(e, ex) for e, _ in acks]
        for e, why in bad:  # a bad receipt keeps its message pending; a later attempt gets the stored receipt again
            self._retry(e, worker, f"bad acknowledgement: {why}")

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


def batch_results(body: object, entries: list[OutboxEntry]) -> list[PeerAnswer] | None:
    """A batch answer's results, one per envelope sent and in its order, as single answers; None when the
    answer is not that (another count, not a list, ...). A result that names another item or idempotency key
    than the envelope at its place, or is malformed, becomes a 502 (retried): its receipt is never looked at."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != len(entries):
        return None
    out: list[PeerAnswer] = []
    for e, r in zip(entries, results, strict=True):
        status = r.get("status") if isinstance(r, dict) else None
        answer = r.get("answer") if isinstance(r, dict) else None
        if (
            not isinstance(r, dict)
            or r.get("item_id") != e.item_id
            or r.get("idempotency_key") != e.idem_key
            or type(status) is not int
            or not 100 <= status <= 599
            or not isinstance(answer, dict)
        ):
            out.append(PeerAnswer(502, {"title": "Bad batch answer", "detail": "a result for another delivery"}))
            continue
        out.append(PeerAnswer(status, answer))
    return out
