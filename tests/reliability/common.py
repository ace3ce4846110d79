"""Helpers of the node reliability tests: node processes started together, rows, the audit check."""

from __future__ import annotations

import threading
import time
from typing import Any

from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess
from accord.node.config import NodeConfig

FAST = {"lease_seconds": 2.0, "retry_base_seconds": 0.1, "retry_max_seconds": 1.0, "poll_seconds": 0.02}


def rows(url: str, table: st.Table, *where: Any) -> list[dict[str, Any]]:
    s = st.Store(url, create=False)
    try:
        return s.rows(table, *where)
    finally:
        s.dispose()


def start_all(procs: list[NodeProcess]) -> None:
    """Start node processes at once (each waits for its own health answer)."""
    errors: list[BaseException] = []

    def one(p: NodeProcess) -> None:
        try:
            p.start(wait=60)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    if errors:
        raise errors[0]


def audit_drained(cfgs: list[NodeConfig], *, timeout: float = 120) -> bool:
    """Wait until every running node's journal is in its audit log (``GET /v1/health`` → audit.pending 0)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pending = 0
        for cfg in cfgs:
            with local_client(cfg, timeout=10) as c:
                pending += int(c.get("/v1/health").json()["audit"]["pending"])
        if pending == 0:
            return True
        time.sleep(0.3)
    return False


def audit_problems(cfg: NodeConfig) -> list[str]:
    """What ``accord audit verify <db> --vkey …`` checks, in process: the signed log recomputed against the
    node's audit key, and the node's journal compared with it (every event in the log or quarantined; none
    pending, since the nodes were stopped after their journals drained). Empty: the log verifies."""
    from accord.audit.errors import AuditIntegrityError
    from accord.audit.log import verify_database
    from accord.audit.note import parse_vkey
    from accord.audit.store import open_existing
    from accord.node.audit import compare_journal

    vkey = parse_vkey((cfg.dir / "audit.vkey").read_text().strip())
    engine = open_existing(cfg.db)
    try:
        try:
            rep = verify_database(engine, trusted=[vkey])
        except AuditIntegrityError as e:
            return [f"{cfg.party}: {p}" for p in e.problems]
        journal = compare_journal(engine)
    finally:
        engine.dispose()
    out = [f"{cfg.party}: {p}" for p in rep.problems]
    if journal is None:
        return [*out, f"{cfg.party}: no node journal in the database"]
    if journal["missing"]:
        out.append(f"{cfg.party}: {len(journal['missing'])} journal events missing from the log")
    if journal["pending"]:
        out.append(f"{cfg.party}: {len(journal['pending'])} journal events still pending")
    return out
