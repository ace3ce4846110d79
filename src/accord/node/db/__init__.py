"""All of the node's storage: the schema, the engine (transactions, group commit), the outbox.

SQLite by default, PostgreSQL through the same code. :class:`Store` is the one object the node uses.
"""

from __future__ import annotations

from accord.node.db.engine import Database, insert_ignore_duplicate
from accord.node.db.notices_sql import custody_notices, notice_parties  # issue 10: custody notices
from accord.node.db.outbox import Outbox, OutboxEntry
from accord.node.db.schema import (
    consent_requests,
    consents,
    custody,
    custody_routes,
    events,
    inbox,
    items,
    metadata,
    now,
    outbox,
    receipts,
    relays,
)

__all__ = [
    "Database",
    "OutboxEntry",
    "Store",
    "consent_requests",
    "consents",
    "custody",
    "custody_notices",
    "custody_routes",
    "events",
    "inbox",
    "insert_ignore_duplicate",
    "items",
    "metadata",
    "notice_parties",
    "now",
    "outbox",
    "receipts",
    "relays",
]


class Store(Outbox):
    """The node's database. Thread-safe (one engine, a connection per transaction)."""
