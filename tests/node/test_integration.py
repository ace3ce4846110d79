"""Real node processes on loopback: mutual TLS, exactly-once delivery across kill -9, peer refusal."""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.config import NodeConfig
from accord.node.identity import client_context
from accord.node.wiring import load_service
from tests.node.helpers import label

pytestmark = pytest.mark.integration

FAST = {"lease_seconds": 2.0, "retry_base_seconds": 0.1, "retry_max_seconds": 1.0, "poll_seconds": 0.02}


def wait_for(pred: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rows(cfg: NodeConfig, table: st.Table, *where: Any) -> list[dict[str, Any]]:
    s = st.Store(cfg.db, create=False)
    try:
        return s.rows(table, *where)
    finally:
        s.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("cluster")
    # prune_delivered off: the replay test re-sends a delivered envelope (pruning: tests/node/test_limits.py)
    cfgs = {p: init_node(root / p.lower(), p, **FAST, prune_delivered=False) for p in ("KOR", "JPN", "USA")}  # type: ignore[arg-type]
    chn = init_node(root / "chn", "CHN")  # a valid, pinned certificate -- but no agreement with anyone
    pin_each_other(list(cfgs.values()), extra=[chn])
    procs = {p: NodeProcess(cfgs[p], workers=2) for p in cfgs}
    try:
        for proc in procs.values():
            proc.start()
        yield {"cfgs": cfgs, "procs": procs, "chn": chn, "root": root}
    finally:
        for proc in procs.values():
            proc.stop()


def submit(cfg: NodeConfig, lab: dict[str, Any], to: str, at: str, payload: bytes = b"x" * 100) -> httpx.Response:
    with local_client(cfg) as c:
        return c.post(
            "/v1/items", json={"label": lab, "to": to, "at": at, "payload_b64": base64.b64encode(payload).decode()}
        )


def test_three_nodes_relay_through_the_hub_over_mutual_tls_T_R4(cluster: dict[str, Any]) -> None:
    kor, jpn, usa = (cluster["cfgs"][p] for p in ("KOR", "JPN", "USA"))
    r = submit(kor, label("kor-it-2015"), "JPN", "2015-04-12", b"trajectory")
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["route"] == ["KOR", "USA", "JPN"]
    wait_for(lambda: rows(jpn, st.items, st.items.c.item_id == "kor-it-2015"), what="JPN holds the item")
    item = rows(jpn, st.items, st.items.c.item_id == "kor-it-2015")[0]
    assert item["sender"] == "USA"
    assert item["marking"] == "極秘"

    def receipt(holder: NodeConfig, recipient: str) -> list[dict[str, Any]]:
        return rows(holder, st.receipts, st.receipts.c.item_id == "kor-it-2015", st.receipts.c.recipient == recipient)

    wait_for(lambda: receipt(kor, "USA"), what="KOR stores USA's receipt")
    wait_for(lambda: receipt(usa, "JPN"), what="USA stores JPN's receipt")
    for holder, recipient in ((kor, "USA"), (usa, "JPN")):  # each came with proof that the recipient logged it
        assert receipt(holder, recipient)[0]["evidence"] is not None
    wait_for(lambda: receipt(kor, "JPN"), what="JPN's receipt passed back to KOR by the hub (issue 10)")
    from accord.console.backend import NodeBackend  # issue 12: content is read by a registered person
    from accord.core.people import Member
    from accord.core.persons import Person

    reader = Member(Person("jpn-reader", "JPN", "極秘", frozenset({"DPRK-MISSILE"})), name="Reader")
    NodeBackend(load_service(jpn.dir), jpn.dir).register.add(reader, by="test")
    with local_client(jpn) as c:
        status = c.get("/v1/items/kor-it-2015").json()
        opened = c.get(
            "/v1/items/kor-it-2015/payload", headers={"Accord-Person": "jpn-reader", "Accord-Purpose": "test"}
        )
    assert status["label"]["classification"] == "군사Ⅱ급비밀"
    assert opened.content == b"trajectory"  # JPN's own systems read it; JPN could open what USA re-wrapped
    assert "DPRK-MISSILE" in opened.headers["accord-banner"]
    from accord import NodeClient, NotFound, ReleaseRefused
    from accord.errors import Refusal

    with NodeClient.for_node(jpn.dir) as sdk:  # the SDK's typed client, same answers
        assert sdk.payload("kor-it-2015", person="jpn-reader", purpose="test").content == b"trajectory"
        with pytest.raises(Refusal) as unread:  # JK-R10: no one outside the register reads (issue 12)
            sdk.payload("kor-it-2015", person="nobody", purpose="test")
        assert unread.value.details["decision"]["allowed"] is False
        assert sdk.item("kor-it-2015")["label"]["id"] == "kor-it-2015"
        with pytest.raises(NotFound):
            sdk.item("no-such-item")
    with NodeClient.for_node(kor.dir) as sdk:
        done = sdk.submit(label("kor-it-sdk", rel=("JPN",)), b"x", "JPN", dt.date(2017, 2, 12))
        assert (done.status, done.next_hop) == ("queued", "JPN")
        with pytest.raises(ReleaseRefused) as refused:  # JK-R3: not releasable to the US
            sdk.submit(label("kor-it-sdk2", rel=("JPN",)), b"x", "USA", dt.date(2017, 2, 12))
        assert refused.value.decision["allowed"] is False


def test_peer_with_valid_certificate_but_no_agreement_is_refused_and_logged(cluster: dict[str, Any]) -> None:
    kor, chn = cluster["cfgs"]["KOR"], cluster["chn"]
    ctx = client_context(chn.cert_file, chn.key_file, kor.cert_file.read_bytes())
    env = {
        "item_id": "kor-c-1",
        "sender": "CHN",
        "final_recipient": "KOR",
        "at": "2017-02-12",
        "sealed": "",
        "consents": [],
    }
    with httpx.Client(base_url=kor.url, verify=ctx) as c:
        r = c.post("/v1/deliveries", json=env)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/peer-refused")
    assert "no agreement in force between KOR and CHN" in r.json()["detail"]
    wait_for(lambda: "refused peer CHN" in (kor.dir / "node.log").read_text(), what="the refusal in KOR's log")
    assert rows(kor, st.inbox, st.inbox.c.item_id == "kor-c-1") == []


def test_certificate_not_pinned_fails_the_handshake(cluster: dict[str, Any], tmp_path: Path) -> None:
    kor = cluster["cfgs"]["KOR"]
    stranger = init_node(tmp_path / "stranger", "JPN")  # same party code, another certificate
    ctx = client_context(stranger.cert_file, stranger.key_file, kor.cert_file.read_bytes())
    with httpx.Client(base_url=kor.url, verify=ctx) as c, pytest.raises(httpx.TransportError):
        c.get("/v1/health")
    # and a server whose certificate is not the pinned one is refused by the client
    wrong = client_context(kor.cert_file, kor.key_file, stranger.cert_file.read_bytes())
    with httpx.Client(base_url=kor.url, verify=wrong) as c, pytest.raises(httpx.ConnectError):
        c.get("/v1/health")
    assert isinstance(ctx, ssl.SSLContext)


def test_replayed_delivery_over_https_is_stored_once(cluster: dict[str, Any]) -> None:
    kor, jpn = cluster["cfgs"]["KOR"], cluster["cfgs"]["JPN"]
    assert submit(kor, label("kor-rp-1", rel=("JPN",)), "JPN", "2017-02-12").status_code == 200
    wait_for(lambda: rows(kor, st.receipts, st.receipts.c.item_id == "kor-rp-1"), what="the receipt")
    out = rows(kor, st.outbox, st.outbox.c.item_id == "kor-rp-1")[0]
    ctx = client_context(kor.cert_file, kor.key_file, jpn.cert_file.read_bytes())
    with httpx.Client(base_url=jpn.url, verify=ctx) as c:
        answers = [
            c.post(
                "/v1/deliveries",
                content=bytes(out["body"]),
                headers={"Idempotency-Key": out["idem_key"], "Content-Type": "application/json"},
            )
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["replay"] for a in answers)
    stored = json.loads(rows(kor, st.receipts, st.receipts.c.item_id == "kor-rp-1")[0]["receipt_json"])
    assert all(a.json()["receipt"] == stored for a in answers)
    assert len(rows(jpn, st.inbox, st.inbox.c.item_id == "kor-rp-1")) == 1
    assert len(rows(jpn, st.items, st.items.c.item_id == "kor-rp-1")) == 1


def test_api_errors_are_problem_documents_without_the_input(cluster: dict[str, Any]) -> None:
    kor = cluster["cfgs"]["KOR"]
    secret = "PLAINTEXT-MUST-NOT-ECHO"
    with local_client(kor) as c:
        r = c.post("/v1/items", json={"label": {}, "to": "jp", "payload_b64": secret + "!", "extra": secret})
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert secret not in r.text
        r = c.post("/v1/items", json={"label": label("bad"), "to": "JPN", "payload_b64": "!!!"})
        assert r.status_code == 400 and r.json()["field"] == "payload_b64"
        r = submit(kor, label("kor-ref-1"), "CHN", "2017-02-12", secret.encode())
        assert r.status_code == 403 and r.json()["decision"]["allowed"] is False
        assert secret not in r.text
        assert c.get("/v1/items/nope").status_code == 404
        assert c.get("/openapi.json").json()["info"]["title"].startswith("Accord node")
    assert secret not in (kor.dir / "node.log").read_text()
    # a partner may not use this nation's own endpoints
    jpn = cluster["cfgs"]["JPN"]
    ctx = client_context(jpn.cert_file, jpn.key_file, kor.cert_file.read_bytes())
    with httpx.Client(base_url=kor.url, verify=ctx) as c:
        assert c.get("/v1/items/kor-it-2015").status_code == 403


def test_kill_9_during_delivery_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    kor = init_node(tmp_path / "kor", "KOR", **FAST)  # type: ignore[arg-type]
    jpn = init_node(tmp_path / "jpn", "JPN", **FAST)  # type: ignore[arg-type]
    pin_each_other([kor, jpn])
    n = 60
    svc = load_service(kor.dir)  # queue everything before the sender runs
    for i in range(n):
        svc.submit(label(f"kor-k9-{i:03d}", rel=("JPN",)), b"z" * 2048, "JPN", "2017-02-12")
    svc.store.dispose()
    pk, pj = NodeProcess(kor, workers=2), NodeProcess(jpn, workers=2)
    pj.start()
    pk.start()
    try:
        received = lambda: len(rows(jpn, st.inbox))  # noqa: E731
        wait_for(lambda: received() >= 3, what="the first deliveries")
        pk.kill9()  # the sender dies in the middle of its outbox
        first = received()
        assert first < n, "delivery finished before the kill; make the batch larger"
        pk.start()
        wait_for(lambda: received() >= min(n - 1, first + 10), what="deliveries after the restart")
        pj.kill9()  # the recipient dies too
        pj.start()
        wait_for(lambda: all(r["state"] == "delivered" for r in rows(kor, st.outbox)), timeout=60, what="all delivered")
    finally:
        pk.stop()
        pj.stop()
    inbox = rows(jpn, st.inbox)
    assert sorted(r["item_id"] for r in inbox) == [f"kor-k9-{i:03d}" for i in range(n)]  # nothing lost, nothing twice
    assert len(rows(jpn, st.items)) == n
    assert len(rows(kor, st.receipts)) == n
    stored = [r for r in rows(jpn, st.events) if r["type"] == "delivery"]
    assert len(stored) == n  # each stored exactly once (re-sends after the crash were recognised as replays)
    # the audit logs survived the kill -9 too: they verify, and hold every journal event exactly once
    for cfg in (kor, jpn):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "accord",
                "audit",
                "verify",
                str(cfg.dir / "node.db"),
                "--vkey",
                (cfg.dir / "audit.vkey").read_text().strip(),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        journal = rows(cfg, st.events)
        assert all(j["audit_idx"] is not None for j in journal)
        store = st.Store(cfg.db, create=False)
        with store.engine.connect() as c:
            logged = [json.loads(bytes(e)) for (e,) in c.exec_driver_sql("SELECT event FROM audit_leaves ORDER BY idx")]
        store.dispose()
        assert sorted(e["journal"] for e in logged) == [j["id"] for j in journal]  # no event lost or logged twice
