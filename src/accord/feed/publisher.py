"""The originator's side of the feed service: check, seal and sign what a local publisher sends.

Per message only what cannot be shared: the M-R1/M-R2 field and window check (once, on the publisher's
bytes: a binary message is validated and carried as it is, never decoded to a dict and re-encoded) and
one AES-256-GCM per recipient stream. Sealed records go into the stream's open segment (``Own.parts``)
and its batch chain in one hash update each; a flush writes one log row per stream and sends one frame
per stream; a batch signature every :data:`~accord.feed.conn.BATCH_INTERVAL` covers all of them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import struct
from collections.abc import Iterator
from typing import Any

from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.base import NodeBase, bsig_part
from accord.feed.conn import BATCH_INTERVAL, QUIET, Conn, Own
from accord.feed.model import (
    Code,
    FeedRefused,
    Kind,
    check_binary,
    decode_message,
    encode_message,
    parse_message,
)

log = logging.getLogger("accord.feed")
_ISSUED = struct.Struct("<q")
_U16 = struct.Struct(">H")
_PUBS_HEAD = struct.Struct(">IB")


class Publishing(NodeBase):
    # -- sessions ----------------------------------------------------------------------------------
    def _open_session(self, stream: str) -> None:
        epoch_key = f"epoch:{stream}"
        raw = self.store.get(epoch_key)
        epoch = (int.from_bytes(raw, "big") if raw else 0) + 1
        self.store.put(epoch_key, epoch.to_bytes(4, "big"))
        session, hs = fc.make_session(stream, epoch, self.offers[stream[4:]], self.ident.sign_key)
        own = self._own(stream)
        own.session = session
        seq = self._next_seq(stream)
        self._add(stream, own, seq, ff.prefixed(ff.record(stream, seq, ff.HS, hs)), ff.HS)

    def _open_streams(self, day: dt.date, reasons: list[str]) -> Iterator[tuple[str, Own]]:
        """This node's outgoing streams that may carry a message today (M-R4, M-R5), each with its session
        (opened on first use); why each refused stream is refused goes into ``reasons``. A recipient that
        never subscribed gets nothing kept for it."""
        for r in self.parties:
            if r == self.party:
                continue
            stream = f"{self.party}-{r}"
            sc = self.scope(stream, day)
            if not sc.allowed:
                reasons.append(sc.why)
                continue
            own = self.own.get(stream)
            if own is None or own.session is None:
                if r not in self.offers:
                    continue
                self._open_session(stream)
                own = self.own[stream]
            yield stream, own

    def _own(self, stream: str) -> Own:
        own = self.own.get(stream)
        if own is None:
            own = self.own[stream] = Own()
        return own

    def _add(self, stream: str, own: Own, seq: int, part: bytes, rtype: int) -> None:
        if not own.parts:
            own.first = seq
            self._dirty.add(stream)
        own.parts.append(part)
        self._accepted[stream] = seq
        if rtype == ff.BSIG:
            own.marks.append((seq, rtype))
            return
        if rtype == ff.HS:
            own.marks.append((seq, rtype))
        own.chain.add_span(seq, seq, part)

    # -- publishing --------------------------------------------------------------------------------
    def publish(self, msg: dict[str, Any] | bytes, *, now: int | None = None) -> dict[str, int]:
        """Check and publish one message (a JSON mapping or its binary form) to every recipient in scope.

        Returns ``{stream: seq}``. Raises :class:`FeedRefused` (audited) for a message that may not cross.
        The records are durable once the store's writer thread committed what :meth:`_flush` queued (the
        connection handlers flush after each read); nothing leaves before that.
        """
        t = self.clock_us() if now is None else now
        try:
            if isinstance(msg, dict):
                m = parse_message(msg)
                plain = b""
            else:
                m = decode_message(msg)  # the one check of the publisher's bytes (sizes, kind, numbers, event)
                plain = msg
            if m.issued_us == 0 or m.issued_us > t:
                m = type(m)(m.event, m.kind, m.time_us, m.lat, m.lon, m.alt_m, m.vel, t)
                if plain:  # stamp the issue time in place: bytes 2-9 of the binary form
                    plain = plain[:2] + _ISSUED.pack(t) + plain[10:]
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
        if not plain:
            plain = encode_message(m)
        out: dict[str, int] = {}
        reasons: list[str] = []
        day = self.today()
        for stream, own in self._open_streams(day, reasons):
            assert own.session is not None
            seq = self._accepted.get(stream, 0) + 1
            part = own.session.seal_part(seq, plain)
            # inline _add for DATA: the hot path (one list append, one hash update)
            if not own.parts:
                own.first = seq
                self._dirty.add(stream)
            own.parts.append(part)
            own.chain.add_span(seq, seq, part)
            self._accepted[stream] = seq
            out[stream] = seq
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

    def _publish_one(self, conn: Conn, pid: int, quiet: bool, fmt: int, data: bytes) -> None:
        try:
            if fmt == 0:
                seqs = self.publish(ff.parse_json(data, None))
            elif fmt == 1:
                seqs = self.publish(data)
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

    def _on_publish(self, conn: Conn, body: bytes) -> None:
        if len(body) < 5:
            raise ff.FrameError("publish frame too short")
        (pid,) = struct.unpack_from(">I", body)
        self._publish_one(conn, pid, bool(body[4] & QUIET), body[4] & ~QUIET, body[5:])

    def _on_publish_many(self, conn: Conn, body: bytes) -> None:
        """PUBS: ``first id u32 | flags u8 | (len u16 | binary message)*``; message i has id first + i."""
        if len(body) < 5:
            raise ff.FrameError("publish frame too short")
        pid, flags = _PUBS_HEAD.unpack_from(body)
        quiet, fmt = bool(flags & QUIET), flags & ~QUIET
        if fmt != 1:
            raise ff.FrameError("a publish batch carries binary messages")
        msgs: list[bytes] = []
        pos, n = 5, len(body)
        while pos < n:
            if n - pos < 2:
                raise ff.FrameError("publish batch ends inside a length")
            (length,) = _U16.unpack_from(body, pos)
            end = pos + 2 + length
            if end > n:
                raise ff.FrameError("publish batch message overruns the frame")
            msgs.append(body[pos + 2 : end])
            pos = end
        self.publish_batch(conn, pid, quiet, msgs)

    def publish_batch(self, conn: Conn, pid: int, quiet: bool, msgs: list[bytes]) -> None:
        """Publish binary messages ``pid, pid + 1, …`` at once: the same checks as :meth:`publish`, message
        by message (M-R1/M-R2 form, launch-impact window, issue time), then, per recipient stream in scope,
        one loop of AES-GCM seals, one hash update of the batch chain and one extension of the open segment."""
        t = self.clock_us()
        plains: list[bytes] = []
        ids: list[int] = []
        check = self.windows.check_fields
        track = Kind.TRACK
        for i, given in enumerate(msgs):
            data = given
            try:
                kind, event, time_us, issued = check_binary(data)
                if issued == 0 or issued > t:
                    data = data[:2] + _ISSUED.pack(t) + data[10:]
                check(event, kind, time_us, t)
                if kind is not track:  # the window survives a restart of the publishing node
                    w = self.windows.window(event)
                    if w is not None:
                        self.store.put(f"window:{event}", struct.pack(">qq", w[0], w[1] or 0))
            except FeedRefused as e:
                self._refuse_message(conn, (pid + i) & 0xFFFFFFFF, e, data, event=None)
                continue
            plains.append(data)
            ids.append((pid + i) & 0xFFFFFFFF)
        if not plains:
            return
        day = self.today()
        reasons: list[str] = []
        firsts: dict[str, int] = {}
        for stream, own in self._open_streams(day, reasons):
            assert own.session is not None
            first = self._accepted.get(stream, 0) + 1
            parts = own.session.seal_parts(first, plains)
            last = first + len(parts) - 1
            if not own.parts:
                own.first = first
                self._dirty.add(stream)
            own.parts.extend(parts)
            own.chain.add_span(first, last, b"".join(parts))
            self._accepted[stream] = last
            firsts[stream] = first
        if not firsts and reasons:
            err = FeedRefused(
                Code.NOT_IN_SCOPE, "no agreement allows sharing warning data today: " + " | ".join(reasons), rule="M-R5"
            )
            for i, data in zip(ids, plains, strict=True):
                self._refuse_message(conn, i, err, data, event=None)
            return
        self.counters["published"] += len(plains)
        if not quiet:
            for k, i in enumerate(ids):
                self._acks.append((conn, i, {st: f + k for st, f in firsts.items()}))

    def _refuse_message(self, conn: Conn, pid: int, e: FeedRefused, data: bytes, *, event: str | None) -> None:
        self.counters["refused"] += 1
        self._audit_refusal(
            f"feed:{event or 'message'}", e.code, e.rule, e.message, digest=hashlib.sha256(data).hexdigest()
        )
        conn.send(ff.pubok_refused(pid, {"code": e.code, "rule": e.rule, "message": e.message}))

    # -- batches -----------------------------------------------------------------------------------
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
                    chain.add(s, raw)
                seq = rows[-1][0] + 1
            if chain.first:
                self._own(stream).chain = chain
        if self._sign_batches():
            self._flush()

    def _sign_batches(self) -> bool:
        signed = False
        for stream, own in self.own.items():
            chain = own.chain
            if chain.first == 0:
                continue
            payload = fc.sign_batch(stream, chain, self.ident.sign_key)
            own.chain = fc.BatchChain()
            seq = self._next_seq(stream)
            self._add(stream, own, seq, bsig_part(stream, seq, payload), ff.BSIG)
            self.counters["batches"] += 1
            self._audit_batch("release", stream, fc.parse_batch(payload))
            signed = True
        return signed
