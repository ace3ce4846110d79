"""Receiving, durability and fan-out of the feed service, one segment at a time.

A relay (the hub) or a recipient node receives a stream as segments (RECS frames): it checks the framing
of each (one ``unpack`` per record: stream, consecutive numbers, types, sizes), the originator's
signatures of the session and batch records in it, hashes it into the batch chain in one call, keeps it
as one log row and forwards it as one frame. It never decodes a message (it cannot: the records are
sealed to their recipient).
"""

from __future__ import annotations

import asyncio
import logging

from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.base import NodeBase
from accord.feed.conn import ACK_INTERVAL, Conn, Ingest, Sub
from accord.feed.store import MAX_SEGMENT, SegRow

log = logging.getLogger("accord.feed")


class Relaying(NodeBase):
    # -- receiving (hub and recipients) ------------------------------------------------------------
    def _on_segment(self, party: str, local: bool, seg: ff.Segment) -> None:
        stream = seg.stream
        if local or self._source_of(stream) != party:
            raise ff.FrameError(f"{party} is not the source of {stream} at {self.party}")
        head = self._accepted.get(stream, 0)
        if seg.last <= head:
            return  # already held (a resend after reconnect): idempotent
        if seg.first > head + 1:
            raise ff.FrameError(f"{stream}: record {seg.first} after {head} (gap)")
        if seg.first <= head:  # overlaps what we hold: keep the new part only
            seg = ff.scan_segment(seg.body[ff.segment_offset(seg.body, seg.first, head + 1) :])
        ing = self.ingest.get(stream)
        if ing is None:
            ing = self.ingest[stream] = Ingest()
        specials = seg.specials
        body = seg.body
        if not specials:
            ing.chain.add_span(seg.first, seg.last, body)
        else:
            okey = self.ident.verify_key(stream[:3])
            if okey is None:
                raise fc.FeedCryptoError(f"{stream[:3]} is not pinned")
            mv = memoryview(body)
            pos, cur = 0, seg.first
            for q, rt, start, end in specials:
                if q > cur:
                    ing.chain.add_span(cur, q - 1, mv[pos : start - 4])
                rec = body[start:end]
                if rt == ff.HS:
                    fc.verify_session_signature(rec[ff.REC_HEADER :], okey)
                    ing.chain.add_span(q, q, mv[start - 4 : end])
                else:
                    batch = fc.parse_batch(rec[ff.REC_HEADER :])
                    if not (ing.resumed and (ing.chain.first == 0 or batch.first < ing.chain.first)):
                        fc.verify_batch(stream, batch, ing.chain, okey)
                    ing.chain = fc.BatchChain()
                    ing.resumed = False
                    self._audit_batch(
                        "delivery" if self.party == self.hub and stream[4:] != self.party else "receipt", stream, batch
                    )
                pos, cur = end, q + 1
            if cur <= seg.last:
                ing.chain.add_span(cur, seg.last, mv[pos:])
        self._relayed.append(SegRow(stream, seg.first, seg.last, body, [(q, rt) for q, rt, _, _ in specials]))
        self._accepted[stream] = seg.last
        self.counters["relayed" if stream[4:] != self.party else "received"] += seg.last - seg.first + 1

    # -- durability and fan-out --------------------------------------------------------------------
    def _own_rows(self) -> list[SegRow]:
        rows: list[SegRow] = []
        for stream in self._dirty:
            own = self.own[stream]
            parts, marks, seq = own.parts, own.marks, own.first
            own.parts, own.marks = [], []
            if sum(map(len, parts)) <= MAX_SEGMENT:  # the usual flush: one row, no walk of the records
                rows.append(SegRow(stream, seq, seq + len(parts) - 1, b"".join(parts), marks))
                continue
            chunk: list[bytes] = []
            size = 0
            first = seq
            for part in parts:
                if size + len(part) > MAX_SEGMENT and chunk:
                    rows.append(
                        SegRow(stream, first, seq - 1, b"".join(chunk), [m for m in marks if first <= m[0] < seq])
                    )
                    chunk, size, first = [], 0, seq
                chunk.append(part)
                size += len(part)
                seq += 1
            rows.append(SegRow(stream, first, seq - 1, b"".join(chunk), [m for m in marks if m[0] >= first]))
        self._dirty.clear()
        return rows

    def _flush(self) -> None:
        """Make pending segments durable and pass them on.

        Segments of this node's own streams are committed here, on the loop, before anything leaves (their
        numbers are assigned here; a burst costs one commit and one row per stream), then written at once.
        Segments it relays or receives are written to the next hop first, then committed (on the loop with
        ``sync=normal``; by the writer thread's group commit with ``sync=full``): the originator's log is
        authoritative, so a crash in between only makes the next hop see them again under the same numbers
        (ignored as duplicates). The hop upstream is acknowledged (:meth:`_send_acks`), and a local
        publisher answered, only once the segments are durable.
        """
        acks, self._acks = self._acks, []
        own = self._own_rows() if self._dirty else []
        relayed, self._relayed = self._relayed, []
        if not own and not relayed and not acks:
            return
        loop = self._loop or asyncio.get_running_loop()
        if own:
            # committed here, on the loop (a WAL commit of one row per stream: tens of µs): no hand-off to the
            # writer thread and back, whose GIL wait (up to the 5 ms switch interval while the loop is busy)
            # was on every message's latency; what arrives meanwhile is read, and committed, at the next flush
            self.store.append(own)
            for conn, pid, seqs in acks:
                conn.send(ff.pubok_accepted(pid, seqs))
            # durable: written at once, not at the next turn of the loop (behind whatever else is ready)
            for conn in self._fan_out_rows(own):
                conn.flush_out()
        else:
            for conn, pid, seqs in acks:
                conn.send(ff.pubok_accepted(pid, seqs))
        if not relayed:
            return
        written = self._fan_out_rows(relayed)
        lasts: dict[str, int] = {}
        for r in relayed:
            lasts[r.stream] = r.last
        if self.store.sync == "full":
            # every commit fsyncs: the writer thread group-commits whatever arrives while its fsync runs
            self.store.append_async(relayed, lambda: self._durable(lasts), loop)
            return
        # forwarded first (the frames leave now, before the commit), then committed here on the loop: a WAL
        # commit without fsync (tens of µs for one row per stream). A hand-off to the writer thread cost a
        # thread wake-up, GIL hand-overs and a loop wake-up (call_soon_threadsafe) per segment at each relay,
        # all competing for the host's two cores with the next hops' loops (docs/feed.md, tail pass).
        for conn in written:
            conn.flush_out()
        self.store.append(relayed)
        self._durable(lasts)

    def _durable(self, lasts: dict[str, int]) -> None:
        """Segments up to ``lasts`` are durable here: subscribers behind read them from the log, and the hop
        upstream will be acknowledged (:meth:`_ack_later`)."""
        for stream, last in lasts.items():
            if self._source_of(stream) is not None:
                self._ack_due[stream] = last
            for sub in self.subs.get(stream, ()):
                if sub.cursor <= last:
                    sub.wake.set()  # a subscriber behind: its task reads what is now durable
        if self._ack_due and self._ack_timer is None:
            loop = self._loop or asyncio.get_running_loop()
            self._ack_timer = loop.call_later(ACK_INTERVAL, self._send_acks)

    def _send_acks(self) -> None:
        """At most one ACK per stream per :data:`ACK_INTERVAL`, naming the newest durable record: an ACK only
        feeds the upstream's lag figure (``status``), and one per segment woke the upstream's loop (a TLS
        record, a frame) for every segment relayed. What is acknowledged is still only what is durable."""
        self._ack_timer = None
        due, self._ack_due = self._ack_due, {}
        for stream, last in due.items():
            src = self._source_of(stream)
            if src is not None and src in self.peers:
                self.peers[src].send(ff.frame(ff.ACK, ff.ack_body(stream, last)))

    def _fan_out_rows(self, rows: list[SegRow]) -> set[Conn]:
        """Send ``rows`` to the live subscribers of their streams; returns the connections written to."""
        written: set[Conn] = set()
        by: dict[str, list[SegRow]] = {}
        for r in rows:
            if r.stream in self.subs:
                by.setdefault(r.stream, []).append(r)
        for stream, segs in by.items():
            subs = self.subs.get(stream)
            if not subs:
                continue
            heads = [ff.frame_head(ff.RECS, len(r.body)) for r in segs]
            for sub in list(subs):
                self._fan_out(sub, segs, heads)
                written.add(sub.conn)
        return written

    def _fan_out(self, sub: Sub, segs: list[SegRow], heads: list[bytes]) -> None:
        if not sub.live:
            sub.wake.set()
            return
        if not self._may_send(sub):
            return
        conn = sub.conn
        for r, head in zip(segs, heads, strict=True):
            if r.last < sub.cursor:
                continue
            if r.first != sub.cursor:
                sub.live = False  # not where this subscriber is: its task serves it from the log
                sub.wake.set()
                return
            conn.send(head)  # the RECS frame: its head, then the body as it is (one copy, at the write)
            conn.send(r.body)
            sub.cursor = r.last + 1
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
        self._suspended[(sub.conn, sub.stream)] = {"stream": sub.stream, "from": sub.cursor}
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
                    for _, last, body in self.store.read_segments(sub.stream, sub.cursor, 256 << 10):
                        sub.conn.send(ff.frame_head(ff.RECS, len(body)))
                        sub.conn.send(body)
                        sub.cursor = last + 1
                    sub.conn.flush_out()
                    await sub.conn.writer.drain()
                sub.live = True
                await sub.wake.wait()
                sub.live = False
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass
