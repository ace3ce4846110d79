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
import functools
import hashlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.core.agreements import AgreementSet
from accord.errors import AccordError, InputError
from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.audit import FeedAudit
from accord.feed.identity import NodeIdentity
from accord.feed.model import (
    Code,
    EventWindows,
    FeedRefused,
    Kind,
    decode_message,
    encode_message,
    parse_message,
)
from accord.feed.scope import Scope, feed_scope, hub_of, mechanisms
from accord.feed.store import FeedStore

log = logging.getLogger("accord.feed")

HIGH_WATER = 1 << 20  # bytes buffered for one subscriber before it is served from the log
SNDBUF = 256 << 10  # kernel send buffer per connection (fixed: the lag shows instead of hiding in the kernel)
BATCH_INTERVAL = 0.010  # M-R: a batch signature at most every 10 ms
OFFER_KEY = "offer-key.pem"
QUIET = 0x80  # PUB format flag: answer only a refusal
STATE_DIR = "feed"


_DAY: list[Any] = [0.0, None]  # (epoch second at which the cached UTC day ends, the day)


def utc_today() -> date:
    """Today in UTC (asked on every publish and send: cached until the next UTC midnight)."""
    t = time.time()
    if t >= _DAY[0]:
        today = datetime.fromtimestamp(t, UTC).date()
        _DAY[1] = today
        _DAY[0] = datetime.combine(today + timedelta(days=1), dt_time(0), UTC).timestamp()
    day: date = _DAY[1]
    return day


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(eq=False)
class Conn:
    """One TLS connection, to a peer node or a local client (``party`` is who presented the certificate).

    Frames sent during one turn of the event loop leave in one write (one TLS record, one system call).
    """

    party: str
    local: bool
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    subs: dict[str, Sub] = field(default_factory=dict)
    closed: bool = False
    _out: list[bytes] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self.flush_out)
        self._out.append(data)

    def flush_out(self) -> None:
        if self._out and not self.closed:
            data = b"".join(self._out)
            self._out.clear()
            with contextlib.suppress(Exception):
                self.writer.write(data)
        else:
            self._out.clear()

    @property
    def buffered(self) -> int:
        return self.writer.transport.get_write_buffer_size() + sum(map(len, self._out))

    def close(self) -> None:
        if not self.closed:
            self.flush_out()
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


@dataclass(eq=False)
class Sub:
    """A subscription of ``conn`` to ``stream``: ``cursor`` is the next sequence number to send."""

    conn: Conn
    stream: str
    cursor: int
    acked: int = 0
    live: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass
class _Ingest:
    """What a node checks on a stream it receives: order and the originator's signatures."""

    chain: fc.BatchChain = field(default_factory=fc.BatchChain)
    resumed: bool = True  # the first batch after a (re)start may have begun before it: not comparable


