"""The integrator's API: publish to and read from one's own node's feed (``docs/feed.md``).

A local client runs on the node's host with access to the node directory: it connects to the node's
feed listener with the node's own certificate, publishes warning messages (the node checks them and is
the one that refuses), and reads the streams addressed to its nation, opening the sessions with the
node's offer key and checking every batch signature of the originator.

    async with FeedClient("kor", port=9443) as c:
        seqs = await c.publish({"event": "E1", "kind": "launch", "time": t, "lat": 39.0, "lon": 125.7})

    async with FeedClient("jpn", port=9445, hwm_file=Path("jpn-reader.hwm")) as c:
        async for d in c.deliveries():
            print(d.stream, d.seq, d.message, d.latency_us)

At high rates, :meth:`FeedClient.fire_many` / :meth:`FeedClient.publish_many` send many messages in one PUBS
frame (each still checked on its own by the node), and :meth:`FeedClient.batches` hands over one
:class:`DeliveryBatch` per received segment (every message decrypted, checked and decoded, no per-message
object or generator step beyond the message itself).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import socket
import sqlite3
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from accord.errors import AccordError, InputError
from accord.feed import frame as ff
from accord.feed import offerkeys
from accord.feed.conn import ACK_INTERVAL
from accord.feed.identity import NodeIdentity
from accord.feed.model import MESSAGE_VERSION, FeedRefused, WarningMessage, encode_message
from accord.feed.node import QUIET, STATE_DIR
from accord.feed.reading import Delivery, DeliveryBatch, Reading

log = logging.getLogger("accord.feed.client")
_PUB_HEAD = struct.Struct(">IB")
_U16 = struct.Struct(">H")
#: A binary message up to its event id (``encode_message``'s layout): version, kind, times, numbers, length.
_MSG_HEAD = struct.Struct("<BBqq6dB")
_PART_FIXED = 2 + _MSG_HEAD.size  # a PUBS part without its event id: ``len u16 | message head``
_PREFIXES = [_U16.pack(_MSG_HEAD.size + n) for n in range(33)]  # ``len u16`` of a message by event length


def encode_pubs(first: int, msgs: Iterable[WarningMessage], flags: int) -> tuple[list[bytes], int]:
    """PUBS frames carrying ``msgs`` with ids ``first, first + 1, …`` (mod 2**32), and how many messages.

    Each message is encoded once, straight into its frame (``len u16 | binary message``, the layout of
    :func:`~accord.feed.model.encode_message`); a frame is cut before its body would pass
    :data:`~accord.feed.frame.MAX_FRAME`, the next one going on with the next id. Nothing is checked here:
    the node checks every message (M-R1/M-R2) and refuses by id."""
    frames: list[bytes] = []
    pieces: list[bytes] = []
    pid = (first - 1) & 0xFFFFFFFF
    head_id = first
    size = 5
    count = 0
    pack = _MSG_HEAD.pack
    prefixes = _PREFIXES
    for m in msgs:
        ev = m.event.encode("ascii")
        n = len(ev)
        pid = (pid + 1) & 0xFFFFFFFF
        if size + _PART_FIXED + n > ff.MAX_FRAME:
            frames.append(_pubs_frame(head_id, flags, pieces))
            pieces = []
            size = 5
            head_id = pid
        pieces.append(prefixes[n] if n < len(prefixes) else _U16.pack(_MSG_HEAD.size + n))
        pieces.append(pack(MESSAGE_VERSION, m.kind, m.issued_us, m.time_us, m.lat, m.lon, m.alt_m, *m.vel, n))
        pieces.append(ev)
        size += _PART_FIXED + n
        count += 1
    if pieces:
        frames.append(_pubs_frame(head_id, flags, pieces))
    return frames, count


def _pubs_frame(first: int, flags: int, pieces: list[bytes]) -> bytes:
    body = b"".join(pieces)
    return _LEN_TYPE.pack(len(body) + 6, ff.PUBS, first, flags) + body


_LEN_TYPE = struct.Struct(">IBIB")


class FeedError(AccordError):
    """The node refused a subscription, cut it off, or the connection failed."""


class FeedClient:
    """A local client of a node's feed service."""

    def __init__(
        self, node_dir: str | Path, *, port: int, host: str = "127.0.0.1", hwm_file: Path | None = None
    ) -> None:
        self.dir = Path(node_dir)
        self.ident = NodeIdentity.load(self.dir)
        self.party = self.ident.party
        self.host, self.port = host, port
        self.hwm_file = hwm_file
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._frames = ff.FrameReader()
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pump: asyncio.Task[None] | None = None
        # frames of one read, for the reader; bounded: a slow reader slows the node's sending, not memory
        self._queue: asyncio.Queue[list[tuple[int, bytes]] | None] = asyncio.Queue(maxsize=64)
        self.errors: list[dict[str, Any]] = []
        self.refusals: list[dict[str, Any]] = []  # refusals of messages sent with fire()
        self.sent_quiet = 0
        self.alarms: list[tuple[str, int, str]] = []  # quarantined records and failed batch signatures
        self._out: list[bytes] = []
        self._pubs: list[bytes] = []  # binary messages fired this turn (one PUBS frame)
        self._pubs_first = 0
        self._pubs_size = 5

    async def __aenter__(self) -> FeedClient:
        await self.connect()
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self, timeout: float = 10.0) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.host, self.port, ssl=self.ident.client_ssl(self.party), limit=ff.MAX_FRAME * 4
            ),
            timeout,
        )
        self._reader, self._writer = reader, writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pump = asyncio.create_task(self._read_loop())

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                data = await self._reader.read(1 << 16)
                if not data:
                    break
                batch: list[tuple[int, bytes]] = []
                for ftype, body in self._frames.feed(data):
                    if ftype == ff.PUBOK:
                        pid, obj = ff.parse_pubok(body)
                        fut = self._waiting.pop(pid, None)
                        if fut is None and not obj.get("ok"):
                            self.refusals.append({"id": pid, **obj})
                        if fut is not None and not fut.done():
                            fut.set_result(obj)
                    elif ftype == ff.ERR:
                        self.errors.append(ff.parse_json(body, None))
                        batch.append((ftype, body))
                    elif ftype in (ff.RECS, ff.REC):
                        batch.append((ftype, body))
                if batch:
                    await self._queue.put(batch)
        except (ConnectionError, OSError, ff.FrameError):
            pass
        finally:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(FeedError("connection to the node closed"))
            await self._queue.put(None)

    # -- publishing ---------------------------------------------------------------------------
    def _send_pub(
        self, msg: dict[str, Any] | WarningMessage, *, quiet: bool = False
    ) -> asyncio.Future[dict[str, Any]] | None:
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        pid = self._next_id
        flag = QUIET if quiet else 0
        if isinstance(msg, WarningMessage):
            body = _PUB_HEAD.pack(pid, 1 | flag) + encode_message(msg)
        else:
            body = _PUB_HEAD.pack(pid, flag) + json.dumps(msg, separators=(",", ":")).encode()
        self._write(ff.frame(ff.PUB, body))
        if quiet:
            self.sent_quiet += 1
            return None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[pid] = fut
        return fut

    def _write(self, data: bytes) -> None:
        """Frames written during one turn of the event loop leave in one write."""
        if not self._out and not self._pubs:
            asyncio.get_running_loop().call_soon(self._flush_out)
        self._close_pubs()
        self._out.append(data)

    def _close_pubs(self) -> None:
        if self._pubs:
            self._out.append(ff.frame(ff.PUBS, _PUB_HEAD.pack(self._pubs_first, 1 | QUIET) + b"".join(self._pubs)))
            self._pubs.clear()
            self._pubs_size = 5

    def _flush_out(self) -> None:
        self._close_pubs()
        if self._out and self._writer is not None:
            self._writer.write(b"".join(self._out))
        self._out.clear()

    def fire(self, msg: dict[str, Any] | WarningMessage) -> None:
        """Publish without waiting for an answer; a refusal still comes back (in :attr:`refusals`).

        Binary messages fired during one turn of the event loop leave in one PUBS frame (one frame and
        one parse per burst at the node, not per message); message ``i`` of it has id ``first + i``."""
        if not isinstance(msg, WarningMessage):
            self._send_pub(msg, quiet=True)
            return
        enc = encode_message(msg)
        if self._pubs_size + 2 + len(enc) > ff.MAX_FRAME:
            self._close_pubs()
        if not self._out and not self._pubs:
            asyncio.get_running_loop().call_soon(self._flush_out)
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        if not self._pubs:
            self._pubs_first = self._next_id
        self._pubs.append(_U16.pack(len(enc)) + enc)
        self._pubs_size += 2 + len(enc)
        self.sent_quiet += 1

    def fire_many(self, msgs: Iterable[WarningMessage]) -> int:
        """Publish many binary messages without waiting: they are encoded straight into PUBS frames (one
        per 64 KiB, leaving with what else was written this turn of the event loop). Returns the id of the
        first; message ``i`` has id ``(first + i) % 2**32``, which a refusal in :attr:`refusals` names.
        The node checks each message on its own (M-R1/M-R2 form, launch-impact window)."""
        first = (self._next_id + 1) & 0xFFFFFFFF
        frames, count = self._pubs_frames(msgs, 1 | QUIET)
        for f in frames:
            self._write(f)
        self.sent_quiet += count
        return first

    def _pubs_frames(self, msgs: Iterable[WarningMessage], flags: int) -> tuple[list[bytes], int]:
        frames, count = encode_pubs((self._next_id + 1) & 0xFFFFFFFF, msgs, flags)
        self._next_id = (self._next_id + count) & 0xFFFFFFFF
        return frames, count

    async def publish(self, msg: dict[str, Any] | WarningMessage) -> dict[str, int]:
        """Publish one message; returns ``{stream: seq}`` once durable at the node.

        Raises:
            FeedRefused: the node refused it (forbidden field, pre-launch, outside the window, no agreement).
        """
        assert self._writer is not None
        fut = self._send_pub(msg)
        assert fut is not None
        self._flush_out()
        await self._writer.drain()
        return _result(await fut)

    async def publish_many(self, msgs: Iterable[dict[str, Any] | WarningMessage]) -> list[dict[str, int] | FeedRefused]:
        """Pipelined publishing: every answer, in order (a refusal in place of a refused message).

        Binary messages (:class:`WarningMessage`) go in PUBS frames (:meth:`fire_many`'s encoding, with an
        answer per message); JSON mappings one PUB frame each (the node parses and checks them as JSON)."""
        assert self._writer is not None
        msgs = list(msgs)
        futs: list[asyncio.Future[dict[str, Any]]] = []
        if msgs and all(isinstance(m, WarningMessage) for m in msgs):
            loop = asyncio.get_running_loop()
            first = (self._next_id + 1) & 0xFFFFFFFF
            frames, count = self._pubs_frames(msgs, 1)  # type: ignore[arg-type]
            for k in range(count):
                fut: asyncio.Future[dict[str, Any]] = loop.create_future()
                self._waiting[(first + k) & 0xFFFFFFFF] = fut
                futs.append(fut)
            for fr in frames:
                self._write(fr)
        else:
            for m in msgs:
                one = self._send_pub(m)
                assert one is not None
                futs.append(one)
        self._flush_out()
        await self._writer.drain()
        out: list[dict[str, int] | FeedRefused] = []
        for f in futs:
            try:
                out.append(_result(await f))
            except FeedRefused as e:
                out.append(e)
        return out

    def send_nowait(self, msg: dict[str, Any] | WarningMessage) -> asyncio.Future[dict[str, Any]]:
        """Send one message without waiting (rate-paced publishers); the future holds the node's answer."""
        fut = self._send_pub(msg)
        assert fut is not None
        return fut

    # -- reading ------------------------------------------------------------------------------
    def _load_hwm(self) -> dict[str, int]:
        if self.hwm_file is None or not self.hwm_file.exists():
            return {}
        obj = json.loads(self.hwm_file.read_text() or "{}")
        return {str(k): int(v) for k, v in obj.items()}

    def _save_hwm(self, hwm: dict[str, int]) -> None:
        if self.hwm_file is None:
            return
        tmp = self.hwm_file.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(hwm, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.hwm_file)

    def _offer_keys(self) -> dict[str, offerkeys.OfferKey]:
        """The keys that open sessions now (current and retired within their bound), by offer digest."""
        state = self.dir / STATE_DIR
        db = sqlite3.connect(f"file:{state / 'feed.db'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT v FROM kv WHERE k = 'my-offer'").fetchone()
        finally:
            db.close()
        if row is None:
            raise InputError("the node has not started its feed yet", source=str(state))
        return offerkeys.offer_keys(state, self.party, self.ident.sign_key.public_key(), bytes(row[0]))

    def _alarm(self, stream: str, seq: int, what: str) -> None:
        self.alarms.append((stream, seq, what))
        log.error("ALARM %s #%d: %s", stream, seq, what)

    async def deliveries(
        self, streams: Iterable[str] | None = None, *, from_seq: dict[str, int] | None = None, follow: bool = True
    ) -> AsyncIterator[Delivery]:
        """Decrypted, verified messages addressed to this nation, in order per stream.

        Resumes after the durable high-water mark (``hwm_file``) or ``from_seq``; with ``follow=False``
        stops once every stream is caught up with the node's head as of the subscription.
        Raises :class:`FeedError` when the node refuses a subscription.
        A message counts in the high-water mark once the consumer asked for the next one (or closed the
        iterator after taking it). :meth:`batches` gives the same, a received segment at a time.
        """
        async with contextlib.aclosing(self._segments(streams, from_seq, follow)) as it:
            async for reading, b in it:
                s = b.stream
                for q, m in zip(b.seqs, b.messages, strict=True):
                    reading.advance(s, q)
                    yield Delivery(s, q, m, b.received_us - m.issued_us)
                reading.advance(s, b.last)

    async def batches(
        self, streams: Iterable[str] | None = None, *, from_seq: dict[str, int] | None = None, follow: bool = True
    ) -> AsyncIterator[DeliveryBatch]:
        """:meth:`deliveries` one received segment at a time: the same checks (sessions, batch signatures,
        AES-GCM per message, message form), the same order, resume and high-water mark (a batch counts
        once the consumer asked for the next one), without a per-message object or generator step.
        Segments that carry no message (session and batch-signature records only) are not handed over."""
        async with contextlib.aclosing(self._segments(streams, from_seq, follow)) as it:
            async for reading, b in it:
                if b.seqs:
                    reading.advance(b.stream, b.last)
                    yield b
                else:
                    reading.advance(b.stream, b.last)

    async def _segments(
        self, streams: Iterable[str] | None, from_seq: dict[str, int] | None, follow: bool
    ) -> AsyncGenerator[tuple[Reading, DeliveryBatch], None]:
        """Subscribe, then every received segment checked and opened; the caller advances the mark."""
        assert self._writer is not None
        keys = self._offer_keys()
        if streams is None:
            streams = [f"{p}-{self.party}" for p in ("JPN", "KOR", "USA") if p != self.party]
            streams += [f"{p}-{self.party}" for p in sorted(self.ident.peers) if p not in ("JPN", "KOR", "USA")]
        hwm = self._load_hwm()
        start = {s: (from_seq or {}).get(s, hwm.get(s, 0) + 1) for s in streams}
        for s, first in start.items():
            self._write(ff.json_frame(ff.SUB, {"stream": ff.check_stream(s), "from": first}))
        self._flush_out()
        await self._writer.drain()
        reading = Reading(self, keys, hwm, start)
        buf: collections.deque[tuple[int, bytes]] = collections.deque()
        acked: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        timer: list[asyncio.TimerHandle | None] = [None]

        def send_acks() -> None:
            """Tell the node how far this reader is (its lag in ``status``): at most one ACK per stream per
            ACK_INTERVAL, the newest mark (each one costs the node a loop wake-up and a TLS record)."""
            timer[0] = None
            for st, q in hwm.items():
                if q > acked.get(st, 0):
                    acked[st] = q
                    self._write(ff.frame(ff.ACK, ff.ack_body(st, q)))

        try:
            while True:
                if not buf:
                    if timer[0] is None and any(q > acked.get(st, 0) for st, q in hwm.items()):
                        timer[0] = loop.call_later(ACK_INTERVAL, send_acks)
                    if self._queue.empty() and reading.dirty:
                        self._save_hwm(hwm)
                        reading.dirty = False
                    if not follow and self._queue.empty():
                        try:
                            item = await asyncio.wait_for(self._queue.get(), 0.5)
                        except TimeoutError:
                            return
                    else:
                        item = await self._queue.get()
                    if item is None:
                        raise FeedError("the node closed the connection")
                    buf.extend(item)
                ftype, body = buf.popleft()
                if ftype == ff.ERR:
                    obj = ff.parse_json(body, None)
                    raise FeedError(f"{obj.get('code')}: {obj.get('message')}")
                if ftype == ff.REC:
                    ff.parse_record(body)
                    body = ff.prefixed(body)
                seg = ff.scan_segment(body)
                okey = self.ident.verify_key(seg.stream[:3])
                if okey is None:
                    raise FeedError(f"{seg.stream[:3]} is not pinned")
                reading.check(seg, okey)
                yield reading, reading.open(seg)
        finally:
            if timer[0] is not None:
                timer[0].cancel()
            if reading.dirty:  # what the consumer took before closing the generator counts as processed
                self._save_hwm(hwm)


def _result(obj: dict[str, Any]) -> dict[str, int]:
    if obj.get("ok"):
        seq = obj.get("seq") or {}
        return {str(k): int(v) for k, v in seq.items()}
    raise FeedRefused(str(obj.get("code")), str(obj.get("message")), rule=obj.get("rule"))
