"""The machine's second core for the primitives on a release's serial path (issue 8).

``cryptography`` releases the GIL in ECDSA P-384 and ML-DSA-87 signing and verification and in the HPKE
key unwrap, so a worker thread runs them truly alongside the calling thread. This module holds one small
persistent pool (:data:`WORKERS` threads, started on first use, never one thread per call) and a count of
the tasks it runs. A task is handed to it only when a worker is free and the machine has an idle core
(:meth:`_Pool.spare_core`); otherwise the caller runs the work itself, as before, so nothing ever waits in
a queue behind another request's work and a busy machine pays no hand-off.

- :func:`offload` runs one function on a free worker (or returns None: the caller does it inline).
- :func:`race` starts one attempt of a randomized computation on a free worker; :meth:`Race.hedge`, called
  once the caller has finished its own work and only while that attempt still runs, starts a second
  attempt on the other worker, and :meth:`Race.result` returns the first that succeeds (*late* hedging of
  ML-DSA signing: rejection sampling gives the signature time a long tail). At most two threads work on
  it at once: the worker and the caller, then the two workers while the caller waits. The losers'
  results are dropped inside the worker: never stored, returned or reused.
- Errors are the caller's: :meth:`Task.result` re-raises what the function raised, so an exception in a
  worker reaches the caller exactly as if the caller had made the call.

The pool's threads are daemons, started on first use, blocked on a queue when idle; at exit (and by
:func:`shutdown`, after which the next use starts new ones) they are stopped and joined. A forked child
starts with no pool (its parent's threads do not exist there).
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Worker threads: the machine's cores (2) beside the callers' own threads. Hedging uses both.
WORKERS = 2

#: ``ACCORD_CRYPTO_PARALLEL=0`` turns the pool off (every primitive runs inline, as before Wave 6);
#: ``=always`` uses it even when no core looks idle; ``ACCORD_CRYPTO_HEDGE=0`` keeps the pool but never
#: hedges (one attempt per signature). Measuring switches, read when the pool is first used.
_ENV = "ACCORD_CRYPTO_PARALLEL"
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_ENV_HEDGE = "ACCORD_CRYPTO_HEDGE"


class Task(Generic[T]):
    """One function handed to a worker. :meth:`result` returns its value or re-raises its error; when no
    worker has started it yet (a loaded machine), it is taken back and run in the caller's thread, so a
    hand-off never costs more than doing the work inline."""

    __slots__ = ("_fn", "_future")

    def __init__(self, fn: Callable[[], T], future: Future[T]) -> None:
        self._fn, self._future = fn, future

    def result(self) -> T:
        if self._future.cancel():
            return self._fn()
        return self._future.result()

    def done(self) -> bool:
        return self._future.done()


def _run(future: Future[Any], fn: Callable[[], Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return  # taken back by the caller before it started
    try:
        value = fn()
    except BaseException as e:  # the caller's error: Future.result() re-raises it
        future.set_exception(e)
    else:
        future.set_result(value)


class _Workers:
    """:data:`WORKERS` daemon threads taking tasks from one queue, all started at once.

    (``ThreadPoolExecutor`` starts a second thread only when it counts no idle one, and its idle count
    grows with every finished task: with tasks that never overlap it keeps one thread, and two hedged
    attempts would run one after the other.)
    """

    def __init__(self, n: int) -> None:
        self.queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._loop, name=f"accord-crypto-{i}", daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def _loop(self) -> None:
        while (task := self.queue.get()) is not None:
            _run(*task)
            del task  # the worker holds nothing of a finished task (a data key, a signature)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self.queue.put((future, fn))
        return future

    def shutdown(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join()


class _Pool:
    """The process's crypto workers and the count of tasks they run (never more than :data:`WORKERS`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.workers: _Workers | None = None
        self.in_flight = 0  # tasks handed to the pool and not finished
        self.enabled: bool | None = None
        self.always = False  # skip the spare-core check (measurements)
        self.hedge = os.environ.get(_ENV_HEDGE, "1") != "0"

    def reserve(self, n: int, *, leaving: int = 0) -> bool:
        """Take ``n`` worker slots if they are free and the machine has a core to spare (``leaving``: runnable
        threads about to block, i.e. the caller that will wait for the task)."""
        with self.lock:
            if self.enabled is None:
                self.enabled = os.environ.get(_ENV, "1") != "0"
                self.always = os.environ.get(_ENV) == "always"
            if not self.enabled or self.in_flight + n > WORKERS:
                return False
            self.in_flight += n
        if not self.always and not self.spare_core(leaving):
            with self.lock:
                self.in_flight -= n
            return False
        return True

    @staticmethod
    def spare_core(leaving: int = 0) -> bool:
        """True when fewer threads are runnable on the machine (this one included, minus ``leaving`` that
        are about to block) than it has cores.

        A hand-off pays only when another core is idle: on a busy machine (the throughput phase of a
        benchmark, the other node working, other processes) the primitives run inline as before, and a
        hedged attempt never takes CPU another request needs. The count is the kernel's instantaneous
        number of runnable tasks (``/proc/loadavg``, 4th field; ~20 µs to read); where it cannot be read,
        the pool is used.
        """
        try:
            fd = os.open("/proc/loadavg", os.O_RDONLY)
            try:
                data = os.read(fd, 128)
            finally:
                os.close(fd)
            running = int(data.split()[3].split(b"/")[0])
        except (OSError, ValueError, IndexError):
            return True
        return running - leaving < _CORES

    def release(self, _f: object = None) -> None:
        with self.lock:
            self.in_flight -= 1

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on a slot taken by :meth:`reserve` (given back when it finishes or is taken back)."""
        try:
            with self.lock:
                if self.workers is None:
                    self.workers = _Workers(WORKERS)
                workers = self.workers
            f = workers.submit(fn)
        except BaseException:
            self.release()
            raise
        f.add_done_callback(self.release)
        return f

    def shutdown(self) -> None:
        with self.lock:
            workers, self.workers = self.workers, None
        if workers is not None:
            workers.shutdown()

    def after_fork(self) -> None:
        self.lock = threading.Lock()
        self.workers, self.in_flight = None, 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.after_fork)
atexit.register(_POOL.shutdown)  # the threads are daemons; this joins them cleanly (a task lasts ms)


def set_enabled(on: bool | None, *, hedge: bool = True) -> None:
    """Force the pool on or off (None: back to the environment) and hedging. For measurements and tests."""
    with _POOL.lock:
        _POOL.enabled, _POOL.hedge = on, hedge


def in_flight() -> int:
    """Tasks running on the pool now."""
    return _POOL.in_flight


def offload(fn: Callable[[], T]) -> Task[T] | None:
    """``fn`` started on a free worker, or None when the pool is off or busy (the caller calls it itself)."""
    if not _POOL.reserve(1):
        return None
    return Task(fn, _POOL.submit(fn))


class Race(Generic[T]):
    """Attempts of one randomized computation; :meth:`result` is the first that succeeded.

    :func:`race` starts one attempt; :meth:`hedge` may add a second (late hedging). Each attempt offers its
    value on completion; only the first offer is kept and every later one is dropped in the worker (the
    attempt's future holds None). If every attempt failed, :meth:`result` raises the first failure. When no
    worker has started the attempt by the time the caller asks, the caller takes it back and makes the
    computation itself.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._left = 0
        self._value: T | None = None
        self._won = False
        self._taken = False
        self._error: BaseException | None = None
        self._futures: list[Future[None]] = []

    def _run(self) -> None:
        try:
            value = self._fn()
        except BaseException as e:  # handed to the caller by result()
            with self._lock:
                self._left -= 1
                if self._error is None:
                    self._error = e
                if self._left == 0 and not self._won:
                    self._done.set()
            return
        with self._lock:
            self._left -= 1
            if self._won:
                return  # a loser: its value goes no further than this frame
            self._won, self._value = True, value
        self._done.set()
        for f in self._futures:
            f.cancel()  # an attempt no worker has started yet is not needed any more

    def hedge(self) -> bool:
        """The late hedge: when the first attempt is running on a worker and has not finished, start a
        second on the other worker, if hedging is on, a worker is free and, once the caller blocks in
        :meth:`result`, a core is idle. Call it when the caller's own work is done, then :meth:`result`.
        Returns whether a second attempt was started."""
        with self._lock:
            if self._done.is_set() or self._taken or len(self._futures) != 1 or not self._futures[0].running():
                return False  # finished, or not started (result() takes it back), or already hedged
        if not _POOL.hedge or not _POOL.reserve(1, leaving=1):
            return False
        with self._lock:
            if self._done.is_set():  # finished meanwhile: no second attempt
                _POOL.release()
                return False
            self._left += 1
        try:
            self._futures.append(_POOL.submit(self._run))
        except BaseException:
            with self._lock:
                self._left -= 1
            raise
        return True

    def result(self) -> T:
        if not self._done.is_set() and len(self._futures) == 1 and self._futures[0].cancel():
            with self._lock:
                self._taken = True
                self._left -= 1
            return self._fn()  # no worker started it: the caller's own attempt
        self._done.wait()
        with self._lock:
            if self._taken:
                raise RuntimeError("a raced result is handed out once")
            self._taken = True
            if self._won:
                value, self._value = self._value, None  # the race keeps no copy
                return value  # type: ignore[return-value]
            assert self._error is not None
            raise self._error


def race(fn: Callable[[], T]) -> Race[T] | None:
    """One attempt of ``fn`` on a free worker (:meth:`Race.hedge` may add a second), else None (inline)."""
    if not _POOL.reserve(1):
        return None
    r: Race[T] = Race(fn)
    r._left = 1
    r._futures.append(_POOL.submit(r._run))
    return r


def run_all(fns: Sequence[Callable[[], object]]) -> None:
    """Call every function (the first in this thread, the others on free workers) and re-raise the first
    error in order; used where every call must succeed (both halves of a hybrid signature)."""
    tasks = [offload(f) for f in fns[1:]]
    first: BaseException | None = None
    try:
        fns[0]()
    except BaseException as e:  # re-raised below, after the others were collected
        first = e
    for f, t in zip(fns[1:], tasks, strict=True):
        if t is None and first is not None:
            continue  # already failed: what is left inline need not run
        try:
            f() if t is None else t.result()
        except BaseException as e:
            if first is None:
                first = e
    if first is not None:
        raise first


def shutdown() -> None:
    """Close the pool and join its threads (the next use starts a new one)."""
    _POOL.shutdown()
