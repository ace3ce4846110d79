"""Where a feed message's time goes, hop by hop: ``python -m bench.trace_feed [RATE] [SECONDS]``.

Starts the bench's three ``accord feed serve`` processes with the tracing ``sitecustomize`` of
``bench/_trace_feed`` (``ACCORD_TRACE`` per process), publishes KOR -> USA -> JPN at a paced rate through the
bench's driver, and joins the per-hop timestamps of every message of the KOR-JPN stream by its sequence
number: issued at the publisher, handled at KOR (publish), forwarded (after KOR's commit), written to the
socket, handled at USA, forwarded, written, handled at JPN, forwarded to the reader, written, delivered.
Prints the stages' p50/p90/p99 over all messages and over the slowest 1 %, the context switches per
message of each process, and what else ran on each node (loop stalls split into run-queue wait, CPU and
blocked time; collector runs, commits, checkpoints, batch signatures, audit commits) around the slowest.
With ``ACCORD_TRACE_OFF=1`` the nodes run untraced: only the bench's figures and the context switches.
A measuring aid: the product code is not changed.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import bench_feed as bf

HERE = Path(__file__).resolve().parent
STAGES = (
    "issue>KOR",
    "KOR pub>fwd",
    "KOR fwd>write",
    "KOR>USA wire",
    "USA seg>fwd",
    "USA fwd>write",
    "USA>JPN wire",
    "JPN seg>fwd",
    "JPN fwd>write",
    "JPN>reader",
)


def _load(path: Path) -> list[tuple[int, str, str, str, str, str]]:
    out: list[tuple[int, str, str, str, str, str]] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        p = line.split(" ")
        if len(p) >= 6:
            out.append((int(p[0]), p[1], p[2], p[3], p[4], p[5]))
    out.sort()
    return out


class Hop:
    """One node's trace: when each KOR-JPN record was handled, forwarded and written."""

    def __init__(self, ev: list[tuple[int, str, str, str, str, str]], stream: str = "KOR-JPN") -> None:
        self.ev = ev
        self.arrive: list[tuple[int, int, int]] = []  # (first, last, t)
        self.fwd: list[tuple[int, int, int, str]] = []  # (first, last, t, conn)
        writes: dict[str, list[int]] = defaultdict(list)
        fan_t: list[tuple[int, int, int]] = []
        for t, _th, what, a, b, c in ev:
            if what in ("seg", "pub") and a == stream:
                self.arrive.append((int(b), int(c), t))
            elif what == "fan" and a == stream:
                fan_t.append((int(b), int(c), t))
            elif what == "fanconn" and c == stream and fan_t:
                f, last, tf = fan_t[-1]
                self.fwd.append((f, last, tf, a))
            elif what == "write":
                writes[a].append(t)
        self.writes = writes
        self.arrive.sort()
        self.fwd.sort()
        self._af = [x[0] for x in self.arrive]
        self._ff = [x[0] for x in self.fwd]

    @staticmethod
    def _find(firsts: list[int], rows: list[Any], q: int) -> Any:
        i = bisect.bisect_right(firsts, q) - 1
        if i >= 0 and rows[i][0] <= q <= rows[i][1]:
            return rows[i]
        return None

    def times(self, q: int) -> tuple[int, int, int] | None:
        a = self._find(self._af, self.arrive, q)
        f = self._find(self._ff, self.fwd, q)
        if a is None or f is None:
            return None
        ws = self.writes.get(f[3], [])
        i = bisect.bisect_left(ws, f[2])
        if i >= len(ws):
            return None
        return a[2], f[2], ws[i]


