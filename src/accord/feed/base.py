"""State and shared helpers of the feed service (:class:`accord.feed.node.FeedNode` is built from
:class:`NodeBase`, :class:`accord.feed.publisher.Publishing` and :class:`accord.feed.relay.Relaying`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.core.agreements import AgreementSet
from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.audit import FeedAudit
from accord.feed.conn import Conn, Ingest, Own, Sub
from accord.feed.identity import NodeIdentity
from accord.feed.model import EventWindows
from accord.feed.scope import Scope, feed_scope
from accord.feed.store import FeedStore, SegRow

log = logging.getLogger("accord.feed")


class NodeBase:
    """The state every part of the service shares, routing, scope and the audit helpers."""

    ident: NodeIdentity
    party: str
    hub: str
    parties: list[str]
    agreements: AgreementSet
    today: Callable[[], date]
    clock_us: Callable[[], int]
    high_water: int
    state_dir: Path
    _key_mtime: int
    store: FeedStore
    audit: FeedAudit | None
    offer_priv: X25519PrivateKey
    offer_raw: bytes
    offers: dict[str, fc.Offer]
    windows: EventWindows
    own: dict[str, Own]  # originator side, by stream
    ingest: dict[str, Ingest]
    subs: dict[str, set[Sub]]
    peers: dict[str, Conn]
    counters: dict[str, int]
    _dirty: set[str]  # own streams with records not yet flushed
    _relayed: list[SegRow]  # received segments not yet flushed
    _acks: list[tuple[Conn, int, dict[str, int]]]
    _ack_due: dict[str, int]  # stream -> newest durable record not yet acknowledged upstream
    _ack_timer: asyncio.TimerHandle | None
    _accepted: dict[str, int]
    _scopes: dict[str, Scope]
    _loop: asyncio.AbstractEventLoop | None
    # subscriptions refused or cut off for scope on a connection still open: re-admitted (the same
    # request, from where it stopped) as soon as the agreements allow the stream again
    _suspended: dict[tuple[Conn, str], dict[str, Any]]

    # -- implemented by the parts ------------------------------------------------------------------
    def _flush(self) -> None:
        raise NotImplementedError

    def _send_sub(self, conn: Conn, stream: str) -> None:
        raise NotImplementedError

    def _on_sub(self, conn: Conn, req: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- scope and routing -------------------------------------------------------------------------
    def scope(self, stream: str, day: date | None = None) -> Scope:
        day = self.today() if day is None else day
        hit = self._scopes.get(stream)
        if hit is None or hit.at != day:
            hit = self._scopes[stream] = feed_scope(self.agreements, stream[:3], stream[4:], day)
        return hit

    def next_hop(self, stream: str) -> str | None:
        """To whom this node forwards ``stream`` (None: it is the recipient or not on the route)."""
        o, r = stream[:3], stream[4:]
        if self.party == o:
            return r if self.hub in (self.party, r) else self.hub
        if self.party == self.hub:
            return r
        return None

    def _source_of(self, stream: str) -> str | None:
        """From whom this node receives ``stream``."""
        o, r = stream[:3], stream[4:]
        if o == self.party:
            return None
        if self.party == self.hub:
            return o
        return self.hub if r == self.party else None

    def _next_seq(self, stream: str) -> int:
        return self._accepted.get(stream, 0) + 1

    def _unsubscribe(self, sub: Sub) -> None:
        if sub.task is not None and sub.task is not asyncio.current_task():
            sub.task.cancel()
        self.subs.get(sub.stream, set()).discard(sub)
        if sub.conn.subs.get(sub.stream) is sub:
            del sub.conn.subs[sub.stream]

    # -- audit -------------------------------------------------------------------------------------
    def _audit_batch(self, ev_type: str, stream: str, b: fc.Batch, **extra: Any) -> None:
        """A batch signature into the audit trail. Rebuilt from the durable BSIG records at start when a
        crash lost it (:meth:`accord.feed.node.FeedNode._rebuild_audit`): no journal needed."""
        if self.audit is not None:
            self.audit.event(
                ev_type,
                batch_item(stream, b),
                b.digest.hex(),
                batch={"stream": stream, "first": b.first, "last": b.last, "signer": stream[:3], "sig": fc.b64e(b.sig)},
                **extra,
            )

    def _audit_refusal(
        self, item: str, code: str, rule: str | None, message: str, *, digest: str | None = None, allowed: bool = False
    ) -> None:
        """A refusal (or a re-admission) into the audit trail: journaled durably in the feed log first (it
        exists nowhere else), so that a crash before the audit commit loses nothing (replayed at start)."""
        log.info("%s %s %s: %s", self.party, "admitted" if allowed else "refused", item, message)
        if self.audit is not None:
            item = item[:256]
            dig = digest or hashlib.sha256(message.encode()).hexdigest()
            decision = {"allowed": allowed, "code": code, "rule": rule, "message": message[:2000]}
            ev = {"type": "decision", "item": item, "digest": dig, "decision": decision}
            jid = self.store.journal_add(json.dumps(ev, sort_keys=True).encode())
            self.audit.event("decision", item, dig, decision=decision, journal=jid)


def batch_item(stream: str, b: fc.Batch) -> str:
    return f"feed:{stream}:{b.first}-{b.last}"


def bsig_part(stream: str, seq: int, payload: bytes) -> bytes:
    return ff.prefixed(ff.record(stream, seq, ff.BSIG, payload))
