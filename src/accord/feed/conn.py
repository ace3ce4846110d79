"""Connections, subscriptions and clocks of the feed service (:mod:`accord.feed.node`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from accord.feed import crypto as fc

HIGH_WATER = 1 << 20  # bytes buffered for one subscriber before it is served from the log
SNDBUF = 256 << 10  # kernel send buffer per connection (fixed: the lag shows instead of hiding in the kernel)
BATCH_INTERVAL = 0.010  # M-R: a batch signature at most every 10 ms
#: ACK frames (durable at the next hop; they feed only the sender's lag figure) are sent at most once per
#: stream per this many seconds, naming the newest durable record (relays and local readers alike).
ACK_INTERVAL = 0.020
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
class Ingest:
    """What a node checks on a stream it receives: order and the originator's signatures."""

    chain: fc.BatchChain = field(default_factory=fc.BatchChain)
    resumed: bool = True  # the first batch after a (re)start may have begun before it: not comparable


@dataclass(eq=False)
class Own:
    """The originator's side of one of its streams: the session, records not yet flushed to the log
    (``parts``, each ``len u32 | record``, from ``first``), and the chain of the open batch."""

    session: fc.Session | None = None
    parts: list[bytes] = field(default_factory=list)
    first: int = 0
    marks: list[tuple[int, int]] = field(default_factory=list)
    chain: fc.BatchChain = field(default_factory=fc.BatchChain)
