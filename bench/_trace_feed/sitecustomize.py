"""Per-hop timestamps of a feed node for ``python -m bench.trace_feed`` (a measuring aid, not product code).

Loaded at start-up when this directory is on ``PYTHONPATH`` (``sitecustomize``); does nothing unless
``ACCORD_TRACE`` names a file. It then wraps the feed node's entry points so that each records
``(what, thread, time.time_ns(), a, b, c)`` -- the same clock in every process of the host -- and appends
them to ``ACCORD_TRACE`` every second and at exit: frames handled (with the stream and sequence range of a
segment, the range a publish was given), the on-loop commit, the writer thread's commits, checkpoints,
fan-outs, socket writes, batch signatures, audit commits, collector runs, and how late a 1 ms timer
fires on the loop (its stalls). The product code is not changed.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import os
import threading
import time
from typing import Any

_OUT = os.environ.get("ACCORD_TRACE", "")
_EVENTS: list[tuple[str, str, int, Any, Any, Any]] = []
_now = time.time_ns


def _rec(what: str, a: Any = "", b: Any = "", c: Any = "") -> None:
    _EVENTS.append((what, threading.current_thread().name, _now(), a, b, c))


def _runq() -> int:
    """Nanoseconds the calling thread has waited on the kernel's run queue (``schedstat``)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
        return int(f.read().split()[1])


def _span(owner: Any, name: str, what: str) -> None:
    raw = owner.__dict__[name]
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def traced(*a: Any, **k: Any) -> Any:
        t0 = _now()
        c0 = time.thread_time_ns()
        q0 = _runq()
        try:
            return fn(*a, **k)
        finally:
            _EVENTS.append(
                (what, threading.current_thread().name, t0, _now() - t0, time.thread_time_ns() - c0, _runq() - q0)
            )

    setattr(owner, name, staticmethod(traced) if isinstance(raw, staticmethod) else traced)


def _dump() -> None:
    n = len(_EVENTS)
    with open(_OUT, "a") as f:
        for what, thread, t, a, b, c in _EVENTS[:n]:
            f.write(f"{t} {thread.replace(' ', '_')} {what} {a or '-'} {b or '-'} {c or '-'}\n")
    del _EVENTS[:n]


def _writer() -> None:
    while True:
        time.sleep(1.0)
        _dump()


def _install() -> None:
    import asyncio

    from accord.audit.log import AuditLog
    from accord.feed import store as fstore
    from accord.feed.conn import Conn
    from accord.feed.node import FeedNode
    from accord.feed.publisher import Publishing
    from accord.feed.relay import Relaying

    on_segment = Relaying._on_segment

    def t_on_segment(self: Any, party: str, local: bool, seg: Any) -> None:
        _rec("seg", seg.stream, seg.first, seg.last)
        on_segment(self, party, local, seg)

    Relaying._on_segment = t_on_segment  # type: ignore[method-assign]

    publish_batch = Publishing.publish_batch

    def t_publish_batch(self: Any, conn: Any, pid: int, quiet: bool, msgs: list[bytes]) -> None:
        t0 = _now()
        before = dict(self._accepted)
        publish_batch(self, conn, pid, quiet, msgs)
        for st, q in self._accepted.items():
            if q != before.get(st, 0):
                _EVENTS.append(("pub", "MainThread", t0, st, before.get(st, 0) + 1, q))

    Publishing.publish_batch = t_publish_batch  # type: ignore[method-assign]

    fan_out = Relaying._fan_out

    def t_fan_out(self: Any, sub: Any, segs: list[Any], heads: list[Any]) -> None:
        c0 = sub.cursor
        fan_out(self, sub, segs, heads)
        if sub.cursor != c0:
            _rec("fan", sub.stream, c0, sub.cursor - 1)
            _rec("fanconn", id(sub.conn), sub.conn.party, sub.stream)

    Relaying._fan_out = t_fan_out  # type: ignore[method-assign]

    flush_out = Conn.flush_out

    def t_flush_out(self: Any) -> None:
        t0 = _now()
        n = sum(map(len, self._out))
        flush_out(self)
        _EVENTS.append(("write", "MainThread", t0, id(self), n, _now() - t0))

    Conn.flush_out = t_flush_out  # type: ignore[method-assign]

    _span(fstore.FeedStore, "append", "commit_loop")
    _span(fstore.FeedStore, "_insert", "insert")
    _span(Publishing, "_sign_batches", "sign")
    _span(Relaying, "_flush", "flush")
    _span(AuditLog, "append_many", "audit")

    def t_checkpointer(self: Any) -> None:
        while not self._stop.wait(fstore.CHECKPOINT_INTERVAL):
            t0 = _now()
            c0 = time.thread_time_ns()
            with contextlib.suppress(Exception):
                self._cdb.execute("PRAGMA wal_checkpoint(PASSIVE)")
            _EVENTS.append(("ckpt", threading.current_thread().name, t0, _now() - t0, time.thread_time_ns() - c0, ""))

    fstore.FeedStore._checkpointer = t_checkpointer  # type: ignore[method-assign]

    start = FeedNode.start

    async def t_start(self: Any) -> None:
        await start(self)
        self._tasks.append(asyncio.create_task(_probe()))

    FeedNode.start = t_start  # type: ignore[method-assign]
    gc.callbacks.append(
        lambda phase, info: _rec("gcst" if phase == "start" else "gcsp", info["generation"], info.get("collected", ""))
    )


async def _probe() -> None:
    """How late a 1 ms sleep wakes up: the loop's stalls, whatever their cause. For a stall: how much of it
    the loop's thread ran (CPU), waited for a CPU (the kernel's run queue, ``schedstat``), and the rest
    (blocked: the GIL held by another thread, or a system call)."""
    import asyncio

    tid = threading.get_native_id()
    path = f"/proc/self/task/{tid}/schedstat"

    def sched() -> tuple[int, int]:
        with open(path) as f:
            run, wait, _ = f.read().split()
        return int(run), int(wait)

    while True:
        t0 = _now()
        r0, w0 = sched()
        await asyncio.sleep(0.001)
        late = _now() - t0 - 1_000_000
        if late > 1_500_000:
            r1, w1 = sched()
            _EVENTS.append(("stall", "MainThread", t0, late, r1 - r0, w1 - w0))


if _OUT:
    _install()
    atexit.register(_dump)
    threading.Thread(target=_writer, daemon=True, name="trace-writer").start()
