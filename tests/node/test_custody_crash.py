"""kill -9 of holders while custody notices propagate (issue 10, JK-R12, JK-R26): real node processes over
mutual TLS on loopback. Korea's items reach Japan through the US hub (2015, TISA: the hub holds them and
re-wraps); Korea reclassifies and then freezes them (API and CLI) while the US and Japanese nodes are killed
at random; after restarts every holder has applied each notice exactly once and every acknowledgement is back
at Korea's node."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.config import NodeConfig
from accord.node.wiring import load_service
from tests.node.helpers import label

pytestmark = pytest.mark.integration

FAST = {"lease_seconds": 2.0, "retry_base_seconds": 0.1, "retry_max_seconds": 1.0, "poll_seconds": 0.02}
N = 4


def rows(cfg: NodeConfig, table: st.Table, *where: Any) -> list[dict[str, Any]]:
    s = st.Store(cfg.db, create=False)
    try:
        return s.rows(table, *where)
    finally:
        s.dispose()


def wait_for(what: str, cond: Any, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def acknowledged(kor: NodeConfig, kind: str) -> bool:
    """Every notice of ``kind`` Korea sent is acknowledged by both holders (USA, then JPN through it)."""
    sent = rows(kor, st.custody_notices, st.custody_notices.c.kind == kind, st.custody_notices.c.role == "sent")
    if len(sent) != N:
        return False
    for n in sent:
        parties = rows(kor, st.notice_parties, st.notice_parties.c.digest == n["digest"])
        if sorted((p["party"], p["state"]) for p in parties) != [("JPN", "acknowledged"), ("USA", "acknowledged")]:
            return False
    return True


def kill_some(procs: dict[str, NodeProcess], rng: random.Random, kills: list[str], times: int) -> None:
    for _ in range(times):
        victim = rng.choice(["USA", "JPN"])
        time.sleep(rng.uniform(0.02, 0.4))
        procs[victim].kill9()
        kills.append(victim)
        procs[victim].start()


def test_kill_9_of_holders_during_reclassification_and_freeze_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    cfgs = {p: init_node(tmp_path / p.lower(), p, **FAST) for p in ("KOR", "USA", "JPN")}  # type: ignore[arg-type]
    pin_each_other(list(cfgs.values()))
    kor, usa, jpn = cfgs["KOR"], cfgs["USA"], cfgs["JPN"]
    items = [f"kor-crash-{i}" for i in range(N)]
    svc = load_service(kor.dir)  # queued before the nodes run: relayed KOR → USA → JPN (2015, T-R4)
    for item in items:
        assert svc.submit(label(item), b"c" * 512, "JPN", "2015-04-12").decision["route"] == ["KOR", "USA", "JPN"]
    svc.store.dispose()
    procs = {p: NodeProcess(cfgs[p], workers=2) for p in cfgs}
    rng = random.Random(10)
    kills: list[str] = []
    try:
        for proc in procs.values():
            proc.start()
        wait_for("the items at JPN", lambda: len({r["item_id"] for r in rows(jpn, st.custody)}) == N)
        # reclassification: two items through the API, two through the CLI, the US holder killed first (Korea's
        # notices wait in its outbox), then both holders at random while the notices go on and the acks come back
        procs["USA"].kill9()
        kills.append("USA")
        with local_client(kor) as c:
            for item in items[:2]:
                r = c.post(f"/v1/items/{item}/reclassify", json={"classification": "군사Ⅲ급비밀", "at": "2015-05-01"})
                assert r.status_code == 200, r.text
        for item in items[2:]:
            cmd = [sys.executable, "-m", "accord", "node", "custody", "reclassify", "--dir", str(kor.dir)]
            out = subprocess.run(
                [*cmd, "--item", item, "--to", "군사Ⅲ급비밀", "--at", "2015-05-01"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert out.returncode == 0, out.stderr
        time.sleep(0.5)
        procs["USA"].start()
        kill_some(procs, rng, kills, 2)
        wait_for("every reclassification acknowledged", lambda: acknowledged(kor, "reclassification"))
        # freeze, the same way, Japan killed first (the US node's forwards to it wait in its outbox)
        procs["JPN"].kill9()
        kills.append("JPN")
        with local_client(kor) as c:
            for item in items:
                r = c.post(f"/v1/items/{item}/freeze", json={"note": "possible loss", "at": "2015-05-02"})
                assert r.status_code == 200, r.text
        time.sleep(0.5)
        procs["JPN"].start()
        kill_some(procs, rng, kills, 2)
        wait_for("every freeze acknowledged", lambda: acknowledged(kor, "freeze"))
        # every message still queued (a pass-back, an acknowledgement leaving a restarted holder) gets there
        wait_for(
            "every outbox entry delivered",
            lambda: all(r["state"] == "delivered" for c in cfgs.values() for r in rows(c, st.outbox)),
        )
        with local_client(kor) as c:  # the originator's view, per holder
            view = c.get(f"/v1/items/{items[0]}/notices").json()
        with local_client(jpn) as c:  # Japan's release of a frozen item is refused, citing JK-R26 (or the hub's)
            r = c.post(f"/v1/items/{items[0]}/forward", json={"to": "USA", "at": "2015-05-03"})
    finally:
        for proc in procs.values():
            proc.stop()
    assert len(kills) == 6 and {"USA", "JPN"} <= set(kills)
    # the notices were in flight when their holder died: delivered after failed attempts
    retried = [
        r for c in (kor, usa) for r in rows(c, st.outbox, st.outbox.c.kind == "custody_notice") if r["attempts"] > 1
    ]
    assert {r["recipient"] for r in retried} >= {"USA", "JPN"}
    assert all(r["state"] == "delivered" for c in cfgs.values() for r in rows(c, st.outbox))
    assert [[(p["party"], p["state"]) for p in n["parties"]] for n in view] == [
        [("JPN", "acknowledged"), ("USA", "acknowledged")]
    ] * 2
    assert r.status_code == 403 and "FROZEN" in r.text
    for holder in (usa, jpn):
        recs = {x["item_id"]: x for x in rows(holder, st.custody)}
        assert {i: (recs[i]["marking"], recs[i]["state"]) for i in items} == dict.fromkeys(
            items, ("군사Ⅲ급비밀", "FROZEN")
        )
        applied = [json.loads(e["body"]) for e in rows(holder, st.events, st.events.c.type == "custody_notice")]
        per = sorted((a["kind"], a["digest"]) for a in applied)
        assert len(per) == 2 * N and len(set(per)) == 2 * N  # each notice applied once, none lost
        reclassified = [e["item_id"] for e in rows(holder, st.events, st.events.c.type == "reclassified")]
        assert sorted(reclassified) == sorted(items)  # exactly once per item
    for c in cfgs.values():  # every state change journaled, and each audit log still verifies after the kills
        vkey = (c.dir / "audit.vkey").read_text().strip()
        verify = [sys.executable, "-m", "accord", "audit", "verify", str(c.dir / "node.db"), "--vkey", vkey]
        assert subprocess.run(verify, capture_output=True, timeout=120, check=False).returncode == 0, c.party
    acks = [json.loads(e["body"]) for e in rows(kor, st.events, st.events.c.type == "custody_notice_ack")]
    assert len(acks) == 2 * 2 * N  # two holders, two notices, each item: once each
