"""The freeze gate of a recipient's re-check (JK-R26): an item its originator froze is refused here too.

A holder's own release of a frozen item is refused by the decision (its custody record is FROZEN). A node that
has received the originator's freeze notice of an item (:mod:`accord.node.flow.notices`) also refuses a
delivery of that item from anyone -- the recipient's re-check does not rest on the sender's good faith --
until the originator's unfreeze arrives.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from accord.core.agreements import AgreementSet
from accord.core.reasons import Code, reason
from accord.node.db import notices_sql as db_notices
from accord.node.db.engine import Database
from accord.node.policy import Decision


def frozen_by(conn: Connection, item_id: str, originator: str) -> str | None:
    """The digest of the originator's freeze of ``item_id`` in effect here (None: not frozen)."""
    last = None
    for r in db_notices.notices_for(conn, item_id):
        if r["kind"] in ("freeze", "unfreeze") and r["originator"] == originator:
            last = r
    return str(last["digest"]) if last is not None and last["kind"] == "freeze" else None


def freeze_gate(store: Database, agreements: AgreementSet, d: Decision) -> Decision:
    """``d``, refused with ``FROZEN`` (JK-R26) when the originator froze the item and this node knows it."""
    if not d.allowed or d.label.id is None:
        return d
    with store.engine.connect() as conn:
        digest = frozen_by(conn, d.label.id, d.label.originator)
    if digest is None:
        return d
    ag = next((a for a in map(agreements.get, d.agreements) if a is not None and d.label.originator in a.parties), None)
    cite = ag.cite("compromise") if ag is not None else None
    why = reason(
        Code.FROZEN,
        f"{d.label.originator} froze item {d.label.id} after a loss or compromise (notice {digest[:12]}…): "
        f"no release but the return to {d.label.originator}.",
        ag.id if ag is not None else None,
        cite.article if cite is not None else None,
        cite.rule if cite is not None else None,
    )
    if d.recipient == d.label.originator:
        return d
    return d._replace(allowed=False, reasons=(why, *d.reasons))
