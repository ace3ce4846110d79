"""The node's tables (SQLAlchemy Core): items, outbox, inbox, receipts, consents, consent requests, relays,
custody routes, events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("item_id", String(200), primary_key=True),
    Column("originator", String(3), nullable=False),
    Column("label_json", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("origin", String(16), nullable=False),  # "local" (submitted here) | "received"
    Column("sender", String(3)),
    Column("marking", Text),  # this node's national marking for the item (alternative label)
    # STANAG 4774 alternativeConfidentialityLabel made here on receipt (JK-R4); signed into ``sealed`` at a hub at
    # once, at the final recipient the first time the container leaves the database (node/flow/marking.py)
    Column("alt_label_xml", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Per-item custody at this node (JK-R11, issue 10): under which agreement, from whom, in which state.
custody = Table(
    "custody",
    metadata,
    Column("item_id", String(200), primary_key=True),
    Column("originator", String(3), nullable=False),
    Column("holder", String(3), nullable=False),
    Column("agreement", String(64)),
    Column("received_from", String(3)),
    Column("received_on", String(10)),
    Column("marking", Text),
    Column("alternative", Text),
    Column("state", String(16), nullable=False),
    Column("copies", Integer, nullable=False, default=0),
    Column("derived", Text, nullable=False, default="[]"),
    Column("sources", Text, nullable=False, default="[]"),
    Column("purpose", Text),
    Column("label_json", Text),  # a derived item's label (made here: no sealed form, JK-R5/R23/R24)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idem_key", String(300), nullable=False, unique=True),
    # delivery | consent_request | consent_decision | consent | final_receipt
    Column("kind", String(32), nullable=False),
    Column("item_id", String(200)),
    Column("recipient", String(3), nullable=False),  # next hop
    Column("final_recipient", String(3)),
    Column("at_date", String(10), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False, index=True),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("leased_by", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("sender", String(3), nullable=False),
    Column("idem_key", String(300), nullable=False),
    Column("final_recipient", String(3), nullable=False),
    Column("at_date", String(10), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # stored | held | relayed | denied
    Column("receipt_json", Text, nullable=False),
    Column("receipt_sig", String(200), nullable=False),
    Column("journal_id", Integer),  # the journal event of this delivery (for receipt evidence)
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_id", "sender", name="uq_inbox_item_sender"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("recipient", String(3), nullable=False),
    Column("receipt_json", Text, nullable=False),
    Column("receipt_sig", String(200), nullable=False),
    Column("evidence", Text),  # the recipient's audit checkpoint + inclusion proof of its delivery event
    Column("stored_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_id", "recipient", name="uq_receipt_item_recipient"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consent_id", String(200), nullable=False, unique=True),
    Column("originator", String(3), nullable=False),
    Column("holder", String(3), nullable=False),
    Column("recipient", String(3), nullable=False),
    Column("item_id", String(200)),  # NULL: a standing consent for the topics below
    Column("topics_json", Text, nullable=False),
    Column("standing", Boolean, nullable=False),
    Column("granted_by", String(200), nullable=False),
    Column("valid_from", String(10)),
    Column("valid_until", String(10)),
    Column("doc", Text, nullable=False),  # the signed consent document (JSON)
    Column("created_at", DateTime(timezone=True), nullable=False),
)

consent_requests = Table(
    "consent_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(200), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # outgoing (we hold the item) | incoming (we originated)
    Column("item_id", String(200), nullable=False),
    Column("originator", String(3), nullable=False),
    Column("holder", String(3), nullable=False),
    Column("recipient", String(3), nullable=False),
    Column("label_json", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("at_date", String(10), nullable=False),
    Column("state", String(16), nullable=False),  # pending | approved | denied
    Column("decided_by", String(200)),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
)

# A hub's blind relays (issue 10, ACC-R5, T-R5): items it forwards sealed, never able to open them. ``sealed``
# is kept only while the item is held for the originator's consent (state "held"); forwarded, denied or
# delivered, the hub keeps the trail (who, to whom, when, digest, route) and no content.
relays = Table(
    "relays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("originator", String(3), nullable=False),
    Column("sender", String(3), nullable=False),
    Column("final_recipient", String(3), nullable=False),
    Column("next_hop", String(3), nullable=False),
    Column("at_date", String(10), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("statement", String(200)),
    Column("route_json", Text, nullable=False),
    Column("agreements_json", Text, nullable=False),
    Column("classification", Text),
    Column("state", String(16), nullable=False),  # held | forwarded | delivered | denied
    Column("request_id", String(200)),  # the consent request to the originator while held (T-R5)
    Column("sealed", LargeBinary),  # only while held
    Column("consents_json", Text, nullable=False, default="[]"),  # signed consents carried with it
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(200)),
    Column("forwarded_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),
    UniqueConstraint("item_id", "sender", name="uq_relay_item_sender"),
)

# How an item held here came (issue 10, JK-R6, T-R4): released by whom, through which hubs, under which
# agreements; the custody record names the releasing party and the agreement it is held under.
custody_routes = Table(
    "custody_routes",
    metadata,
    Column("item_id", String(200), primary_key=True),
    Column("released_by", String(3), nullable=False),
    Column("handed_over_by", String(3), nullable=False),
    Column("route_json", Text, nullable=False),
    Column("modes_json", Text, nullable=False),
    Column("agreements_json", Text, nullable=False),
    Column("held_under", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("item_id", String(200)),
    Column("body", Text, nullable=False),  # canonical JSON: label, decision, digest -- never content
    Column("audit_idx", Integer),  # index in the audit log once appended (-1: appended, index not kept)
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# The journal rows not yet in the audit log (looked up by every write transaction that journals, issue 8):
# a partial index, so that the look-up does not scan the whole journal.
events_pending = Index(
    "events_pending",
    events.c.id,
    sqlite_where=events.c.audit_idx.is_(None),
    postgresql_where=events.c.audit_idx.is_(None),
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes: they were stored as UTC."""
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    return t
