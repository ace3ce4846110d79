"""The recipient's check of a derived item signed by its holder (issue 10; JK-R5, JK-R6): see
:mod:`accord.node.flow.derived_net`. Kept apart so that :mod:`accord.node.flow.inbound` imports it."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from accord.core.ids import id_namespace
from accord.errors import InputError
from accord.node import db as st
from accord.node.db import items_sql as db_items
from accord.node.db import notices_sql as db_notices
from accord.node.errors import ForgedOrigin

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from accord.core.consent import Consent
    from accord.core.labels import Label
    from accord.node.flow.admission import Admission

#: At most this many sources in a carried lineage (the API's bound on a derive call).
MAX_LINEAGE = 64


def derived_origin(
    node: Admission,
    signer: str,
    label: Label,
    final: str,
    day: dt.date,
    carried: list[tuple[Consent, dict[str, Any]]],
    env: dict[str, Any],
) -> bool:
    """Whether an item signed by ``signer`` (not its label's originator) is a derived item ``signer`` may send
    (issue 10; JK-R5, JK-R6): False when it claims no lineage (the ordinary origin check then applies).

    Raises:
        ForgedOrigin: a lineage the signer cannot be shown to hold, or a derived id outside its namespace.
    """
    lineage = env.get("lineage")
    if lineage is None or signer == label.originator:
        return False
    if (
        not isinstance(lineage, list)
        or not 1 <= len(lineage) <= MAX_LINEAGE
        or not all(isinstance(s, str) and s for s in lineage)
        or len(set(lineage)) != len(lineage)
    ):
        raise InputError("lineage must list 1 to 64 distinct source ids", field="lineage")
    if label.id is None or id_namespace(label.id, node.known_parties()) != signer:
        raise ForgedOrigin(
            f"derived item {label.id} signed by {signer} is not in {signer}'s namespace (JK-R5)",
            signer=signer,
            originator=label.originator,
        )
    if node.party == label.originator == final:
        with node.store.engine.connect() as conn:
            for r in db_notices.notices_for(conn, label.id):  # the holder's signed report, when already here
                said = json.loads(r["doc"]).get("sources", []) if r["kind"] == "derived" else None
                if r["holder"] == signer and said is not None and sorted(said) != sorted(lineage):
                    raise ForgedOrigin(
                        f"derived item {label.id}: the lineage differs from {signer}'s signed derived report",
                        signer=signer,
                        originator=label.originator,
                    )
            for s in lineage:
                row = db_items.get_item(conn, s)
                q = select(st.outbox.c.item_id).where(
                    (st.outbox.c.kind == "delivery") & (st.outbox.c.recipient == signer) & (st.outbox.c.item_id == s)
                )
                if row is None or row["origin"] != "local" or conn.execute(q).first() is None:
                    raise ForgedOrigin(
                        f"derived item {label.id}: {node.party} never released {s} to {signer}, so {signer} "
                        f"cannot have derived from it (JK-R5)",
                        signer=signer,
                        originator=label.originator,
                    )
        return True
    for c, _ in carried:
        if (
            c.originator == label.originator
            and c.holder == signer
            and c.recipient in (node.party, final)
            and (c.item == label.id or (c.item is None and c.standing and set(label.topics) <= set(c.topics)))
            and c.granted <= day <= c.until
        ):
            return True
    raise ForgedOrigin(
        f"derived item {label.id} is signed by {signer}, and no consent of {label.originator} for its release "
        f"to {final} comes with it (JK-R6)",
        signer=signer,
        originator=label.originator,
    )


def record_returned(node: Admission, conn: Connection, item_id: str, sender: str, env: dict[str, Any]) -> None:
    """As originator: journal a derived item returned by ``sender`` with its lineage and copy counts."""
    lineage = [str(s) for s in env.get("lineage") or []]
    copies = dict.fromkeys(lineage, 0)
    for r in conn.execute(select(st.events.c.body).where(st.events.c.type == "custody_derived")):
        b = json.loads(r[0])
        if b.get("holder") == sender and b.get("derivation") == "reproduction":
            for s in b.get("sources", []):
                if s in copies:
                    copies[s] += 1
    node._event(conn, "derived_received", item_id, {"holder": sender, "lineage": lineage, "copies": copies})


__all__ = ["MAX_LINEAGE", "derived_origin", "record_returned"]
