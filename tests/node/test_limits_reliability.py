"""Reliability figures of the node (issue 9; ``make reliability`` writes them to docs/reliability.md).

- kill -9 of sender, hub and recipient at random during N relayed releases (KOR → USA → JPN): nothing lost,
  nothing duplicated, every audit log verifies;
- a sustained load (concurrent submitters against a bounded outbox) with the node's memory (RSS) flat.

``make test`` runs a small, fast N and a short load; ``make reliability`` scales them through
``ACCORD_RELIABILITY_RELEASES`` and ``ACCORD_RELIABILITY_LOAD_SECONDS``. Loopback only; every loop is bounded in
count and time.
"""

from __future__ import annotations

import base64
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.config import NodeConfig
from accord.node.wiring import load_service
from tests.node.helpers import label
from tests.support.reliability import record

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

FAST = {"lease_seconds": 2.0, "retry_base_seconds": 0.1, "retry_max_seconds": 1.0, "poll_seconds": 0.02}
RELEASES = int(os.environ.get("ACCORD_RELIABILITY_RELEASES", "12"))
LOAD_SECONDS = float(os.environ.get("ACCORD_RELIABILITY_LOAD_SECONDS", "4"))


def rows(cfg: NodeConfig, table: st.Table, *where: Any) -> list[dict[str, Any]]:
    s = st.Store(cfg.db, create=False)
    try:
        return s.rows(table, *where)
    finally:
        s.dispose()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def audit_ok(cfg: NodeConfig) -> bool:
    vkey = (cfg.dir / "audit.vkey").read_text().strip()
    r = subprocess.run(
        [sys.executable, "-m", "accord", "audit", "verify", str(cfg.dir / "node.db"), "--vkey", vkey],
        check=False,
        capture_output=True,
        timeout=120,
    )
    return r.returncode == 0


