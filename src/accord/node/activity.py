"""When a node's background work may run without delaying a release in flight (issue 8, latency).

A release crosses a node on one serial path (submit: decide, seal, commit; recipient: verify, open, decide,
mark, commit, receipt; sender: check the receipt, commit). The audit feeder's batch (its events, a signed
checkpoint, one fsync'd commit under the writer lock) took 2-4 ms; started by its timer in the middle of that
path it delayed the release by as much (one release in six, one at a time: the p99). The feeder now waits, a
bounded time, for a moment when no release work runs in this node: :meth:`Activity.busy` brackets the service
calls of the hot routes and the sender's acknowledgement; :meth:`Activity.awaiting` the wait for a partner's
answer -- the best moment of all for a sender (its partner works for several milliseconds).

Only scheduling: nothing is skipped or reordered, and a node that is never quiet (sustained load) runs the
batch after ``timeout`` as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: How recently a delivery must have been sent for the feeder to prefer the wait for a partner's answer.
SENDER_WINDOW = 1.0
#: A gap while a partner works is taken only at its start: a batch begun late in it would outlast it (a batch
#: took 3-13 ms under load, a partner's work on a release ~10 ms) and hold up the acknowledgement.
FRESH = 0.003


class Activity:
    """Counts release work in progress in one node process, and lets background work wait for a gap in it."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._busy = 0
        self._awaiting = 0
        self._last_sent = float("-inf")

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Release work on this node's path (a submit, an inbound delivery, an acknowledgement)."""
        with self._cv:
            self._busy += 1
        try:
            yield
        finally:
            with self._cv:
                self._busy -= 1
                if self._busy == 0:
                    self._cv.notify_all()

    @contextmanager
    def awaiting(self) -> Iterator[None]:
        """A message sent, its partner's answer awaited: this node has nothing of that release to do meanwhile."""
        with self._cv:
            self._awaiting += 1
            self._last_sent = time.monotonic()
            self._cv.notify_all()
        try:
            yield
        finally:
            with self._cv:
                self._awaiting -= 1

    @property
    def in_progress(self) -> int:
        return self._busy

    def wait_quiet(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for a gap in the release work; True when one came.

        A node that sent a delivery recently waits first for a moment when one has just been sent and nothing
        else runs (up to half of ``timeout``), then for any moment when nothing runs."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cv:
            if time.monotonic() - self._last_sent < SENDER_WINDOW:
                half = time.monotonic() + max(0.0, timeout) / 2

                def partner_works() -> bool:
                    fresh = time.monotonic() - self._last_sent < FRESH
                    return self._busy == 0 and self._awaiting > 0 and fresh

                if self._cv.wait_for(partner_works, max(0.0, half - time.monotonic())):
                    return True
            return self._cv.wait_for(lambda: self._busy == 0, max(0.0, deadline - time.monotonic()))


#: For a node without an audit feeder (nothing waits for a gap): the same interface.
NO_ACTIVITY = Activity()


def activity_of(service: object) -> Activity:
    """The activity of ``service``'s node: its audit feeder's (the only background work that waits for a gap)."""
    feeder = getattr(service, "feeder", None)
    found = getattr(feeder, "activity", None)
    return found if isinstance(found, Activity) else NO_ACTIVITY
