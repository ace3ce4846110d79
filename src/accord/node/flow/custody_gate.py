"""The freeze gate of a recipient's re-check (JK-R26): an item its originator froze is refused here too.

A holder's own release of a frozen item is refused by the decision (its custody record is FROZEN). A node that
has received the originator's freeze notice of an item (:mod:`accord.node.flow.notices`) also refuses a
delivery of that item from anyone -- the recipient's re-check does not rest on the sender's good faith --
until the originator's unfreeze arrives.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.engine import Connection

from accord.core.agreements import AgreementSet, reason_under
from accord.core.reasons import Code
from accord.formats.canonical import canonical_json
from accord.node.db import notices_sql as db_notices
from accord.node.db.engine import Database
from accord.node.db.outbox import Outbox
from accord.node.policy import Decision


def _sequence(row: dict[str, object]) -> int:
    seq = json.loads(str(row["doc"])).get("sequence", 0)
    return seq if isinstance(seq, int) else 0


_GROUP = {"freeze": "freeze", "unfreeze": "freeze", "reclassification": "reclassification", "purpose": "purpose"}


def _latest(conn: Connection, item_id: str, originator: str, kind: str) -> dict[str, object] | None:
    """The originator's last notice about ``item_id`` of ``kind``'s group (freeze and unfreeze are one): the
    highest sequence number, then the first recorded."""
    return _latest_of(db_notices.notices_for(conn, item_id), originator, kind)


def _latest_of(notices: list[dict[str, Any]], originator: str, kind: str) -> dict[str, object] | None:
    """:func:`_latest` over an item's notices already read."""
    group = _GROUP.get(kind)
    rows = [r for r in notices if _GROUP.get(r["kind"]) == group and r["originator"] == originator]
    return max(rows, key=lambda r: (_sequence(r), -int(r["id"])), default=None)


def latest_sequence(conn: Connection, item_id: str, originator: str, kind: str) -> int:
    """The sequence number of the originator's last notice of ``kind``'s group about ``item_id`` here (0: none)."""
    last = _latest(conn, item_id, originator, kind)
    return 0 if last is None else _sequence(last)


def frozen_by(conn: Connection, item_id: str, originator: str) -> str | None:
    """The digest of the originator's freeze of ``item_id`` in effect here (None: not frozen)."""
    last = _latest(conn, item_id, originator, "freeze")
    return str(last["digest"]) if last is not None and last["kind"] == "freeze" else None


def catch_up(store: Outbox, conn: Connection, party: str, item_id: str, hop: str, day: dt.date) -> None:
    """Queue to ``hop`` the originator's notices about ``item_id`` this node has, with a delivery of the item
    (called by ``Outbound._enqueue_delivery``: an originator's release, a holder's onward release, a hub's
    relay): a party the item reaches after a reclassification, a freeze or a purpose learns of them too. The
    item goes first; a notice that overtakes it is answered "not yet" and sent again (issue 10)."""
    for r in db_notices.notices_for(conn, item_id):
        if r["kind"] not in _GROUP or hop in (r["peer"], r["originator"]):
            continue
        msg = {"notice": json.loads(str(r["doc"])), "covers": {}, "at": day.isoformat()}
        store.enqueue(
            conn,
            idem_key=f"notice:{r['digest']}:{party}->{hop}"[:300],  # the key the notice's own forward would use
            kind="custody_notice",
            recipient=hop,
            body=canonical_json(msg),
            at_date=day.isoformat(),
            item_id=item_id,
        )
        db_notices.note_party(conn, str(r["digest"]), hop, party)


def freeze_gate(store: Database, agreements: AgreementSet, d: Decision) -> Decision:
    """``d``, refused with ``FROZEN`` (JK-R26) when the originator froze the item and this node knows it."""
    if not d.allowed or d.label.id is None:
        return d
    # One read of the item's notices at the driver (issue 8, wave 5: no SQLAlchemy connection, BEGIN and ROLLBACK
    # around it; wave 6: this thread's kept read connection); the same rows, judged by the same rule as frozen_by().
    notices = db_notices.read_notices_for(store, d.label.id)
    last = _latest_of(notices, d.label.originator, "freeze")
    digest = str(last["digest"]) if last is not None and last["kind"] == "freeze" else None
    if digest is None:
        return d
    ag = next((a for a in map(agreements.get, d.agreements) if a is not None and d.label.originator in a.parties), None)
    why = reason_under(
        Code.FROZEN,
        f"{d.label.originator} froze item {d.label.id} after a loss or compromise (notice {digest[:12]}…): "
        f"no release but the return to {d.label.originator}.",
        ag,
        "compromise",
    )
    if d.recipient == d.label.originator:
        return d
    return d._replace(allowed=False, reasons=(why, *d.reasons))
