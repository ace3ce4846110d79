"""kill -9 of PostgreSQL at random during relayed releases (issue 9, figures).

Three node processes (KOR → USA → JPN, the 2014 trilateral relay, T-R4/T-R5) each on its own database of ONE
PostgreSQL server of their own. Part of the releases is queued before the nodes run; the rest is submitted
through KOR's API while the server is being killed: a submit that fails (5xx) is retried with the same item
id (a submit is idempotent: ``already-queued``), so an item the node acknowledged once must arrive once.

While the releases flow, the postmaster and every backend are killed with SIGKILL at random, left down for a
random while and started again (PostgreSQL replays its WAL). At the end: every item is in JPN's inbox exactly
once, each delivery journaled once, KOR holds one receipt per item, and every node's audit log verifies
(what ``accord audit verify <url>`` checks: the signed log recomputed, every journal event in it).

``make test`` runs a few releases and kills; ``make reliability`` scales them with
``ACCORD_RELIABILITY_PG_RELEASES`` and ``ACCORD_RELIABILITY_PG_KILLS``.
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.wiring import load_service
from tests.node.helpers import label
from tests.reliability.common import FAST, audit_drained, audit_problems, rows, start_all
from tests.support.postgres import PostgresServer, missing
from tests.support.reliability import record

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

RELEASES = int(os.environ.get("ACCORD_RELIABILITY_PG_RELEASES", "6"))
KILLS = int(os.environ.get("ACCORD_RELIABILITY_PG_KILLS", "2"))
GAP = float(os.environ.get("ACCORD_RELIABILITY_PG_GAP", "0.6"))  # most seconds between kills, and down


@pytest.fixture
def pg() -> Any:
    reason = missing()
    if reason:
        pytest.skip(reason)
    server = PostgresServer(prefix="accord-pgkill-")
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_kill_9_of_postgresql_at_random_during_relayed_releases(tmp_path: Path, pg: PostgresServer) -> None:
    n = RELEASES
    queued, live = n // 2, n - n // 2
    cfgs = {
        p: init_node(tmp_path / p.lower(), p, db=pg.create_database(p.lower()), **FAST)  # type: ignore[arg-type]
        for p in ("KOR", "USA", "JPN")
    }
    pin_each_other(list(cfgs.values()))
    ids = [f"kor-pgk-{i:04d}" for i in range(n)]
    svc = load_service(cfgs["KOR"].dir)  # queued before the nodes run: relayed KOR → USA → JPN (2015, T-R4)
    for item in ids[:queued]:
        assert svc.submit(label(item), b"p" * 2048, "JPN", "2015-04-12").decision["route"][1] == "USA"
    svc.store.dispose()
    procs = {p: NodeProcess(cfgs[p], workers=2) for p in cfgs}
    rng = random.Random(15)
    kills, submit_errors = 0, 0
    answers: Counter[int] = Counter()  # statuses of the failed submits (503 storage-unavailable expected)
    acked: list[str] = []
    done = threading.Event()

    def submitter() -> None:  # the rest through the API, during the kills; retried until acknowledged
        nonlocal submit_errors
        with local_client(cfgs["KOR"], timeout=30) as c:
            for item in ids[queued:]:
                body = {
                    "label": label(item),
                    "to": "JPN",
                    "at": "2015-04-12",
                    "payload_b64": base64.b64encode(b"q" * 2048).decode(),
                }
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    try:
                        r = c.post("/v1/items", json=body)
                    except httpx.HTTPError:
                        r = None
                    if r is not None and r.status_code == 200:
                        acked.append(item)
                        break
                    if r is not None:
                        answers[r.status_code] += 1
                        assert r.headers["content-type"] == "application/problem+json"
                    submit_errors += 1
                    time.sleep(0.1)
                time.sleep(rng.uniform(0, 0.05))
        done.set()

    jpn_url = cfgs["JPN"].db
    try:
        start_all(list(procs.values()))
        sub = threading.Thread(target=submitter)
        sub.start()
        want_kills = KILLS
        deadline = time.monotonic() + 120 + n * 0.6
        held = 0
        while time.monotonic() < deadline:
            if kills < want_kills:
                time.sleep(rng.uniform(0.2, GAP))
                pg.kill9()
                kills += 1
                time.sleep(rng.uniform(0.1, GAP))  # the database is away for a while
                pg.start()
                continue
            held = len({r["item_id"] for r in rows(jpn_url, st.inbox)})
            if held >= n and done.is_set():
                break
            time.sleep(0.3)
        sub.join(180)
        end = time.monotonic() + 120  # let the receipts come back to each holder
        while time.monotonic() < end:
            if all(r["state"] == "delivered" for c in (cfgs["KOR"], cfgs["USA"]) for r in rows(c.db, st.outbox)):
                break
            time.sleep(0.3)
        drained = audit_drained(list(cfgs.values()))
        alive = {p: proc.proc is not None and proc.proc.poll() is None for p, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.stop()
    inbox = [r["item_id"] for r in rows(jpn_url, st.inbox)]
    delivered = [r for r in rows(jpn_url, st.events) if r["type"] == "delivery"]
    lost = n - len(set(inbox) & set(ids))
    duplicated = (len(inbox) - len(set(inbox))) + max(0, len(delivered) - len(set(inbox)))
    receipts = {r["item_id"] for r in rows(cfgs["KOR"].db, st.receipts)}
    audits = [p for c in cfgs.values() for p in audit_problems(c)]
    record(
        f"node: kill -9 of PostgreSQL at random ({kills} kills) during relayed releases "
        f"({queued} queued + {live} submitted during the kills; {submit_errors} submits failed and retried: "
        f"{', '.join(f'{n}× {s}' for s, n in sorted(answers.items())) or 'none answered'})",
        group="crash",
        attempts=n,
        accepted=len(set(inbox)),
        lost=lost,
        duplicated=duplicated,
    )
    assert kills >= KILLS
    assert set(answers) <= {503}, answers  # the database away: 503 storage-unavailable, never a 500 or a refusal
    assert alive == {"KOR": True, "USA": True, "JPN": True}  # the nodes rode it out: none exited
    assert sorted(acked) == ids[queued:]
    assert (lost, duplicated) == (0, 0)
    assert receipts == set(ids)
    assert drained, "a node's journal did not drain into its audit log"
    assert audits == []
