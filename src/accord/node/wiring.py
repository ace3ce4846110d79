"""The node's one composition root: every program (server, CLI, tests, benchmarks) builds a node here.

``load_service`` reads a node directory (config, roster, keys, database URL) and wires the service with
its sealer, store, agreements, receipt key and (for the audit writer) the audit feeder. The server adds
the delivery worker with the HTTPS :class:`~accord.node.transport.PeerTransport`; tests add one with the
in-memory transport.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from accord.errors import InputError
from accord.node.config import NodeConfig, Roster
from accord.node.db import Store
from accord.node.identity import load_receipt_key
from accord.node.policy import load_agreement_set
from accord.node.sealing import make_sealer
from accord.node.service import NodeService
from accord.node.transport import HttpsTransport, InMemoryTransport, PeerTransport

T = TypeVar("T")

__all__ = ["HttpsTransport", "InMemoryTransport", "PeerTransport", "load_service"]


def load_service(directory: Path, *, db: str | None = None, audit: bool = False) -> NodeService:
    """Build a node's service from its directory (config, roster, keys, database).

    ``audit``: this process is the nation's audit writer (appends the journal to the audit log). Exactly one
    process per nation should be: the node server (``accord node run``); CLI commands only journal.
    """
    from accord.node.files import check_db_url, check_directory, create_private_db, private_umask

    check_directory(directory)  # private keys, configuration and trust nobody else may write
    cfg = NodeConfig.load(directory)
    if db:
        cfg.db = check_db_url(db)
    roster = _loading(lambda: Roster.load(directory), directory / "roster.yaml", "not a roster")
    aset = load_agreement_set(cfg.agreements)
    key = _loading(lambda: load_receipt_key(cfg.receipt_key_file), cfg.receipt_key_file, "not a PEM Ed25519 key")
    sealer = _loading(lambda: make_sealer(directory, aset), directory / "keys", "cannot load the sealing keys")
    with private_umask():
        create_private_db(cfg.db)
        store = _open_store(cfg.db)
    store.outbox_max_pending = cfg.outbox_max_pending  # backpressure and pruning (db/outbox.py)
    store.prune_delivered = cfg.prune_delivered
    feeder = None
    if audit:
        from accord.node.audit import AUDIT_KEY, AuditFeeder

        if (directory / AUDIT_KEY).exists():
            feeder = AuditFeeder(store, directory, cfg.party, poll_seconds=cfg.audit_poll_seconds)
    return NodeService(cfg, roster, store, aset, sealer, key, feeder)


def _loading(fn: Callable[[], T], source: Path, what: str) -> T:
    """``fn()``, with any failure to read or parse a file turned into one InputError naming the file."""
    try:
        return fn()
    except InputError:
        raise
    except (OSError, ValueError, TypeError, UnicodeError) as e:
        raise InputError(f"{what} ({type(e).__name__})", source=str(source)) from None


def _redacted(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def _open_store(url: str) -> Store:
    """The node's database, checked at load: it opens, holds (or can hold) the node's tables, and is writable
    (a non-SQLite file, a truncated or read-only database is one error here, not a failure after "serving")."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        store = Store(url)
    except SQLAlchemyError as e:
        raise InputError(
            f"not a usable node database ({type(getattr(e, 'orig', None) or e).__name__})", source=_redacted(url)
        ) from None
    try:
        with store.tx() as conn:  # a write transaction that changes nothing: fails on a read-only database
            conn.exec_driver_sql("DELETE FROM outbox WHERE 1 = 0")
    except SQLAlchemyError as e:
        store.dispose()
        raise InputError(
            f"node database is not writable or damaged ({type(getattr(e, 'orig', None) or e).__name__})",
            source=_redacted(url),
        ) from None
    return store
