"""Derived items over the network (issue 10; JK-R5, JK-R6, JK-R23, JK-R24, T-R5).

The holder seals a derived item's content (a translation, a reproduction, an extract) under the label
:func:`accord.core.custody.derive` gave it -- originator and markings kept, highest level of its sources,
most restrictive releasability -- signs it as the holder, and releases it through the one decision of this
hop (:mod:`accord.release`), judged under its custody record: it goes where its sources could go and nowhere
else (back to the originator always; to a third party only with the originator's consent, JK-R6).

Its lineage travels beside it in the delivery envelope (``lineage``: the source ids). A recipient accepts an
item signed by someone other than its label's originator as a derived item only when it can check, from what
it holds itself, that the signer lawfully holds every source (:func:`derived_origin`):

- the originator: each source is an item it originated and released to the signer (its own outbox), and the
  derived id lies in the signer's namespace -- so no holder can make up "Korean" information from nothing;
- anyone else: the originator's signed consent for exactly this derived item, signer and recipient, carried
  with it (the third-party rule; the originator learnt of the item from the holder's signed derived report).

A derived item relayed through a hub is not supported yet: it travels direct hops only.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from accord.core.custody import CustodyState
from accord.core.ids import id_namespace
from accord.errors import InputError
from accord.formats.canonical import canonical_json
from accord.formats.label_json import label_from_json
from accord.node import db as st
from accord.node.canon import sha256_hex
from accord.node.db import custody_sql as db_custody
from accord.node.errors import NotFound
from accord.node.flow.custody_gate import catch_up
from accord.node.flow.inbound import Inbound
from accord.release import plan_from_decisions


class DerivedRelease(Inbound):
    """The holder's release of an item it derived (sealed, signed and decided here)."""

    def release_derived(
        self,
        item_id: str,
        content: bytes,
        to: str,
        at: dt.date | str | None = None,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        """Seal ``content`` as the derived item ``item_id`` (made here by :meth:`derive_item`) and release it
        to ``to`` under this hop's one decision. Refused (with the rule) when its sources could not go there."""
        from accord.node.config import check_party

        to = check_party(to, source="request", field="to")
        day = self.resolve_at(at)
        if not content:
            raise InputError("a derived item's content is empty", field="content")
        with self.store.engine.connect() as conn:
            rec = db_custody.get_custody(conn, item_id)
            text = db_custody.derived_label_json(conn, item_id)
            if rec is None or text is None or not rec.sources:
                raise NotFound(f"no item {item_id} derived here")
            pairs = self._held_consents(conn, self.party)
        label = label_from_json(text)
        if id_namespace(item_id, {self.party, *self.roster.peers}) != self.party:  # as every recipient checks
            raise InputError(
                f"a derived item released by {self.party} is named in its namespace ({self.party.lower()}-…), "
                f"not {item_id}",
                field="item_id",
            )
        lineage = list(rec.sources)
        with self._recorded_tx(item_id, "derived_release") as conn:
            consents = [c for c, _ in pairs]
            d = self._decide(
                conn, label, self.party, to, day, consents, context="derived", custody=rec, purpose=purpose
            )
            if not d.allowed:
                raise self._refuse(f"release of derived item {item_id} to {to} refused", d)
            if len(d.route) != 2:
                raise InputError(f"a derived item travels direct hops only; {to} is reached through a hub", field="to")
            plan = plan_from_decisions(
                label, [d], holder=self.party, at=day, agreements=self.agreements, relay="rewrap"
            )
            sealed = self.sealer.seal(content, label, to=to, at=day, plan=plan)
            used = [doc for c, doc in pairs if c.id in d.consents_used]
            digest = sha256_hex(sealed)
            env = {
                "item_id": item_id,
                "sender": self.party,
                "final_recipient": to,
                "at": day.isoformat(),
                "sealed": base64.b64encode(sealed).decode(),
                "consents": used,
                "lineage": lineage,
            }
            self.store.enqueue(
                conn,
                idem_key=f"delivery:{item_id}:{self.party}->{to}",
                kind="delivery",
                recipient=to,
                body=canonical_json(env),
                at_date=day.isoformat(),
                item_id=item_id,
                final_recipient=to,
            )
            catch_up(self.store, conn, self.party, item_id, to, day)
            if rec.state is CustodyState.HELD:
                db_custody.set_custody_state(conn, item_id, CustodyState.RELEASED)
            self._event(
                conn,
                "release",
                item_id,
                {"to": to, "next_hop": to, "digest": digest, "route": list(d.route), "lineage": lineage},
            )
        return {"item": item_id, "to": to, "digest": digest, "lineage": lineage, "decision": d.to_dict()}

    def derived_lineage(self, item_id: str) -> dict[str, Any]:
        """As originator: a derived item a holder returned here, its lineage and each source's copy count."""
        rows = self.store.rows(st.events, (st.events.c.type == "derived_received") & (st.events.c.item_id == item_id))
        if not rows:
            raise NotFound(f"no derived item {item_id} received here")
        body = json.loads(rows[-1]["body"])
        return {k: body[k] for k in ("holder", "lineage", "copies")}


__all__ = ["DerivedRelease"]
