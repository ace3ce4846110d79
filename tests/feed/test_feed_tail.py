"""The feed's latency tail (docs/feed.md, "Tail pass"): what a relay does per segment besides forwarding it.

A relay with ``sync=normal`` forwards a segment, then commits it on its loop (no writer-thread hand-off per
segment); with ``sync=full`` its writer thread group-commits. Acknowledgements (ACK frames, which feed only
the sender's lag figure) go at most once per stream per ``ACK_INTERVAL``, naming the newest durable record,
from relays and from local readers alike; nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from accord.feed import frame as ff
from accord.feed.client import FeedClient
from accord.feed.conn import ACK_INTERVAL
from accord.feed.model import Kind, WarningMessage
from accord.feed.node import FeedNode
from accord.feed.store import FeedStore
from tests.feed.support import now_us
from tests.feed.test_feed_node import DAY, Days, three

pytestmark = pytest.mark.integration


def _flight(event: str, n: int) -> list[WarningMessage]:
    t = now_us()
    out = [WarningMessage(event, Kind.LAUNCH, t - 3_000_000, 39.0, 125.7)]
    out += [
        WarningMessage(event, Kind.TRACK, t - 2_000_000 + i, 39.1, 126.0 + i * 1e-5, 5e4, (1.0, 2.0, 3.0))
        for i in range(n)
    ]
    return out


@pytest.fixture
def acks(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str, bool]]:
    """ACK frames handled, by (receiving party, stream, from a local client)."""
    seen: Counter[tuple[str, str, bool]] = Counter()
    handle = FeedNode._handle

    def counting(self: FeedNode, conn: Any, ftype: int, body: bytes) -> None:
        if ftype == ff.ACK:
            seen[(self.party, ff.parse_ack(body)[0], conn.local)] += 1
        handle(self, conn, ftype, body)

    monkeypatch.setattr(FeedNode, "_handle", counting)
    return seen


async def _in_bursts(kor: FeedClient, msgs: list[WarningMessage], size: int, pause: float) -> float:
    """Publish ``msgs`` in bursts of ``size`` (each a segment per stream at KOR); returns the time it took."""
    t0 = time.monotonic()
    for i in range(0, len(msgs), size):
        kor.fire_many(msgs[i : i + size])
        await asyncio.sleep(pause)
    return time.monotonic() - t0


def _sub(node: FeedNode, stream: str, to: str) -> dict[str, Any]:
    subs = [s for s in node.status()["subscribers"] if s["stream"] == stream and s["to"] == to]
    assert len(subs) == 1
    return subs[0]


def test_usa_acknowledges_at_most_once_per_interval_and_the_last_ack_names_the_durable_head(
    nodes: dict[str, Path], acks: Counter[tuple[str, str, bool]]
) -> None:
    """Many small segments relayed KOR -> USA -> JPN: KOR hears far fewer ACKs than segments (one per stream per
    ACK_INTERVAL at most, not one per segment), and once the flow stops its lag figure for the hub reaches 0."""

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            base = n["USA"].counters["relayed"]
            segments = Counter[str]()
            on_segment = n["USA"]._on_segment

            def counting(party: str, local: bool, seg: ff.Segment) -> None:
                segments[seg.stream] += 1
                on_segment(party, local, seg)

            n["USA"]._on_segment = counting  # type: ignore[method-assign]
            acks.clear()
            took = await _in_bursts(kor, _flight("kor-AK1", 240), 4, 0.003)
            for _ in range(200):
                if n["JPN"].store.head("KOR-JPN") == n["KOR"].store.head("KOR-JPN"):
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(3 * ACK_INTERVAL)
            assert n["USA"].counters["relayed"] - base >= 241
            assert segments["KOR-JPN"] >= 30
            bound = took / ACK_INTERVAL + 4
            for stream in ("KOR-JPN", "KOR-USA"):
                got = acks[("KOR", stream, False)]
                assert 1 <= got <= bound and got < segments[stream] / 2, (stream, got, segments[stream], bound)
                head = n["KOR"].store.head(stream)
                assert _sub(n["KOR"], stream, "USA")["acked"] == head and _sub(n["KOR"], stream, "USA")["lag"] == 0
            # the hub's own lag figure for JPN comes from JPN's coalesced ACKs, as durable at JPN
            assert _sub(n["USA"], "KOR-JPN", "JPN")["acked"] == n["JPN"].store.head("KOR-JPN")

    asyncio.run(go())


def test_a_local_reader_acknowledges_at_most_once_per_interval_and_its_lag_reaches_zero(
    nodes: dict[str, Path], acks: Counter[tuple[str, str, bool]]
) -> None:
    """The JPN reader (batches()) takes many segments: JPN hears a bounded number of ACKs from it, and the last
    one names what it took (its lag in JPN's status is 0 once it is idle)."""

    async def go() -> None:
        async with (
            three(nodes, Days(DAY)) as n,
            FeedClient(nodes["KOR"], port=n["KOR"].port) as kor,
            FeedClient(nodes["JPN"], port=n["JPN"].port) as jpn,
        ):
            msgs = _flight("kor-AK2", 240)
            taken = 0
            batches = 0

            async def read() -> None:
                nonlocal taken, batches
                async with contextlib.aclosing(jpn.batches(["KOR-JPN"])) as it:
                    async for b in it:
                        batches += 1
                        taken += sum(1 for m in b.messages if m.event == "kor-AK2")

            reader = asyncio.create_task(read())
            acks.clear()
            took = await _in_bursts(kor, msgs, 4, 0.003)
            for _ in range(300):  # the reader takes everything, then idles: its trailing ACK names the head
                if taken >= len(msgs) and _sub(n["JPN"], "KOR-JPN", "JPN")["lag"] == 0:
                    break
                await asyncio.sleep(0.01)
            took = max(took, 0.0)
            st = _sub(n["JPN"], "KOR-JPN", "JPN")
            assert taken == len(msgs) and batches >= 30
            assert st["acked"] == n["JPN"].store.head("KOR-JPN") and st["lag"] == 0
            got = acks[("JPN", "KOR-JPN", True)]
            assert 1 <= got <= took / ACK_INTERVAL + 6 and got < batches / 2, (got, batches, took)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    asyncio.run(go())


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_the_hub_forwards_before_it_commits_and_group_commits_only_with_sync_full(
    nodes: dict[str, Path], monkeypatch: pytest.MonkeyPatch, sync: str
) -> None:
    """sync=normal: each relayed segment is written towards JPN first, then committed on the hub's loop (no
    writer-thread hand-off); sync=full: the writer thread group-commits (one fsync for what arrived meanwhile).
    Either way every record reaches JPN once and in order, and the hub's log holds all of them."""
    queued: list[int] = []
    loop_commits: list[bool] = []  # for each on-loop commit at the hub: nothing was left unwritten towards JPN
    append_async = FeedStore.append_async
    append = FeedStore.append

    def counting_async(self: FeedStore, rows: Any, *a: Any, **k: Any) -> None:
        if "usa" in str(self.path):
            queued.append(len(rows))
        append_async(self, rows, *a, **k)

    hub: list[FeedNode] = []

    def checking(self: FeedStore, rows: Any) -> None:
        rows = list(rows)
        if hub and self is hub[0].store and any(r.stream[:3] != "USA" for r in rows):
            jpn = hub[0].peers.get("JPN")
            loop_commits.append(jpn is None or not jpn._out)
        append(self, rows)

    monkeypatch.setattr(FeedStore, "append_async", counting_async)
    monkeypatch.setattr(FeedStore, "append", checking)

    async def go() -> None:
        async with three(nodes, Days(DAY), sync=sync) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            hub.append(n["USA"])
            msgs = _flight("kor-HC1", 200)
            await _in_bursts(kor, msgs, 10, 0.002)
            for _ in range(300):
                if n["JPN"].store.head("KOR-JPN") >= n["KOR"].store.head("KOR-JPN") > len(msgs):
                    break
                await asyncio.sleep(0.01)
            head = n["KOR"].store.head("KOR-JPN")
            assert n["JPN"].store.head("KOR-JPN") == head
            for _ in range(100):  # the hub's commit (sync=full: its writer thread) follows the forward
                if n["USA"].store.head("KOR-JPN") == head:
                    break
                await asyncio.sleep(0.01)
            assert n["USA"].store.head("KOR-JPN") == head
            assert [q for q, _ in n["USA"].store.read("KOR-JPN", 1, 10_000)] == list(range(1, head + 1))

    asyncio.run(go())
    if sync == "normal":
        assert queued == [] and len(loop_commits) >= 10 and all(loop_commits)
    else:
        assert sum(queued) >= 20 and loop_commits == []


def _switches(tid: int) -> int:
    """Context switches of a thread so far (Linux): how often it was woken up, among others."""
    text = Path(f"/proc/self/task/{tid}/status").read_text()
    return sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches" in line)


def test_queuing_audit_events_wakes_no_thread_and_a_group_is_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch signatures are audited ~100-200 times a second per node: queuing one must not wake the audit
    thread (each wake-up took the GIL from the event loop). The thread takes what is pending every GROUP
    seconds, one commit (one checkpoint) per group; flush() and close() commit what is pending at once."""
    from accord.feed import audit as fa

    monkeypatch.setattr(fa, "GROUP", 5.0)
    a = fa.FeedAudit(tmp_path, "KOR")
    try:
        time.sleep(0.05)
        tid = a._thread.native_id
        assert tid is not None
        before = _switches(tid)
        for i in range(200):
            a.event("release", f"feed:KOR-JPN:{i}-{i}", "00" * 32, batch={"first": i, "last": i})
            if i % 20 == 0:
                time.sleep(0.005)
        assert _switches(tid) - before <= 2  # the thread slept through 200 events
        assert a.log.size == 0  # nothing committed before its group ends (or a flush)
        checkpoints = len(a.log.checkpoints())
        assert a.flush(5)
        assert a.log.size == 200 and len(a.log.checkpoints()) == checkpoints + 1
        assert a.audited("feed:KOR-JPN:199-199")
        a.event("release", "feed:KOR-JPN:200-200", "00" * 32)
    finally:
        a.close()
    b = fa.FeedAudit(tmp_path, "KOR")
    try:
        assert b.log.size == 201  # close() committed the last one
    finally:
        b.close()


def test_the_originator_writes_its_segments_as_soon_as_they_are_durable(nodes: dict[str, Path]) -> None:
    """KOR commits its own segments on the loop, then writes them to the hub at once: when its flush returns,
    nothing of them waits for a later turn of the loop (behind other ready callbacks); never before the
    commit either (the hub holds nothing KOR has not committed)."""
    checked: list[bool] = []

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            node = n["KOR"]
            flush = node._flush
            append = node.store.append

            def committing(rows: Any) -> None:
                rows = list(rows)
                hub = node.peers.get("USA")
                # at the commit, the segments of this flush are not yet written nor queued for the hub
                assert hub is None or not any(r.body in hub._out for r in rows)
                append(rows)

            def flushing() -> None:
                own = bool(node._dirty)
                flush()
                hub = node.peers.get("USA")
                if own and hub is not None:
                    checked.append(not hub._out)

            node._flush = flushing  # type: ignore[method-assign]
            node.store.append = committing  # type: ignore[method-assign]
            await _in_bursts(kor, _flight("kor-OW1", 60), 6, 0.003)
            for _ in range(200):
                if n["JPN"].store.head("KOR-JPN") == node.store.head("KOR-JPN"):
                    break
                await asyncio.sleep(0.01)
            assert n["JPN"].store.head("KOR-JPN") == node.store.head("KOR-JPN") > 61

    asyncio.run(go())
    assert len(checked) >= 10 and all(checked)
