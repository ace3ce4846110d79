"""The reading side of the integrator's API (:class:`accord.feed.client.FeedClient`): what a reader holds
while it reads (sessions, batch chains, the high-water mark) and how a received segment is opened.

Per segment: the framing (``scan_segment``), the originator's session records and batch signatures
checked against the records received (one hash update per run of records); per message only the
AES-GCM open and the decoding. A record that fails is quarantined with an alarm, never stalling the reader.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed import offerkeys
from accord.feed.model import FeedRefused, WarningMessage, decode_message


class _Owner(Protocol):
    """What a reading needs of its client: alarms and the offer keys held now."""

    def _alarm(self, stream: str, seq: int, what: str) -> None: ...

    def _offer_keys(self) -> dict[str, offerkeys.OfferKey]: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    stream: str
    seq: int
    message: WarningMessage
    latency_us: int  # receipt time minus the publisher's issue time (same clock only on one host)


@dataclass(slots=True, eq=False)
class DeliveryBatch:
    """The messages of one received segment of ``stream``, in order: ``messages[i]`` is record ``seqs[i]``.

    ``last`` is the segment's last record (its session and batch-signature records and any quarantined
    record count as read too); ``received_us`` is when the segment was opened (one clock reading).
    """

    stream: str
    seqs: list[int]
    messages: list[WarningMessage]
    last: int
    received_us: int

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Delivery]:
        for q, m in zip(self.seqs, self.messages, strict=True):
            yield Delivery(self.stream, q, m, self.received_us - m.issued_us)


class Reading:
    """The state of one ``FeedClient.deliveries`` / ``batches``: sessions, batch chains, the high-water mark."""

    def __init__(
        self, client: _Owner, keys: dict[str, offerkeys.OfferKey], hwm: dict[str, int], start: dict[str, int]
    ) -> None:
        self.client = client
        self.keys = keys
        self.hwm = hwm
        self.start = start
        self.sessions: dict[tuple[str, int], fc.Session] = {}
        self.chains: dict[str, fc.BatchChain] = {}
        self.started: set[str] = set()
        self.dirty = False

    def check(self, seg: ff.Segment, okey: Ed25519PublicKey) -> None:
        """Sessions and batch signatures of a segment; the chain, one hash update per run of records."""
        s, body = seg.stream, seg.body
        mv = memoryview(body)
        pos, cur = 0, seg.first
        for q, rt, a, e in seg.specials:
            if q > cur:
                _chain_span(self.chains, s, cur, q - 1, mv[pos : a - 4])
            rec = body[a:e]
            if rt == ff.HS:
                self._session(s, q, rec[ff.REC_HEADER :], okey)
                _chain_span(self.chains, s, q, q, mv[a - 4 : e])
            else:
                b = fc.parse_batch(rec[ff.REC_HEADER :])
                ch = self.chains.get(s)
                try:
                    if ch is not None and ch.first == b.first:
                        fc.verify_batch(s, b, ch, okey)
                    elif s in self.started:
                        raise fc.FeedCryptoError(f"{s}: batch {b.first}-{b.last} does not match what was received")
                except fc.FeedCryptoError as err:
                    self.client._alarm(s, q, str(err))
                self.chains[s] = fc.BatchChain()
                self.started.add(s)
            pos, cur = e, q + 1
        if cur <= seg.last:
            _chain_span(self.chains, s, cur, seg.last, mv[pos:])

    def _session(self, s: str, q: int, payload: bytes, okey: Ed25519PublicKey) -> None:
        try:
            sealed_to = fc.parse_session_header(payload)["offer"]
            if sealed_to not in self.keys:  # a rotation since the reader started
                self.keys = self.client._offer_keys()
            k = self.keys.get(sealed_to)
            if k is None:
                raise fc.FeedCryptoError(f"{s}: session sealed to an offer key not held (or expired)")
            opened = fc.open_session(payload, s, okey, k.offer, k.priv)
            self.sessions[(s, opened.epoch)] = opened
        except fc.FeedCryptoError as err:
            self.client._alarm(s, q, f"session record refused: {err}")

    def advance(self, stream: str, seq: int) -> None:
        """The consumer has taken everything of ``stream`` up to ``seq``: the high-water mark moves."""
        if seq > self.hwm.get(stream, 0) and seq >= self.start.get(stream, 1):
            self.hwm[stream] = seq
            self.dirty = True

    def open(self, seg: ff.Segment) -> DeliveryBatch:
        """The messages of a checked segment: one AES-GCM open each (the only per-message crypto), then one
        decoding pass over the segment. A record that does not open or decode is quarantined with an
        alarm, never stalling the reader; the high-water mark is left to the caller (:meth:`advance`)."""
        s, body = seg.stream, seg.body
        first_wanted = self.start.get(s, 1)
        mv = memoryview(body)
        seqs: list[int] = []
        plains: list[bytes] = []
        unpack, unpack_epoch, nonce = _PART_HEAD.unpack_from, _EPOCH.unpack_from, fc.NONCE.pack
        data, aad_end = ff.DATA, ff.REC_HEADER + 4
        cur_epoch = -1
        decrypt: Any = None
        pos, n = 0, len(body)
        while pos < n:
            length, q, rt = unpack(body, pos)
            a = pos + 4
            pos = a + length
            if rt != data or q < first_wanted:
                continue
            (epoch,) = unpack_epoch(body, a + ff.REC_HEADER)
            try:
                if epoch != cur_epoch:
                    sess = self.sessions.get((s, epoch))
                    if sess is None:
                        raise fc.FeedCryptoError(f"{s} #{q}: no session for epoch {epoch}")
                    decrypt, cur_epoch = sess.decrypt, epoch
                plains.append(decrypt(nonce(epoch, q), mv[a + aad_end : pos], mv[a : a + aad_end]))
            except InvalidTag:
                # one bad record never stalls the reader: quarantined, alarmed, and the next one follows
                err = fc.FeedCryptoError(f"{s} #{q}: ciphertext does not authenticate")
                self.client._alarm(s, q, f"record quarantined: {err}")
                continue
            except fc.FeedCryptoError as err:
                self.client._alarm(s, q, f"record quarantined: {err}")
                continue
            seqs.append(q)
        try:
            msgs = list(map(decode_message, plains))
        except FeedRefused:  # a sealed message that is not a warning message: that one is quarantined
            msgs, kept = [], []
            for q, p in zip(seqs, plains, strict=True):
                try:
                    msgs.append(decode_message(p))
                except FeedRefused as err:
                    self.client._alarm(s, q, f"record quarantined: {err}")
                    continue
                kept.append(q)
            seqs = kept
        return DeliveryBatch(s, seqs, msgs, seg.last, time.time_ns() // 1000)


_PART_HEAD = struct.Struct(">I7xQB")
_EPOCH = struct.Struct(">I")


def _chain_span(chains: dict[str, fc.BatchChain], stream: str, first: int, last: int, data: memoryview) -> None:
    """Records ``first..last`` into the stream's open batch chain when they follow what it holds (after a
    resume the reader may start inside a batch: that batch is not comparable and is not checked)."""
    ch = chains.get(stream)
    if ch is None:
        ch = chains[stream] = fc.BatchChain()
    if ch.first == 0 or ch.last + 1 == first:
        ch.add_span(first, last, data)
