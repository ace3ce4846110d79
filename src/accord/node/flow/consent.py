"""Consent: requests to the originator, officers' decisions, standing consents, held items released."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from accord.core.ids import check_id, composed_id
from accord.errors import InputError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.config import check_party
from accord.node.db import consents_sql as db_consents
from accord.node.db import items_sql as db_items
from accord.node.db import relays_sql
from accord.node.errors import Conflict, IdRefused, NotFound, PeerRefused
from accord.node.flow.admission import Admission, consent_request_id
from accord.node.flow.blind import BlindRelay
from accord.node.flow.journal import Caller
from accord.node.policy import (
    Consent,
    consent_to_dict,
    label_from_dict,
    label_to_dict,
)
from accord.node.results import ConsentDecided, ConsentReceived, ConsentRequest, StandingGranted

if TYPE_CHECKING:
    pass


class Consents(BlindRelay, Admission):
    """Consent: requests to the originator, officers' decisions, standing consents, held items released."""

    def receive_consent_request(self, caller: Caller, body: dict[str, Any]) -> ConsentDecided:
        """A holder asks this node, the originator, to approve an onward release (T-R5, JK-R6).

        Checked against what this node holds before any officer sees it (issue 9): the request id is the
        holder's own (``usa-cr:ITEM:RECIPIENT``, in its namespace, ACC-R10, so no partner can take another's),
        the item is this node's own, the label is exactly the label this node sealed, and ``statement`` (the
        SHA-384 of the signed statement, unchanged by re-wraps and markings) is that of the item this node
        sent. A mismatch is refused with a ``consent_request_refused`` event and never shown.
        """
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        request_id = check_id(body.get("request_id"), field="request_id", what="consent request id")
        item_id = check_id(body.get("item_id"), field="item_id", what="item id")
        if body.get("originator") != self.party or body.get("holder") != peer.party:
            raise PeerRefused("a consent request goes from the holder to the originator")
        recipient = check_party(body.get("recipient"), source="consent request", field="recipient")
        try:
            label = label_from_dict(body.get("label"))
            self._check_request(request_id, item_id, peer.party, recipient, label, body.get("statement"))
        except (InputError, PeerRefused) as e:
            with self._tx() as conn:
                self._event(
                    conn,
                    "consent_request_refused",
                    item_id,
                    {"request_id": request_id, "holder": peer.party, "recipient": recipient, "problem": str(e)},
                )
            raise
        with self._tx() as conn:
            ok = db_consents.insert_request(
                conn,
                {
                    "request_id": request_id,
                    "role": "incoming",
                    "item_id": label.id,
                    "originator": self.party,
                    "holder": peer.party,
                    "recipient": recipient,
                    "label_json": canonical_json(label_to_dict(label)).decode(),
                    "digest": str(body.get("digest", ""))[:64],
                    "at_date": day.isoformat(),
                    "state": "pending",
                    "created_at": st.now(),
                },
            )
            if ok:
                self._event(
                    conn,
                    "consent_request",
                    label.id,
                    {"request_id": request_id, "holder": peer.party, "recipient": recipient},
                )
        return ConsentDecided(request_id, "pending")

    def _check_request(
        self, request_id: str, item_id: str, holder: str, recipient: str, label: Any, statement: object
    ) -> None:
        if label.originator != self.party or label.id != item_id:
            raise InputError("the label does not match the request", field="label")
        self.check_namespace(request_id, holder, "consent request id")  # ACC-R10: the holder's namespace
        if request_id != consent_request_id(item_id, holder, recipient):
            raise IdRefused(f"consent request id {request_id} is not {holder}'s request for {item_id}")
        with self.store.engine.connect() as conn:
            row = db_items.get_item(conn, item_id)
        if row is None or row["origin"] != "local":
            raise InputError(f"{self.party} originated no item {item_id}", field="item_id")
        if json.loads(row["label_json"]) != label_to_dict(label):
            raise InputError(f"the label differs from the label {self.party} gave item {item_id}", field="label")
        if not isinstance(statement, str):
            raise InputError("the request must carry the digest of the item's signed statement", field="statement")
        if self.sealer.verify(bytes(row["sealed"])).statement_digest != statement:
            raise InputError(f"the statement digest is not that of the item {self.party} sent", field="statement")

    def consent_requests(self, state: str | None = None) -> list[ConsentRequest]:
        where = [st.consent_requests.c.state == state] if state else []
        rows = self.store.rows(st.consent_requests, *where)
        return [ConsentRequest.of_row(r, json.loads(r["label_json"])) for r in rows]

    def decide_consent(
        self, request_id: str, approve: bool, officer: str, reason: str = "", until: dt.date | None = None
    ) -> ConsentDecided:
        """The originator's security officer approves or denies a holder's request."""
        if not officer.strip():
            raise InputError("the deciding officer must be named", field="officer")
        with self._tx() as conn:
            row = _consent_request(conn, request_id, "incoming")
            if row["state"] != "pending":
                raise Conflict(f"consent request {request_id} is already {row['state']}")
            at = dt.date.fromisoformat(row["at_date"])
            msg: dict[str, Any] = {
                "request_id": request_id,
                "approved": approve,
                "officer": officer,
                "reason": reason,
                "at": row["at_date"],
            }
            if approve:
                c = Consent(
                    # in the originator's namespace (ACC-R10), within the id grammar
                    id=composed_id(f"{self.party.lower()}-consent:", request_id),
                    originator=self.party,
                    holder=row["holder"],
                    recipient=row["recipient"],
                    granted=at,
                    until=until or at,
                    item=row["item_id"],
                )
                msg["consent"] = self.sign_consent(c)
            db_consents.decide_request(
                conn,
                row["id"],
                state="approved" if approve else "denied",
                decided_by=officer,
                reason=reason,
                decided_at=st.now(),
            )
            self.store.enqueue(
                conn,
                idem_key=f"consent_decision:{request_id}",
                kind="consent_decision",
                recipient=row["holder"],
                body=canonical_json(msg),
                at_date=row["at_date"],
                item_id=row["item_id"],
            )
            self._event(
                conn,
                "consent",
                row["item_id"],
                {"request_id": request_id, "approved": approve, "officer": officer, "reason": reason},
            )
        return ConsentDecided(request_id, "approved" if approve else "denied")

    def grant_standing(
        self,
        holder: str,
        recipient: str,
        topics: Sequence[str],
        granted: dt.date,
        until: dt.date,
        officer: str,
    ) -> StandingGranted:
        """A standing consent (e.g. TISA missile warnings): sent to the holder, applies there at once."""
        c = Consent(
            id=f"{self.party.lower()}-standing:{holder}-{recipient}:{_topics_key(topics)}:{granted}",  # ACC-R10
            originator=self.party,
            holder=check_party(holder, source="consent", field="holder"),
            recipient=check_party(recipient, source="consent", field="recipient"),
            granted=granted,
            until=until,
            topics=frozenset(topics),
            standing=True,
        )
        doc = self.sign_consent(c)
        with self._tx() as conn:
            self.store.enqueue(
                conn,
                idem_key=f"consent:{c.id}",
                kind="consent",
                recipient=holder,
                body=canonical_json({"consent": doc, "officer": officer, "at": granted.isoformat()}),
                at_date=granted.isoformat(),
            )
            self._event(conn, "consent", None, {"consent": consent_to_dict(c), "officer": officer})
        return StandingGranted(consent_to_dict(c), "queued")

    def receive_consent_decision(self, caller: Caller, body: dict[str, Any]) -> ConsentDecided:
        """The originator answered our request: record it, and pass the item on if approved."""
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        request_id = check_id(body.get("request_id"), field="request_id", what="consent request id")
        with self._tx() as conn:
            row = _consent_request(conn, request_id, "outgoing")
            if row["originator"] != peer.party:
                raise PeerRefused("only the originator decides on its items")
            if row["state"] != "pending":
                return ConsentDecided(request_id, row["state"])
            approved = bool(body.get("approved"))
            if approved:
                c = self.verify_consent(body.get("consent"))
                if c.originator != peer.party or c.holder != self.party:
                    raise InputError("consent does not match the request", field="consent")
                self._store_consent(conn, c, body["consent"], str(body.get("officer", "")))
            db_consents.decide_request(
                conn,
                row["id"],
                state="approved" if approved else "denied",
                decided_by=str(body.get("officer", "")),
                reason=str(body.get("reason", "")),
                decided_at=st.now(),
            )
            self._event(conn, "consent_decision", row["item_id"], {"request_id": request_id, "approved": approved})
            status = "denied"
            officer = str(body.get("officer", ""))
            if approved:
                status = self._release_held(conn, row, officer)
            else:
                db_items.set_inbox_state(conn, row["item_id"], "denied", where_states=("held",))
            blind = relays_sql.relay_of(conn, row["item_id"], state="held")
            if blind is not None and blind["request_id"] == request_id:  # still held: the answer is final
                why = "the originator's consent does not cover this relay" if approved else str(body.get("reason", ""))
                self._deny_blind(conn, blind, officer, why)
                status = "denied"
        return ConsentDecided(request_id, "approved" if approved else "denied", status)

    def receive_consent(self, caller: Caller, body: dict[str, Any]) -> ConsentReceived:
        """A standing consent from an originator: store it and release the held items it covers."""
        day = self.resolve_at(body.get("at"), inbound=True)
        peer = self.admit(caller, day)
        c = self.verify_consent(body.get("consent"))
        if c.originator != peer.party or c.holder != self.party:
            raise PeerRefused("a consent comes from the originator to the holder it names")
        released = []
        with self._tx() as conn:
            self._store_consent(conn, c, body["consent"], str(body.get("officer", "")))
            for row in db_consents.pending_outgoing(conn, peer.party):
                if self._release_held(conn, row) == "relayed":
                    db_consents.decide_request(
                        conn, row["id"], state="approved", decided_by=f"standing consent {c.id}", decided_at=st.now()
                    )
                    released.append(row["item_id"])
        return ConsentReceived(c.id, tuple(released))

    def _store_consent(self, conn: Connection, c: Consent, doc: dict[str, Any], officer: str) -> None:
        db_consents.insert_consent(
            conn,
            {
                "consent_id": c.id,
                "originator": c.originator,
                "holder": c.holder,
                "recipient": c.recipient,
                "item_id": c.item,
                "topics_json": json.dumps(sorted(c.topics)),
                "standing": c.standing,
                "granted_by": officer or c.originator,
                "valid_from": c.granted.isoformat(),
                "valid_until": c.until.isoformat(),
                "doc": canonical_json(doc).decode(),
                "created_at": st.now(),
            },
        )

    def _release_held(self, conn: Connection, req: Any, officer: str = "") -> str:
        blind = relays_sql.relay_of(conn, req["item_id"], state="held")
        if blind is not None and blind["request_id"] == req["request_id"]:  # held sealed at this blind hub (T-R5)
            label = label_from_dict(json.loads(req["label_json"]))
            return self._release_blind(conn, blind, label, officer or "standing consent")
        item = db_items.get_item_for_update(conn, req["item_id"])  # its container may get its marking (JK-R4)
        if item is None:
            return "missing"
        label = label_from_dict(json.loads(item["label_json"]))
        outcome, _ = self._relay_or_hold(
            conn,
            label,
            req["item_id"],
            b"",
            req["recipient"],
            dt.date.fromisoformat(req["at_date"]),
            [],
            stored=item,
        )
        return outcome


def _consent_request(conn: Any, request_id: str, role: str) -> Any:
    """The consent request ``request_id`` in this role ("incoming" to the originator, "outgoing" from the holder)."""
    row = db_consents.get_request(conn, request_id, role)
    if row is None:
        raise NotFound(f"no consent request {request_id}")
    return row


def _topics_key(topics: Sequence[str]) -> str:
    """A short key for a set of topics inside a consent id (the id grammar has no ``+`` or ``/``; the topics
    themselves travel in the consent)."""
    return hashlib.sha256("\n".join(sorted(set(topics))).encode()).hexdigest()[:16]
