"""JK-R4 off the release path: the recipient's signed marking goes into its stored container once, lazily.

On receipt (:mod:`accord.node.flow.inbound`) the final recipient decides its equivalent marking exactly as
before and records it durably in the commit that stores the item and answers the receipt: ``items.marking``
and ``items.alt_label_xml`` (its STANAG 4774 ``alternativeConfidentialityLabel``, dated at receipt), the custody
record (``custody.marking``) and the ``delivery`` event of the audit log (whose inclusion proof is the receipt's
evidence). An item without an equivalent marking is refused then, as before (NO_EQUIVALENT).

What is deferred is the second hybrid signature (ECDSA P-384 + ML-DSA-87) over that label: the stored
container carries it from the first time it leaves the database -- forwarded or returned
(:meth:`Outbound.forward`), released after the originator's consent (:meth:`Consents._release_held`), opened
for a reader (:meth:`Reads.open_item`). It is added in a write transaction on the row
read ``FOR UPDATE`` (PostgreSQL; SQLite's write transactions are serialised), so two first reads never sign
twice and neither loses it: the second finds the label in the container and signs nothing. The container is
stored back marked (``items.digest`` stays the digest of the delivery as received, which the receipt names).

A hub that relays an item in the same hop still marks it before re-wrapping (it leaves at once).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection, RowMapping

from accord.errors import AccordError
from accord.node.canon import sha256_hex
from accord.node.db import items_sql as db_items
from accord.node.errors import NotFound
from accord.node.flow.journal import Journal
from accord.sealed.item import VerifiedItem

log = logging.getLogger("accord.node")


def pending(row: RowMapping | dict[str, Any], item: VerifiedItem, party: str) -> bool:
    """The stored container of a received item still lacks this nation's signed alternative label (JK-R4)."""
    if row["origin"] != "received" or not row["alt_label_xml"]:
        return False
    return all(a.party != party for a in item.alternative_labels)


def held_container(
    node: Journal, conn: Connection, row: RowMapping, known: tuple[bytes, VerifiedItem] | None = None
) -> tuple[bytes, VerifiedItem]:
    """The stored container of ``row`` (read ``FOR UPDATE`` in the write transaction ``conn``), verified,
    carrying this nation's signed alternative label when it has a marking: added now if it is still pending
    (stored back in ``conn``'s commit, once). ``known``: these bytes, already verified."""
    sealed = bytes(row["sealed"])
    item = known[1] if known is not None and known[0] == sealed else node.sealer.verify(sealed)
    if not pending(row, item, node.party):
        return sealed, item
    item_id = str(row["item_id"])
    try:
        marked = node.sealer.add_marking(item, str(row["alt_label_xml"]).encode())
    except AccordError:  # as it was on receipt: a container this node cannot mark goes unmarked (logged)
        log.warning("%s: could not add the alternative label to %s", node.party, item_id)
        return sealed, item
    blob = marked.to_bytes()
    if not db_items.replace_sealed(conn, item_id, sealed, blob):  # the row is locked: cannot happen
        raise RuntimeError(f"the container of {item_id} changed under its lock")
    node.journal_event(
        conn, "marked", item_id, {"marking": row["marking"], "digest": sha256_hex(blob), "rule": "JK-R4"}
    )
    return blob, marked


def marked_row(node: Journal, item_id: str) -> tuple[RowMapping, bytes, VerifiedItem]:
    """Outside a transaction: the row of a held item and its container, verified and marked (a write
    transaction only when its marking is still pending)."""
    with node.store.engine.connect() as conn:  # a read: WAL readers neither wait for nor block the writer
        row = db_items.get_item(conn, item_id)
    if row is None:
        raise NotFound(f"no item {item_id}")
    sealed = bytes(row["sealed"])
    item = node.sealer.verify(sealed)
    if not pending(row, item, node.party):
        return row, sealed, item
    with node._tx() as conn:
        locked = db_items.get_item_for_update(conn, item_id)
        if locked is None:
            raise NotFound(f"no item {item_id}")
        sealed, item = held_container(node, conn, locked, (sealed, item))
    return locked, sealed, item


__all__ = ["held_container", "marked_row", "pending"]