def test_kill_9_of_sender_hub_and_recipient_at_random_during_relayed_releases(tmp_path: Path) -> None:
    cfgs = {p: init_node(tmp_path / p.lower(), p, **FAST) for p in ("KOR", "USA", "JPN")}  # type: ignore[arg-type]
    pin_each_other(list(cfgs.values()))
    n = RELEASES
    svc = load_service(cfgs["KOR"].dir)  # queued before the nodes run: relayed KOR → USA → JPN (2015, T-R4)
    for i in range(n):
        assert svc.submit(label(f"kor-rk-{i:04d}"), b"r" * 2048, "JPN", "2015-04-12").decision["route"][1] == "USA"
    svc.store.dispose()
    procs = {p: NodeProcess(cfgs[p], workers=2) for p in cfgs}
    rng = random.Random(9)
    kills = 0
    jpn = cfgs["JPN"]
    try:
        for proc in procs.values():
            proc.start()
        deadline = time.monotonic() + 120 + n * 0.8
        want_kills = max(3, n // 10)
        while time.monotonic() < deadline:
            held = len({r["item_id"] for r in rows(jpn, st.inbox)})
            if held >= n and kills >= min(want_kills, 3):
                break
            if kills < want_kills:
                victim = rng.choice(list(procs))
                time.sleep(rng.uniform(0.05, 0.6))
                procs[victim].kill9()
                kills += 1
                procs[victim].start()
            else:
                time.sleep(0.2)
        # let the receipts come back to each holder
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if all(r["state"] == "delivered" for c in (cfgs["KOR"], cfgs["USA"]) for r in rows(c, st.outbox)):
                break
            time.sleep(0.2)
    finally:
        for proc in procs.values():
            proc.stop()
    inbox = [r["item_id"] for r in rows(jpn, st.inbox)]
    stored = [r for r in rows(jpn, st.events) if r["type"] == "delivery"]
    lost = n - len(set(inbox))
    duplicated = (len(inbox) - len(set(inbox))) + max(0, len(stored) - len(set(inbox)))
    audits = all(audit_ok(c) for c in cfgs.values())
    record(
        f"node: kill -9 of sender, hub and recipient at random ({kills} kills) during relayed releases (SQLite)",
        group="crash",
        attempts=n,
        accepted=len(set(inbox)),
        lost=lost,
        duplicated=duplicated,
    )
    assert kills >= 3
    assert (lost, duplicated) == (0, 0)
    assert len(rows(cfgs["KOR"], st.receipts, st.receipts.c.recipient == "USA")) == n
    assert len(rows(cfgs["KOR"], st.receipts, st.receipts.c.recipient == "JPN")) == n  # passed back by the hub
    assert audits, "an audit log did not verify after the kills"


def test_sustained_load_keeps_the_outbox_bounded_and_memory_flat(tmp_path: Path) -> None:
    bound = 64
    kor = init_node(tmp_path / "kor", "KOR", outbox_max_pending=bound, **FAST)  # type: ignore[arg-type]
    jpn = init_node(tmp_path / "jpn", "JPN", **FAST)  # type: ignore[arg-type]
    pin_each_other([kor, jpn])
    pk, pj = NodeProcess(kor, workers=2), NodeProcess(jpn, workers=2)
    counts = {"attempts": 0, "accepted": 0, "refused": 0, "other": 0}
    accepted: list[str] = []
    lock = threading.Lock()
    samples: list[int] = []
    max_pending = [0]
    try:
        pj.start()
        pk.start()
        assert pk.proc is not None
        stop = time.monotonic() + LOAD_SECONDS

        def submitter(w: int) -> None:
            i = 0
            with local_client(kor, timeout=30) as c:
                while time.monotonic() < stop:
                    item = f"kor-ld-{w}-{i:05d}"
                    i += 1
                    body = {
                        "label": label(item, rel=("JPN",)),
                        "to": "JPN",
                        "at": "2017-02-12",
                        "payload_b64": base64.b64encode(os.urandom(4096)).decode(),
                    }
                    try:
                        r = c.post("/v1/items", json=body)
                    except httpx.HTTPError:
                        with lock:
                            counts["other"] += 1
                        continue
                    with lock:
                        counts["attempts"] += 1
                        if r.status_code == 200:
                            counts["accepted"] += 1
                            accepted.append(item)
                        elif r.status_code == 503:
                            counts["refused"] += 1
                        else:
                            counts["other"] += 1
                    if r.status_code == 503:
                        time.sleep(min(0.2, float(r.headers.get("retry-after", "1"))))

        threads = [threading.Thread(target=submitter, args=(w,)) for w in range(16)]
        for t in threads:
            t.start()
        while time.monotonic() < stop:
            samples.append(rss_kib(pk.proc.pid))
            with local_client(kor) as c:
                pending = len(c.get("/v1/outbox", params={"state": "pending"}).json())
            max_pending[0] = max(max_pending[0], pending)
            time.sleep(max(0.2, LOAD_SECONDS / 30))
        for t in threads:
            t.join(60)
        end = time.monotonic() + 120
        while time.monotonic() < end and not all(r["state"] == "delivered" for r in rows(kor, st.outbox)):
            time.sleep(0.2)
    finally:
        pk.stop()
        pj.stop()
    inbox = [r["item_id"] for r in rows(jpn, st.inbox)]
    lost = len(set(accepted) - set(inbox))
    duplicated = len(inbox) - len(set(inbox))
    warm = samples[len(samples) // 4 :] or samples
    growth_kib = warm[-1] - warm[0] if len(warm) > 1 else 0
    record(
        f"node: sustained load {LOAD_SECONDS:.0f} s, 16 submitters, outbox bound {bound} "
        f"(max pending {max_pending[0]}; RSS MiB: start {samples[0] // 1024}, after warm-up {warm[0] // 1024}, "
        f"end {warm[-1] // 1024}, max {max(samples) // 1024}; {len(samples)} samples)",
        group="load",
        attempts=counts["attempts"],
        refused=counts["refused"],
        accepted=counts["accepted"],
        crashed=counts["other"],
        lost=lost,
        duplicated=duplicated,
    )
    pruned = [r for r in rows(kor, st.outbox) if r["state"] == "delivered" and bytes(r["body"]) != b""]
    assert counts["other"] == 0
    assert counts["accepted"] > 0
    assert max_pending[0] <= bound
    assert (lost, duplicated) == (0, 0)
    assert pruned == []  # delivered envelopes are dropped ...
    assert len(rows(kor, st.receipts)) == counts["accepted"]  # ... their receipts stay
    assert growth_kib < 48 * 1024, f"RSS grew {growth_kib} KiB under a steady load"
