"""The feed service of one node: publish, relay (hub) and receive missile-warning streams.

Topology (M-R4): the hub of the feed arrangement listens; every spoke dials the hub and nobody else.
A spoke's listener admits only its own local clients (its own certificate); a partner that is not the
hub is refused there, audited, and never served.

Streams: ``O-R`` carries what originator O shares with recipient R. O's node assigns sequence numbers
and keeps the stream in its durable log; the hub keeps a durable copy of every stream it relays and
forwards it unread (it holds no key of a stream it is not the recipient of); R's node keeps its own
copy. Each hop asks the previous one for a stream *from* the sequence number after its durable head,
so a restart of any node (``kill -9`` included) resumes with no loss, no duplicate and in order.

Every record is checked on the way in (order, originator signatures of sessions and batches) and every
send is checked on the way out against the agreements on the day (:func:`accord.feed.scope.feed_scope`):
on a day no agreement allows a stream nothing flows, and a subscriber whose agreement ends is cut off.

Back-pressure: a subscriber is served straight from the event loop while its socket keeps up; once its
transport buffer passes :data:`HIGH_WATER` it is served from the durable log by its own task (memory
stays bounded; other subscribers never wait for it). Its lag (head minus its acknowledged sequence)
is visible in :meth:`FeedNode.status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import struct
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from accord.core.agreements import AgreementSet
from accord.errors import AccordError, InputError
from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.audit import FeedAudit
from accord.feed.conn import (
    HIGH_WATER,
    OFFER_KEY,
    QUIET,
    SNDBUF,
    STATE_DIR,
    Conn,
    Sub,
    now_us,
    utc_today,
)
from accord.feed.identity import NodeIdentity
from accord.feed.model import Code, EventWindows
from accord.feed.publisher import Publishing
from accord.feed.relay import Relaying
from accord.feed.scope import hub_of, mechanisms
from accord.feed.store import FeedStore
from accord.feed.upkeep import Upkeep

log = logging.getLogger("accord.feed")

__all__ = ["HIGH_WATER", "OFFER_KEY", "QUIET", "STATE_DIR", "Conn", "FeedNode", "Sub", "now_us", "utc_today"]


class FeedNode(Upkeep, Publishing, Relaying):
    """The feed service of one node.

    Args:
        ident: the node's identity (:meth:`NodeIdentity.load`).
        agreements: the agreements to scope streams by.
        port: where to listen (the hub and local clients connect here); 0 picks a free port.
        hub_addr: ``(host, port)`` of the hub's feed listener (spokes only).
        today: the day the agreements are taken on (what-if analysis passes a fixed or moving day).
        state_dir: the durable state (default ``<node dir>/feed``).
    """

    def __init__(
        self,
        ident: NodeIdentity,
        agreements: AgreementSet,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        hub_addr: tuple[str, int] | None = None,
        today: Callable[[], date] = utc_today,
        clock_us: Callable[[], int] = now_us,
        state_dir: Path | None = None,
        sync: str = "normal",
        audit: bool = True,
        high_water: int = HIGH_WATER,
        sndbuf: int = SNDBUF,
    ) -> None:
        self.ident = ident
        self.high_water = high_water
        self.sndbuf = sndbuf
        self.party = ident.party
        self.agreements = agreements
        hub = hub_of(agreements)
        if hub is None:
            raise InputError("no missile-warning arrangement with one hub is loaded", source="agreements")
        self.hub = hub
        self.parties = sorted({p for m in mechanisms(agreements) for p in m.parties})
        if self.party not in self.parties:
            raise InputError(f"{self.party} is not a party to the missile-warning arrangement", source="agreements")
        if self.party != hub and hub_addr is None:
            peer = ident.peers.get(hub)
            if peer is None:
                raise InputError(f"the hub {hub} is not pinned in this node's roster", source=str(ident.dir))
            hub_addr = (peer.host, peer.port + 1)
        self.hub_addr = hub_addr
        self.host = host
        self.port = port
        self.today = today
        self.clock_us = clock_us
        self.state_dir = state_dir or ident.dir / STATE_DIR
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = FeedStore(self.state_dir / "feed.db", sync=sync)
        self.audit = FeedAudit(self.state_dir, self.party, self.store.path) if audit else None
        self._key_mtime = 0
        self.offer_priv, self.offer_raw = self._load_offer()
        self.key_cert = self._key_cert()
        self.offers = {self.party: fc.open_offer(self.offer_raw, self.ident.sign_key.public_key(), self.party)}
        for p in self.parties:
            raw = self.store.get(f"offer:{p}")
            if raw is not None and p != self.party:
                with contextlib.suppress(AccordError):
                    self.offers[p] = self._check_offer(raw, p)
        self.windows = EventWindows()
        for k, v in self.store.db.execute("SELECT k, v FROM kv WHERE k LIKE 'window:%'"):
            launch, impact = struct.unpack(">qq", bytes(v))
            self.windows.restore(str(k)[7:], launch, impact or None)
        self.own = {}
        self.ingest = {}
        self.subs = {}
        self.peers = {}
        self.counters = {"published": 0, "refused": 0, "relayed": 0, "received": 0, "batches": 0, "cut_off": 0}
        self._dirty = set()
        self._suspended = {}
        self._offered: dict[str, bytes] = {}  # stream -> the recipient's offer last sent upstream
        self._relayed = []
        self._loop = None
        self._acks = []
        self._ack_due = {}
        self._ack_timer = None
        self._accepted = {st: self.store.head(st) for st in self.store.streams()}
        self._scopes = {}
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- keys ---------------------------------------------------------------------------------
    def _check_offer(self, raw: bytes, recipient: str) -> fc.Offer:
        key = self.ident.verify_key(recipient)
        if key is None:
            raise fc.FeedCryptoError(f"{recipient} is not pinned: its offer cannot be checked")
        return fc.open_offer(raw, key, recipient)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, ssl=self.ident.server_ssl(), limit=ff.MAX_FRAME * 4
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._rebuild_audit()
        self._resign_tail()
        self._tasks.append(asyncio.create_task(self._batch_loop()))
        self._tasks.append(asyncio.create_task(self._readmit_loop()))
        if self.party != self.hub:
            self._tasks.append(asyncio.create_task(self._uplink()))
        log.info("%s feed listening on %s:%d (hub %s)", self.party, self.host, self.port, self.hub)

    async def stop(self) -> None:
        self._stopping = True
        self._sign_batches()
        self._flush()
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._send_acks()
        for t in self._tasks:
            t.cancel()
        for conn in list(self.peers.values()):
            conn.close()
        for subs in self.subs.values():
            for s in subs:
                s.conn.close()
                if s.task is not None:
                    s.task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        if self.audit is not None:
            await asyncio.to_thread(self.audit.close)
        self.store.close()

    def status(self) -> dict[str, Any]:
        """Heads, subscribers and their lag: the node's visible back-pressure figures."""
        subs = [
            {
                "stream": s.stream,
                "to": s.conn.party,
                "sent": s.cursor - 1,
                "acked": s.acked,
                "lag": self.store.head(s.stream) - s.acked,
                "live": s.live,
            }
            for ss in self.subs.values()
            for s in ss
        ]
        return {
            "party": self.party,
            "hub": self.hub,
            "day": self.today().isoformat(),
            "heads": {st: self.store.head(st) for st in self.store.streams()},
            "peers": sorted(self.peers),
            "subscribers": subs,
            **self.counters,
        }

    # -- connections --------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        party = self.ident.party_of(hashlib.sha256(der).hexdigest()) if der else None
        if party is None:
            writer.close()
            return
        if self.party not in (party, self.hub):
            # M-R4: a spoke is never connected to another spoke (nor serves anyone but the hub by dialing it).
            self._audit_refusal(
                f"feed:connection:{party}",
                Code.NOT_IN_SCOPE,
                "M-R4",
                f"{party} connected directly to {self.party}: spokes share only through the hub {self.hub}",
            )
            writer.write(
                ff.json_frame(
                    ff.ERR,
                    {
                        "code": "NO_DIRECT_CHANNEL",
                        "message": f"M-R4: {self.party} does not connect with {party}; use the hub {self.hub}",
                    },
                )
            )
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        conn = Conn(party, party == self.party, reader, writer)
        self._tune(writer)
        if not conn.local:
            old = self.peers.get(party)
            if old is not None:
                self._drop(old)
            self.peers[party] = conn
            self._subscribe_upstream(conn)
        await self._serve(conn)

    async def _uplink(self) -> None:
        """A spoke keeps one connection to the hub, redialled with back-off."""
        assert self.hub_addr is not None
        delay = 0.05
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(
                    self.hub_addr[0], self.hub_addr[1], ssl=self.ident.client_ssl(self.hub), limit=ff.MAX_FRAME * 4
                )
            except (TimeoutError, OSError) as e:
                log.debug("%s: hub %s unreachable: %s", self.party, self.hub, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            conn = Conn(self.hub, False, reader, writer)
            self._tune(writer)
            self.peers[self.hub] = conn
            self._subscribe_upstream(conn)
            await self._serve(conn)
            if not self._stopping:
                await asyncio.sleep(0.05)

    def _tune(self, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.transport.set_write_buffer_limits(high=self.high_water)

    def _subscribe_upstream(self, conn: Conn) -> None:
        """Ask a newly connected peer for every stream this node receives from it, from our head on."""
        q = conn.party
        for o in self.parties:
            for r in self.parties:
                if o == r:
                    continue
                stream = f"{o}-{r}"
                if self._source_of(stream) != q:
                    continue
                self._send_sub(conn, stream)

    def _send_sub(self, conn: Conn, stream: str) -> None:
        r = stream[4:]
        offer = self.offer_raw if r == self.party else None
        if offer is None and r in self.offers:
            offer = self.offers[r].raw
        if offer is None:
            return  # the recipient has not subscribed yet: nobody to carry it for
        conn.send(ff.json_frame(ff.SUB, {"stream": stream, "from": self._next_seq(stream), "offer": offer.decode()}))
        self._offered[stream] = offer

    def _drop(self, conn: Conn) -> None:
        for key in [k for k in self._suspended if k[0] is conn]:
            del self._suspended[key]
        for sub in list(conn.subs.values()):
            self._unsubscribe(sub)
        if self.peers.get(conn.party) is conn:
            del self.peers[conn.party]
        conn.close()

    async def _serve(self, conn: Conn) -> None:
        reader = ff.FrameReader()
        try:
            while True:
                data = await conn.reader.read(1 << 16)
                if not data:
                    break
                for ftype, body in reader.feed(data):
                    self._handle(conn, ftype, body)
                self._flush()
                if conn.buffered > self.high_water:
                    await conn.writer.drain()
        except (ff.FrameError, fc.FeedCryptoError) as e:
            log.warning("%s: closing %s: %s", self.party, conn.party, e)
            self._audit_refusal(f"feed:connection:{conn.party}", "PROTOCOL", None, str(e))
            conn.send(ff.json_frame(ff.ERR, {"code": "PROTOCOL", "message": str(e)[:500]}))
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bug must not take the node down: this connection closes, the others go on
            log.exception("%s: connection with %s failed", self.party, conn.party)
        finally:
            self._flush()
            self._drop(conn)

    # -- frames -------------------------------------------------------------------------------
    def _handle(self, conn: Conn, ftype: int, body: bytes) -> None:
        if ftype == ff.RECS:
            self._on_segment(conn.party, conn.local, ff.scan_segment(body))
        elif ftype == ff.REC:
            ff.parse_record(body)
            self._on_segment(conn.party, conn.local, ff.scan_segment(ff.prefixed(body)))
        elif ftype == ff.PUBS:
            if not conn.local:
                raise ff.FrameError("only a local client publishes")
            self._on_publish_many(conn, body)
        elif ftype == ff.PUB:
            if not conn.local:
                raise ff.FrameError("only a local client publishes")
            self._on_publish(conn, body)
        elif ftype == ff.SUB:
            self._on_sub(conn, ff.parse_json(body, {"stream", "from", "offer"}))
        elif ftype == ff.ACK:
            stream, seq = ff.parse_ack(body)
            sub = conn.subs.get(stream)
            if sub is not None and seq > sub.acked:
                sub.acked = min(seq, self.store.head(stream))
        elif ftype == ff.ERR:
            obj = ff.parse_json(body, {"code", "message", "stream", "rule"})
            log.warning("%s: %s says %s: %s", self.party, conn.party, obj.get("code"), obj.get("message"))
        elif ftype == ff.PING:
            pass
        else:
            raise ff.FrameError(f"unexpected frame type {ftype}")

    def _on_sub(self, conn: Conn, req: dict[str, Any]) -> None:
        stream = ff.check_stream(str(req.get("stream", "")))
        self._suspended.pop((conn, stream), None)  # the newest request of this connection is the one
        first = req.get("from")
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise ff.FrameError("from must be a positive sequence number")
        o, r = stream[:3], stream[4:]
        if o not in self.parties or r not in self.parties:
            raise ff.FrameError(f"{stream}: not a party of the feed")
        allowed_to = self.party if conn.local else self.next_hop(stream)
        if conn.party != allowed_to or (conn.local and self.party not in (o, r)):
            self._refuse_sub(conn, stream, f"{conn.party} is not the next hop of {stream} from {self.party} (M-R4)")
            return
        scope = self.scope(stream)
        if not conn.local and not scope.allowed:
            self._refuse_sub(conn, stream, scope.why)
            self._suspended[(conn, stream)] = dict(req)  # admitted later if the agreements come to allow it
            return
        offer_raw = req.get("offer")
        if offer_raw is not None:
            if not isinstance(offer_raw, str):
                raise ff.FrameError("offer must be a string")
            offer = self._check_offer(offer_raw.encode(), r)
            known = self.offers.get(r)
            if known is None or known.raw != offer.raw:
                if known is not None and r != self.party:
                    log.info("%s: %s offers a new key", self.party, r)
                self.offers[r] = offer
                self.store.put(f"offer:{r}", offer.raw)
                if o == self.party:
                    own = self.own.get(stream)
                    if own is not None:
                        own.session = None  # a new epoch with a key for the new offer
            if self.party == self.hub and o != self.party and self._offered.get(stream) != offer.raw:
                # per stream: the recipient's new key may have reached us through another of its streams first
                up = self.peers.get(o)
                if up is not None:
                    self._send_sub(up, stream)
        own = self.own.get(stream)
        if o == self.party and (own is None or own.session is None) and r in self.offers:
            self._open_session(stream)
            self._flush()
        old = conn.subs.get(stream)
        if old is not None:
            self._unsubscribe(old)
        sub = Sub(conn, stream, first, acked=first - 1)
        if conn.local:
            # context for a local reader: the session governing `first` and the start of its batch
            hs = self.store.last_of_type(stream, ff.HS, first)
            bs = self.store.last_of_type(stream, ff.BSIG, first)
            ctx = [x for x in (hs, bs + 1) if 0 < x < first]
            sub.cursor = min(ctx) if ctx else first
        conn.subs[stream] = sub
        self.subs.setdefault(stream, set()).add(sub)
        sub.task = asyncio.create_task(self._sender(sub))

    def _refuse_sub(self, conn: Conn, stream: str, why: str) -> None:
        self._audit_refusal(
            f"feed:{stream}",
            Code.NOT_IN_SCOPE,
            "M-R4" if "M-R4" in why else None,
            f"subscription of {conn.party} refused: {why}",
        )
        conn.send(ff.json_frame(ff.ERR, {"code": Code.NOT_IN_SCOPE, "stream": stream, "message": why[:1000]}))
