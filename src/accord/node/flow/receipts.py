"""Receipts: a partner's signed acknowledgement (and audit evidence) closes an outbox message."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from accord.audit.receipt import VerifiedCheckpoints
from accord.errors import AccordError, InputError, IntegrityError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.canon import verify
from accord.node.db import relays_sql
from accord.node.flow.journal import RECEIPT_DOMAIN, Journal
from accord.node.sent import SENT

if TYPE_CHECKING:
    pass


#: Partners' signed audit checkpoints already opened by this process: consecutive receipts often carry the
#: same one (a recipient commits deliveries in groups). Keyed by note, verifier keys and origin (issue 8).
CHECKPOINTS = VerifiedCheckpoints()

#: The fields of a delivery receipt (``inbound._store_delivery``), no more, no fewer.
RECEIPT_KEYS = frozenset({"v", "item_id", "digest", "sender", "recipient", "received_at"})


def _is_timestamp(value: object) -> bool:
    """A receipt's ``received_at``: an ISO 8601 UTC-offset timestamp as ``inbound`` writes it, not free text
    (a partner's free text would be stored and journaled as written; found by the receipt fuzzing)."""
    if not isinstance(value, str) or not 19 <= len(value) <= 40 or not value.isascii():
        return False
    try:
        return dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


@functools.lru_cache(maxsize=64)
def _vkey(text: str) -> Any:
    """A partner's audit verifier key, parsed once per key text (issue 8, wave 6): a pure function of the text
    (the roster's string; a new key after a roster reload is another text); a malformed one raises each time."""
    from accord.audit.note import parse_vkey

    return parse_vkey(text)


@dataclass(frozen=True)
class _Ack:
    """A partner's acknowledgement of ``entry`` once checked: the receipt and signature (deliveries), the
    evidence as answered and what it proved (None: none or not checkable)."""

    entry: st.OutboxEntry
    receipt: Any = None
    sig: str | None = None
    evidence: Any = None
    checked: dict[str, Any] | None = None


class Receipts(Journal):
    """Receipts: a partner's signed acknowledgement (and audit evidence) closes an outbox message."""

    def audit_health(self) -> dict[str, int]:
        """The audit alarm (issue 9): events quarantined and waiting for the log (``node status``, health)."""
        from accord.node.audit import journal_health

        if self.feeder is not None:
            return self.feeder.health()
        return journal_health(self.store)

    def acknowledged(self, entry: st.OutboxEntry, answer: dict[str, Any]) -> None:
        """A peer accepted an outbox message: store its signed receipt (deliveries) and mark it delivered."""
        ack = self._checked_ack(entry, answer)  # every check before the write transaction; a failed one changes nothing
        with self._tx() as conn:
            self._record_ack(conn, ack)

    def acknowledged_many(
        self, answers: list[tuple[st.OutboxEntry, dict[str, Any]]]
    ) -> list[tuple[st.OutboxEntry, Exception]]:
        """The answers of a batch (issue 8, wave 8): every receipt checked as :meth:`acknowledged` checks it, and
        all those that pass recorded in ONE transaction. Returns the messages whose acknowledgement failed its
        checks, with why: nothing of them is recorded (they stay pending, as a bad single receipt leaves them)."""
        good: list[_Ack] = []
        bad: list[tuple[st.OutboxEntry, Exception]] = []
        for entry, answer in answers:
            try:
                good.append(self._checked_ack(entry, answer))
            except (AccordError, ValueError, TypeError) as e:
                bad.append((entry, e))
        if good:
            with self._tx() as conn:
                for ack in good:
                    self._record_ack(conn, ack)
        return bad

    def _checked_ack(self, entry: st.OutboxEntry, answer: dict[str, Any]) -> _Ack:
        """The checks of a partner's answer to ``entry`` (no I/O): the receipt's signature, its fields, the
        evidence. Raises IntegrityError for anything off."""
        if entry.kind != "delivery":
            return _Ack(entry)
        digest = SENT.digest(entry)  # the container's digest, kept from the enqueue for this very envelope
        receipt, sig = answer.get("receipt"), answer.get("signature")
        pub = self._keys.get(entry.recipient)
        if not isinstance(receipt, dict) or not isinstance(sig, str) or pub is None:
            raise IntegrityError()
        verify(pub, RECEIPT_DOMAIN, receipt, sig)
        expect = {
            "item_id": entry.item_id,
            "digest": digest,
            "recipient": entry.recipient,
            "sender": self.party,
        }
        if any(receipt.get(k) != v for k, v in expect.items()):
            raise IntegrityError()
        # Exactly the receipt's fields, whatever the signature covers: an extra key (e.g. `payload`) would
        # be stored and journaled as the partner wrote it (issue 9).
        # `"v": true` or `1.0` equals 1 in Python: the exact type too (found by tests/fuzz/test_fuzz_node_inputs).
        v, received_at = receipt.get("v"), receipt.get("received_at")
        if set(receipt) != RECEIPT_KEYS or type(v) is not int or v != 1 or not _is_timestamp(received_at):
            raise IntegrityError()
        evidence = answer.get("evidence")
        checked = None
        if evidence is not None:
            checked = self.check_evidence(entry.recipient, entry.item_id or "", digest, evidence)
        return _Ack(entry, receipt, sig, evidence, checked)

    def _record_ack(self, conn: Connection, ack: _Ack) -> None:
        """Store a checked receipt and mark its message delivered, in the caller's transaction."""
        entry, receipt, sig = ack.entry, ack.receipt, ack.sig
        if entry.kind == "delivery":
            st.insert_ignore_duplicate(
                conn,
                st.receipts,
                {
                    "item_id": entry.item_id,
                    "recipient": entry.recipient,
                    "receipt_json": canonical_json(receipt).decode(),
                    "receipt_sig": sig,
                    "evidence": canonical_json(ack.evidence).decode() if ack.checked else None,
                    "stored_at": st.now(),
                },
            )
            self._event(
                conn,
                "receipt",
                entry.item_id,
                {"receipt": receipt, "signature": sig, "recipient_logged": ack.checked},
            )
            # What the receipt closes here besides the message: a blind relay of the item (its inbox row is
            # "relayed-blind" while the relay is "forwarded"), the final receipt owed to whoever handed this
            # node the item. Both from one read, which finds nothing on a direct release (issue 8, wave 5).
            relayed = relays_sql.relayed_here(conn, str(entry.item_id))
            if any(state == "relayed-blind" for _, _, state in relayed):
                relays_sql.mark_relay_delivered(conn, str(entry.item_id), entry.recipient)
            if entry.final_recipient == entry.recipient and relayed:  # the final recipient's receipt, at a hub
                senders = [s for s, final, _ in relayed if final == entry.recipient]
                assert isinstance(receipt, dict)
                self._pass_back(
                    conn, str(entry.item_id), entry.recipient, entry.at_date, receipt, str(sig), [], senders
                )
        self.store.mark_delivered(conn, entry.id)

    def _pass_back(
        self,
        conn: Connection,
        item_id: str,
        final: str,
        at: str,
        receipt: dict[str, Any],
        sig: str,
        via: list[str],
        senders: list[str] | None = None,
    ) -> None:
        """This node relayed ``item_id`` to ``final`` (blind or re-wrapped): queue the final recipient's signed
        receipt back to whoever handed it the item, so the originator ends with the recipient's own receipt,
        not only the hub's (issue 10). ``via``: the hubs after this one (a chain of hubs). ``senders``: who
        handed it (read here when not given: :func:`relays_sql.relayed_here`)."""
        if senders is None:
            senders = [s for s, f, _ in relays_sql.relayed_here(conn, item_id) if f == final]
        for sender in senders:
            body = {
                "item_id": item_id,
                "final_recipient": final,
                "at": at,
                "receipt": receipt,
                "signature": sig,
                "via": [self.party, *via],
            }
            self.store.enqueue(
                conn,
                idem_key=f"final_receipt:{item_id}:{final}->{sender}",
                kind="final_receipt",
                recipient=sender,
                body=canonical_json(body),
                at_date=at,
                item_id=item_id,
                final_recipient=final,
            )

    def check_evidence(self, recipient: str, item_id: str, digest: str, evidence: object) -> dict[str, Any] | None:
        """Check that the recipient logged this delivery: its signed audit checkpoint (against the roster's
        verifier key) and the inclusion proof of an event for this item, digest and sender.

        Returns what was proven (log index, tree size) or None when the recipient's audit key is unknown.
        Raises IntegrityError when the evidence does not prove it.
        """
        from accord.audit.errors import MalformedNoteError
        from accord.audit.receipt import ReceiptEvidence, check_receipt_evidence
        from accord.node.audit import origin

        peer = self.roster.peers.get(recipient)
        if peer is None or not peer.audit_vkey:
            return None
        try:
            ev = ReceiptEvidence.from_obj(evidence)  # as parsed from the answer: not re-encoded
            vkeys = [_vkey(peer.audit_vkey)]  # a checkpoint seen before is opened from memory (issue 8)
            cp, event = check_receipt_evidence(ev, vkeys, origin=origin(recipient), checkpoints=CHECKPOINTS)
            size = cp.size
        except (MalformedNoteError, InputError) as e:
            raise IntegrityError() from e
        want = {
            "item": item_id,
            "digest": f"sha256:{digest}",
            "node": recipient,
            "sender": self.party,
            "node_event": "delivery",
        }
        if any(event.get(k) != v for k, v in want.items()):
            raise IntegrityError()
        return {"index": ev.index, "size": size}

    def refused_by_peer(self, entry: st.OutboxEntry, worker: str, problem: str) -> None:
        self.store.mark_retry(entry.id, worker, problem, 0, give_up=True)
        with self._tx() as conn:
            self._event(
                conn,
                "delivery_refused",
                entry.item_id,
                {"to": entry.recipient, "kind": entry.kind, "problem": problem},
            )