class FeedNode:
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
        self.audit = FeedAudit(self.state_dir, self.party) if audit else None
        self.offer_priv, self.offer_raw = self._load_offer()
        self.offers: dict[str, fc.Offer] = {
            self.party: fc.open_offer(self.offer_raw, self.ident.sign_key.public_key(), self.party)
        }
        for p in self.parties:
            raw = self.store.get(f"offer:{p}")
            if raw is not None and p != self.party:
                with contextlib.suppress(AccordError):
                    self.offers[p] = self._check_offer(raw, p)
        self.windows = EventWindows()
        for k, v in self.store.db.execute("SELECT k, v FROM kv WHERE k LIKE 'window:%'"):
            launch, impact = struct.unpack(">qq", bytes(v))
            self.windows.restore(str(k)[7:], launch, impact or None)
        self.sessions: dict[str, fc.Session] = {}  # originator side, by stream
        self.chains: dict[str, fc.BatchChain] = {}  # originator side: records not yet under a batch signature
        self.ingest: dict[str, _Ingest] = {}
        self.subs: dict[str, set[Sub]] = {}
        self.peers: dict[str, Conn] = {}
        self.counters = {"published": 0, "refused": 0, "relayed": 0, "received": 0, "batches": 0, "cut_off": 0}
        self._pending: list[tuple[str, int, int, bytes]] = []
        self._acks: list[tuple[Conn, int, dict[str, int]]] = []
        self._accepted: dict[str, int] = {st: self.store.head(st) for st in self.store.streams()}
        self._scopes: dict[str, Scope] = {}
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- keys ---------------------------------------------------------------------------------
    def _load_offer(self) -> tuple[X25519PrivateKey, bytes]:
        from accord.sealed.keys import write_private

        path = self.state_dir / OFFER_KEY
        if not path.exists():
            key = X25519PrivateKey.generate()
            write_private(
                path,
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
            )
        priv = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(priv, X25519PrivateKey):
            raise InputError("not an X25519 key", source=str(path))
        raw = self.store.get("my-offer")
        if raw is None:
            raw = fc.make_offer(self.party, priv, self.ident.sign_key, self.clock_us())
            self.store.put("my-offer", raw)
        return priv, raw

    def _check_offer(self, raw: bytes, recipient: str) -> fc.Offer:
        key = self.ident.verify_key(recipient)
        if key is None:
            raise fc.FeedCryptoError(f"{recipient} is not pinned: its offer cannot be checked")
        return fc.open_offer(raw, key, recipient)

    # -- scope --------------------------------------------------------------------------------
    def scope(self, stream: str) -> Scope:
        day = self.today()
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

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, ssl=self.ident.server_ssl(), limit=ff.MAX_FRAME * 4
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._resign_tail()
        self._tasks.append(asyncio.create_task(self._batch_loop()))
        if self.party != self.hub:
            self._tasks.append(asyncio.create_task(self._uplink()))
        log.info("%s feed listening on %s:%d (hub %s)", self.party, self.host, self.port, self.hub)

    async def stop(self) -> None:
        self._stopping = True
        self._sign_batches()
        self._flush()
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

    def _drop(self, conn: Conn) -> None:
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
        if ftype == ff.REC:
            self._on_record(conn, ff.parse_record(body))
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
                    self.sessions.pop(stream, None)
                elif self.party == self.hub:
                    up = self.peers.get(o)
                    if up is not None:
                        self._send_sub(up, stream)
        if o == self.party and stream not in self.sessions and r in self.offers:
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

    def _unsubscribe(self, sub: Sub) -> None:
        if sub.task is not None and sub.task is not asyncio.current_task():
            sub.task.cancel()
        self.subs.get(sub.stream, set()).discard(sub)
        if sub.conn.subs.get(sub.stream) is sub:
            del sub.conn.subs[sub.stream]

    # -- publishing (originator) --------------------------------------------------------------
    def _open_session(self, stream: str) -> None:
        epoch_key = f"epoch:{stream}"
        raw = self.store.get(epoch_key)
        epoch = (int.from_bytes(raw, "big") if raw else 0) + 1
        self.store.put(epoch_key, epoch.to_bytes(4, "big"))
        session, hs = fc.make_session(stream, epoch, self.offers[stream[4:]], self.ident.sign_key)
        self.sessions[stream] = session
        self._append(stream, ff.HS, lambda seq: ff.record(stream, seq, ff.HS, hs))

    def _append(self, stream: str, rtype: int, build: Callable[[int], bytes]) -> int:
        seq = self._next_seq(stream)
        raw = build(seq)
        self._pending.append((stream, seq, rtype, raw))
        self._accepted[stream] = seq
        if rtype != ff.BSIG and stream[:3] == self.party:
            chain = self.chains.get(stream)
            if chain is None:
                chain = self.chains[stream] = fc.BatchChain()
            chain.add(seq, raw)
        return seq

    def _next_seq(self, stream: str) -> int:
        return self._accepted.get(stream, 0) + 1

    def publish(self, msg: dict[str, Any] | bytes, *, now: int | None = None) -> dict[str, int]:
        """Check and publish one message (a JSON mapping or its binary form) to every recipient in scope.

        Returns ``{stream: seq}``. Raises :class:`FeedRefused` (audited) for a message that may not cross.
        The records are durable once the store's writer thread committed what :meth:`_flush` queued (the
        connection handlers flush after each read); nothing leaves before that.
        """
        t = self.clock_us() if now is None else now
        try:
            m = parse_message(msg) if isinstance(msg, dict) else decode_message(msg)
            if m.issued_us == 0 or m.issued_us > t:
                m = type(m)(m.event, m.kind, m.time_us, m.lat, m.lon, m.alt_m, m.vel, t)
            self.windows.check(m, t)
            if m.kind is not Kind.TRACK:  # the window survives a restart of the publishing node
                w = self.windows.window(m.event)
                if w is not None:
                    self.store.put(f"window:{m.event}", struct.pack(">qq", w[0], w[1] or 0))
        except FeedRefused as e:
            self.counters["refused"] += 1
            what = msg if isinstance(msg, bytes) else repr(sorted(msg.items())).encode()
            event = msg.get("event") if isinstance(msg, dict) else None
            self._audit_refusal(
                f"feed:{event if isinstance(event, str) else 'message'}",
                e.code,
                e.rule,
                e.message,
                digest=hashlib.sha256(what).hexdigest(),
            )
            raise
        plain = encode_message(m)
        out: dict[str, int] = {}
        reasons = []
        for r in self.parties:
            if r == self.party:
                continue
            stream = f"{self.party}-{r}"
            sc = self.scope(stream)
            if not sc.allowed:
                reasons.append(sc.why)
                continue
            if stream not in self.sessions:
                if r not in self.offers:
                    continue  # the recipient never subscribed: nothing to keep for it
                self._open_session(stream)
            session = self.sessions[stream]
            out[stream] = self._append(stream, ff.DATA, functools.partial(_seal, session, plain))
        if not out and reasons:
            self.counters["refused"] += 1
            err = FeedRefused(
                Code.NOT_IN_SCOPE, "no agreement allows sharing warning data today: " + " | ".join(reasons), rule="M-R5"
            )
            self._audit_refusal(
                f"feed:{m.event}", err.code, err.rule, err.message, digest=hashlib.sha256(plain).hexdigest()
            )
            raise err
        self.counters["published"] += 1
        return out

    def _on_publish(self, conn: Conn, body: bytes) -> None:
        if len(body) < 5:
            raise ff.FrameError("publish frame too short")
        (pid,) = struct.unpack_from(">I", body)
        quiet = bool(body[4] & QUIET)  # the publisher wants refusals only
        fmt, data = body[4] & ~QUIET, body[5:]
        try:
            if fmt == 0:
                obj = ff.parse_json(data, None)
                seqs = self.publish(obj)
            elif fmt == 1:
                seqs = self.publish(bytes(data))
            else:
                raise FeedRefused(Code.MALFORMED, "unknown publish format")
        except FeedRefused as e:
            conn.send(ff.pubok_refused(pid, {"code": e.code, "rule": e.rule, "message": e.message}))
            return
        except ff.FrameError as e:
            conn.send(ff.pubok_refused(pid, {"code": Code.MALFORMED, "rule": None, "message": e.message}))
            return
        if not quiet:
            self._acks.append((conn, pid, seqs))

    # -- batches ------------------------------------------------------------------------------
    async def _batch_loop(self) -> None:
        while True:
            await asyncio.sleep(BATCH_INTERVAL)
            try:
                if self._sign_batches():
                    self._flush()
            except Exception:
                log.exception("%s: batch signing failed", self.party)

    def _resign_tail(self) -> None:
        """After a restart, sign the records of our own streams that no batch signature covers yet."""
        for stream in self.store.streams():
            if stream[:3] != self.party:
                continue
            head = self.store.head(stream)
            seq = self.store.last_of_type(stream, ff.BSIG, head + 1) + 1
            chain = fc.BatchChain()
            while seq <= head:
                rows = self.store.read(stream, seq, 1024)
                for s, raw in rows:
                    if raw[ff.REC_HEADER - 1] != ff.BSIG:
                        chain.add(s, raw)
                seq = rows[-1][0] + 1
            if chain.first:
                self.chains[stream] = chain
        if self._sign_batches():
            self._flush()

    def _sign_batches(self) -> bool:
        signed = False
        for stream, chain in list(self.chains.items()):
            if chain.first == 0:
                continue
            payload = fc.sign_batch(stream, chain, self.ident.sign_key)
            self.chains[stream] = fc.BatchChain()
            self._append(stream, ff.BSIG, functools.partial(_bsig, stream, payload))
            self.counters["batches"] += 1
            self._audit_batch("release", stream, fc.parse_batch(payload))
            signed = True
        return signed

    def _audit_batch(self, ev_type: str, stream: str, b: fc.Batch) -> None:
        if self.audit is not None:
            self.audit.event(
                ev_type,
                f"feed:{stream}:{b.first}-{b.last}",
                b.digest.hex(),
                batch={"stream": stream, "first": b.first, "last": b.last, "signer": stream[:3], "sig": fc.b64e(b.sig)},
            )

    def _audit_refusal(
        self, item: str, code: str, rule: str | None, message: str, *, digest: str | None = None
    ) -> None:
        log.info("%s refused %s: %s", self.party, item, message)
        if self.audit is not None:
            self.audit.event(
                "decision",
                item[:256],
                digest or hashlib.sha256(message.encode()).hexdigest(),
                decision={"allowed": False, "code": code, "rule": rule, "message": message[:2000]},
            )

    # -- receiving (hub and recipients) -------------------------------------------------------
    def _on_record(self, conn: Conn, rec: ff.Record) -> None:
        if conn.local or self._source_of(rec.stream) != conn.party:
            raise ff.FrameError(f"{conn.party} is not the source of {rec.stream} at {self.party}")
        head = self._next_seq(rec.stream) - 1
        if rec.seq <= head:
            return  # already held (a resend after reconnect): idempotent
        if rec.seq != head + 1:
            raise ff.FrameError(f"{rec.stream}: record {rec.seq} after {head} (gap)")
        ing = self.ingest.get(rec.stream)
        if ing is None:
            ing = self.ingest[rec.stream] = _Ingest()
        okey = self.ident.verify_key(rec.stream[:3])
        if okey is None:
            raise fc.FeedCryptoError(f"{rec.stream[:3]} is not pinned")
        if rec.rtype == ff.HS:
            fc.verify_session_signature(rec.payload, okey)
        elif rec.rtype == ff.DATA:
            fc.data_epoch(rec.payload)
        if rec.rtype == ff.BSIG:
            batch = fc.parse_batch(rec.payload)
            if not (ing.resumed and (ing.chain.first == 0 or batch.first < ing.chain.first)):
                fc.verify_batch(rec.stream, batch, ing.chain, okey)
            ing.chain = fc.BatchChain()
            ing.resumed = False
            self._audit_batch(
                "delivery" if self.party == self.hub and rec.stream[4:] != self.party else "receipt", rec.stream, batch
            )
        else:
            ing.chain.add(rec.seq, rec.raw)
        self._pending.append((rec.stream, rec.seq, rec.rtype, rec.raw))
        self._accepted[rec.stream] = rec.seq
        self.counters["relayed" if rec.stream[4:] != self.party else "received"] += 1

    # -- durability and fan-out ---------------------------------------------------------------

    def _flush(self) -> None:
        """Make pending records durable and pass them on.

        Records of this node's own streams are committed by the store's writer thread before anything
        leaves (their numbers are assigned here; what the loop gathered while a commit ran goes into the
        next one, so a burst costs one commit, not one per message). Records it relays or receives are
        forwarded first and committed by the same writer thread: the originator's log is authoritative,
        so a crash in between only makes the next hop see them again under the same numbers (ignored as
        duplicates). The hop upstream is acknowledged, and a local publisher answered, only once the
        records are durable.
        """
        pending, self._pending = self._pending, []
        acks, self._acks = self._acks, []
        if not pending and not acks:
            return
        party = self.party
        own = [r for r in pending if r[0][:3] == party]
        relayed = [r for r in pending if r[0][:3] != party] if len(own) != len(pending) else []
        if own:
            mine = _by_stream(own)

            def own_durable() -> None:
                for conn, pid, seqs in acks:
                    conn.send(ff.pubok_accepted(pid, seqs))
                for stream, recs in mine.items():
                    for sub in list(self.subs.get(stream, ())):
                        self._fan_out(sub, recs)

            # group commit: everything published while the writer thread commits goes in its next transaction
            self.store.append_async(own, own_durable, asyncio.get_running_loop())
        else:
            for conn, pid, seqs in acks:
                conn.send(ff.pubok_accepted(pid, seqs))
        if not relayed:
            return
        touched = _by_stream(relayed)
        for stream, recs in touched.items():
            for sub in list(self.subs.get(stream, ())):
                self._fan_out(sub, recs)

        def durable() -> None:
            for stream, recs in touched.items():
                src = self._source_of(stream)
                if src is not None and src in self.peers:
                    self.peers[src].send(ff.frame(ff.ACK, ff.ack_body(stream, recs[-1][0])))
                for sub in self.subs.get(stream, ()):
                    if sub.cursor <= recs[-1][0]:
                        sub.wake.set()  # a subscriber behind: its task reads what is now durable

        self.store.append_async(relayed, durable, asyncio.get_running_loop())

    def _fan_out(self, sub: Sub, recs: list[tuple[int, bytes]]) -> None:
        if not sub.live:
            sub.wake.set()
            return
        if not self._may_send(sub):
            return
        if recs[0][0] != sub.cursor:
            sub.live = False
            sub.wake.set()
            return
        conn = sub.conn
        for seq, raw in recs:
            if seq == sub.cursor:
                conn.send(ff.frame(ff.REC, raw))
                sub.cursor += 1
        if conn.buffered > self.high_water:
            sub.live = False  # a slow subscriber: its task serves it from the log after a drain
            sub.wake.set()

    def _may_send(self, sub: Sub) -> bool:
        """Cut off a subscriber whose agreement no longer allows the stream (checked on every send)."""
        if sub.conn.local:
            return True
        sc = self.scope(sub.stream)
        if sc.allowed:
            return True
        self.counters["cut_off"] += 1
        self._audit_refusal(f"feed:{sub.stream}", "CUT_OFF", None, f"{sub.conn.party} cut off: {sc.why}")
        sub.conn.send(ff.json_frame(ff.ERR, {"code": "CUT_OFF", "stream": sub.stream, "message": sc.why[:1000]}))
        self._unsubscribe(sub)
        return False

    async def _sender(self, sub: Sub) -> None:
        """Serve ``sub`` from the durable log until it is caught up, then live from the event loop."""
        try:
            while not sub.conn.closed:
                await sub.conn.writer.drain()
                sub.wake.clear()
                while sub.cursor <= self.store.head(sub.stream):
                    if not self._may_send(sub):
                        return
                    for seq, raw in self.store.read(sub.stream, sub.cursor, 256):
                        sub.conn.send(ff.frame(ff.REC, raw))
                        sub.cursor = seq + 1
                    sub.conn.flush_out()
                    await sub.conn.writer.drain()
                sub.live = True
                await sub.wake.wait()
                sub.live = False
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass


def _by_stream(rows: list[tuple[str, int, int, bytes]]) -> dict[str, list[tuple[int, bytes]]]:
    out: dict[str, list[tuple[int, bytes]]] = {}
    for stream, seq, _, raw in rows:
        recs = out.get(stream)
        if recs is None:
            recs = out[stream] = []
        recs.append((seq, raw))
    return out


def _seal(session: fc.Session, plain: bytes, seq: int) -> bytes:
    return session.seal(seq, plain)


def _bsig(stream: str, payload: bytes, seq: int) -> bytes:
    return ff.record(stream, seq, ff.BSIG, payload)
