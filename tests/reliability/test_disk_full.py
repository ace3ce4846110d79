"""Disk full (issue 9, figures): a node whose database volume fills up refuses new submits with one clear
problem document (507 Insufficient Storage, ``Retry-After``) and raises the storage alarm (``GET /v1/health``
→ ``storage``), never acknowledges what it did not store, never corrupts its store, and resumes once space
is back.

Two ways to fill the volume:

- **a real volume** (``make reliability`` and ``make test`` when the tests run as root and may mount): the
  node's SQLite database (with its WAL) lives on its own small ``tmpfs``; the node process runs and delivers
  to JPN while its submitters fill the volume until the kernel answers ``ENOSPC``; then the volume is grown
  (``mount -o remount,size=…``, an operator freeing space) and the refused submits are retried. This is the
  faithful case: the error comes from the kernel, in the middle of SQLite's writes (WAL appends, checkpoints),
  on every writer of the database (API, delivery workers, audit feeder).
- **emulated** (always): SQLite's ``PRAGMA max_page_count`` caps the database file (SQLite then fails a write
  with the same ``SQLITE_FULL`` a full disk gives); the app in process. Fast, runs anywhere; it does not
  exercise a failing WAL append, which the real volume does.

Then: every acknowledged item is in the store, PRAGMA integrity_check is ``ok``, the audit log verifies, the
alarm clears with the next stored write, and every acknowledged release reaches JPN exactly once.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.wiring import load_service
from tests.node.helpers import label
from tests.reliability.common import FAST, audit_drained, audit_problems, start_all
from tests.support.reliability import record

pytestmark = [pytest.mark.reliability]


def body(item: str, size: int = 4096) -> dict[str, Any]:
    return {
        "label": label(item, rel=("JPN",)),
        "to": "JPN",
        "at": "2017-02-12",
        "payload_b64": base64.b64encode(os.urandom(size)).decode(),
    }


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as c:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])


def check_refusal(r: Any) -> None:
    """A disk-full refusal: 507, a problem document that says so, Retry-After; no traceback, no content."""
    assert r.status_code == 507, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["type"].endswith("/storage-full") and doc["status"] == 507
    assert "nothing was stored" in doc["detail"]
    assert int(r.headers["retry-after"]) > 0
    assert "Traceback" not in r.text


# ---------------------------------------------------------------- emulated: PRAGMA max_page_count (fast)


def test_full_database_refuses_submits_507_with_an_alarm_and_resumes_max_page_count(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from accord.node.app import create_app
    from accord.node.identity import cert_fingerprint

    cfg = init_node(tmp_path / "kor", "KOR", **FAST)  # type: ignore[arg-type]
    jpn = init_node(tmp_path / "jpn", "JPN", **FAST)  # type: ignore[arg-type]
    pin_each_other([cfg, jpn])
    svc = load_service(cfg.dir, audit=True)
    cap = {"pages": 0}  # 0: no cap

    @event.listens_for(svc.store.engine, "connect")
    def _cap(dbapi_conn: Any, _rec: Any) -> None:
        if cap["pages"]:
            dbapi_conn.execute(f"PRAGMA max_page_count={cap['pages']}")

    path = tmp_path / "kor" / "node.db"
    with sqlite3.connect(path) as c:
        used = int(c.execute("PRAGMA page_count").fetchone()[0])
    cap["pages"] = used + 80  # room for a few items, then SQLITE_FULL
    svc.store.engine.dispose()
    app = create_app(svc, workers=0)
    own = cert_fingerprint(cfg.cert_file.read_bytes())

    async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": own}
        await app(scope, receive, send)

    acked: list[str] = []
    refused: list[str] = []
    with TestClient(with_cert, base_url="https://testserver") as client:  # type: ignore[arg-type]
        for i in range(60):
            item = f"kor-dfp-{i:03d}"
            r = client.post("/v1/items", json=body(item))
            if r.status_code == 200:
                acked.append(item)
                continue
            check_refusal(r)
            refused.append(item)
            if len(refused) >= 5:
                break
        assert acked and len(refused) == 5, (acked, refused)
        h = client.get("/v1/health").json()
        assert h["storage"]["alarm"] == "full" and h["storage"]["refused"] >= 5
        held = {r["item_id"] for r in svc.store.rows(st.items)}
        assert set(acked) <= held  # nothing acknowledged is missing
        stored_refused = set(refused) & held
        assert integrity(path) == "ok"
        # space is back: the same submits go through, the alarm clears
        cap["pages"] = 0
        svc.store.engine.dispose()
        for item in refused:
            r = client.post("/v1/items", json=body(item))
            assert r.status_code == 200, r.text
        h = client.get("/v1/health").json()
        assert h["storage"]["alarm"] is None and h["storage"]["raised"] == 1
        if svc.feeder is not None:
            svc.feeder.flush()
    held = [r["item_id"] for r in svc.store.rows(st.items)]
    svc.store.dispose()
    assert sorted(held) == sorted(acked + refused)  # each once
    assert integrity(path) == "ok"
    assert audit_problems(cfg) == []
    record(
        "node: disk full, emulated (SQLite max_page_count; in-process app): submits refused 507 + alarm, "
        f"resumed ({len(stored_refused)} refused yet stored)",
        group="crash",
        attempts=len(acked) + 2 * len(refused),
        refused=len(refused),
        accepted=len(acked) + len(refused),
        lost=len(set(acked) - set(held)),
        duplicated=len(held) - len(set(held)),
    )


# ---------------------------------------------------------------- a real volume: a small tmpfs


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own (root only): the node's database volume."""
    mnt = tmp_path / "vol"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the max_page_count variant covers disk full")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mnt)], check=False, capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def resize(mnt: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(mnt)], check=True, capture_output=True)


