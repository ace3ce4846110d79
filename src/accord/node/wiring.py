"""The node's one composition root: every program (server, CLI, tests, benchmarks) builds a node here.

``load_service`` reads a node directory (config, roster, keys, database URL) and wires the service with
its sealer, store, agreements, receipt key and (for the audit writer) the audit feeder. The server adds
the delivery worker with the HTTPS :class:`~accord.node.transport.PeerTransport`; tests add one with the
in-memory transport.
"""

from __future__ import annotations

from pathlib import Path

from accord.node.config import NodeConfig, Roster
from accord.node.db import Store
from accord.node.identity import load_receipt_key
from accord.node.policy import load_agreement_set
from accord.node.sealing import make_sealer
from accord.node.service import NodeService
from accord.node.transport import HttpsTransport, InMemoryTransport, PeerTransport

__all__ = ["HttpsTransport", "InMemoryTransport", "PeerTransport", "load_service"]


def load_service(directory: Path, *, db: str | None = None, audit: bool = False) -> NodeService:
    """Build a node's service from its directory (config, roster, keys, database).

    ``audit``: this process is the nation's audit writer (appends the journal to the audit log). Exactly one
    process per nation should be: the node server (``accord node run``); CLI commands only journal.
    """
    cfg = NodeConfig.load(directory)
    if db:
        cfg.db = db
    roster = Roster.load(directory)
    aset = load_agreement_set(cfg.agreements)
    key = load_receipt_key(cfg.receipt_key_file)
    sealer = make_sealer(directory, aset)
    store = Store(cfg.db)
    store.outbox_max_pending = cfg.outbox_max_pending  # backpressure and pruning (db/outbox.py)
    store.prune_delivered = cfg.prune_delivered
    feeder = None
    if audit:
        from accord.node.audit import AUDIT_KEY, AuditFeeder

        if (directory / AUDIT_KEY).exists():
            feeder = AuditFeeder(store, directory, cfg.party, poll_seconds=cfg.audit_poll_seconds)
    return NodeService(cfg, roster, store, aset, sealer, key, feeder)
