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
import uuid

import httpx

from accord.errors import AccordError
from accord.node.client import PeerClients, problem_title
from accord.node.service import NodeService
from accord.node.store import OutboxEntry

log = logging.getLogger("accord.node.delivery")

PATHS = {
    "delivery": "/v1/deliveries",
    "consent_request": "/v1/peer/consent-requests",
    "consent_decision": "/v1/peer/consent-decisions",
    "consent": "/v1/peer/consents",
}


class DeliveryWorker:
    """``threads`` delivery threads sharing one :class:`PeerClients`."""

    def __init__(self, service: NodeService, *, threads: int = 4, batch: int = 8) -> None:
        self.service = service
        self.cfg = service.cfg
        self.clients = PeerClients(service.cfg, service.roster)
        self.batch = batch
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        base = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.threads = [
            threading.Thread(target=self._loop, args=(f"{base}:{i}",), daemon=True, name=f"accord-delivery-{i}")
            for i in range(threads)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake_event.set()
        for t in self.threads:
            t.join(timeout=5)
        self.clients.close()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self.wake_event.set()

    def _loop(self, worker: str) -> None:
        while not self.stop_event.is_set():
            try:
                entries = self.service.store.claim(worker, limit=self.batch, lease_seconds=self.cfg.lease_seconds)
            except Exception:
                log.exception("outbox claim failed")
                entries = []
            if not entries:
                self.wake_event.wait(self.cfg.poll_seconds)
                self.wake_event.clear()
                continue
            for e in entries:
                if self.stop_event.is_set():
                    return
                self.deliver(e, worker)

    def deliver(self, e: OutboxEntry, worker: str) -> None:
        peer = self.service.roster.peers.get(e.recipient)
        if peer is None:
            self.service.refused_by_peer(e, worker, f"no peer {e.recipient} in the roster")
            return
        try:
            r = self.clients.get(peer).post(
                PATHS[e.kind],
                content=e.body,
                headers={"Idempotency-Key": e.idem_key, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as ex:
            self._retry(e, worker, f"transport: {type(ex).__name__}")
            return
        if r.status_code == 200:
            try:
                self.service.acknowledged(e, r.json())
            except (AccordError, ValueError) as ex:
                # A bad receipt: keep the message pending; a later attempt gets the stored receipt again.
                self._retry(e, worker, f"bad acknowledgement: {ex}")
            return
        if 400 <= r.status_code < 500 and r.status_code not in (408, 425, 429):
            log.warning("%s refused %s %s: %s", e.recipient, e.kind, e.item_id, problem_title(r))
            self.service.refused_by_peer(e, worker, problem_title(r))
            return
        self._retry(e, worker, problem_title(r))

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
