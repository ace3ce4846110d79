"""Where one release's latency goes: stage timestamps across the client and both node processes.

``python -m bench.trace_release [N]`` starts KOR and JPN as the release bench does (two real node processes,
SQLite WAL synchronous=FULL, 4 delivery threads), with :mod:`bench._trace_site.sitecustomize` loaded in each
(it records the entry and exit of the service's entry points, the sealer, the group commit, the delivery
worker, the transport, the audit feeder and the two hot routes on CLOCK_MONOTONIC, shared by every process of
the machine). It then makes N releases one at a time as the bench's latency phase does (POST /v1/items, then
watch KOR's receipts table every 0.5 ms) and prints, for every stage, its median and p90/p99 offset from the
client's POST, and the median time between consecutive stages: the serial path of one release.

A measuring aid, not a benchmark row: the wrappers cost a few microseconds per stage.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.bench_release import _label, _pct

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(__file__).resolve().parent / "_trace_site"
WARM = 100  # releases before the traced ones (caches, SQLite pages, the first connections)


def _events(path: Path, proc: str) -> list[tuple[int, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        t, _thread, stage = line.split(" ", 2)
        out.append((int(t), proc, f"{stage}"))
    return out


def run(n: int) -> None:
    from accord.node.client import local_client
    from accord.node.cluster import NodeProcess, init_node, pin_each_other

    root = Path(tempfile.mkdtemp(prefix="accord-trace-"))
    try:
        kor = init_node(root / "kor", "KOR", poll_seconds=0.05)
        jpn = init_node(root / "jpn", "JPN", poll_seconds=0.05)
        pin_each_other([kor, jpn])
        path = os.pathsep.join([str(SITE), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
        procs = {
            c.party: NodeProcess(c, workers=4, env={"PYTHONPATH": path, "ACCORD_TRACE": str(root / f"{c.party}.trace")})
            for c in (jpn, kor)
        }
        payload = base64.b64encode(b"\xa5" * 10 * 1024).decode()
        db_file = kor.db.removeprefix("sqlite:///")
        client: list[tuple[int, str, str]] = []
        try:
            for p in procs.values():
                p.start()
            watch = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, isolation_level=None)

            def receipts() -> int:
                return int(watch.execute("SELECT count(*) FROM receipts").fetchone()[0])

            with local_client(kor) as c:
                for i in range(WARM + n):
                    tag = "warm" if i < WARM else "trace"
                    want = i + 1
                    t0 = time.monotonic_ns()
                    r = c.post(
                        "/v1/items",
                        json={"label": _label(i, tag), "to": "JPN", "at": "2017-02-12", "payload_b64": payload},
                    )
                    t1 = time.monotonic_ns()
                    r.raise_for_status()
                    deadline = time.monotonic() + 30
                    while receipts() < want:
                        if time.monotonic() > deadline:
                            raise RuntimeError("no receipt after 30 s")
                        time.sleep(0.0005)
                    t2 = time.monotonic_ns()
                    if i >= WARM:
                        client += [(t0, "client", "post>"), (t1, "client", "post<"), (t2, "client", "seen")]
                    time.sleep(0.002)  # let the feeders' and claimers' follow-up work of this release go by
            watch.close()
        finally:
            for p in procs.values():
                p.stop()
        events = sorted(client + [e for party in procs for e in _events(root / f"{party}.trace", party)])
    finally:
        if not os.environ.get("TRACE_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
    _report(events, n)


def _report(events: list[tuple[int, str, str]], n: int) -> None:
    starts = [t for t, proc, s in events if proc == "client" and s == "post>"]
    ends = [t for t, proc, s in events if proc == "client" and s == "seen"]
    offsets: dict[str, list[float]] = defaultdict(list)
    order: dict[str, list[int]] = defaultdict(list)
    feeder: list[float] = []
    overlap: list[dict[str, float]] = []
    totals: list[float] = []
    j = 0
    for rel, (t0, t_end) in enumerate(zip(starts, ends, strict=True)):
        while j < len(events) and events[j][0] < t0:
            j += 1
        seen: dict[str, int] = defaultdict(int)
        busy = 0.0
        f_open: dict[str, int] = {}
        i = j
        while i < len(events) and events[i][0] <= t_end:
            t, proc, s = events[i]
            if s.startswith("feeder.flush"):
                if s.endswith(">"):
                    f_open[proc] = t
                elif proc in f_open:
                    busy += (t - f_open.pop(proc)) / 1e6
            key = f"{proc}:{s}"
            seen[key] += 1
            key = f"{key}#{seen[key]}"
            offsets[key].append((t - t0) / 1e6)
            order[key].append(rel)
            i += 1
        feeder.append(busy)
        overlap.append(_overlap(events, j, i))
        totals.append((t_end - t0) / 1e6)
    rows = [(statistics.median(v), k, v) for k, v in offsets.items() if len(v) >= 0.9 * n]
    rows.sort()
    print(
        f"{n} releases one at a time; end to end p50 {_pct(totals, 0.5):.2f} ms, p90 {_pct(totals, 0.9):.2f}, "
        f"p99 {_pct(totals, 0.99):.2f}, max {max(totals):.2f}"
    )
    print(
        f"audit feeder flushing inside a release's window: {sum(1 for f in feeder if f > 0)} of {n} releases, "
        f"mean {statistics.mean(feeder):.3f} ms"
    )
    for proc in ("KOR", "JPN"):
        hit = [o[proc] for o in overlap if o[proc] > 0]
        print(
            f"{proc}'s audit feeder flushing while {proc} works on the release (submit, inbound, acknowledgement): "
            f"{len(hit)} of {n} releases, {statistics.mean(hit) if hit else 0:.2f} ms each"
        )
    print(f"{'stage (process:stage#occurrence)':44s} {'p50':>8s} {'p90':>8s} {'p99':>8s} {'Δp50':>8s}")
    prev = 0.0
    for med, k, v in rows:
        print(f"{k:44s} {med:8.2f} {_pct(v, 0.9):8.2f} {_pct(v, 0.99):8.2f} {med - prev:8.2f}")
        prev = med
    rare = sorted((len(v), k) for k, v in offsets.items() if len(v) < 0.9 * n)
    if rare:
        print("in some releases only:", ", ".join(f"{k} ({c})" for c, k in rare[-12:]))
    # the slowest releases: what their timeline has that the median's does not
    slow = sorted(range(n), key=lambda x: totals[x])[-max(1, n // 50) :]
    print("slowest:", ", ".join(f"{totals[x]:.1f} ms" for x in slow))
    for x in slow[-3:]:
        line = []
        prev = 0.0
        for _med, k, v in rows:
            if x in order[k]:
                val = v[order[k].index(x)]
                if val - prev > 1.0 + 0.0:
                    line.append(f"{k} +{val - prev:.1f}")
                prev = val
        print(f"  {totals[x]:.1f} ms; steps > 1 ms: " + "; ".join(line))


_PATH = {"submit", "receive_delivery", "acknowledged"}


def _overlap(events: list[tuple[int, str, str]], lo: int, hi: int) -> dict[str, float]:
    """Milliseconds in events[lo:hi] during which a node's feeder flushed while that node worked on the release."""
    total = {"KOR": 0.0, "JPN": 0.0}
    for proc in ("KOR", "JPN"):
        work: list[tuple[int, int]] = []
        flush: list[tuple[int, int]] = []
        opened: dict[str, int] = {}
        for t, p, s in events[lo:hi]:
            if p != proc:
                continue
            name, edge = s[:-1], s[-1]
            if name in _PATH or name == "feeder.flush":
                if edge == ">":
                    opened[name] = t
                elif name in opened:
                    (flush if name == "feeder.flush" else work).append((opened.pop(name), t))
        for a, b in flush:
            for c, d in work:
                total[proc] += max(0, min(b, d) - max(a, c)) / 1e6
    return total


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