def _switches(pid: int) -> int:
    """Context switches of every thread of a process so far (Linux ``/proc``): how often its threads slept
    and were woken (voluntary) or were preempted (involuntary)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches" in line)
    return total


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


async def _drive(root: Path, rate: int, seconds: float) -> list[tuple[int, int, int]]:
    from accord.feed.client import FeedClient

    ports = {p: bf._free_port() for p in ("USA", "KOR", "JPN")}
    env = dict(os.environ)
    traced = not os.environ.get("ACCORD_TRACE_OFF")  # off: the nodes as they are (the context switches only)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "_trace_feed")] * traced + sys.path[1:])
    procs = []
    try:
        for p in ("USA", "KOR", "JPN"):
            args = ["-m", "accord", "feed", "serve", "--dir", str(root / p.lower()), "--port", str(ports[p])]
            if p != "USA":
                args += ["--hub", f"127.0.0.1:{ports['USA']}"]
            if traced:
                env["ACCORD_TRACE"] = str(root / f"{p}.trace")
            with open(root / f"{p}.log", "ab") as f:
                import subprocess

                procs.append(
                    subprocess.Popen(
                        [sys.executable, *args], stdout=f, stderr=subprocess.STDOUT, start_new_session=True, env=env
                    )
                )
            bf._wait_port(ports[p], procs[-1], root / f"{p}.log")
        got: list[tuple[int, int, int]] = []  # (seq, issued ns, delivered ns)
        sink = bf._Sink()
        async with (
            FeedClient(root / "kor", port=ports["KOR"]) as pub,
            FeedClient(root / "jpn", port=ports["JPN"]) as sub,
        ):
            status = root / "jpn" / "feed" / "status.json"
            for _ in range(400):
                if status.exists() and '"KOR-JPN"' in status.read_text():
                    break
                await asyncio.sleep(0.05)

            async def read() -> None:
                add = sink.add
                async for b in sub.batches(["KOR-JPN"]):
                    now = time.time_ns()
                    for q, m in zip(b.seqs, b.messages, strict=True):
                        add(m.event, m.issued_us)
                        if m.event.startswith("T"):
                            got.append((q, m.issued_us * 1000, now))

            reader = asyncio.create_task(read())
            await bf._pace(pub.fire, sink, "W", 500, 1.0)
            named = dict(zip(("USA", "KOR", "JPN"), (p.pid for p in procs), strict=True))
            named["driver"] = os.getpid()
            sw0 = {k: _switches(pid) for k, pid in named.items()}
            res = await bf._pace(pub.fire, sink, "T", rate, seconds)
            sw1 = {k: _switches(pid) for k, pid in named.items()}
            n = rate * seconds
            print(f"bench figures at {rate}/s: p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms")
            print(
                "context switches per message (all threads; wake-ups): "
                + ", ".join(f"{k} {(sw1[k] - sw0[k]) / n:.2f}" for k in named)
                + f"; total {sum(sw1[k] - sw0[k] for k in named) / n:.2f}"
            )
            reader.cancel()
        return got
    finally:
        bf._stop(procs)


def main() -> None:
    import uvloop

    from accord.node.cluster import init_node, pin_each_other

    if len(sys.argv) > 2 and sys.argv[1] == "analyse":
        root = Path(sys.argv[2])
        rows = [tuple(map(int, x.split())) for x in (root / "got.txt").read_text().splitlines()]
        analyse(root, rows)  # type: ignore[arg-type]
        timeline(root, rows)  # type: ignore[arg-type]
        return
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    keep = os.environ.get("ACCORD_TRACE_KEEP")
    tmp = tempfile.mkdtemp(prefix="accord-trace-feed-") if keep is None else keep
    root = Path(tmp)
    cfgs = [init_node(root / p.lower(), p) for p in ("KOR", "USA", "JPN")]
    pin_each_other(cfgs)
    got = uvloop.run(_drive(root, rate, seconds))
    print(f"load average {os.getloadavg()}; traces in {root}")
    (root / "got.txt").write_text("".join(f"{q} {i} {d}\n" for q, i, d in got))
    analyse(root, got)


def analyse(root: Path, got: list[tuple[int, int, int]]) -> None:
    evs = {p: _load(root / f"{p}.trace") for p in ("KOR", "USA", "JPN")}
    hops = {p: Hop(evs[p]) for p in evs}
    rows: list[tuple[int, list[float]]] = []
    for q, issued, dlv in got:
        tk, tu, tj = hops["KOR"].times(q), hops["USA"].times(q), hops["JPN"].times(q)
        if tk is None or tu is None or tj is None:
            continue
        ts = [issued, *tk, *tu, *tj, dlv]
        rows.append((q, [(b - a) / 1e6 for a, b in itertools.pairwise(ts)]))
    if not rows:
        print("nothing joined")
        return
    total = sorted(rows, key=lambda r: sum(r[1]))
    cut = total[int(len(total) * 0.99) :]
    print(
        f"{len(rows)} messages joined; e2e p50 {_pct([sum(r[1]) for r in rows], 0.5):.2f} "
        f"p99 {_pct([sum(r[1]) for r in rows], 0.99):.2f} ms"
    )
    print(f"{'stage (ms)':16} {'p50':>7} {'p90':>7} {'p99':>7} | slowest 1%: {'p50':>7} {'max':>7}")
    for i, name in enumerate(STAGES):
        xs = [r[1][i] for r in rows]
        ys = [r[1][i] for r in cut]
        print(
            f"{name:16} {_pct(xs, 0.5):7.3f} {_pct(xs, 0.9):7.3f} {_pct(xs, 0.99):7.3f} | "
            f"{_pct(ys, 0.5):7.3f} {max(ys):7.3f}"
        )
    # what ran on each node while the slowest were in flight
    kinds = ("stall", "gcst", "commit_loop", "insert", "ckpt", "sign", "audit", "flush")
    print("events per node over the run: count, p50/p99/max duration ms (stall = lateness of a 1 ms timer)")
    for p, ev in evs.items():
        for k in kinds:
            if k == "gcst":
                sp = [t for t, _, w, *_ in ev if w == "gcst"]
                ends = [t for t, _, w, *_ in ev if w == "gcsp"]
                gd = [(e - s) / 1e6 for s, e in zip(sp, ends, strict=False)]
                gens: dict[str, int] = defaultdict(int)
                for _, _, w, a, _, _ in ev:
                    if w == "gcst":
                        gens[a] += 1
                if gd:
                    print(f"  {p} gc {dict(gens)} p50 {_pct(gd, 0.5):.3f} p99 {_pct(gd, 0.99):.3f} max {max(gd):.3f}")
                continue
            d = [int(a) / 1e6 for _, _, w, a, _, _ in ev if w == k]
            if k == "stall" and d:
                big = [
                    (int(a), int(b.replace("-", "0")), int(c.replace("-", "0")))
                    for _, _, w, a, b, c in ev
                    if w == k and int(a) > 4_000_000
                ]
                if big:
                    sa, sb, sc = (sum(x[i] for x in big) / 1e6 for i in range(3))
                    print(
                        f"  {p} stalls > 4 ms: {len(big)}, {sa:.1f} ms late in all: loop thread ran {sb:.1f}, "
                        f"waited for a CPU {sc:.1f}, blocked (GIL / syscall) {sa - sb - sc:.1f}"
                    )
            cpu = [int(b.replace("-", "0")) / 1e6 for _, _, w, a, b, _ in ev if w == k]
            rq = [int(c.replace("-", "0")) / 1e6 for _, _, w, a, b, c in ev if w == k]
            if d and k != "stall":
                blk = [x - y - z for x, y, z in zip(d, cpu, rq, strict=True)]
                print(
                    f"  {p} {k:12} wall-CPU-runq (blocked: GIL, I/O) p90 {_pct(blk, 0.9):.3f} "
                    f"p99 {_pct(blk, 0.99):.3f} sum {sum(blk):.0f}; runq p99 {_pct(rq, 0.99):.3f} sum {sum(rq):.0f}"
                )
            if d:
                print(
                    f"  {p} {k:12} n={len(d):6} p50 {_pct(d, 0.5):.3f} p99 {_pct(d, 0.99):.3f} max {max(d):.3f}"
                    f"  thread CPU p50 {_pct(cpu, 0.5):.3f} p99 {_pct(cpu, 0.99):.3f} sum {sum(cpu):.0f}"
                )
    print("slowest 10 messages: seq, e2e, stages")
    for q, st in total[-10:]:
        print(f"  #{q} {sum(st):6.2f} " + " ".join(f"{x:.2f}" for x in st))


def timeline(root: Path, got: list[tuple[int, int, int]], clusters: int = 8) -> None:
    """What ran on each node while the slowest 1 % were in flight (durations in ms, offsets from issue)."""
    evs = {p: _load(root / f"{p}.trace") for p in ("KOR", "USA", "JPN")}
    lat = sorted(got, key=lambda r: r[2] - r[1])
    slow = sorted(lat[int(len(lat) * 0.99) :], key=lambda r: r[1])
    groups: list[list[tuple[int, int, int]]] = []
    for r in slow:
        if groups and r[1] - groups[-1][-1][1] < 20_000_000:
            groups[-1].append(r)
        else:
            groups.append([r])
    print(f"{len(groups)} clusters of slow messages (>= p99)")
    skip = {"write", "fan", "fanconn", "seg", "pub", "flush"}
    for g in sorted(groups, key=len, reverse=True)[:clusters]:
        t0 = g[0][1]
        t1 = max(r[2] for r in g)
        print(f"-- {len(g)} msgs, seq {g[0][0]}..{g[-1][0]}, worst {max(r[2] - r[1] for r in g) / 1e6:.2f} ms")
        for p, ev in evs.items():
            items = []
            for t, _th, w, a, b, c in ev:
                if w in skip or t > t1:
                    continue
                dur = int(a) / 1e6 if w not in ("gcst", "gcsp") else 0.0
                if t + dur * 1e6 < t0 - 2_000_000:
                    continue
                if w in ("commit_loop", "insert") and dur < 0.5:
                    continue
                extra = (
                    f"run{int(b.replace('-', '0')) / 1e6:.1f}/q{int(c.replace('-', '0')) / 1e6:.1f}"
                    if w == "stall"
                    else ""
                )
                items.append(f"{w}@{(t - t0) / 1e6:+.1f}" + (f"[{dur:.1f}{extra}]" if dur else f"(g{a})"))
            print(f"   {p}: " + " ".join(items[:30]))


if __name__ == "__main__":
    main()
