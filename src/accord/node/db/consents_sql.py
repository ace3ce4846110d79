"""Consents held by this node and consent requests (incoming to the originator, outgoing from a holder)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, RowMapping

from accord.node.db.engine import insert_ignore_duplicate
from accord.node.db.schema import consent_requests, consents


def consent_docs(conn: Connection, holder: str) -> list[str]:
    """The signed consent documents (JSON) held for ``holder``."""
    return [str(r.doc) for r in conn.execute(select(consents.c.doc).where(consents.c.holder == holder))]


def insert_consent(conn: Connection, values: dict[str, Any]) -> bool:
    """Store a consent once (False: already held)."""
    return insert_ignore_duplicate(conn, consents, values)


def insert_request(conn: Connection, values: dict[str, Any]) -> bool:
    """Store a consent request once (False: already there)."""
    return insert_ignore_duplicate(conn, consent_requests, values)


def request_state(conn: Connection, request_id: str) -> str | None:
    row = conn.execute(select(consent_requests.c.state).where(consent_requests.c.request_id == request_id)).first()
    return None if row is None else str(row[0])


def get_request(conn: Connection, request_id: str, role: str) -> RowMapping | None:
    """The consent request ``request_id`` in ``role`` ("incoming" to the originator, "outgoing" from a holder)."""
    q = (
        select(consent_requests)
        .where(consent_requests.c.request_id == request_id)
        .where(consent_requests.c.role == role)
    )
    return conn.execute(q).mappings().first()


def pending_outgoing(conn: Connection, originator: str) -> list[RowMapping]:
    """This holder's pending requests to ``originator``."""
    q = (
        select(consent_requests)
        .where(consent_requests.c.role == "outgoing")
        .where(consent_requests.c.state == "pending")
        .where(consent_requests.c.originator == originator)
    )
    return list(conn.execute(q).mappings().all())


def decide_request(conn: Connection, row_id: int, **values: Any) -> None:
    """Record the decision on a consent request (state, decided_by, reason, decided_at)."""
    conn.execute(update(consent_requests).where(consent_requests.c.id == row_id).values(**values))