def used_kib(mnt: Path) -> int:
    s = os.statvfs(mnt)
    return (s.f_blocks - s.f_bfree) * s.f_frsize // 1024


@pytest.mark.integration
def test_database_volume_fills_up_during_releases_real_tmpfs(tmp_path: Path, volume: Path) -> None:
    kor = init_node(tmp_path / "kor", "KOR", db=f"sqlite:///{volume}/node.db", **FAST)  # type: ignore[arg-type]
    jpn = init_node(tmp_path / "jpn", "JPN", **FAST)  # type: ignore[arg-type]
    pin_each_other([kor, jpn])
    pk, pj = NodeProcess(kor, workers=2), NodeProcess(jpn, workers=2)
    statuses: Counter[int] = Counter()
    acked: set[str] = set()
    refused: list[str] = []
    lock = threading.Lock()
    full = threading.Event()
    problems: list[str] = []
    try:
        start_all([pj, pk])
        resize(volume, used_kib(volume) + 1536)  # a few dozen releases more, then ENOSPC

        def submitter(w: int) -> None:
            with local_client(kor, timeout=30) as c:
                for i in range(400):
                    item = f"kor-dfv-{w}-{i:03d}"
                    r = c.post("/v1/items", json=body(item, 8192))
                    with lock:
                        statuses[r.status_code] += 1
                        if r.status_code == 200:
                            acked.add(item)
                        else:
                            refused.append(item)
                            try:
                                check_refusal(r)
                            except AssertionError as e:
                                problems.append(str(e)[:300])
                            if len(refused) >= 20:
                                full.set()
                    if full.is_set():
                        return

        threads = [threading.Thread(target=submitter, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert full.is_set(), f"the volume never filled: {statuses}"
        with local_client(kor) as c:
            h = c.get("/v1/health").json()
        # raised (it clears again whenever a write fits after all: a nearly full volume takes some writes)
        alarm_raised = h["storage"]["raised"] >= 1 and "ALARM storage full" in (kor.dir / "node.log").read_text()
        held = {r["item_id"] for r in st.Store(kor.db, create=False).rows(st.items)}
        missing_while_full = acked - held
        # an operator frees space: the refused submits are sent again (same ids) and go through
        resize(volume, 64 * 1024)
        with local_client(kor, timeout=30) as c:
            for item in refused:
                for _ in range(20):
                    r = c.post("/v1/items", json=body(item, 8192))
                    if r.status_code == 200:
                        break
                    time.sleep(0.2)
                statuses[r.status_code] += 1
                assert r.status_code == 200, r.text
            h2 = c.get("/v1/health").json()
        want = acked | set(refused)
        end = time.monotonic() + 120
        while time.monotonic() < end:
            inbox = [r["item_id"] for r in st.Store(jpn.db, create=False).rows(st.inbox)]
            if want <= set(inbox):
                break
            time.sleep(0.3)
        drained = audit_drained([kor])
    finally:
        pk.stop()
        pj.stop()
    inbox = [r["item_id"] for r in st.Store(jpn.db, create=False).rows(st.inbox)]
    lost = len(want - set(inbox))
    duplicated = len(inbox) - len(set(inbox))
    ok = integrity(volume / "node.db")
    audit = audit_problems(kor)
    record(
        "node: disk full, real volume (a small tmpfs under the node's SQLite database, node process "
        f"delivering): {len(refused)} submits refused 507 + alarm, retried after the volume grew",
        group="crash",
        attempts=len(acked) + 2 * len(refused),
        refused=len(refused),
        accepted=len(want),
        crashed=sum(n for s, n in statuses.items() if s not in (200, 507)),
        lost=lost,
        duplicated=duplicated,
    )
    assert problems == []
    assert set(statuses) <= {200, 507}, statuses
    assert alarm_raised, h["storage"]
    assert missing_while_full == set()  # nothing acknowledged that was not stored
    assert h2["storage"]["alarm"] is None, h2
    assert (lost, duplicated) == (0, 0)
    assert ok == "ok"
    assert drained
    assert audit == []
